"""A small PNG encoder for 8- and 16-bit RGB (Pillow writes no 48-bit RGB PNG).

Rows use the PNG "Up" filter (vectorised with NumPy), then zlib. Optional ``iCCP`` (ICC profile),
``eXIf`` (an EXIF TIFF block) and ``tEXt`` chunks.
"""

from __future__ import annotations

import struct
import zlib
from typing import Mapping

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(
    image: np.ndarray,
    *,
    icc: bytes | None = None,
    exif: bytes | None = None,
    text: Mapping[str, str] | None = None,
    level: int = 6,
) -> bytes:
    """Encode ``image`` (H x W x 3 uint8 or uint16, or H x W) as PNG bytes."""
    if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3):
        raise ValueError(f"encode_png expects H x W (x 3) uint8/uint16, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    depth = 16 if image.dtype == np.uint16 else 8
    rows = np.ascontiguousarray(image.astype(">u2") if depth == 16 else image).view(np.uint8).reshape(h, -1)
    filtered = np.empty((h, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # Up
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 arithmetic wraps mod 256
    out = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))]
    if icc is not None:
        out.append(_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc)))
    if exif:
        out.append(_chunk(b"eXIf", exif))
    for key, value in (text or {}).items():
        out.append(_chunk(b"tEXt", key.encode("latin-1")[:79] + b"\0" + value.encode("latin-1", "replace")))
    out.append(_chunk(b"IDAT", zlib.compress(filtered.tobytes(), level)))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)
