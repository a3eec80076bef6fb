"""Whether Numba's on-disk cache already holds the ISP's kernels, so a caller can say, once, that
the first file will spend a while compiling them (about 15 s on 2 cores; cached afterwards)."""

from __future__ import annotations

import os
from pathlib import Path

#: The index file Numba writes for the main develop kernel (``cache=True``); the other kernels
#: are compiled and cached alongside it.
PROBE = "_kernels._demosaic_banded-*.nbi"


def _cache_dirs() -> list[tuple[Path, bool]]:
    """Where Numba may keep the cache: (folder, search sub-folders too)."""
    dirs = [(Path(__file__).resolve().parent / "__pycache__", False)]
    if os.environ.get("NUMBA_CACHE_DIR"):
        dirs.append((Path(os.environ["NUMBA_CACHE_DIR"]), True))
    dirs.append((Path.home() / ".cache" / "numba", True))  # used where the package is read-only
    return dirs


def kernels_cached() -> bool:
    """True when a compiled copy of the ISP's kernels is on disk for Numba to load.

    Returns
    -------
    bool
        False on a fresh install (or after a Numba upgrade wiped the cache): the first develop
        compiles, which takes seconds to a minute.
    """
    for folder, recursive in _cache_dirs():
        try:
            if folder.is_dir() and any(folder.rglob(PROBE) if recursive else folder.glob(PROBE)):
                return True
        except OSError:
            continue
    return False
