"""DNG opcode lists (OpcodeList1/2/3): parsing, encoding and the lens-shading corrections.

LibRaw (and therefore rawpy) reads DNG opcode lists but applies none of them, so phone and drone
DNGs come out of it with dark, tinted corners. This module parses the three lists a DNG may carry
and applies the two opcodes that describe lens shading:

* ``GainMap`` (opcode 9): a 2-D grid of gains, bilinearly interpolated, for an area, a plane range
  and a row/column pitch of the image (four maps with pitch 2 give one map per Bayer site).
* ``FixVignetteRadial`` (opcode 3): the radial gain ``1 + k0 r^2 + k1 r^4 + k2 r^6 + k3 r^8 + k4 r^10``.

Reference: Adobe *Digital Negative (DNG) Specification* 1.4.0.0 (June 2012), chapter 7
"Opcode List Processing" (the same text in 1.5, 1.6 and 1.7); the section names are cited at
each definition below. Where the specification leaves a detail to the reader (pixel centres,
the clamping of the map outside its grid, the area pitch phase) we follow Adobe's reference
implementation, the DNG SDK (``dng_gain_map.cpp``, ``dng_area_spec``, ``dng_lens_correction.cpp``).

Where each list acts, and what this project does with it:

* **OpcodeList1** (tag 51008) acts on the raw values as stored, before linearisation and black
  subtraction, in the coordinates of the whole stored image. LibRaw has already linearised the
  data we receive, so nothing in this list is applied; every opcode found there is reported in
  :attr:`LensShading.skipped` (and warned about when the file marks it as not optional).
* **OpcodeList2** (tag 51009) acts on the linearised, black-subtracted, normalised mosaic (the
  "stage 2" image: the ``ActiveArea``, which is LibRaw's visible area) before white balance and
  demosaicing. ``GainMap`` and ``FixVignetteRadial`` found here are applied by
  :meth:`LensShading.apply_to_mosaic`.
* **OpcodeList3** (tag 51022) acts on the demosaiced camera-RGB image (the "stage 3" image, same
  bounds). ``GainMap`` and ``FixVignetteRadial`` found here are applied by
  :meth:`LensShading.apply_to_rgb`.

Every other opcode (``WarpRectilinear``, ``WarpFisheye``, ``FixBadPixelsConstant``,
``FixBadPixelsList``, ``TrimBounds``, ``MapTable``, ``MapPolynomial``, ``DeltaPerRow``,
``DeltaPerColumn``, ``ScalePerRow``, ``ScalePerColumn``, ``WarpRectilinear2`` and ids this module
does not know) is kept as an :class:`UnknownOpcode`, skipped, and listed in
:attr:`LensShading.skipped`; a :class:`UnsupportedOpcodeWarning` is issued only when the opcode's
``Optional`` flag bit is clear (the specification says a reader that cannot apply a non-optional
opcode should not render the image as if it had; we render it and say so).

One deliberate difference from the DNG SDK: the SDK clips each gain-mapped value to 1.0 (its
stage-2 data is bounded); this project keeps the data unclipped above 1, like the rest of the
pipeline, and leaves highlight clipping to the display transform.

Malformed lists (truncated data, counts or parameter sizes that overrun the tag, map sizes that do
not match the byte count, non-finite or absurd values) raise :class:`isp.CorruptRawError` naming
the file, the tag, the opcode index and the byte offset; no input can make the parser read out of
bounds or allocate more than the tag's own size.
"""

from __future__ import annotations

import logging
import math
import struct
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

import numpy as np

from isp.cfa import CFAOrder, check_cfa
from isp.errors import CorruptRawError, ISPInputError

if TYPE_CHECKING:  # pragma: no cover
    from isp import RawFrame

__all__ = [
    "OPCODE_LIST_TAGS",
    "OPCODE_NAMES",
    "FLAG_OPTIONAL",
    "FLAG_SKIP_IF_PREVIEW",
    "GainMap",
    "FixVignetteRadial",
    "UnknownOpcode",
    "Opcode",
    "UnsupportedOpcodeWarning",
    "parse_opcode_list",
    "encode_opcode_list",
    "LensShading",
    "lens_shading_from_frame",
]

logger = logging.getLogger(__name__)

#: TIFF tag of each opcode list, keyed by list number (DNG spec 1.4, chapter 6 "Tags").
OPCODE_LIST_TAGS: Mapping[int, int] = {1: 51008, 2: 51009, 3: 51022}

#: Opcode ids defined by the DNG specification (1.3 to 1.6, chapter 7 "Opcode List Processing").
OPCODE_NAMES: Mapping[int, str] = {
    1: "WarpRectilinear",
    2: "WarpFisheye",
    3: "FixVignetteRadial",
    4: "FixBadPixelsConstant",
    5: "FixBadPixelsList",
    6: "TrimBounds",
    7: "MapTable",
    8: "MapPolynomial",
    9: "GainMap",
    10: "DeltaPerRow",
    11: "DeltaPerColumn",
    12: "ScalePerRow",
    13: "ScalePerColumn",
    14: "WarpRectilinear2",
}

#: Opcode flag bit 0: the opcode may be skipped by a reader that does not support it.
FLAG_OPTIONAL = 1
#: Opcode flag bit 1: the opcode may be skipped when rendering a preview.
FLAG_SKIP_IF_PREVIEW = 2

#: DNG version 1.3.0.0, the version that introduced opcodes (written by the encoders).
DNG_VERSION_1_3 = 0x01030000


# Sanity caps for values a real file never comes close to (the byte counts bound the rest).
_MAX_OPCODE_LIST_BYTES = 64 * 1024 * 1024
_MAX_OPCODES_PER_LIST = 4096  # real files carry a handful; bounds the per-opcode tables
_MAX_MAP_POINTS_PER_AXIS = 65_535
_MAX_MAP_PLANES = 4  # DNG SDK kMaxColorPlanes
_MAX_ABS_GAIN = 1024.0
_MAX_ABS_VIGNETTE_COEFF = 1.0e6

_HEADER = struct.Struct(">IIII")  # opcode id, DNG version, flags, parameter byte count
_AREA = struct.Struct(">iiiiIIII")  # Top, Left, Bottom, Right, Plane, Planes, RowPitch, ColPitch
_MAP_HEAD = struct.Struct(">IIddddI")  # MapPointsV/H, MapSpacingV/H, MapOriginV/H, MapPlanes
_VIGNETTE = struct.Struct(">7d")  # k0..k4, cx, cy
_GAIN_MAP_FIXED_BYTES = _AREA.size + _MAP_HEAD.size  # 76


class UnsupportedOpcodeWarning(UserWarning):
    """A DNG opcode that the file marks as not optional was found but is not applied."""


def _list_name(list_index: int) -> str:
    tag = OPCODE_LIST_TAGS.get(list_index)
    return f"OpcodeList{list_index} (tag {tag})" if tag else f"opcode list {list_index}"


# --------------------------------------------------------------------------------------------
# Opcode records
# --------------------------------------------------------------------------------------------


def _gain_map_problem(
    top: int,
    left: int,
    bottom: int,
    right: int,
    plane: int,
    planes: int,
    row_pitch: int,
    col_pitch: int,
    spacing_v: float,
    spacing_h: float,
    origin_v: float,
    origin_h: float,
    gains: np.ndarray,
) -> str | None:
    """The first inconsistency of a GainMap's parameters, or None (shared by parser and constructor)."""
    for name, value in (("Top", top), ("Left", left), ("Bottom", bottom), ("Right", right)):
        if not -(2**31) <= value < 2**31:
            return f"{name} must fit an int32, got {value}"
    if bottom < top or right < left:
        return (
            "area must have Top <= Bottom and Left <= Right, got (Top, Left, Bottom, Right) = "
            f"({top}, {left}, {bottom}, {right})"
        )
    if not 0 <= plane < 2**32:
        return f"Plane must be a uint32, got {plane}"
    if not 1 <= planes < 2**32:
        return f"Planes must be >= 1, got {planes}"
    if not (1 <= row_pitch < 2**32 and 1 <= col_pitch < 2**32):
        return f"RowPitch and ColPitch must be >= 1, got ({row_pitch}, {col_pitch})"
    if gains.ndim != 3 or min(gains.shape) < 1:
        return f"gains must be MapPointsV x MapPointsH x MapPlanes with every size >= 1, got shape {gains.shape}"
    nv, nh, mp = gains.shape
    if nv > _MAX_MAP_POINTS_PER_AXIS or nh > _MAX_MAP_POINTS_PER_AXIS:
        return f"MapPointsV/H must be <= {_MAX_MAP_POINTS_PER_AXIS}, got ({nv}, {nh})"
    if mp > _MAX_MAP_PLANES:
        return f"MapPlanes must be 1..{_MAX_MAP_PLANES}, got {mp}"
    for name, value in (("MapSpacingV", spacing_v), ("MapSpacingH", spacing_h)):
        if not (math.isfinite(value) and 1.0e-7 <= value <= 1.0e6):
            return f"{name} must be a finite relative spacing in [1e-7, 1e6], got {value!r}"
    for name, value in (("MapOriginV", origin_v), ("MapOriginH", origin_h)):
        if not math.isfinite(value) or abs(value) > 1.0e6:
            return f"{name} must be a finite relative coordinate, got {value!r}"
    if not np.all(np.isfinite(gains)):
        return f"MapGain holds {int(np.count_nonzero(~np.isfinite(gains)))} non-finite value(s) (NaN or infinity)"
    lo, hi = float(gains.min()), float(gains.max())
    if lo < 0.0 or hi > _MAX_ABS_GAIN:
        return f"MapGain values must lie in [0, {_MAX_ABS_GAIN:g}], got [{lo:g}, {hi:g}]"
    return None


@dataclass(frozen=True, eq=False)
class GainMap:
    """DNG opcode 9, ``GainMap`` (DNG spec 1.4, chapter 7, "GainMap").

    Multiplies the pixels of an area and plane range of the image, every ``row_pitch``-th row and
    ``col_pitch``-th column counted from ``(top, left)``, by a gain bilinearly interpolated from a
    ``MapPointsV x MapPointsH`` grid. Map point ``(i, j)`` sits at the relative position
    ``(map_origin_v + i * map_spacing_v, map_origin_h + j * map_spacing_h)`` of the *image*
    (0 = top/left edge, 1 = bottom/right edge of the whole stage image, not of the area); a pixel
    ``(row, col)`` is evaluated at its centre ``((row + 0.5) / H, (col + 0.5) / W)`` and the map is
    clamped (held constant) outside its grid, as the DNG SDK does (``dng_gain_map_interpolator``).
    Image plane ``p`` uses map plane ``min(p, MapPlanes - 1)``.

    Parameters
    ----------
    top, left, bottom, right : int
        Area in pixels of the stage image (bottom/right exclusive); ``bottom == top`` covers nothing.
    plane, planes : int
        First image plane and number of planes. A CFA mosaic has one plane: ``plane=0, planes=1``.
    row_pitch, col_pitch : int
        Apply to every n-th row/column of the area (2 and 2 with a ``(top, left)`` offset of 0/1
        address a single Bayer site).
    map_spacing_v, map_spacing_h : float
        Distance between map points, relative to the image height/width (> 0).
    map_origin_v, map_origin_h : float
        Relative position of map point (0, 0).
    gains : array_like
        ``MapPointsV x MapPointsH x MapPlanes`` gains (float32, finite, >= 0); a 2-D array means one
        map plane.
    dng_version : int
        DNG version the opcode requires, as a uint32 (``0x01030000`` is 1.3.0.0).
    flags : int
        Opcode flags (bit 0 :data:`FLAG_OPTIONAL`, bit 1 :data:`FLAG_SKIP_IF_PREVIEW`).

    Raises
    ------
    isp.ISPInputError
        If a parameter is inconsistent (the parser raises ``CorruptRawError`` instead).
    """

    top: int
    left: int
    bottom: int
    right: int
    plane: int = 0
    planes: int = 1
    row_pitch: int = 1
    col_pitch: int = 1
    map_spacing_v: float = 1.0
    map_spacing_h: float = 1.0
    map_origin_v: float = 0.0
    map_origin_h: float = 0.0
    gains: np.ndarray = field(default_factory=lambda: np.ones((1, 1, 1), np.float32))
    dng_version: int = DNG_VERSION_1_3
    flags: int = 0

    opcode_id = 9
    name = "GainMap"

    def __post_init__(self) -> None:
        gains = np.array(self.gains, dtype=np.float32, copy=True)
        if gains.ndim == 2:
            gains = gains[:, :, None]
        gains = np.ascontiguousarray(gains)
        gains.setflags(write=False)
        object.__setattr__(self, "gains", gains)
        problem = _gain_map_problem(
            int(self.top), int(self.left), int(self.bottom), int(self.right),
            int(self.plane), int(self.planes), int(self.row_pitch), int(self.col_pitch),
            float(self.map_spacing_v), float(self.map_spacing_h),
            float(self.map_origin_v), float(self.map_origin_h), gains,
        )  # fmt: skip
        if problem is not None:
            raise ISPInputError(f"GainMap: {problem}")
        _check_header(self.dng_version, self.flags, ISPInputError)

    @property
    def map_points_v(self) -> int:
        return int(self.gains.shape[0])

    @property
    def map_points_h(self) -> int:
        return int(self.gains.shape[1])

    @property
    def map_planes(self) -> int:
        return int(self.gains.shape[2])

    @property
    def optional(self) -> bool:
        return bool(self.flags & FLAG_OPTIONAL)

    def _params(self) -> bytes:
        nv, nh, mp = self.gains.shape
        # A single point along an axis has no spacing; the SDK writes it back as spacing 1, origin 0.
        head = _AREA.pack(
            self.top, self.left, self.bottom, self.right,
            self.plane, self.planes, self.row_pitch, self.col_pitch,
        ) + _MAP_HEAD.pack(
            nv, nh, self.map_spacing_v, self.map_spacing_h, self.map_origin_v, self.map_origin_h, mp
        )  # fmt: skip
        return head + self.gains.astype(">f4").tobytes()

    def __repr__(self) -> str:
        return (
            f"GainMap(area=({self.top}, {self.left}, {self.bottom}, {self.right}), "
            f"plane={self.plane}, planes={self.planes}, pitch=({self.row_pitch}, {self.col_pitch}), "
            f"points={self.gains.shape[:2]}, spacing=({self.map_spacing_v:g}, {self.map_spacing_h:g}), "
            f"origin=({self.map_origin_v:g}, {self.map_origin_h:g}), map_planes={self.map_planes}, "
            f"gain range=[{float(self.gains.min()):.4g}, {float(self.gains.max()):.4g}], flags={self.flags})"
        )


@dataclass(frozen=True)
class FixVignetteRadial:
    """DNG opcode 3, ``FixVignetteRadial`` (DNG spec 1.4, chapter 7, "FixVignetteRadial").

    Multiplies every plane of the image by ``g(r) = 1 + k0 r^2 + k1 r^4 + k2 r^6 + k3 r^8 + k4 r^10``
    where ``r`` is the Euclidean distance of the pixel centre from the optical centre divided by
    the largest distance from the optical centre to a corner of the image, so ``r`` is in [0, 1].
    The optical centre is ``(cx * W, cy * H)`` in pixels, ``cx`` and ``cy`` relative to the image
    (0 = left/top edge, 1 = right/bottom edge); square pixels are assumed (the DNG SDK scales by
    ``DefaultScale``'s pixel aspect ratio, which is 1 for every CFA DNG we know of).

    Parameters
    ----------
    k : tuple of 5 float
        ``(k0, k1, k2, k3, k4)``, finite.
    cx, cy : float
        Optical centre, relative, each in [0, 1].
    dng_version, flags : int
        As for :class:`GainMap`.
    """

    k: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    cx: float = 0.5
    cy: float = 0.5
    dng_version: int = DNG_VERSION_1_3
    flags: int = 0

    opcode_id = 3
    name = "FixVignetteRadial"

    def __post_init__(self) -> None:
        k = tuple(float(v) for v in self.k)
        object.__setattr__(self, "k", k)
        problem = _vignette_problem(k, float(self.cx), float(self.cy))
        if problem is not None:
            raise ISPInputError(f"FixVignetteRadial: {problem}")
        _check_header(self.dng_version, self.flags, ISPInputError)

    @property
    def optional(self) -> bool:
        return bool(self.flags & FLAG_OPTIONAL)

    @property
    def is_nop(self) -> bool:
        """True when every coefficient is zero (the gain is 1 everywhere)."""
        return all(v == 0.0 for v in self.k)

    def gain(self, r: np.ndarray | float) -> np.ndarray:
        """The gain at normalised radius ``r`` (float64, same shape as ``r``)."""
        r2 = np.asarray(r, dtype=np.float64) ** 2
        k0, k1, k2, k3, k4 = self.k
        return 1.0 + r2 * (k0 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4))))

    def _params(self) -> bytes:
        # Parameter order on disk: k0..k4, then the centre as (cx, cy) -- horizontal first.
        return _VIGNETTE.pack(*self.k, self.cx, self.cy)


def _vignette_problem(k: tuple[float, ...], cx: float, cy: float) -> str | None:
    if len(k) != 5:
        return f"expected 5 coefficients k0..k4, got {len(k)}"
    if not all(math.isfinite(v) and abs(v) <= _MAX_ABS_VIGNETTE_COEFF for v in k):
        return f"coefficients k0..k4 must be finite and |k| <= {_MAX_ABS_VIGNETTE_COEFF:g}, got {k}"
    if not (math.isfinite(cx) and math.isfinite(cy) and 0.0 <= cx <= 1.0 and 0.0 <= cy <= 1.0):
        return f"optical centre (cx, cy) must lie in [0, 1] x [0, 1], got ({cx!r}, {cy!r})"
    return None


@dataclass(frozen=True)
class UnknownOpcode:
    """An opcode this module does not apply, kept verbatim (id, header and parameter bytes).

    The name comes from :data:`OPCODE_NAMES` (``"Opcode<id>"`` for ids the DNG specification
    does not define).
    """

    opcode_id: int
    params: bytes = b""
    dng_version: int = DNG_VERSION_1_3
    flags: int = 0

    def __post_init__(self) -> None:
        if not 0 <= int(self.opcode_id) < 2**32:
            raise ISPInputError(f"UnknownOpcode: opcode id must be a uint32, got {self.opcode_id}")
        object.__setattr__(self, "params", bytes(self.params))
        _check_header(self.dng_version, self.flags, ISPInputError)

    @property
    def name(self) -> str:
        return OPCODE_NAMES.get(self.opcode_id, f"Opcode{self.opcode_id}")

    @property
    def optional(self) -> bool:
        return bool(self.flags & FLAG_OPTIONAL)

    def _params(self) -> bytes:
        return self.params


Opcode = Union[GainMap, FixVignetteRadial, UnknownOpcode]


def _check_header(dng_version: int, flags: int, error: type[Exception]) -> None:
    for name, value in (("dng_version", dng_version), ("flags", flags)):
        if not 0 <= int(value) < 2**32:
            raise error(f"opcode {name} must be a uint32, got {value}")


# --------------------------------------------------------------------------------------------
# Parsing and encoding
# --------------------------------------------------------------------------------------------


def encode_opcode_list(opcodes: Sequence[Opcode]) -> bytes:
    """Serialise opcodes as a DNG opcode list (big-endian, DNG spec 1.4 chapter 7).

    Parameters
    ----------
    opcodes : sequence of GainMap, FixVignetteRadial or UnknownOpcode
        In the order they are to be applied.

    Returns
    -------
    bytes
        The tag value for OpcodeList1/2/3: a uint32 count, then per opcode its id, DNG version,
        flags, parameter byte count and parameters. ``parse_opcode_list`` reads it back.

    Examples
    --------
    >>> data = encode_opcode_list([FixVignetteRadial(k=(0.5, 0, 0, 0, 0))])
    >>> parse_opcode_list(data)[0].k[0]
    0.5
    """
    parts = [struct.pack(">I", len(opcodes))]
    for op in opcodes:
        if not isinstance(op, (GainMap, FixVignetteRadial, UnknownOpcode)):
            raise ISPInputError(
                f"encode_opcode_list: expected GainMap, FixVignetteRadial or UnknownOpcode, got {type(op).__name__}"
            )
        params = op._params()
        parts.append(_HEADER.pack(op.opcode_id, op.dng_version, op.flags, len(params)))
        parts.append(params)
    return b"".join(parts)


def parse_opcode_list(
    data: bytes | bytearray | memoryview | np.ndarray,
    *,
    list_index: int = 2,
    path: str | None = None,
) -> tuple[Opcode, ...]:
    """Parse the value of a DNG OpcodeList1/2/3 tag (DNG spec 1.4, chapter 7).

    Parameters
    ----------
    data : bytes-like
        The tag's raw bytes (big-endian whatever the TIFF byte order is).
    list_index : {1, 2, 3}
        Which list this is; only used to name the tag in error messages.
    path : str, optional
        The file the list came from, for error messages.

    Returns
    -------
    tuple of GainMap, FixVignetteRadial or UnknownOpcode
        In file order. Opcodes other than GainMap and FixVignetteRadial are returned as
        :class:`UnknownOpcode` with their parameter bytes.

    Raises
    ------
    isp.CorruptRawError
        If the list is truncated, a count or byte size overruns the data, bytes are left over,
        or a GainMap / FixVignetteRadial has inconsistent or non-finite parameters. The message
        names the file, the tag, the opcode index and the byte offset.
    """
    if isinstance(data, np.ndarray):
        data = data.tobytes()
    buf = bytes(data)
    where = f"{path or '<opcode list>'}: {_list_name(list_index)}"

    def corrupt(msg: str) -> CorruptRawError:
        return CorruptRawError(f"{where}: {msg}")

    if len(buf) > _MAX_OPCODE_LIST_BYTES:
        raise corrupt(f"{len(buf)} bytes is more than the {_MAX_OPCODE_LIST_BYTES} an opcode list may plausibly hold")
    if len(buf) < 4:
        raise corrupt(f"expected at least 4 bytes (the opcode count), got {len(buf)}")
    (count,) = struct.unpack_from(">I", buf, 0)
    if count > _MAX_OPCODES_PER_LIST:
        raise corrupt(f"opcode count {count} is more than the {_MAX_OPCODES_PER_LIST} a list may plausibly hold")
    if count > (len(buf) - 4) // _HEADER.size:
        raise corrupt(
            f"opcode count {count} needs at least {4 + count * _HEADER.size} bytes, the tag holds {len(buf)}"
        )
    opcodes: list[Opcode] = []
    offset = 4
    for index in range(count):
        if offset + _HEADER.size > len(buf):
            raise corrupt(
                f"opcode #{index} at byte {offset}: expected a 16-byte header, only {len(buf) - offset} bytes left"
            )
        opcode_id, version, flags, nbytes = _HEADER.unpack_from(buf, offset)
        name = OPCODE_NAMES.get(opcode_id, f"Opcode{opcode_id}")
        start = offset + _HEADER.size
        if nbytes > len(buf) - start:
            raise corrupt(
                f"opcode #{index} ({name}) at byte {offset}: parameter byte count {nbytes} "
                f"overruns the list ({len(buf) - start} bytes left)"
            )
        params = buf[start : start + nbytes]
        context = f"opcode #{index} ({name}) at byte {offset}"
        if opcode_id == GainMap.opcode_id:
            opcodes.append(_parse_gain_map(params, version, flags, lambda m: corrupt(f"{context}: {m}")))
        elif opcode_id == FixVignetteRadial.opcode_id:
            opcodes.append(_parse_vignette(params, version, flags, lambda m: corrupt(f"{context}: {m}")))
        else:
            opcodes.append(UnknownOpcode(opcode_id, params, version, flags))
        offset = start + nbytes
    if offset != len(buf):
        raise corrupt(f"{len(buf) - offset} unexpected byte(s) after the {count} opcode(s) the list declares")
    return tuple(opcodes)


def _parse_gain_map(params: bytes, version: int, flags: int, corrupt) -> GainMap:
    if len(params) < _GAIN_MAP_FIXED_BYTES:
        raise corrupt(f"expected at least {_GAIN_MAP_FIXED_BYTES} parameter bytes, got {len(params)}")
    top, left, bottom, right, plane, planes, row_pitch, col_pitch = _AREA.unpack_from(params, 0)
    nv, nh, spacing_v, spacing_h, origin_v, origin_h, map_planes = _MAP_HEAD.unpack_from(params, _AREA.size)
    if nv < 1 or nh < 1 or map_planes < 1:
        raise corrupt(f"MapPointsV, MapPointsH and MapPlanes must be >= 1, got ({nv}, {nh}, {map_planes})")
    if nv > _MAX_MAP_POINTS_PER_AXIS or nh > _MAX_MAP_POINTS_PER_AXIS or map_planes > _MAX_MAP_PLANES:
        raise corrupt(
            f"map of {nv} x {nh} points x {map_planes} planes exceeds the limits "
            f"({_MAX_MAP_POINTS_PER_AXIS} points per axis, {_MAX_MAP_PLANES} planes)"
        )
    expected = _GAIN_MAP_FIXED_BYTES + 4 * nv * nh * map_planes
    if len(params) != expected:
        raise corrupt(
            f"a {nv} x {nh} x {map_planes} map needs {expected} parameter bytes, the opcode declares {len(params)}"
        )
    # As in the DNG SDK: a single point along an axis makes its spacing and origin irrelevant.
    if nv == 1:
        spacing_v, origin_v = 1.0, 0.0
    if nh == 1:
        spacing_h, origin_h = 1.0, 0.0
    gains = np.frombuffer(params, dtype=">f4", offset=_GAIN_MAP_FIXED_BYTES).astype(np.float32)
    gains = gains.reshape(nv, nh, map_planes)
    problem = _gain_map_problem(
        top, left, bottom, right, plane, planes, row_pitch, col_pitch,
        spacing_v, spacing_h, origin_v, origin_h, gains,
    )  # fmt: skip
    if problem is not None:
        raise corrupt(problem)
    return GainMap(
        top, left, bottom, right, plane, planes, row_pitch, col_pitch,
        spacing_v, spacing_h, origin_v, origin_h, gains, version, flags,
    )  # fmt: skip


def _parse_vignette(params: bytes, version: int, flags: int, corrupt) -> FixVignetteRadial:
    if len(params) != _VIGNETTE.size:
        raise corrupt(f"expected {_VIGNETTE.size} parameter bytes (k0..k4, cx, cy as doubles), got {len(params)}")
    *k, cx, cy = _VIGNETTE.unpack(params)
    problem = _vignette_problem(tuple(k), cx, cy)
    if problem is not None:
        raise corrupt(problem)
    return FixVignetteRadial(tuple(k), cx, cy, version, flags)


# --------------------------------------------------------------------------------------------
# Applying: index tables for the fused kernel
# --------------------------------------------------------------------------------------------


def _axis_table(n: int, origin: float, spacing: float, points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map-point indices and weights along one axis for pixel centres 0..n-1 (clamped at the ends)."""
    pos = (np.arange(n, dtype=np.float64) + 0.5) / n
    f = np.clip((pos - origin) / spacing, 0.0, points - 1)
    i0 = np.floor(f).astype(np.int64)
    i0 = np.minimum(i0, points - 1)
    i1 = np.minimum(i0 + 1, points - 1)
    w1 = (f - i0).astype(np.float32)
    w1[i0 == i1] = 0.0
    return i0, i1, w1


def _first_aligned(start: int, pitch: int) -> int:
    """The first coordinate >= 0 that is ``start + k * pitch`` for an integer k >= 0."""
    if start >= 0:
        return start
    return start + (-start + pitch - 1) // pitch * pitch


class _KernelTables:
    """Everything the fused kernel needs for one image shape (built by ``_build_tables``)."""

    __slots__ = ("ent", "ri0", "ri1", "rw", "ci0", "cw", "maps", "max_nh", "vig", "vdx2", "vdy2")


def _build_tables(
    ops: Sequence[Opcode], height: int, width: int, channels: int
) -> tuple[_KernelTables, tuple[bool, ...]]:
    """Flatten the GainMaps and FixVignetteRadials into arrays; also which ops touch the image."""
    ent_rows: list[list[int]] = []
    ri0, ri1, rw, ci0, cw, maps = [], [], [], [], [], []
    vig_rows: list[list[float]] = []
    vdx2, vdy2 = [], []
    map_offset = 0
    touches: list[bool] = []
    for op in ops:
        if isinstance(op, FixVignetteRadial):
            touches.append(not op.is_nop)
            if op.is_nop:
                continue
            cx_pix, cy_pix = op.cx * width, op.cy * height
            max_r = math.hypot(max(cy_pix, height - cy_pix), max(cx_pix, width - cx_pix))
            dx = (np.arange(width, dtype=np.float64) + 0.5 - cx_pix) / max_r
            dy = (np.arange(height, dtype=np.float64) + 0.5 - cy_pix) / max_r
            vdx2.append(dx * dx)
            vdy2.append(dy * dy)
            vig_rows.append(list(op.k))
            continue
        if not isinstance(op, GainMap):
            touches.append(False)
            continue
        y0 = _first_aligned(op.top, op.row_pitch)
        x0 = _first_aligned(op.left, op.col_pitch)
        y1 = min(op.bottom, height)
        x1 = min(op.right, width)
        plane_end = min(op.plane + op.planes, channels)
        hit = y0 < y1 and x0 < x1 and op.plane < plane_end
        touches.append(hit)
        if not hit:
            continue
        a0, a1, aw = _axis_table(height, op.map_origin_v, op.map_spacing_v, op.map_points_v)
        b0, _, bw = _axis_table(width, op.map_origin_h, op.map_spacing_h, op.map_points_h)
        for p in range(op.plane, plane_end):
            mp = min(p, op.map_planes - 1)
            plane_map = np.ascontiguousarray(op.gains[:, :, mp]).ravel()
            ent_rows.append([y0, y1, op.row_pitch, x0, x1, op.col_pitch, p, map_offset, op.map_points_h])
            maps.append(plane_map)
            map_offset += plane_map.size
            ri0.append(a0), ri1.append(a1), rw.append(aw)
            ci0.append(b0), cw.append(bw)

    t = _KernelTables()
    n_ent, n_vig = len(ent_rows), len(vig_rows)
    t.ent = np.array(ent_rows, dtype=np.int64).reshape(n_ent, 9)
    t.ri0 = np.array(ri0, dtype=np.int64).reshape(n_ent, height)
    t.ri1 = np.array(ri1, dtype=np.int64).reshape(n_ent, height)
    t.rw = np.array(rw, dtype=np.float32).reshape(n_ent, height)
    t.ci0 = np.array(ci0, dtype=np.int64).reshape(n_ent, width)
    t.cw = np.array(cw, dtype=np.float32).reshape(n_ent, width)
    t.maps = np.concatenate(maps).astype(np.float32) if maps else np.ones(1, np.float32)
    t.max_nh = max((row[8] for row in ent_rows), default=1)
    t.vig = np.array(vig_rows, dtype=np.float64).reshape(n_vig, 5)
    t.vdx2 = np.array(vdx2, dtype=np.float64).reshape(n_vig, width)
    t.vdy2 = np.array(vdy2, dtype=np.float64).reshape(n_vig, height)
    return t, tuple(touches)


def _apply_ops(image: np.ndarray, ops: Sequence[Opcode], out: np.ndarray | None = None) -> np.ndarray:
    """``image`` (H x W x C float32) times every gain of ``ops``, in one fused pass, into ``out``
    (a new array when None; ``out`` may be ``image`` itself)."""
    from isp._shading_kernels import apply_gains

    height, width, channels = image.shape
    tables, _ = _build_tables(ops, height, width, channels)
    if out is None:
        out = np.empty_like(image)
    apply_gains(
        image, out, image.reshape(height, -1), out.reshape(height, -1),
        tables.ent, tables.ri0, tables.ri1, tables.rw, tables.ci0, tables.cw,
        tables.maps, tables.max_nh, tables.vig, tables.vdx2, tables.vdy2,
    )  # fmt: skip
    return out


def _check_out(out: np.ndarray | None, shape: tuple[int, ...], name: str) -> np.ndarray | None:
    if out is None:
        return None
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != shape or not out.flags.c_contiguous:
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ISPInputError(f"{name}: out must be a C-contiguous float32 array of shape {shape}, got {got}")
    if not out.flags.writeable:
        raise ISPInputError(f"{name}: out is read-only")
    return out


def _float32_input(
    image: np.ndarray, ndim: int, what: str, layout: str, kind: str, out: np.ndarray | None, name: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate the image of :meth:`LensShading.apply_to_mosaic` / ``apply_to_rgb`` (``ndim``-D,
    non-empty, floating; ``what``, ``layout`` and ``kind`` word the errors) and its ``out``.
    Returns the image as a C-contiguous float32 array and the checked ``out``."""
    arr = np.asarray(image)
    if arr.ndim != ndim or arr.size == 0:
        raise ISPInputError(f"{what} must be a non-empty {layout} array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ISPInputError(f"{what} must be a {kind} array, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    return arr, _check_out(out, arr.shape, name)


def _unchanged(arr: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """The result of a list that applies nothing: a copy of ``arr``, or ``arr`` copied into ``out``."""
    if out is None:
        return arr.copy()
    np.copyto(out, arr)
    return out


def _describe(ops: Sequence[Opcode], list_index: int) -> tuple[str, ...]:
    """Group consecutive opcodes of the same name: ``("GainMap x4 (OpcodeList2)", ...)``."""
    out: list[str] = []
    names = [op.name for op in ops]
    i = 0
    while i < len(names):
        j = i
        while j < len(names) and names[j] == names[i]:
            j += 1
        n = j - i
        out.append(f"{names[i]}{f' x{n}' if n > 1 else ''} (OpcodeList{list_index})")
        i = j
    return tuple(out)


# --------------------------------------------------------------------------------------------
# The hook develop() calls
# --------------------------------------------------------------------------------------------

_LIST1_REASON = "OpcodeList1 acts on raw values before linearisation, which LibRaw has already done"
_SKIP_REASONS = {
    "WarpRectilinear": "geometric lens-distortion warps are not implemented",
    "WarpRectilinear2": "geometric lens-distortion warps are not implemented",
    "WarpFisheye": "geometric lens-distortion warps are not implemented",
    "FixBadPixelsConstant": "bad-pixel repair from opcodes is not implemented",
    "FixBadPixelsList": "bad-pixel repair from opcodes is not implemented",
    "TrimBounds": "cropping from opcodes is not implemented (the visible area is kept)",
    "MapTable": "value remapping opcodes are not implemented",
    "MapPolynomial": "value remapping opcodes are not implemented",
    "DeltaPerRow": "per-row/column offset and scale opcodes are not implemented",
    "DeltaPerColumn": "per-row/column offset and scale opcodes are not implemented",
    "ScalePerRow": "per-row/column offset and scale opcodes are not implemented",
    "ScalePerColumn": "per-row/column offset and scale opcodes are not implemented",
}


@dataclass(frozen=True, eq=False)
class LensShading:
    """The lens-shading corrections a DNG carries in its opcode lists, ready to apply.

    Build it with :func:`lens_shading_from_frame` (or :meth:`from_opcode_lists`). ``list1``,
    ``list2`` and ``list3`` hold every parsed opcode of OpcodeList1/2/3 in file order;
    GainMap and FixVignetteRadial of lists 2 and 3 are applied, everything else is skipped and
    named in :attr:`skipped`.
    """

    list1: tuple[Opcode, ...] = ()
    list2: tuple[Opcode, ...] = ()
    list3: tuple[Opcode, ...] = ()
    path: str | None = None

    @classmethod
    def from_opcode_lists(
        cls, opcode_lists: Mapping[int, bytes], *, path: str | None = None, warn: bool = True
    ) -> LensShading:
        """Parse raw OpcodeList1/2/3 bytes keyed 1/2/3 (other keys are an ``ISPInputError``).

        Warns with :class:`UnsupportedOpcodeWarning` (when ``warn``) for each opcode that is
        skipped although the file marks it as not optional; logs every skipped opcode at INFO.

        Raises
        ------
        isp.CorruptRawError
            If a list does not parse (see :func:`parse_opcode_list`).
        """
        lists: dict[int, tuple[Opcode, ...]] = {}
        for key, data in opcode_lists.items():
            if key not in OPCODE_LIST_TAGS:
                raise ISPInputError(f"opcode lists are keyed 1, 2 or 3, got key {key!r}")
            lists[key] = parse_opcode_list(data, list_index=key, path=path)
        shading = cls(lists.get(1, ()), lists.get(2, ()), lists.get(3, ()), path)
        skipped_ops = [(i, op) for i, ops in ((1, shading.list1), (2, shading.list2), (3, shading.list3))
                       for op in ops if not shading._is_applied(i, op)]  # fmt: skip
        for (i, op), text in zip(skipped_ops, shading.skipped):
            logger.info("%s: %s", path or "<opcode list>", text)
            if warn and not op.optional:
                warnings.warn(
                    f"{path or '<opcode list>'}: {text}; the image is rendered without it, "
                    "so it differs from what the file's maker intended",
                    UnsupportedOpcodeWarning,
                    stacklevel=3,
                )
        return shading

    @staticmethod
    def _is_applied(list_index: int, op: Opcode) -> bool:
        if list_index == 1 or isinstance(op, UnknownOpcode):
            return False
        if isinstance(op, FixVignetteRadial):
            return not op.is_nop
        return True

    @property
    def mosaic_ops(self) -> tuple[Opcode, ...]:
        """The OpcodeList2 opcodes :meth:`apply_to_mosaic` applies."""
        return tuple(op for op in self.list2 if self._is_applied(2, op))

    @property
    def rgb_ops(self) -> tuple[Opcode, ...]:
        """The OpcodeList3 opcodes :meth:`apply_to_rgb` applies."""
        return tuple(op for op in self.list3 if self._is_applied(3, op))

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to apply (no GainMap / FixVignetteRadial in lists 2 and 3)."""
        return not self.mosaic_ops and not self.rgb_ops

    @property
    def applied(self) -> tuple[str, ...]:
        """Descriptions for ``ISPResult.opcodes_applied``, e.g. ``("GainMap x4 (OpcodeList2)",)``."""
        return _describe(self.mosaic_ops, 2) + _describe(self.rgb_ops, 3)

    @property
    def skipped(self) -> tuple[str, ...]:
        """One line per opcode present but not applied, with the reason."""
        out = []
        for i, ops in ((1, self.list1), (2, self.list2), (3, self.list3)):
            for op in ops:
                if self._is_applied(i, op):
                    continue
                if i == 1:
                    reason = _LIST1_REASON
                elif isinstance(op, FixVignetteRadial):
                    reason = "all coefficients are zero (no-op)"
                else:
                    reason = _SKIP_REASONS.get(op.name, "opcode id not defined by DNG 1.6")
                flag = "optional" if op.optional else "not optional"
                out.append(f"{op.name} (OpcodeList{i}, {flag}): not applied, {reason}")
        return tuple(out)

    def apply_to_mosaic(self, mosaic: np.ndarray, cfa: CFAOrder, *, out: np.ndarray | None = None) -> np.ndarray:
        """Apply the OpcodeList2 GainMaps and FixVignetteRadials to a normalised CFA mosaic.

        Parameters
        ----------
        mosaic : ndarray
            H x W float (cast to float32), black-subtracted and normalised to white (nominally
            [0, 1], values above 1 allowed), visible area, sensor orientation.
        cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}
            The mosaic's CFA order. Only validated: gain maps address Bayer sites by their area
            offset and pitch, which is independent of the colour order.
        out : ndarray, optional
            C-contiguous float32 H x W array to write into; it may be ``mosaic`` itself (in-place,
            which saves a 24 MP frame one allocation). By default a new array is returned.

        Returns
        -------
        ndarray
            H x W float32, unclipped: ``out``, or a new array (a copy when there is nothing to apply).

        Raises
        ------
        isp.ISPInputError
            If ``mosaic`` is not 2-D or ``cfa`` is not one of the four orders.
        """
        check_cfa(cfa)
        arr, out = _float32_input(mosaic, 2, "mosaic", "H x W", "normalised float", out, "apply_to_mosaic")
        ops = self.mosaic_ops
        if not ops:
            return _unchanged(arr, out)
        res = _apply_ops(arr[:, :, None], ops, None if out is None else out[:, :, None])
        return res[:, :, 0] if out is None else out

    def apply_to_rgb(self, rgb: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
        """Apply the OpcodeList3 GainMaps and FixVignetteRadials to demosaiced camera RGB.

        Parameters
        ----------
        rgb : ndarray
            H x W x 3 float (cast to float32), linear camera RGB after demosaicing, visible area,
            sensor orientation.

        out : ndarray, optional
            C-contiguous float32 array of ``rgb``'s shape to write into; it may be ``rgb`` itself.
            By default a new array is returned.

        Returns
        -------
        ndarray
            H x W x 3 float32, unclipped: ``out``, or a new array (a copy when there is nothing to apply).

        Raises
        ------
        isp.ISPInputError
            If ``rgb`` is not H x W x C with C >= 1.
        """
        arr, out = _float32_input(rgb, 3, "rgb", "H x W x 3", "float", out, "apply_to_rgb")
        ops = self.rgb_ops
        if not ops:
            return _unchanged(arr, out)
        return _apply_ops(arr, ops, out)

    def apply_list2_to_linear(self, rgb: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
        """Apply the OpcodeList2 GainMaps and FixVignetteRadials to a linear RAW (LinearRaw DNG):
        there the stage image is already H x W x 3, so each opcode acts per pixel on the planes it
        names (Plane / Planes), as the DNG SDK applies it, before white balance.

        Parameters
        ----------
        rgb : ndarray
            H x W x 3 float (cast to float32), black-subtracted, normalised to white, visible area,
            sensor orientation. ``out`` as for :meth:`apply_to_rgb`.

        Returns
        -------
        ndarray
            H x W x 3 float32, unclipped.
        """
        arr, out = _float32_input(rgb, 3, "rgb", "H x W x 3", "float", out, "apply_list2_to_linear")
        ops = self.mosaic_ops
        if not ops:
            return _unchanged(arr, out)
        return _apply_ops(arr, ops, out)

    def fused_gain_tables(self, shape: tuple[int, int]) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """Index tables of the OpcodeList2 and OpcodeList3 gains for an H x W image, for kernels
        that apply them on the fly (``isp.develop``'s fused demosaic) instead of as array stages.

        Returns
        -------
        (mosaic_tables, rgb_tables)
            Each a tuple ``(ent, ri0, ri1, rw, ci0, cw, maps, vig, vdx2, vdy2)`` as
            :func:`isp._shading_kernels.apply_gains` takes them (for 1 and 3 planes), to be passed
            to :func:`isp._shading_kernels.row_gains`; every table is empty where a list applies
            nothing. Applying them row by row gives the same gains as :meth:`apply_to_mosaic` and
            :meth:`apply_to_rgb`, bit for bit.
        """
        height, width = (int(n) for n in shape)
        out = []
        for ops, channels in ((self.mosaic_ops, 1), (self.rgb_ops, 3)):
            t, _ = _build_tables(ops, height, width, channels)
            out.append(tuple(np.ascontiguousarray(a) for a in (
                t.ent, t.ri0, t.ri1, t.rw, t.ci0, t.cw, t.maps, t.vig, t.vdx2, t.vdy2
            )))  # fmt: skip
        return out[0], out[1]

    def mosaic_gain(self, shape: tuple[int, int]) -> np.ndarray:
        """The combined OpcodeList2 gain field for an H x W mosaic (float32; 1 where nothing applies).

        ``apply_to_mosaic(m, cfa) == m * mosaic_gain(m.shape)``; a caller that already multiplies
        a per-pixel flat-field gain into its own fused kernel can use this field instead.
        """
        ones = np.ones(tuple(int(n) for n in shape), np.float32)
        return self.apply_to_mosaic(ones, "RGGB", out=ones)

    def rgb_gain(self, shape: tuple[int, int]) -> np.ndarray:
        """The combined OpcodeList3 gain field, H x W x 3 float32."""
        ones = np.ones((*(int(n) for n in shape), 3), np.float32)
        return self.apply_to_rgb(ones, out=ones)

    def __repr__(self) -> str:
        return f"LensShading(path={self.path!r}, applied={self.applied}, skipped={len(self.skipped)})"


def lens_shading_from_frame(frame: RawFrame) -> LensShading:
    """Parse the opcode lists of a :class:`isp.RawFrame` into a :class:`LensShading`.

    Parameters
    ----------
    frame : isp.RawFrame
        Its ``opcodes`` mapping (raw bytes of OpcodeList1/2/3 keyed 1/2/3; empty for non-DNG
        files) and ``path`` (for messages) are used.

    Returns
    -------
    LensShading
        ``is_empty`` when the file carries no GainMap / FixVignetteRadial in lists 2 and 3.

    Raises
    ------
    isp.CorruptRawError
        If an opcode list is malformed; the message names the file and the tag.

    Warns
    -----
    UnsupportedOpcodeWarning
        For each opcode skipped although the file marks it as not optional.
    """
    opcodes = getattr(frame, "opcodes", None) or {}
    return LensShading.from_opcode_lists(opcodes, path=getattr(frame, "path", None))
