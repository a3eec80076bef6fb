"""ICC profiles for the outputs: sRGB, linear sRGB, BT.709-encoded and pure-gamma sRGB primaries.

The sRGB profile is LittleCMS's built-in one (via Pillow's ``ImageCms``). The others are assembled
here as small ICC v2.1 display profiles: header, ``desc``, ``cprt``, ``wtpt`` (D50) and the sRGB
primaries adapted to D50 (Bradford, as in the sRGB ICC profile), with the tone curve of the output
in ``rTRC``/``gTRC``/``bTRC``. Tests check that LittleCMS opens them and converts through them.
"""

from __future__ import annotations

import functools
import struct
from typing import Literal

import numpy as np

# sRGB primaries, D50-adapted (Bradford), the colorant tags of the sRGB profile; D50 white point.
_D50 = (0.9642, 1.0, 0.8249)
_RXYZ = (0.4360747, 0.2225045, 0.0139322)
_GXYZ = (0.3850649, 0.7168786, 0.0971045)
_BXYZ = (0.1430804, 0.0606169, 0.7141733)


def _s15f16(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def _xyz_tag(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ " + b"\0" * 4 + b"".join(_s15f16(v) for v in xyz)


def _desc_tag(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (
        b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_)) + ascii_
        + struct.pack(">II", 0, 0)          # unicode language code, unicode count
        + struct.pack(">HB", 0, 0)          # scriptcode code, count
        + b"\0" * 67                        # scriptcode string
    )


def _text_tag(text: str) -> bytes:
    return b"text" + b"\0" * 4 + text.encode("ascii") + b"\0"


def _curve_tag(curve: float | np.ndarray | None) -> bytes:
    """``curv``: None = identity (linear), float = pure gamma, array = table of [0, 1] values."""
    if curve is None:
        return b"curv" + b"\0" * 4 + struct.pack(">I", 0)
    if isinstance(curve, float):
        return b"curv" + b"\0" * 4 + struct.pack(">IH", 1, int(round(curve * 256)))
    table = np.clip(np.round(np.asarray(curve, dtype=np.float64) * 65535), 0, 65535).astype(">u2")
    return b"curv" + b"\0" * 4 + struct.pack(">I", table.size) + table.tobytes()


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def build_rgb_profile(description: str, curve: float | np.ndarray | None) -> bytes:
    """An ICC v2.1 RGB display profile with sRGB primaries and the given tone curve.

    Parameters
    ----------
    description
        ASCII text for the ``desc`` tag.
    curve
        ``None`` for a linear (identity) curve, a float for a pure power law (decoding exponent,
        e.g. 2.2), or a 1-D array of decoded values in [0, 1] sampled at equally spaced code values.
    """
    trc = _pad4(_curve_tag(curve))
    tags = [
        (b"desc", _pad4(_desc_tag(description))),
        (b"cprt", _pad4(_text_tag("No copyright, use freely"))),
        (b"wtpt", _xyz_tag(_D50)),
        (b"rXYZ", _xyz_tag(_RXYZ)),
        (b"gXYZ", _xyz_tag(_GXYZ)),
        (b"bXYZ", _xyz_tag(_BXYZ)),
        (b"rTRC", trc),
        (b"gTRC", trc),  # the three TRC tags share one data block
        (b"bTRC", trc),
    ]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table = struct.pack(">I", len(tags))
    data = b""
    placed: dict[bytes, int] = {}
    for sig, payload in tags:
        if payload in placed:
            table += sig + struct.pack(">II", placed[payload], len(payload))
            continue
        placed[payload] = offset + len(data)
        table += sig + struct.pack(">II", offset + len(data), len(payload))
        data += payload
    size = 128 + table_size + len(data)
    header = (
        struct.pack(">I", size)
        + b"\0" * 4                     # preferred CMM
        + struct.pack(">I", 0x02100000)  # version 2.1
        + b"mntr" + b"RGB " + b"XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp" + b"\0" * 4           # platform
        + struct.pack(">I", 0)          # flags
        + b"\0" * 4 + b"\0" * 4         # device manufacturer, model
        + b"\0" * 8                     # attributes
        + struct.pack(">I", 0)          # rendering intent: perceptual
        + b"".join(_s15f16(v) for v in _D50)
        + b"\0" * 4                     # creator
        + b"\0" * 16                    # profile ID (v2: zero)
        + b"\0" * 28                    # reserved
    )
    assert len(header) == 128  # internal invariant, not user input
    return header + table + data


def icc_kind(*, color: str, linear: bool, gamma: str | float) -> Literal["srgb", "linear", "bt709"] | float | None:
    """Which profile (:func:`profile_for`'s argument) describes an output: None for camera RGB
    (``color="raw"``), ``"linear"`` for scene-linear data, else the ISP's ``gamma``."""
    if color == "raw":
        return None
    if linear:
        return "linear"
    return gamma  # type: ignore[return-value]


def _bt709_decode(n: int = 1024) -> np.ndarray:
    v = np.linspace(0.0, 1.0, n)
    return np.where(v < 0.081, v / 4.5, ((v + 0.099) / 1.099) ** (1 / 0.45))


@functools.lru_cache(maxsize=None)
def profile_for(kind: Literal["srgb", "linear", "bt709"] | float) -> bytes:
    """ICC bytes for an output encoding.

    ``"srgb"``: LittleCMS's sRGB profile. ``"linear"``: sRGB primaries, identity curve.
    ``"bt709"``: sRGB primaries with the BT.709 curve. A float ``g``: sRGB primaries with the pure
    power curve ``decoded = code ** g`` (an image encoded with exponent ``1/g``).
    """
    if kind == "srgb":
        from PIL import ImageCms

        icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
        # LittleCMS stamps the creation time into the header: fix it (as build_rgb_profile does)
        # so the same input and settings give the same output bytes in every process and run.
        icc[24:36] = struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        icc[84:100] = b"\0" * 16  # profile ID (an MD5 that covers the date): "not computed"
        return bytes(icc)
    if kind == "linear":
        return build_rgb_profile("rawcomplete linear sRGB (D65, gamma 1.0)", None)
    if kind == "bt709":
        return build_rgb_profile("rawcomplete sRGB primaries, BT.709 curve", _bt709_decode())
    if isinstance(kind, (int, float)) and not isinstance(kind, bool):
        return build_rgb_profile(f"rawcomplete sRGB primaries, gamma {float(kind):g}", float(kind))
    raise ValueError(f"no ICC profile for {kind!r}")
