"""Sidecar masks: ``<stem>.mask.png`` beside the RAW (or under ``--mask-dir``), white = hole.

A mask is in OUTPUT orientation (as the developed image is shown, rotation applied) and has the
developed image's height and width. Grey, RGB, RGBA (alpha ignored), palette and 1-bit PNGs are
accepted at 8 or 16 bits; a pixel is a hole when its brightest colour channel is at least half of
full scale (so anti-aliased edges of a white brush stroke count from 50 % up): the one rule of
:func:`pipeline.holes_from_array`, which library masks follow too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from runner.errors import MaskFileError, PipelineInputError

if TYPE_CHECKING:
    from runner.settings import Settings

MASK_SUFFIX = ".mask.png"


def check_mask_dir(settings: Settings, *, where: str = "--mask-dir") -> None:
    """Refuse a mask folder that is not there, before any work: masks must never be lost silently.

    Nothing is checked when masks are off.

    Raises
    ------
    PipelineInputError
        Naming ``where`` (the flag, or the preset key and file) and the folder, when ``mask_dir`` is
        not a folder.
    """
    if settings.mask_dir is None or not settings.masks:
        return
    if not os.path.isdir(settings.mask_dir):
        what = "does not exist" if not os.path.lexists(settings.mask_dir) else "is not a folder"
        raise PipelineInputError(
            f"{where} {settings.mask_dir!r} {what}; no mask would be found (use --no-masks to develop without masks)"
        )


def sidecar_path(raw: Path, *, rel_dir: str = "", mask_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The sidecar mask for ``raw`` if one exists, else ``None``.

    Without ``mask_dir``: ``<raw folder>/<stem>.mask.png``. With it: ``<mask_dir>/<rel_dir>/`` then
    ``<mask_dir>/``, each for ``<stem>.mask.png`` and then ``<stem>.png`` (IOPaint's convention: the
    image's stem in a mask folder; never beside the RAW, where ``<stem>.png`` may be an export).
    Names are matched exactly first, then case-insensitively.
    Anything of that name counts, a folder, FIFO or dangling link too: :func:`read_mask_png`
    then refuses it with a clear error rather than the mask being ignored without a word.
    """
    if mask_dir is None:
        folders, names = [raw.parent], [raw.stem + MASK_SUFFIX]
    else:
        base = Path(mask_dir)
        folders = [base / rel_dir, base] if rel_dir else [base]
        # IOPaint's batch convention: the mask has the image's stem, in a folder of its own
        names = [raw.stem + MASK_SUFFIX, raw.stem + ".png"]
    for folder in folders:
        for name in names:
            candidate = folder / name
            if os.path.lexists(candidate):
                return candidate
        if folder.is_dir():
            try:
                entries = sorted(folder.iterdir())
            except OSError:
                continue
            for name in names:
                lowered = name.lower()
                for entry in entries:
                    if entry.name.lower() == lowered:
                        return entry
    return None


def read_mask_png(path: str | os.PathLike[str], *, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask PNG into a bool array, True = hole.

    Parameters
    ----------
    path
        The PNG file.
    shape
        Expected ``(height, width)``; a mismatch raises :class:`MaskFileError` naming both.

    Returns
    -------
    numpy.ndarray
        bool, H x W.

    Raises
    ------
    MaskFileError
        The file cannot be opened or decoded, or has the wrong size.
    """
    import stat
    import warnings

    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        mode_bits = os.stat(path).st_mode
    except OSError as exc:
        raise MaskFileError(f"mask {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode_bits):
        kind = "a folder" if stat.S_ISDIR(mode_bits) else "a FIFO" if stat.S_ISFIFO(mode_bits) else "not a regular file"
        raise MaskFileError(f"mask {str(path)!r} is {kind}; a mask must be a PNG file")
    try:
        with warnings.catch_warnings():
            # the size is checked against the image below, before any pixel is decoded
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img_cm = Image.open(path)
        with img_cm as img:
            width, height = img.size
            if shape is not None and (height, width) != tuple(shape):
                raise MaskFileError(_size_message(path, (height, width), shape))
            img.load()
            mode = img.mode
            if mode == "1":
                holes = np.asarray(img, dtype=bool)
            else:
                if mode == "P":
                    img = img.convert("RGBA" if "transparency" in img.info else "RGB")
                    mode = img.mode
                arr = np.asarray(img)
                if mode in ("LA", "RGBA", "La", "RGBa", "PA"):
                    arr = arr[..., :-1]
                if mode.startswith("I;16") or mode == "I":
                    full = 65535.0
                elif arr.dtype == np.uint8:
                    full = 255.0
                elif mode == "F":
                    full = 1.0
                else:
                    raise MaskFileError(f"mask {str(path)!r}: unsupported image mode {mode!r}; expected a grey or RGB PNG")
                from pipeline import holes_from_array

                holes = holes_from_array(arr, full_scale=full, name=f"mask {str(path)!r}")
    except MaskFileError:
        raise
    except PipelineInputError as exc:
        raise MaskFileError(str(exc)) from None
    except Image.DecompressionBombError as exc:
        raise MaskFileError(f"mask {str(path)!r} is far larger than any image this runner develops: {exc}") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise MaskFileError(f"mask {str(path)!r} cannot be read as an image: {exc}") from None
    if holes.ndim != 2:
        raise MaskFileError(f"mask {str(path)!r}: expected a single image of H x W pixels, got shape {holes.shape}")
    if shape is not None and tuple(holes.shape) != tuple(shape):
        raise MaskFileError(_size_message(path, holes.shape, shape))
    return np.ascontiguousarray(holes)


def _size_message(path: Path, got: tuple[int, ...], shape: tuple[int, int]) -> str:
    return (
        f"mask {str(path)!r} is {got[1]} x {got[0]} (W x H) but the developed image is "
        f"{shape[1]} x {shape[0]}; masks must match the output orientation and size"
    )


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of a file's bytes (used for inputs and masks in fingerprints)."""
    import hashlib

    import errno
    import stat

    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the planner
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"{str(path)!r} is not a regular file")
    with os.fdopen(fd, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
