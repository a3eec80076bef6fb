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


def decode_png(data: bytes) -> np.ndarray:
    """Decode a PNG written by :func:`encode_png` (8 or 16 bit, grey or RGB, "Up" rows).

    Pillow reads 48-bit RGB PNGs as 8-bit, so references and thumbnails are read back here.

    Returns
    -------
    numpy.ndarray
        uint8 or uint16, H x W (grey) or H x W x 3.

    Raises
    ------
    ValueError
        Not a PNG, a chunk's CRC is wrong, the data is truncated, or the PNG uses a feature
        :func:`encode_png` never writes (palette, interlace, filters other than "Up").
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file (bad signature)")
    pos, idat, ihdr = 8, [], b""
    ended = False
    while pos + 8 <= len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        crc = data[pos + 8 + n : pos + 12 + n]
        if len(body) != n or len(crc) != 4:
            raise ValueError(f"truncated PNG: chunk {kind!r} at byte {pos} runs past the end of the file")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body) & 0xFFFFFFFF:
            raise ValueError(f"corrupt PNG: CRC mismatch in chunk {kind!r} at byte {pos}")
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            ended = True
            break
        pos += 12 + n
    if not ended or len(ihdr) != 13:
        raise ValueError("truncated PNG: no IHDR or IEND chunk")
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", ihdr)
    channels = {0: 1, 2: 3}.get(ctype)
    if depth not in (8, 16) or channels is None or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {ctype}, interlace {interlace}")
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise ValueError(f"corrupt PNG image data: {exc}") from None
    stride = 1 + w * channels * depth // 8
    if len(raw) != h * stride:
        raise ValueError(f"corrupt PNG: {len(raw)} bytes of image data for {w} x {h}, expected {h * stride}")
    rows = np.frombuffer(raw, np.uint8).reshape(h, stride)
    if not (rows[:, 0] == 2).all():
        raise ValueError("unsupported PNG: rows not 'Up' filtered (not written by runner.png)")
    plain = np.cumsum(rows[:, 1:], axis=0, dtype=np.uint64).astype(np.uint8)  # undo Up, mod 256
    image = plain.view(">u2").astype(np.uint16) if depth == 16 else plain
    return image.reshape(h, w, channels) if channels == 3 else image.reshape(h, w)
