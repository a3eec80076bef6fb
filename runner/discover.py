"""Finding RAW files: folders recursively, extensions case-insensitively, outputs mapped beside.

An input folder ``in/`` holding ``a/b/x.NEF`` maps to ``OUTDIR/a/b/x.<ext>``; an input given as a
file maps to ``OUTDIR/x.<ext>``. Files without a RAW extension are passed over and counted.
Hidden files and folders (name starting with ``.``) are ignored, and so is ``OUTDIR`` itself
when it lies inside an input folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

#: Extensions (lower case, no dot) recognised as camera RAW files, matched case-insensitively.
RAW_EXTENSIONS: frozenset[str] = frozenset(
    """
    dng nef nrw cr2 cr3 crw arw srf sr2 raf orf rw2 rwl pef ptx srw kdc dcr k25 dcs mrw mos mef
    erf 3fr fff iiq x3f raw r3d gpr sti cap eip bay nksc
    """.split()
)


def is_raw(path: str | os.PathLike[str]) -> bool:
    """True when the file name has a RAW extension (case-insensitive)."""
    return Path(path).suffix.lower().lstrip(".") in RAW_EXTENSIONS


@dataclass(frozen=True)
class Found:
    """One RAW file found, with the folder part of its output path (``""`` for none)."""

    path: Path
    rel_dir: str


@dataclass
class Discovery:
    raws: list[Found] = field(default_factory=list)
    passed_over: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def discover(inputs: Sequence[str | os.PathLike[str]], *, exclude: Iterable[Path] = ()) -> Discovery:
    """Expand ``inputs`` (files and folders) into RAW files in a stable, sorted order.

    Parameters
    ----------
    inputs
        Files or folders; folders are walked recursively (symlinked folders are not followed).
    exclude
        Folders to skip entirely (resolved paths), e.g. the output folder.

    Returns
    -------
    Discovery
        ``raws`` in input order then sorted path order, without duplicates; ``passed_over``
        the other files; ``missing`` the inputs that do not exist.
    """
    excluded = {Path(p).resolve() for p in exclude}
    out = Discovery()
    seen: set[Path] = set()

    def add(path: Path, rel_dir: str) -> None:
        key = path.resolve()
        if key in seen:
            return
        seen.add(key)
        if is_raw(path):
            out.raws.append(Found(path, rel_dir))
        else:
            out.passed_over.append(path)

    for item in inputs:
        root = Path(item)
        if root.is_file():
            add(root, "")
        elif root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root):
                here = Path(dirpath)
                dirnames[:] = sorted(
                    d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in excluded
                )
                rel = here.relative_to(root)
                rel_dir = "" if str(rel) == "." else rel.as_posix()
                for name in sorted(filenames):
                    if name.startswith("."):
                        continue
                    path = here / name
                    if path.is_file():
                        add(path, rel_dir)
        else:
            out.missing.append(str(item))
    return out


def output_path(found: Found, outdir: Path, extension: str) -> Path:
    """``OUTDIR/<rel_dir>/<stem><extension>``."""
    base = outdir / found.rel_dir if found.rel_dir else outdir
    return base / (found.path.stem + extension)
