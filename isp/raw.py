"""Reading camera RAW files: :func:`read_raw` -> :class:`RawFrame` (rawpy/LibRaw for the sensor
data and levels, tifffile for DNG opcode lists and EXIF metadata).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType

import numpy as np

from .cfa import CFAOrder
from .color import SRGB_TO_XYZ as _SRGB_TO_XYZ
from .errors import CorruptRawError, RawError, UnsupportedRawError

log = logging.getLogger("isp")

#: DNG opcode list tags: OpcodeList1 (on raw data as read), 2 (after linearisation/black), 3 (after
#: demosaic).
OPCODE_TAGS: Mapping[int, int] = MappingProxyType({1: 51008, 2: 51009, 3: 51022})

# Signatures of RAW containers LibRaw knows, used to tell "a RAW LibRaw cannot decode"
# (UnsupportedRawError) from "not a RAW at all / damaged beyond recognition" (CorruptRawError).
_RAW_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (0, b"II*\x00"),  # TIFF-based: DNG, NEF, CR2, ARW, PEF, KDC, GPR, ...
    (0, b"MM\x00*"),
    (0, b"IIRO"),  # Olympus ORF
    (0, b"IIRS"),
    (0, b"MMOR"),
    (0, b"IIU\x00"),  # Panasonic RW2
    (0, b"FUJIFILM"),  # RAF
    (0, b"FOVb"),  # Sigma X3F
    (6, b"HEAPCCDR"),  # Canon CRW (CIFF)
    (4, b"ftypcrx"),  # Canon CR3
    (0, b"\x00MRM"),  # Minolta MRW
    (0, b"ARRI"),
    (0, b"RED1"),
    (0, b"RED2"),
)


@dataclass(frozen=True)
class RawMetadata:
    """Shooting metadata, best effort (EXIF through tifffile for TIFF-based files, LibRaw for the
    rest). Every field may be None.

    Attributes
    ----------
    make, model : str or None
    iso : float or None
    exposure_time : float or None
        Seconds.
    f_number : float or None
    focal_length : float or None
        Millimetres.
    datetime : str or None
        "YYYY:MM:DD HH:MM:SS" (EXIF DateTimeOriginal, else DateTime, else LibRaw's timestamp).
    """

    make: str | None = None
    model: str | None = None
    iso: float | None = None
    exposure_time: float | None = None
    f_number: float | None = None
    focal_length: float | None = None
    datetime: str | None = None


@dataclass(frozen=True)
class RawFrame:
    """A Bayer RAW as read from disk: sensor data plus what it takes to develop it.

    Attributes
    ----------
    path : str or None
        Source file, None for frames built in memory.
    mosaic : numpy.ndarray
        uint16 H x W, the visible area (rawpy ``raw_image_visible``), sensor orientation.
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the visible mosaic's top-left 2x2 block (second green mapped to G).
    black_levels : tuple of 4 floats
        Black level per 2x2 site, row-major: index ``2 * (y % 2) + x % 2``.
    white_level : float
        Saturation value.
    camera_wb : tuple of 3 floats or None
        As-shot (R, G, B) multipliers normalised to G = 1; None where absent or unusable.
    color_matrix : numpy.ndarray
        float32 3x3, white-balanced camera RGB -> linear sRGB (rows sum to ~1). Identity where the
        file and LibRaw know no matrix.
    flip : int
        LibRaw ``sizes.flip``: 0 none, 3 rotate 180, 5 rotate 90 CCW, 6 rotate 90 CW.
    margins : (int, int)
        (top, left) of the visible area inside the full raw image.
    opcodes : Mapping[int, bytes]
        Raw bytes of DNG OpcodeList1/2/3 keyed 1/2/3, only those present.
    metadata : RawMetadata
    """

    path: str | None
    mosaic: np.ndarray
    cfa: CFAOrder
    black_levels: tuple[float, float, float, float]
    white_level: float
    camera_wb: tuple[float, float, float] | None
    color_matrix: np.ndarray
    flip: int = 0
    margins: tuple[int, int] = (0, 0)
    opcodes: Mapping[int, bytes] = field(default_factory=lambda: MappingProxyType({}))
    metadata: RawMetadata = field(default_factory=RawMetadata)

    def __post_init__(self) -> None:
        if not isinstance(self.opcodes, MappingProxyType):
            object.__setattr__(self, "opcodes", MappingProxyType(dict(self.opcodes)))

    def __reduce__(self):
        # mappingproxy does not pickle: ship the opcodes as a dict (worker processes, caches)
        values = tuple(
            dict(self.opcodes) if f.name == "opcodes" else getattr(self, f.name)
            for f in fields(self)
        )
        return (type(self), values)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the mosaic (sensor orientation)."""
        return self.mosaic.shape  # type: ignore[return-value]

    @property
    def output_shape(self) -> tuple[int, int]:
        """(H, W) of developed images (output orientation)."""
        h, w = self.mosaic.shape
        return (w, h) if self.flip & 4 else (h, w)


# --------------------------------------------------------------------------------------------


def _libraw_color_matrix(raw) -> np.ndarray:
    """rgb_cam as LibRaw's ``cam_xyz_coeff`` builds it: white-balanced camera RGB -> sRGB."""
    cam_xyz = np.asarray(raw.rgb_xyz_matrix, dtype=np.float64)[:3, :3]
    if np.any(cam_xyz != 0):
        cam_rgb = cam_xyz @ _SRGB_TO_XYZ
        sums = cam_rgb.sum(axis=1, keepdims=True)
        if np.all(np.abs(sums) > 1e-9):
            cam_rgb = cam_rgb / sums
            try:
                return np.linalg.inv(cam_rgb).astype(np.float32)
            except np.linalg.LinAlgError:
                pass
    cmatrix = np.asarray(raw.color_matrix, dtype=np.float64)[:3, :3]
    if np.any(cmatrix != 0) and np.all(np.isfinite(cmatrix)):
        return cmatrix.astype(np.float32)
    return np.eye(3, dtype=np.float32)


def _camera_wb(raw) -> tuple[float, float, float] | None:
    cam = [float(v) for v in raw.camera_whitebalance[:3]]
    if not all(math.isfinite(v) and v > 0 for v in cam):
        return None  # absent (0) or marked unusable by LibRaw (-1)
    if all(v == 1.0 for v in raw.camera_whitebalance[:4]):
        return None  # LibRaw's "no as-shot data" default
    return (cam[0] / cam[1], 1.0, cam[2] / cam[1])


def _rational(value) -> float | None:
    try:
        if isinstance(value, tuple) and len(value) == 2:
            return float(value[0]) / float(value[1]) if value[1] else None
        if isinstance(value, (tuple, list)) and value:
            return _rational(value[0])
        out = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return out if math.isfinite(out) else None


def _ascii(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    if not isinstance(value, str):
        return None
    value = value.strip("\x00 ").strip()
    return value or None


def _tiff_info(path: str) -> tuple[dict[int, bytes], dict, bool, bool]:
    """(opcodes, EXIF-ish metadata, is_tiff, truncated) from a TIFF-based file via tifffile."""
    import tifffile

    opcodes: dict[int, bytes] = {}
    meta: dict = {}
    truncated = False
    try:
        tif = tifffile.TiffFile(path)
    except Exception:  # not TIFF-based (CRW, RAF, ...) or unreadable header
        return opcodes, meta, False, False
    size = os.path.getsize(path)
    try:
        pages = []
        for page in tif.pages:
            pages.append(page)
            try:
                subs = page.pages  # SubIFDs (DNG raw data usually sits in one)
            except Exception:
                subs = None
            if subs is not None:
                pages.extend(subs)
        raw_pages = [p for p in pages if getattr(p, "photometric", None) == 32803]
        for page in raw_pages or pages:
            for key, code in OPCODE_TAGS.items():
                tag = page.tags.get(code)
                if tag is not None and key not in opcodes:
                    opcodes[key] = bytes(tag.value)
        for page in raw_pages:
            offsets = page.dataoffsets or ()
            counts = page.databytecounts or ()
            if any(o + c > size for o, c in zip(offsets, counts)):
                truncated = True
        first = tif.pages[0]
        tags = first.tags
        meta["make"] = _ascii(tags.get(271).value) if 271 in tags else None
        meta["model"] = _ascii(tags.get(272).value) if 272 in tags else None
        if meta["model"] is None and 50708 in tags:
            meta["model"] = _ascii(tags.get(50708).value)
        meta["datetime"] = _ascii(tags.get(306).value) if 306 in tags else None
        exif = tags.get(34665)
        exif = exif.value if exif is not None and isinstance(exif.value, dict) else {}
        for page in pages:  # some files put EXIF fields in the raw IFD itself
            for code, name in ((33434, "ExposureTime"), (33437, "FNumber"), (37386, "FocalLength"),
                               (34855, "ISOSpeedRatings"), (36867, "DateTimeOriginal")):
                if name not in exif and code in page.tags:
                    exif[name] = page.tags[code].value
        meta["exposure_time"] = _rational(exif.get("ExposureTime"))
        meta["f_number"] = _rational(exif.get("FNumber"))
        meta["focal_length"] = _rational(exif.get("FocalLength"))
        iso = exif.get("ISOSpeedRatings", exif.get("PhotographicSensitivity"))
        meta["iso"] = _rational(iso)
        dto = _ascii(exif.get("DateTimeOriginal"))
        if dto:
            meta["datetime"] = dto
    except Exception as exc:  # metadata is best effort; never fail the read on it
        log.debug("tifffile could not read metadata of %s: %s", path, exc)
    finally:
        tif.close()
    return opcodes, meta, True, truncated


def _libraw_metadata(raw) -> dict:
    try:
        other = raw.other
    except Exception:
        return {}

    def pos(v) -> float | None:
        v = float(v)
        return v if math.isfinite(v) and v > 0 else None

    meta = {
        "iso": pos(other.iso_speed),
        "exposure_time": pos(other.shutter_speed),
        "f_number": pos(other.aperture),
        "focal_length": pos(other.focal_length),
        "datetime": None,
    }
    ts = other.timestamp
    if ts is not None and ts.year > 1970:
        meta["datetime"] = ts.strftime("%Y:%m:%d %H:%M:%S")
    return meta


def _looks_like_raw(head: bytes) -> bool:
    return any(head[off : off + len(sig)] == sig for off, sig in _RAW_SIGNATURES)


def _msg(exc: Exception) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text


def _classify_unsupported(p: str, head: bytes, size: int, exc: Exception) -> RawError:
    """LibRaw said "unsupported file format or not RAW": tell a RAW it has no decoder for
    (UnsupportedRawError) from damaged or non-RAW data (CorruptRawError)."""
    import rawpy

    version = ".".join(map(str, rawpy.libraw_version))
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        _, _, is_tiff, truncated = _tiff_info(p)
        if is_tiff and not truncated:
            return UnsupportedRawError(
                f"{p}: a TIFF/DNG-based RAW that LibRaw {version} has no decoder for (unknown "
                f"camera or compression, e.g. GoPro GPR / VC-5) ({_msg(exc)})"
            )
        return CorruptRawError(
            f"{p}: TIFF-based file whose structure or image data is truncated or damaged "
            f"({size} bytes; LibRaw: {_msg(exc)})"
        )
    if head[:4] == b"FOVb":
        return UnsupportedRawError(
            f"{p}: Sigma X3F (Foveon, stacked sensor) is not supported by LibRaw {version} nor by "
            "this Bayer ISP"
        )
    if _looks_like_raw(head):
        return CorruptRawError(
            f"{p}: looks like a camera RAW container but LibRaw {version} cannot parse it; the "
            f"file is probably truncated or damaged ({size} bytes; LibRaw: {_msg(exc)})"
        )
    return CorruptRawError(
        f"{p}: not a camera RAW file LibRaw recognises (first bytes {head[:8]!r}, {size} bytes)"
    )


def _read_libraw(p: str):
    """Everything LibRaw gives; returns a tuple of fields or a RawError to raise. rawpy errors
    propagate to the caller, which maps them."""
    import rawpy

    with rawpy.imread(p) as raw:
        raw_type = raw.raw_type
        pattern = raw.raw_pattern
        desc = raw.color_desc.decode("ascii", "replace")
        if raw_type != rawpy.RawType.Flat or pattern is None:
            return UnsupportedRawError(
                f"{p}: not a Bayer CFA sensor (LibRaw raw_type {raw_type.name}, no 2x2 pattern: "
                "linear DNG, Foveon or other stacked data); this ISP develops Bayer mosaics only"
            )
        if pattern.shape != (2, 2):
            return UnsupportedRawError(
                f"{p}: CFA pattern is {pattern.shape[0]}x{pattern.shape[1]} (e.g. Fujifilm "
                "X-Trans), not a 2x2 Bayer pattern"
            )
        sizes = raw.sizes
        top, left = int(sizes.top_margin), int(sizes.left_margin)
        idx = [[int(raw.raw_color(top + dy, left + dx)) for dx in range(2)] for dy in range(2)]
        if max(max(row) for row in idx) >= len(desc):
            return CorruptRawError(f"{p}: inconsistent CFA description {desc!r}")
        letters = "".join(desc[i] for row in idx for i in row)
        if sorted(letters) != ["B", "G", "G", "R"]:
            return UnsupportedRawError(
                f"{p}: CFA colours {letters!r} (description {desc!r}) are not an R/G/G/B Bayer "
                "pattern (e.g. CMYG or RGBE sensors)"
            )
        mosaic = np.array(raw.raw_image_visible, dtype=np.uint16, copy=True)
        if mosaic.ndim != 2 or mosaic.size == 0:
            return CorruptRawError(f"{p}: decoded an empty or malformed mosaic (shape {mosaic.shape})")
        blpc = [float(v) for v in raw.black_level_per_channel]
        black = tuple(float(blpc[idx[dy][dx]]) for dy in range(2) for dx in range(2))
        white = float(raw.white_level)
        if not white > max(black):
            return CorruptRawError(
                f"{p}: white level {white} is not above the black levels {list(black)}"
            )
        flip = int(sizes.flip)
        if flip not in range(8):
            flip = 0
        return (
            mosaic, letters, black, white, _camera_wb(raw), _libraw_color_matrix(raw), flip,
            (top, left), _libraw_metadata(raw),
        )


# DNG tags that make LibRaw do more than "read the CFA strip as is": files carrying any of them
# (or anything else unusual) take the LibRaw path.
_FAST_DNG_BLOCKERS = (
    50712,  # LinearizationTable
    50715, 50716,  # BlackLevelDeltaH / V
    50722, 50723, 50724, 50727,  # ColorMatrix2, CameraCalibration1/2, AnalogBalance
    50729,  # AsShotWhiteXY
    50829,  # ActiveArea
    50964, 50965,  # ForwardMatrix1/2
)
_TIFF_ORIENTATION_TO_FLIP = (0, 0, 1, 3, 2, 4, 6, 7, 5)  # LibRaw: "50132467"[orientation & 7]


def _tag_floats(tags, code: int) -> list[float]:
    """A numeric tag's values as floats ((S)RATIONAL pairs divided out); [] when absent."""
    tag = tags.get(code)
    if tag is None:
        return []
    value = tag.value
    values = list(value) if isinstance(value, (tuple, list)) else [value]
    if int(tag.dtype) in (5, 10):  # RATIONAL, SRATIONAL: (num, den) pairs, flattened
        if len(values) % 2:
            return []
        return [values[i] / values[i + 1] if values[i + 1] else float("nan")
                for i in range(0, len(values), 2)]
    return [float(v) for v in values]


def _tag_ints(tags, code: int) -> list[int]:
    """A BYTE/SHORT/LONG tag's values as ints ([] when absent)."""
    tag = tags.get(code)
    if tag is None:
        return []
    value = tag.value
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    return [int(v) for v in value] if isinstance(value, (tuple, list)) else [int(value)]


def _read_dng_fast(p: str):
    """Uncompressed 16-bit Bayer DNGs (what cameras' "uncompressed" mode and isp.synthetic write):
    pixels and levels straight from the TIFF structure with tifffile, which reads a 24 MP frame
    several times faster than LibRaw's unpack. Returns the same tuple as :func:`_read_libraw`, or
    None when the file needs LibRaw (anything beyond the plain case, see ``_FAST_DNG_BLOCKERS``).
    The tests check both paths give identical frames.
    """
    import tifffile

    try:
        with tifffile.TiffFile(p) as tif:
            ifd0 = tif.pages[0]
            if 50706 not in ifd0.tags:  # DNGVersion
                return None
            pages = [ifd0]
            subs = ifd0.pages
            if subs is not None:
                pages.extend(subs)
            raw_pages = [pg for pg in pages if getattr(pg, "photometric", None) == 32803]
            if len(raw_pages) != 1:
                return None
            page = raw_pages[0]
            tags = page.tags
            if (
                page.compression != 1
                or page.bitspersample != 16
                or page.samplesperpixel != 1
                or page.dtype != np.uint16
                or len(page.shape) != 2
                or any(code in tags or code in ifd0.tags for code in _FAST_DNG_BLOCKERS)
                or tuple(tags.valueof(33421, ())) != (2, 2)
            ):
                return None
            pattern = tuple(_tag_ints(tags, 33422))
            if sorted(pattern) != [0, 1, 1, 2] or tuple(_tag_ints(tags, 50710) or (0, 1, 2)) != (0, 1, 2):
                return None
            cfa = "".join("RGB"[c] for c in pattern)
            h, w = page.shape
            if h < 22 or w < 22:  # LibRaw refuses those; let it say so
                return None
            # black level: one value or one per 2x2 site, integers (LibRaw stores integers)
            rep = tuple(tags.valueof(50713, (1, 1)))
            blk = _tag_floats(tags, 50714) or [0.0]
            if rep == (1, 1) and len(blk) == 1:
                black = (blk[0],) * 4
            elif rep == (2, 2) and len(blk) == 4:
                black = tuple(blk)
            else:
                return None
            if any(v != int(v) or v < 0 for v in black):
                return None
            whites = _tag_floats(tags, 50717) or [65535.0]
            white = whites[0]
            if len(whites) != 1 or not white > max(black):
                return None
            # as-shot white balance: multipliers are the reciprocal of the neutral
            camera_wb = None
            if 50728 in tags:
                neutral = _tag_floats(tags, 50728)
                if len(neutral) != 3 or not all(v > 0 for v in neutral):
                    return None
                camera_wb = (neutral[1] / neutral[0], 1.0, neutral[1] / neutral[2])
            # colour matrix: ColorMatrix1 only (XYZ -> camera), as LibRaw's cam_xyz_coeff
            cm = _tag_floats(tags, 50721) or _tag_floats(ifd0.tags, 50721)
            if len(cm) != 9:
                return None
            cam_rgb = np.asarray(cm, np.float64).reshape(3, 3) @ _SRGB_TO_XYZ
            sums = cam_rgb.sum(axis=1, keepdims=True)
            if np.any(np.abs(sums) < 1e-9):
                return None
            try:
                matrix = np.linalg.inv(cam_rgb / sums).astype(np.float32)
            except np.linalg.LinAlgError:
                return None
            orientation = int(ifd0.tags.valueof(274, 1))
            flip = _TIFF_ORIENTATION_TO_FLIP[orientation] if 1 <= orientation <= 8 else 0
            size = os.path.getsize(p)
            if any(o + c > size for o, c in zip(page.dataoffsets, page.databytecounts)):
                return None  # truncated: let LibRaw report it
            mosaic = page.asarray()
    except Exception as exc:  # anything odd: LibRaw decides
        log.debug("fast DNG path declined %s: %s", p, exc)
        return None
    if mosaic.shape != (h, w) or mosaic.dtype != np.uint16:
        return None
    return (np.ascontiguousarray(mosaic), cfa, black, white, camera_wb, matrix, flip, (0, 0), {})


def read_raw(path: str | os.PathLike) -> RawFrame:
    """Read a Bayer RAW file.

    Parameters
    ----------
    path : str or os.PathLike
        Any RAW LibRaw reads (DNG, CR2, NEF, ARW, CRW, KDC, ...).

    Returns
    -------
    RawFrame
        Its ``mosaic`` and ``color_matrix`` are read-only arrays.

    Notes
    -----
    LibRaw (rawpy) reads every format. Plain uncompressed 16-bit Bayer DNGs (no linearisation
    table, active area, second colour matrix, ...) are read directly with tifffile instead, which
    is several times faster on large frames and gives the same frame (the tests compare both).

    Raises
    ------
    UnsupportedRawError
        A RAW this ISP cannot develop: non-Bayer sensors (X-Trans, Foveon/stacked, linear DNG,
        four-colour CFAs) and RAW containers LibRaw has no decoder for.
    CorruptRawError
        Empty, truncated, random or text data, or a file LibRaw fails to decode.
    RawError
        The file does not exist or cannot be opened (``RawFileError``, also an ``OSError``).
    """
    import rawpy

    from .errors import RawFileError

    p = os.fspath(path)
    try:
        size = os.path.getsize(p)
        with open(p, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise RawFileError(f"{p}: cannot open the file ({exc.strerror or exc})") from exc
    if size == 0:
        raise CorruptRawError(f"{p}: the file is empty (0 bytes); expected a camera RAW")

    try:
        fields = _read_dng_fast(p) if head[:4] in (b"II*\x00", b"MM\x00*") else None
        if fields is None:
            fields = _read_libraw(p)
    except rawpy.LibRawFileUnsupportedError as exc:
        raise _classify_unsupported(p, head, size, exc) from exc
    except (rawpy.LibRawIOError, rawpy.LibRawDataError) as exc:
        raise CorruptRawError(
            f"{p}: the RAW data could not be read; truncated or damaged ({_msg(exc)})"
        ) from exc
    except rawpy.LibRawTooBigError as exc:
        raise UnsupportedRawError(f"{p}: image too big for LibRaw ({_msg(exc)})") from exc
    except rawpy.LibRawError as exc:
        raise CorruptRawError(
            f"{p}: LibRaw failed to read the file ({type(exc).__name__}: {_msg(exc)})"
        ) from exc
    except OSError as exc:
        raise RawFileError(f"{p}: cannot read the file ({exc})") from exc
    if isinstance(fields, RawError):
        raise fields
    mosaic, cfa, black, white, camera_wb, matrix, flip, (top, left), libraw_meta = fields

    opcodes, tiff_meta, is_tiff, truncated = _tiff_info(p)
    if truncated:
        raise CorruptRawError(
            f"{p}: truncated: the raw image data extends past the end of the file ({size} bytes)"
        )
    meta = dict(libraw_meta)
    for key, value in tiff_meta.items():
        if value is not None:
            meta[key] = value
    metadata = RawMetadata(**{k: meta.get(k) for k in RawMetadata.__dataclass_fields__})

    mosaic.setflags(write=False)
    matrix.setflags(write=False)
    return RawFrame(
        path=p,
        mosaic=mosaic,
        cfa=cfa,  # type: ignore[arg-type]
        black_levels=black,  # type: ignore[arg-type]
        white_level=white,
        camera_wb=camera_wb,
        color_matrix=matrix,
        flip=flip,
        margins=(top, left),
        opcodes=MappingProxyType(opcodes),
        metadata=metadata,
    )


__all__ = ["RawFrame", "RawMetadata", "read_raw", "RawError"]
