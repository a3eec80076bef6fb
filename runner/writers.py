"""Output writers: 16-bit / float TIFF, 16/8-bit PNG, JPEG; ICC profile and metadata; atomic.

Every writer encodes to a hidden temporary file in the destination folder
(``.<name>.<pid>.rawcomplete-partial``) and renames it over the final name with :func:`os.replace`,
so a reader or an interrupted run never sees a half-written file under the final name. Stale
temporaries left by a killed process are removed by :func:`sweep_partials` at the next run.

Metadata carried over from the RAW (read by :mod:`runner.metadata`): Make (271), Model (272),
DateTime (306) in IFD0, and in the Exif sub-IFD ExposureTime (33434), FNumber (33437),
ISOSpeedRatings (34855), DateTimeOriginal (36867), FocalLength (37386), LensModel (42036),
ExifVersion. Every format carries the same: JPEG and PNG an EXIF block built by Pillow, TIFF an
Exif IFD (tag 34665) that Pillow serialises and this module appends after tifffile has written
the image, so the pixels are never rewritten. TIFFs say 300 pixels per inch.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from runner.errors import OutputError, PipelineInputError

PARTIAL_SUFFIX = ".rawcomplete-partial"

#: Output formats (this module writes them) and the file extension of each.
FORMAT_EXTENSIONS: dict[str, str] = {
    "tiff16": ".tif",
    "tiff32f": ".tif",
    "png16": ".png",
    "png8": ".png",
    "jpeg": ".jpg",
}
#: Integer dtype of each display format's samples (``isp.ISPConfig.display_codes``).
DISPLAY_CODES: dict[str, str] = {"tiff16": "uint16", "png16": "uint16", "png8": "uint8", "jpeg": "uint8"}

#: TIFF compressions and their tifffile arguments: lossless, with the horizontal predictor
#: (differences along rows). ``zstd`` is encoded by imagecodecs (a dependency); ``deflate`` is
#: the most widely read (libtiff, Photoshop, every raw converter), ``zstd`` about 5x faster to
#: write at the same size (libtiff >= 4.0.10, darktable, GIMP, tifffile read it).
#: Level 1 and 64-row strips compressed on every core: at 24 MP, level 1 is 2-3x faster than the
#: codecs' defaults and the files are no larger (sensor noise, not the level, sets the size).
TIFF_COMPRESSIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "deflate": {"compression": "zlib", "compressionargs": {"level": 1}, "predictor": True, "rowsperstrip": 64},
    "zstd": {"compression": "zstd", "compressionargs": {"level": 1}, "predictor": True, "rowsperstrip": 64},
}


@dataclass(frozen=True)
class OutputMetadata:
    """Metadata written into outputs; every field may be None."""

    make: str | None = None
    model: str | None = None
    datetime: str | None = None  # "YYYY:MM:DD HH:MM:SS"
    exposure_time: float | None = None  # seconds
    f_number: float | None = None
    iso: float | None = None
    focal_length: float | None = None  # mm
    software: str | None = None
    lens: str | None = None

    @classmethod
    def from_raw(cls, meta: Any, *, software: str | None = None) -> "OutputMetadata":
        """From an ``isp.RawMetadata`` (or a mapping / anything with the same attribute names)."""
        def get(name: str) -> Any:
            if isinstance(meta, dict):
                return meta.get(name)
            return getattr(meta, name, None) if meta is not None else None

        return cls(
            make=_clean_str(get("make")),
            model=_clean_str(get("model")),
            datetime=_clean_str(get("datetime")),
            exposure_time=_clean_num(get("exposure_time")),
            f_number=_clean_num(get("f_number")),
            iso=_clean_num(get("iso")),
            focal_length=_clean_num(get("focal_length")),
            software=software,
            lens=_clean_str(get("lens")),
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | None, raw: Any = None, *,
                  software: str | None = None) -> "OutputMetadata":
        """The camera metadata of the RAW at ``path`` (exiv2, :mod:`runner.metadata`), with
        LibRaw's ``raw`` (an ``isp.RawMetadata``) for the fields exiv2 does not give."""
        from runner.metadata import merged, read_camera_metadata

        exif = read_camera_metadata(path) if path is not None else {}
        return cls.from_raw(merged(exif, raw), software=software)


def _clean_str(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip().strip("\0")
    return s.encode("ascii", "replace").decode("ascii") or None


def _clean_num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f > 0 and np.isfinite(f) else None


def _rational(v: float) -> tuple[int, int]:
    fr = Fraction(v).limit_denominator(100000)
    return fr.numerator, fr.denominator


# --------------------------------------------------------------------------------------------
# atomic writes

def name_max(folder: str | os.PathLike[str]) -> int:
    """The longest file name (bytes) ``folder``'s file system allows (255 where it cannot say)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def hidden_name(name: str, suffix: str, limit: int = 255) -> str:
    """``.<name><suffix>``, the hidden companion of a file called ``name``; when that is longer
    than ``limit`` bytes, the name part is cut and a digest of the whole name keeps it unique,
    so a companion fits wherever a final name that fits does (``suffix`` <= 100 bytes)."""
    full = f".{name}{suffix}"
    if len(full.encode()) <= limit:
        return full
    import hashlib

    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    room = limit - len(f".~{digest}{suffix}".encode())
    short = name.encode()[: max(room, 0)].decode("utf-8", "ignore")
    return f".{short}~{digest}{suffix}"


def partial_name(path: Path) -> Path:
    """The hidden temporary ``.<name>.<pid>.rawcomplete-partial`` beside ``path``, shortened
    (see :func:`hidden_name`) so it never exceeds the folder's name limit."""
    return path.with_name(hidden_name(path.name, f".{os.getpid()}{PARTIAL_SUFFIX}", name_max(path.parent)))


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, else remove it.

    Raises
    ------
    OutputError
        ``path`` exists and ``overwrite`` is False, or the folder cannot be created / written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {str(path.parent)!r}: {exc}") from None
    if not overwrite and path.exists():
        raise OutputError(f"output {str(path)!r} exists (use --overwrite to replace it)")
    tmp = partial_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    try:
        with atomic_target(path, overwrite=overwrite) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {str(path)!r}: {exc}") from None


def sweep_partials(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporaries left under ``folder`` by processes that are no longer alive."""
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for tmp in folder.rglob(f".*{PARTIAL_SUFFIX}"):
        try:
            pid = int(tmp.name[: -len(PARTIAL_SUFFIX)].rsplit(".", 1)[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and _alive(pid):
            continue
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# encoders

def quantize(image: np.ndarray, bits: int) -> np.ndarray:
    """Float image -> uint8 / uint16: clip to [0, 1], scale, round half up. An image already of
    the target dtype (``isp.ISPResult.display_as``) is passed through."""
    full = (1 << bits) - 1
    dtype = np.uint16 if bits == 16 else np.uint8
    if image.dtype == dtype:
        return np.ascontiguousarray(image)
    out = np.clip(image, 0.0, 1.0, dtype=np.float32) * np.float32(full) + np.float32(0.5)
    return out.astype(dtype)


#: A private tag code written as the Exif IFD pointer's placeholder (tifffile will not write tag
#: 34665 itself); it sorts between 34665 and the ICC profile's 34675, so renaming it in place
#: keeps IFD0's tags in ascending order.
_EXIF_PLACEHOLDER = 34670
#: Pixels per inch written into TIFFs (1 would tell layout programs the photo is metres wide).
TIFF_DPI = 300


#: TIFF types of the Exif sub-IFD's tags that are not ASCII: RATIONAL, SHORT, UNDEFINED.
_EXIF_TYPES = {33434: 5, 33437: 5, 37386: 5, 34855: 3, 36864: 7}


def _exif_fields(meta: OutputMetadata) -> dict[int, Any]:
    """The Exif sub-IFD's tags (every format writes the same), empty when there is nothing to say:
    ExposureTime, FNumber, FocalLength, ISOSpeedRatings, DateTimeOriginal, LensModel, ExifVersion."""
    from PIL.TiffImagePlugin import IFDRational

    fields: dict[int, Any] = {}
    for tag, value in ((33434, meta.exposure_time), (33437, meta.f_number), (37386, meta.focal_length)):
        if value:
            fields[tag] = IFDRational(*_rational(value))
    if meta.iso:
        fields[34855] = int(min(round(meta.iso), 65535))
    if meta.datetime:
        fields[36867] = meta.datetime
    if meta.lens:
        fields[42036] = meta.lens
    if fields:
        fields[36864] = b"0232"
    return fields


def _tiff_extratags(meta: OutputMetadata) -> list[tuple]:
    tags: list[tuple] = []
    if meta.make:
        tags.append((271, "s", 0, meta.make, True))
    if meta.model:
        tags.append((272, "s", 0, meta.model, True))
    if _exif_fields(meta):
        tags.append((_EXIF_PLACEHOLDER, "I", 1, 0, True))
    return tags


def _exif_ifd(meta: OutputMetadata, byteorder: str) -> Any:
    """:func:`_exif_fields` as a Pillow IFD in ``byteorder``, with the TIFF type of each tag."""
    from PIL.TiffImagePlugin import ImageFileDirectory_v2

    ifd = ImageFileDirectory_v2(prefix=b"II" if byteorder == "<" else b"MM")
    for tag, value in _exif_fields(meta).items():
        ifd[tag] = value
        if tag in _EXIF_TYPES:
            ifd.tagtype[tag] = _EXIF_TYPES[tag]
    return ifd


def _append_exif_ifd(path: Path, meta: OutputMetadata) -> None:
    """Point IFD0's placeholder at an Exif IFD appended to the TIFF at ``path`` (in place)."""
    import struct

    import tifffile

    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[0].tags.get(_EXIF_PLACEHOLDER)
        if tag is None or tif.is_bigtiff:
            return
        entry, order = tag.offset, tif.byteorder
    ifd = _exif_ifd(meta, order)
    with open(path, "r+b") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end % 2:  # IFDs start on a word boundary
            fh.write(b"\0")
            end += 1
        fh.write(ifd.tobytes(end))
        fh.seek(entry)
        fh.write(struct.pack(order + "HHII", 34665, 4, 1, end))  # ExifIFD, LONG, 1, offset


def exif_bytes(meta: OutputMetadata) -> bytes:
    """An EXIF block (``Exif\\0\\0`` + TIFF header, IFD0 + Exif sub-IFD) built with Pillow."""
    from PIL import ExifTags, Image

    ex = Image.Exif()
    if meta.make:
        ex[271] = meta.make
    if meta.model:
        ex[272] = meta.model
    if meta.datetime:
        ex[306] = meta.datetime
    if meta.software:
        ex[305] = meta.software
    ex.get_ifd(ExifTags.IFD.Exif).update(_exif_fields(meta))
    return ex.tobytes()


def check_format(format: Any) -> str:
    """``format`` when it is one of :data:`FORMAT_EXTENSIONS`, else :class:`PipelineInputError`."""
    if format not in FORMAT_EXTENSIONS:
        raise PipelineInputError(f"format must be one of {', '.join(map(repr, FORMAT_EXTENSIONS))}; got {format!r}")
    return format


def check_quality(quality: Any) -> int:
    """A JPEG quality: an integer in 1..100, else :class:`PipelineInputError`."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise PipelineInputError(f"quality must be an integer in 1..100; got {quality!r}")
    return quality


def _tiff_compression(compress: str) -> dict[str, Any]:
    """tifffile's arguments for ``compress``; a codec that is not installed is an OutputError."""
    args = dict(TIFF_COMPRESSIONS[compress])
    if compress != "none":
        args["maxworkers"] = os.cpu_count() or 1
    if compress == "zstd":
        try:
            import imagecodecs  # noqa: F401 - tifffile's zstd encoder
        except ImportError:
            raise OutputError("compress 'zstd' needs the imagecodecs package (pip install imagecodecs)") from None
    return args


def write_image(
    path: str | os.PathLike[str],
    image: np.ndarray,
    *,
    format: str,
    icc: bytes | None = None,
    metadata: OutputMetadata | None = None,
    quality: int = 95,
    description: str | None = None,
    compress: str = "none",
    overwrite: bool = True,
) -> int:
    """Encode ``image`` and write it atomically to ``path``; returns the file size in bytes.

    Parameters
    ----------
    image
        float32 H x W x 3. For integer formats it is clipped to [0, 1] and quantised; for
        ``"tiff32f"`` it is written as is (scene-linear, may exceed 1).
    format
        ``"tiff16"``, ``"tiff32f"``, ``"png16"``, ``"png8"`` or ``"jpeg"``.
    icc
        ICC profile bytes to embed (None: none).
    metadata
        Carried-over camera metadata.
    quality
        JPEG quality 1..100.
    description
        TIFF ImageDescription / PNG tEXt "Description".
    compress
        TIFF only: ``"none"``, ``"deflate"`` or ``"zstd"`` (lossless, with a horizontal predictor;
        see :data:`TIFF_COMPRESSIONS`).

    Raises
    ------
    OutputError
        The file cannot be written.
    """
    meta = metadata or OutputMetadata()
    path = Path(path)
    if compress not in TIFF_COMPRESSIONS:
        raise OutputError(f"compress must be one of {', '.join(map(repr, TIFF_COMPRESSIONS))}; got {compress!r}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise OutputError(f"cannot write {str(path)!r}: expected an H x W x 3 image, got shape {image.shape}")
    try:
        with atomic_target(path, overwrite=overwrite) as tmp:
            if format in ("tiff16", "tiff32f"):
                import tifffile

                data = quantize(image, 16) if format == "tiff16" else np.ascontiguousarray(image, dtype=np.float32)
                tifffile.imwrite(
                    tmp,
                    data,
                    photometric="rgb",
                    metadata=None,
                    iccprofile=icc,
                    description=description,
                    software=meta.software,
                    datetime=meta.datetime,
                    extratags=_tiff_extratags(meta),
                    resolution=(TIFF_DPI, TIFF_DPI),
                    resolutionunit="INCH",
                    **_tiff_compression(compress),
                )
                _append_exif_ifd(Path(tmp), meta)
            elif format in ("png16", "png8"):
                from runner.png import encode_png

                data = quantize(image, 16 if format == "png16" else 8)
                exif = exif_bytes(meta)
                if exif.startswith(b"Exif\0\0"):
                    exif = exif[6:]
                text = {"Software": meta.software} if meta.software else {}
                if description:
                    text["Description"] = description
                with open(tmp, "wb") as fh:
                    fh.write(encode_png(data, icc=icc, exif=exif, text=text))
            elif format == "jpeg":
                from PIL import Image

                data = quantize(image, 8)
                kwargs: dict[str, Any] = {"quality": int(quality), "exif": exif_bytes(meta)}
                if icc is not None:
                    kwargs["icc_profile"] = icc
                Image.fromarray(data, "RGB").save(tmp, format="JPEG", **kwargs)
            else:
                raise OutputError(f"unknown output format {format!r}")
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {str(path)!r}: {exc}") from None
    return path.stat().st_size
