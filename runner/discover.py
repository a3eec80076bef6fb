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

from runner.errors import PipelineInputError

#: Extensions (lower case, no dot) recognised as camera RAW files, matched case-insensitively.
RAW_EXTENSIONS: frozenset[str] = frozenset(
    """
    dng nef nrw cr2 cr3 crw arw srf sr2 raf orf rw2 rwl pef ptx srw kdc dcr k25 dcs mrw mos mef
    erf 3fr fff iiq x3f raw r3d gpr sti cap eip bay nksc qtk kc2 rdc mdc ari arq cs1 mfw rwz lfr
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
    #: inputs named explicitly (not found in a folder) that have no RAW extension
    named_not_raw: list[str] = field(default_factory=list)
    #: why each of ``passed_over`` was passed over (str(path) -> reason)
    reasons: dict[str, str] = field(default_factory=dict)

    def pass_over(self, path: Path, reason: str) -> None:
        self.passed_over.append(path)
        self.reasons[str(path)] = reason


NOT_RAW = "no RAW file extension"


def special_file_reason(path: Path) -> str | None:
    """Why ``path`` is not a regular file that can be read (None when it is one)."""
    import errno
    import stat

    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if os.path.islink(path):
            return "dangling symbolic link"
        if exc.errno == errno.ENAMETOOLONG:
            return "path too long"
        return f"cannot be examined ({exc.strerror or exc})"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "socket, not a regular file"
    if stat.S_ISDIR(mode):
        return "folder"
    return "not a regular file"


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
        everything else met (files without a RAW extension, FIFOs, devices, sockets, dangling
        links, link loops, unreadable folders), each with its reason in ``reasons``; ``missing``
        the inputs that do not exist; ``named_not_raw`` the files named as inputs themselves that
        have no RAW extension (see :func:`require_inputs`).
    """
    excluded = {Path(p).resolve() for p in exclude}
    out = Discovery()
    seen: set[Path] = set()

    def add(path: Path, rel_dir: str, *, named: bool = False) -> None:
        reason = special_file_reason(path)
        if reason is not None:
            out.pass_over(path, reason)
            return
        key = path.resolve()
        if key in seen:
            return
        seen.add(key)
        if is_raw(path):
            out.raws.append(Found(path, rel_dir))
        elif named:
            out.named_not_raw.append(str(path))  # naming a JPEG is a mistake, not a skip
        else:
            out.pass_over(path, NOT_RAW)

    def unreadable(exc: OSError) -> None:
        out.pass_over(Path(exc.filename or "?"), f"folder cannot be read ({exc.strerror or exc})")

    for item in inputs:
        root = Path(item)
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
                here = Path(dirpath)
                for d in sorted(d for d in dirnames if not d.startswith(".") and (here / d).is_symlink()):
                    out.pass_over(here / d, "symbolic link to a folder (not followed)")
                dirnames[:] = sorted(
                    d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in excluded
                )
                rel = here.relative_to(root)
                rel_dir = "" if str(rel) == "." else rel.as_posix()
                for name in sorted(filenames):
                    if name.startswith("."):
                        continue
                    add(here / name, rel_dir)
        elif os.path.lexists(root):
            add(root, "", named=True)  # a file, or something that is not one (counted with its reason)
        else:
            out.missing.append(str(item))
    return out


def require_inputs(found: Discovery) -> None:
    """Refuse the inputs themselves when one is missing or is a named file that is not a RAW.

    Raises
    ------
    PipelineInputError
        Naming every such input.
    """
    if found.missing:
        raise PipelineInputError("input not found: " + ", ".join(repr(m) for m in found.missing))
    if found.named_not_raw:
        raise PipelineInputError(
            "not a RAW file (its extension is none LibRaw reads): "
            + ", ".join(repr(m) for m in found.named_not_raw)
        )


def output_path(found: Found, outdir: Path, extension: str) -> Path:
    """``OUTDIR/<rel_dir>/<stem><extension>``."""
    base = outdir / found.rel_dir if found.rel_dir else outdir
    return base / (found.path.stem + extension)
