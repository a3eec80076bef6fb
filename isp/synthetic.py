"""Synthetic Bayer DNGs from known linear scenes: the ground truth for samples, tests and benchmarks.

Two functions:

* :func:`mosaic_from_rgb` samples an RGB image through a Bayer colour filter array. It is the exact
  inverse of the sampling the demosaic keeps: ``demosaic(mosaic_from_rgb(rgb, cfa), cfa)`` holds
  ``rgb``'s own value at every site.
* :func:`write_dng` writes a minimal, LibRaw-readable CFA DNG (uncompressed, one strip per row
  block) with tifffile: PhotometricInterpretation 32803, CFARepeatPatternDim, CFAPattern,
  BlackLevelRepeatDim/BlackLevel, WhiteLevel, AsShotNeutral, ColorMatrix1 + CalibrationIlluminant1
  (D65), Orientation, Make/Model/UniqueCameraModel, and optionally the opcode lists
  OpcodeList1/2/3 (tags 51008/51009/51022) as UNDEFINED byte arrays.

Colour conventions (the same as DNG and LibRaw): ``color_matrix1`` maps CIE XYZ (D65) to camera
RGB. The camera's response to the scene's white is ``AsShotNeutral`` (normalise it so its green is
1); the white-balance gains a reader applies are ``1 / as_shot_neutral``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .cfa import CFA_ORDERS, CFAOrder, cfa_channels, mosaic_from_rgb  # noqa: F401 (re-exported)
from .color import SRGB_TO_XYZ, XYZ_TO_SRGB  # noqa: F401 (re-exported)
from .errors import ISPInputError

_TIFF_ORIENTATIONS = (1, 2, 3, 4, 5, 6, 7, 8)

#: Fujifilm X-Trans 6x6 colour filter layout (0 R, 1 G, 2 B), as LibRaw reports it.
XTRANS_PATTERN = np.array([[1, 1, 0, 1, 1, 2],
                           [1, 1, 2, 1, 1, 0],
                           [2, 0, 1, 0, 2, 1],
                           [1, 1, 2, 1, 1, 0],
                           [1, 1, 0, 1, 1, 2],
                           [0, 2, 1, 2, 0, 1]], dtype=np.uint8)


def _repeat_pattern(pattern) -> np.ndarray:
    chan = np.asarray(pattern)
    if (chan.ndim != 2 or not 1 <= min(chan.shape) <= max(chan.shape) <= 8
            or chan.dtype.kind not in "iu" or not set(np.unique(chan).tolist()) <= {0, 1, 2}):
        raise ISPInputError(f"a CFA repeat pattern must be a 2-D array (at most 8x8) of colour "
                            f"indices 0, 1, 2; got {chan.dtype} {chan.shape}")
    return chan.astype(np.uint8)


def mosaic_from_pattern(rgb: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Sample an H x W x 3 image through a CFA repeat pattern of colour indices (e.g.
    :data:`XTRANS_PATTERN`, anchored at the top-left): H x W, same dtype, one colour per site."""
    rgb = np.asarray(rgb)
    chan = _repeat_pattern(pattern)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ISPInputError(f"rgb must be H x W x 3; got shape {rgb.shape}")
    h, w = rgb.shape[:2]
    ph, pw = chan.shape
    index = np.tile(chan, (-(-h // ph), -(-w // pw)))[:h, :w]
    return np.take_along_axis(rgb, index[:, :, None].astype(np.intp), axis=2)[:, :, 0]

# TIFF field types
_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _UNDEFINED, _SRATIONAL = 1, 2, 3, 4, 5, 7, 10


def _rational(values: Sequence[float], *, signed: bool, denominator: int = 1_000_000) -> tuple:
    """Flatten floats to (numerator, denominator) pairs as tifffile expects for (S)RATIONAL."""
    out: list[int] = []
    for v in values:
        num = int(round(float(v) * denominator))
        if not signed and num < 0:
            raise ISPInputError(f"unsigned rational value must be >= 0; got {v}")
        limit = 2**31 - 1 if signed else 2**32 - 1
        if abs(num) > limit:
            raise ISPInputError(f"rational value {v} is out of range for a TIFF tag")
        out.extend((num, denominator))
    return tuple(out)


def write_dng(
    path: str | os.PathLike,
    mosaic: np.ndarray,
    *,
    cfa: CFAOrder,
    black_level: float | Sequence[float] = 0,
    white_level: float,
    as_shot_neutral: Sequence[float] | None = None,
    color_matrix1: np.ndarray | None = None,
    orientation: int = 1,
    make: str = "rawcomplete",
    model: str = "synthetic",
    opcode_list1: bytes | None = None,
    opcode_list2: bytes | None = None,
    opcode_list3: bytes | None = None,
    extra_tags: Sequence[tuple] = (),
) -> None:
    """Write a Bayer mosaic as an uncompressed CFA DNG that LibRaw (rawpy) can develop.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (conventionally ``.dng``); overwritten.
    mosaic : numpy.ndarray
        uint16, H x W, the raw sensor values (sensor orientation). LibRaw ignores images smaller
        than 22 pixels on a side.
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"} or numpy.ndarray
        Colours of the top-left 2x2 block; or a repeat pattern of colour indices (0 R, 1 G, 2 B,
        2-D, at most 8x8), e.g. :data:`XTRANS_PATTERN` (written as CFARepeatPatternDim /
        CFAPattern; LibRaw reads a 6x6 one as X-Trans and demosaics it only from 512x512 up).
    black_level : float or sequence of 4 floats
        Black level, one value or one per 2x2 site in row-major order (BlackLevelRepeatDim 2x2).
    white_level : float
        Saturation value (WhiteLevel), at most 65535.
    as_shot_neutral : sequence of 3 floats, optional
        Camera response to the scene white (R, G, B); white-balance gains are its reciprocal.
        Omitted from the file when None.
    color_matrix1 : numpy.ndarray, optional
        3x3 XYZ (D65) -> camera RGB (DNG ColorMatrix1, CalibrationIlluminant1 = D65). Default: the
        XYZ -> linear sRGB matrix, i.e. a camera whose RGB is linear sRGB.
    orientation : int
        TIFF/EXIF Orientation 1..8 (LibRaw maps 3 -> flip 3, 6 -> flip 6, 8 -> flip 5).
    make, model : str
        Make, Model and (joined) UniqueCameraModel tags.
    opcode_list1, opcode_list2, opcode_list3 : bytes, optional
        Raw big-endian DNG opcode lists, written unchanged as UNDEFINED tags 51008, 51009, 51022.
    extra_tags : sequence of tuple
        More tags in tifffile's ``extratags`` form ``(code, dtype, count, value, writeonce)``.

    Raises
    ------
    ISPInputError
        For a mosaic that is not a 2-D uint16 array, an unknown CFA, or out-of-range tag values.
    """
    import tifffile

    mosaic = np.asarray(mosaic)
    if mosaic.ndim != 2 or mosaic.dtype != np.uint16:
        raise ISPInputError(
            f"mosaic must be a 2-D uint16 array; got dtype {mosaic.dtype}, shape {mosaic.shape}"
        )
    chan = cfa_channels(cfa) if isinstance(cfa, str) else _repeat_pattern(cfa)
    if orientation not in _TIFF_ORIENTATIONS:
        raise ISPInputError(f"orientation must be one of 1..8; got {orientation!r}")
    if not 0 < float(white_level) <= 65535:
        raise ISPInputError(f"white_level must be in (0, 65535]; got {white_level}")
    blacks = np.broadcast_to(np.asarray(black_level, dtype=np.float64).ravel(), (4,)) if np.ndim(
        black_level
    ) == 0 else np.asarray(black_level, dtype=np.float64).ravel()
    if blacks.shape != (4,):
        raise ISPInputError(f"black_level must be a scalar or 4 values; got {black_level!r}")
    if np.any(blacks < 0) or np.any(blacks >= float(white_level)):
        raise ISPInputError(f"black_level must lie in [0, white_level); got {black_level!r}")
    cm = XYZ_TO_SRGB if color_matrix1 is None else np.asarray(color_matrix1, dtype=np.float64)
    if cm.shape != (3, 3) or not np.all(np.isfinite(cm)):
        raise ISPInputError(f"color_matrix1 must be a finite 3x3 matrix; got shape {cm.shape}")

    unique = f"{make} {model}".strip()
    tags: list[tuple] = [
        (33421, _SHORT, 2, tuple(int(n) for n in chan.shape), True),  # CFARepeatPatternDim
        (33422, _BYTE, chan.size, tuple(int(c) for c in chan.ravel()), True),  # CFAPattern
        (50706, _BYTE, 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, _BYTE, 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, _ASCII, 0, unique, True),  # UniqueCameraModel
        (50710, _BYTE, 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, _SHORT, 1, 1, True),  # CFALayout: rectangular
        (50713, _SHORT, 2, (2, 2), True),  # BlackLevelRepeatDim
        (50714, _RATIONAL, 4, _rational(blacks, signed=False, denominator=1000), True),
        (50717, _LONG, 1, int(round(float(white_level))), True),  # WhiteLevel
        (50721, _SRATIONAL, 9, _rational(cm.ravel(), signed=True), True),  # ColorMatrix1
        (50778, _SHORT, 1, 21, True),  # CalibrationIlluminant1 = D65
    ]
    if as_shot_neutral is not None:
        neutral = np.asarray(as_shot_neutral, dtype=np.float64).ravel()
        if neutral.shape != (3,) or np.any(~np.isfinite(neutral)) or np.any(neutral <= 0):
            raise ISPInputError(
                f"as_shot_neutral must be 3 positive finite values; got {as_shot_neutral!r}"
            )
        tags.append((50728, _RATIONAL, 3, _rational(neutral, signed=False), True))
    for code, blob in ((51008, opcode_list1), (51009, opcode_list2), (51022, opcode_list3)):
        if blob is not None:
            data = bytes(blob)
            if not data:
                raise ISPInputError(f"opcode list for tag {code} is empty")
            tags.append((code, _UNDEFINED, len(data), data, True))
    tags.extend(tuple(t) for t in extra_tags)

    tifffile.imwrite(
        os.fspath(path),
        np.ascontiguousarray(mosaic),
        photometric=32803,  # CFA
        subfiletype=0,
        byteorder="<",
        compression=None,
        software="rawcomplete isp.synthetic",
        metadata=None,
        extratags=[
            (271, _ASCII, 0, make, True),  # Make
            (272, _ASCII, 0, model, True),  # Model
            (274, _SHORT, 1, int(orientation), True),  # Orientation
            *tags,
        ],
    )
