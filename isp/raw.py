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
from typing import TYPE_CHECKING

import numpy as np

from .cfa import CFAOrder
from .color import SRGB_TO_XYZ as _SRGB_TO_XYZ
from .errors import CorruptRawError, RawError, RawFileError, RawLimitError, UnsupportedRawError
from .tiff_structure import TiffStructure, claimed_pixels, scan_tiff_file, structure_problem

#: Default for ``read_raw(max_pixels=...)``: 200 million pixels, above the largest single-shot
#: sensors sold (Phase One IQ4 150 MP, Fujifilm GFX100 102 MP). Developing costs about
#: 40 bytes per pixel (mosaic, float planes, RGB, output), so the default bounds one file near 8 GB.
DEFAULT_MAX_PIXELS = 200_000_000
#: A file smaller than this many bytes per 64 claimed pixels cannot hold the image (no RAW codec
#: LibRaw knows stores less than 1/8 bit per pixel); refused as truncated before decoding.
_MIN_BITS_PER_PIXEL = 1 / 8
# TIFF Compression values LibRaw has no decoder for (GoPro VC-5)
_UNDECODABLE_COMPRESSION = {9: "GoPro GPR / VC-5"}

log = logging.getLogger("isp")

if TYPE_CHECKING:
    from .libraw_fallback import LibRawFallback

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
        uint16 H x W, the visible area (rawpy ``raw_image_visible``), sensor orientation; for a
        linear RAW (LinearRaw DNG, see :mod:`isp.linear`) uint16 H x W x 3 camera RGB.
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"} or None
        Colours of the visible mosaic's top-left 2x2 block (second green mapped to G); None for
        a linear RAW and for a LibRaw-fallback CFA (``libraw_fallback``).
    black_levels : tuple of 4 floats
        Black level per 2x2 site, row-major: index ``2 * (y % 2) + x % 2``; for a linear RAW
        (R, G, B, G).
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
    color_matrix_source : str
        Where ``color_matrix`` comes from: "DNG ColorMatrix1", "LibRaw rgb_xyz_matrix" (the
        file's or LibRaw's built-in adobe_coeff table), "LibRaw cmatrix", "LibRaw rgb_cam
        (measured)" (where rawpy exposes no matrix, e.g. Kodak: fitted from LibRaw's own output,
        see ``_measured_rgb_cam``), "none" (identity), or "given" for frames built in memory.
    pixel_aspect : float
        Photosite width / height (LibRaw ``sizes.pixel_aspect``, DNG DefaultScale); develop
        stretches to square pixels as LibRaw does (:mod:`isp.geometry`). 1 for square pixels.
    default_crop : (int, int, int, int) or None
        DNG DefaultCrop as (top, left, height, width) in the visible area's sensor coordinates
        (LibRaw ``sizes.crop_*``); None where the file has none or it covers everything.
        Applied by develop unless ``ISPConfig(crop="full")``.
    libraw_fallback : isp.libraw_fallback.LibRawFallback or None
        Set for CFAs our kernels do not cover (X-Trans, CMYG and other 4-colour CFAs): develop
        has LibRaw demosaic the file (:mod:`isp.libraw_fallback`). Then ``cfa`` is None,
        ``mosaic`` is the visible mosaic (uint16 H x W), ``black_levels`` are per raw colour
        index (``color_desc`` order), ``camera_wb`` is None for non-RGB CFAs, and
        ``color_matrix`` is LibRaw's camera matrix (identity for 4 colours, whose 3x4 matrix is
        ``libraw_fallback.rgb_cam``).
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
    color_matrix_source: str = "given"
    pixel_aspect: float = 1.0
    default_crop: tuple[int, int, int, int] | None = None
    libraw_fallback: "LibRawFallback | None" = None

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
        """(H, W) of developed images with the default config (output orientation, DefaultCrop
        applied, square pixels); see :meth:`output_shape_for`."""
        return self.output_shape_for("default")

    def output_shape_for(self, crop: str = "default") -> tuple[int, int]:
        """(H, W) of developed images for ``ISPConfig(crop=crop)``."""
        from .geometry import stretched_shape

        shape = self.mosaic.shape[:2]
        if crop == "default" and self.default_crop is not None:
            shape = self.default_crop[2:]
        h, w = stretched_shape(shape, self.pixel_aspect)
        return (w, h) if self.flip & 4 else (h, w)


# --------------------------------------------------------------------------------------------


def rgb_cam_from_cam_xyz(cam_xyz: np.ndarray) -> np.ndarray | None:
    """LibRaw's ``cam_xyz_coeff``: from a colours x 3 XYZ -> camera matrix (3 or 4 rows), the
    float32 3 x colours white-balanced camera -> linear sRGB matrix (camera rows normalised to
    sum 1, then inverted, or pseudo-inverted for 4 colours). None when all zero or singular."""
    if not np.any(cam_xyz != 0):
        return None
    cam_rgb = cam_xyz @ _SRGB_TO_XYZ
    sums = cam_rgb.sum(axis=1, keepdims=True)
    if not np.all(np.abs(sums) > 1e-9):
        return None
    cam_rgb = cam_rgb / sums
    try:
        inverse = np.linalg.inv(cam_rgb) if cam_rgb.shape[0] == 3 else np.linalg.pinv(cam_rgb)
    except np.linalg.LinAlgError:
        return None
    return inverse.astype(np.float32) if np.all(np.isfinite(inverse)) else None


def _libraw_color_matrix(raw) -> tuple[np.ndarray, str]:
    """(rgb_cam, source) as LibRaw's ``cam_xyz_coeff`` builds it: white-balanced camera RGB ->
    sRGB, from the file's or LibRaw's built-in (adobe_coeff) XYZ -> camera matrix, else its
    cmatrix; (identity, "none") when rawpy exposes neither."""
    rgb_cam = rgb_cam_from_cam_xyz(np.asarray(raw.rgb_xyz_matrix, dtype=np.float64)[:3, :3])
    if rgb_cam is not None:
        return rgb_cam, "LibRaw rgb_xyz_matrix"
    cmatrix = np.asarray(raw.color_matrix, dtype=np.float64)[:3, :3]
    if np.any(cmatrix != 0) and np.all(np.isfinite(cmatrix)):
        return cmatrix.astype(np.float32), "LibRaw cmatrix"
    return np.eye(3, dtype=np.float32), "none"


#: Fit quality a measured LibRaw rgb_cam must reach (RMS residual over the fitted pixels, in
#: units of full scale); 16-bit rounding alone gives about 1e-5.
_RGB_CAM_FIT_RMS = 2e-4


def _measured_rgb_cam(raw) -> np.ndarray | None:
    """The rgb_cam (3 x colours) LibRaw applies to this file, where rawpy exposes no matrix (Kodak cameras:
    LibRaw builds it from the makernotes' ROMM matrix, ``romm_coeff``): fitted by least squares
    from LibRaw's own half-size output in camera RGB and in sRGB (its ``convert_to_rgb`` is
    exactly that per-pixel 3x3 product). None when the fit is not exact enough to trust."""
    import rawpy

    kw = dict(half_size=True, gamma=(1, 1), no_auto_bright=True, output_bps=16,
              user_wb=[1.0, 1.0, 1.0, 1.0], adjust_maximum_thr=0.0, user_flip=0)
    try:
        cam = raw.postprocess(output_color=rawpy.ColorSpace.raw, **kw)
        srgb = raw.postprocess(output_color=rawpy.ColorSpace.sRGB, **kw).reshape(-1, 3)
    except rawpy.LibRawError as exc:
        log.debug("could not measure LibRaw's rgb_cam: %s", exc)
        return None
    cam = cam.reshape(-1, cam.shape[-1]).astype(np.float64) / 65535.0  # 4 channels for CMYG
    srgb = srgb.astype(np.float64) / 65535.0
    usable = (cam.min(axis=1) > 0.01) & (srgb.min(axis=1) > 0.001) & (srgb.max(axis=1) < 0.999) & (cam.max(axis=1) < 0.999)
    if usable.sum() < 100:
        return None
    a, b = cam[usable], srgb[usable]
    fit, _, rank, _ = np.linalg.lstsq(a, b, rcond=None)
    if rank < cam.shape[1]:
        return None
    rms = float(np.sqrt(np.mean((a @ fit - b) ** 2)))
    if not rms < _RGB_CAM_FIT_RMS:
        log.debug("LibRaw's rgb_cam fit is not exact (RMS %.2g); not used", rms)
        return None
    return fit.T.astype(np.float32)


def _libraw_matrix_or_measured(raw) -> tuple[np.ndarray, str]:
    """:func:`_libraw_color_matrix`, else the rgb_cam LibRaw is measured to apply."""
    matrix, source = _libraw_color_matrix(raw)
    if source == "none":
        measured = _measured_rgb_cam(raw)
        if measured is not None:
            return measured, "LibRaw rgb_cam (measured)"
    return matrix, source


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


def _decode_problem(mosaic: np.ndarray, black: tuple[float, ...], white: float) -> str | None:
    """Why a decoded mosaic cannot be an exposure, or None: constant data (what a decoder returns
    when a header lies about bit depth, a linearisation table is short, or the data sources are
    gone) or no pixel strictly between the black level and white.

    Exact, but without a full histogram (a 24 MP bincount costs ~0.2 s per file): a value that
    fills all but 1/10000 of the frame is the majority of any regular sample of it, so only the
    sample's most common value needs counting over the whole frame; and a sample pixel between
    black and white settles the second test, which otherwise scans the frame once."""
    flat = mosaic.ravel()
    n = flat.size
    sample = flat[:: max(1, n // 65536)]
    candidate = int(np.bincount(sample).argmax())
    share = int(np.count_nonzero(flat == candidate))
    if share >= n - n // 10000:
        return (f"the decoded data are constant ({share / n:.4%} of pixels = {candidate}): "
                "a lying header (bit depth, linearisation table) or missing image data")
    lo, hi = int(math.floor(min(black))) + 1, int(math.ceil(white))
    if hi <= lo or not _any_between(sample, lo, hi) and not _any_between(flat, lo, hi):
        return (f"no decoded pixel lies between the black level {min(black):g} and white {white:g}: "
                "the levels or the bit depth in the header do not match the data")
    return None


def _any_between(values: np.ndarray, lo: int, hi: int) -> bool:
    """Whether any of ``values`` lies in ``[lo, hi)``."""
    return bool(np.count_nonzero((values >= lo) & (values < hi)))


def _looks_like_raw(head: bytes) -> bool:
    return any(head[off : off + len(sig)] == sig for off, sig in _RAW_SIGNATURES)


def _msg(exc: Exception) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text


def _classify_unsupported(
    p: str, head: bytes, size: int, exc: Exception | None, structure: TiffStructure | None
) -> RawError:
    """LibRaw said "unsupported file format or not RAW": tell a RAW it has no decoder for
    (UnsupportedRawError) from damaged or non-RAW data (CorruptRawError)."""
    import rawpy

    version = ".".join(map(str, rawpy.libraw_version))
    if structure is not None:
        compressions = {ifd.value(259) for ifd in structure.raw_ifds}
        codecs = sorted(_UNDECODABLE_COMPRESSION[c] for c in compressions if c in _UNDECODABLE_COMPRESSION)
        if codecs:
            return UnsupportedRawError(
                f"{p}: a TIFF/DNG-based RAW compressed with {', '.join(codecs)}, which LibRaw "
                f"{version} has no decoder for ({_msg(exc)})"
            )
        if structure.is_dng or not structure.raw_ifds:
            what = "a DNG" if structure.is_dng else "a TIFF-based file without raw sensor data"
            return CorruptRawError(
                f"{p}: {what} that LibRaw {version} cannot parse: its tags are damaged or "
                f"inconsistent ({size} bytes; LibRaw: {_msg(exc)})"
            )
        return UnsupportedRawError(
            f"{p}: a TIFF-based RAW (compression {sorted(map(str, compressions))}) from a camera "
            f"LibRaw {version} does not know ({_msg(exc)})"
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
        f"{p}: not a camera RAW file LibRaw recognises (no known RAW signature, {size} bytes)"
    )


def _check_claim(p: str, width: int, height: int, size: int, max_pixels: int | None,
                 *, check_density: bool) -> None:
    """Refuse a claimed size above ``max_pixels`` (RawLimitError) or one the file is far too
    small to hold (CorruptRawError), before anything of that size is allocated."""
    pixels = int(width) * int(height)
    if max_pixels is not None and pixels > max_pixels:
        raise RawLimitError(
            f"{p}: claims {width} x {height} = {pixels:,} pixels, more than the limit of "
            f"{max_pixels:,} (max_pixels / --max-pixels)"
        )
    if check_density and pixels * _MIN_BITS_PER_PIXEL > size * 8:
        raise CorruptRawError(
            f"{p}: claims {width} x {height} pixels but holds only {size} bytes (less than "
            f"{_MIN_BITS_PER_PIXEL:g} bit per pixel): truncated or a lying header"
        )


def _read_libraw(p: str, *, size: int = 0, max_pixels: int | None = None, check_density: bool = False):
    """Everything LibRaw gives; returns a tuple of fields or a RawError to raise. rawpy errors
    propagate to the caller, which maps them."""
    import rawpy

    with rawpy.imread(p) as raw:
        sizes = raw.sizes  # read from the header, before LibRaw unpacks (allocates) anything
        _check_claim(p, sizes.raw_width, sizes.raw_height, size, max_pixels, check_density=check_density)
        raw_type = raw.raw_type
        pattern = raw.raw_pattern
        desc = raw.color_desc.decode("ascii", "replace")
        if raw_type == rawpy.RawType.Stack and int(raw.num_colors) == 3:
            return _read_stack(p, raw, sizes)
        if raw_type != rawpy.RawType.Flat or pattern is None:
            return UnsupportedRawError(
                f"{p}: not a Bayer CFA sensor (LibRaw raw_type {raw_type.name}, no 2x2 pattern: "
                "linear DNG, Foveon or other stacked data); this ISP develops Bayer mosaics only"
            )
        if pattern.shape != (2, 2):  # X-Trans 6x6 and longer patterns: LibRaw demosaics
            from .libraw_fallback import fallback_fields

            return fallback_fields(p, raw, sizes)
        top, left = int(sizes.top_margin), int(sizes.left_margin)
        idx = [[int(raw.raw_color(top + dy, left + dx)) for dx in range(2)] for dy in range(2)]
        if max(max(row) for row in idx) >= len(desc):
            return CorruptRawError(f"{p}: inconsistent CFA description {desc!r}")
        letters = "".join(desc[i] for row in idx for i in row)
        if sorted(letters) != ["B", "G", "G", "R"]:  # CMYG, RGBE, ...: LibRaw demosaics
            from .libraw_fallback import fallback_fields

            return fallback_fields(p, raw, sizes)
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
        matrix, matrix_source = _libraw_matrix_or_measured(raw)
        return (
            mosaic, letters, black, white, _camera_wb(raw), matrix, flip,
            (top, left), {**_libraw_metadata(raw), "color_matrix_source": matrix_source,
                          **_libraw_geometry(sizes, mosaic.shape)},
        )


def _libraw_geometry(sizes, shape) -> dict:
    """pixel_aspect and default_crop (visible-area coordinates, None when absent, covering
    everything, or not inside the visible area) from LibRaw's sizes."""
    crop = None
    height, width = int(sizes.crop_height), int(sizes.crop_width)
    if height > 0 and width > 0:
        # LibRaw's crop (raw_inset_crops) is relative to the full raw image
        top = int(sizes.crop_top_margin) - int(sizes.top_margin)
        left = int(sizes.crop_left_margin) - int(sizes.left_margin)
        inside = top >= 0 and left >= 0 and top + height <= shape[0] and left + width <= shape[1]
        if inside and (height, width) != tuple(shape[:2]):
            crop = (top, left, height, width)
    return {"pixel_aspect": float(sizes.pixel_aspect), "default_crop": crop}


def _read_stack(p: str, raw, sizes):
    """A linear (demosaiced) RAW as LibRaw decodes it: H x W x 3 camera RGB (see isp.linear)."""
    stack = raw.raw_image_visible
    if stack.ndim != 3 or stack.shape[2] < 3 or stack.size == 0:
        return CorruptRawError(f"{p}: decoded a malformed linear image (shape {stack.shape})")
    if stack.shape[2] > 3 and np.any(stack[..., 3:]):
        return UnsupportedRawError(f"{p}: a linear RAW with {stack.shape[2]} populated channels; "
                                   "this ISP develops 3-colour linear data only")
    rgb = np.array(stack[..., :3], dtype=np.uint16, copy=True)
    blpc = [float(v) for v in raw.black_level_per_channel]
    black = (blpc[0], blpc[1], blpc[2], blpc[1])
    white = float(raw.white_level)
    if not white > max(black):
        return CorruptRawError(f"{p}: white level {white} is not above the black levels {list(black)}")
    flip = int(sizes.flip) if int(sizes.flip) in range(8) else 0
    matrix, matrix_source = _libraw_matrix_or_measured(raw)
    meta = {**_libraw_metadata(raw), "color_matrix_source": matrix_source,
            **_libraw_geometry(sizes, rgb.shape)}
    return (rgb, None, black, white, _camera_wb(raw), matrix, flip,
            (int(sizes.top_margin), int(sizes.left_margin)), meta)


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
            scale = _tag_floats(tags, 50718)  # DefaultScale: non-square pixels take LibRaw's path
            if scale and (len(scale) != 2 or scale[0] != scale[1]):
                return None
            if 50719 in tags or 50720 in tags:  # DefaultCropOrigin / Size: LibRaw reports them
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
    return (np.ascontiguousarray(mosaic), cfa, black, white, camera_wb, matrix, flip, (0, 0),
            {"color_matrix_source": "DNG ColorMatrix1"})


def _read_head(p: str) -> tuple[int, bytes]:
    """(size, first 64 bytes) of a regular file; anything else (FIFO, device, folder, socket) is
    refused before it is opened for reading, so a FIFO never blocks the reader."""
    import stat

    try:
        st = os.stat(p)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise RawFileError(f"{p}: is {kind}; only regular files are read")
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # replaced between stat and open
                raise RawFileError(f"{p}: is not a regular file; only regular files are read")
            head = os.read(fd, 64)
        finally:
            os.close(fd)
    except RawFileError:
        raise
    except OSError as exc:
        raise RawFileError(f"{p}: cannot open the file ({exc.strerror or exc})") from exc
    return st.st_size, head


def _check_max_pixels(max_pixels: int | None) -> int | None:
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        from .errors import ISPInputError

        raise ISPInputError(f"max_pixels must be a whole number >= 1 or None; got {max_pixels!r}")
    return int(max_pixels)


def read_raw(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> RawFrame:
    """Read a Bayer RAW file.

    Parameters
    ----------
    path : str or os.PathLike
        Any RAW LibRaw reads (DNG, CR2, NEF, ARW, CRW, KDC, ...). Only regular files are read.
    max_pixels : int or None
        Refuse files whose header claims more pixels (width x height of the stored raw image)
        than this, before decoding (:class:`RawLimitError`). None: no limit.

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
        A RAW this ISP cannot develop: Foveon / stacked data of other than 3 colours, RAW
        containers LibRaw has no decoder for, non-square pixels on a LibRaw-fallback CFA.
        (X-Trans and 4-colour CFAs are read for the LibRaw fallback, linear DNGs for isp.linear.)
    CorruptRawError
        Empty, truncated, random or text data, a file LibRaw fails to decode, a damaged TIFF
        structure (an IFD chain that loops or exceeds 64 IFDs, image data or opcode lists past
        the end of the file, missing data offsets), or decoded data that cannot be an exposure
        (constant, or no pixel between black and white).
    RawLimitError
        The file claims more than ``max_pixels`` pixels.
    RawError
        The file does not exist, cannot be opened or is not a regular file (``RawFileError``,
        also an ``OSError``).
    """
    import rawpy

    p = os.fspath(path)
    max_pixels = _check_max_pixels(max_pixels)
    size, head = _read_head(p)
    if size == 0:
        raise CorruptRawError(f"{p}: the file is empty (0 bytes); expected a camera RAW")

    if head[:4] == b"FOVb":
        raise _classify_unsupported(p, head, size, None, None)
    structure = scan_tiff_file(p) if head[:4] in (b"II*\x00", b"MM\x00*") else None
    if structure is not None:
        problem = structure_problem(structure)
        if problem:
            raise CorruptRawError(f"{p}: {problem}")
    if structure is not None:
        pixels = claimed_pixels(structure)
        if max_pixels is not None and pixels > max_pixels:
            raise RawLimitError(
                f"{p}: claims {pixels:,} pixels, more than the limit of {max_pixels:,} "
                "(max_pixels / --max-pixels)"
            )
    try:
        fields = _read_dng_fast(p) if structure is not None else None
        if fields is None:
            # TIFF data sources were checked exactly above; other containers get the density floor
            fields = _read_libraw(p, size=size, max_pixels=max_pixels, check_density=structure is None and head[4:11] != b"ftypcrx")
    except rawpy.LibRawFileUnsupportedError as exc:
        raise _classify_unsupported(p, head, size, exc, structure) from exc
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
    libraw_meta = dict(libraw_meta)
    matrix_source = libraw_meta.pop("color_matrix_source", "none")
    pixel_aspect = float(libraw_meta.pop("pixel_aspect", 1.0))
    default_crop = libraw_meta.pop("default_crop", None)
    libraw_fallback = libraw_meta.pop("libraw_fallback", None)
    if not (math.isfinite(pixel_aspect) and 0.1 <= pixel_aspect <= 10):
        raise CorruptRawError(f"{p}: pixel aspect ratio {pixel_aspect!r} is outside 0.1 .. 10")
    problem = _decode_problem(mosaic, black, white)
    if problem:
        raise CorruptRawError(f"{p}: {problem}")
    if not np.all(np.isfinite(matrix)):
        raise CorruptRawError(f"{p}: the colour matrix (ColorMatrix / LibRaw rgb_cam) is not finite: {matrix.tolist()}")

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
        color_matrix_source=matrix_source,
        pixel_aspect=pixel_aspect,
        default_crop=default_crop,
        libraw_fallback=libraw_fallback,
    )


__all__ = ["RawFrame", "RawMetadata", "read_raw", "RawError"]
