"""Decode sanity: a RAW whose image data are missing never develops into a black frame.

The Panasonic RW2 stub below is what a metadata-only sample looks like: a valid header naming a
10 MP sensor and a raw-data offset, and no image data. LibRaw 0.22 decodes it without complaint
to an all-zero 3664 x 2760 mosaic (asserted, so the test shows the guard is needed)."""

from __future__ import annotations

import struct

import numpy as np

import pytest
import rawpy

import isp


def write_rw2_stub(path, *, width: int, height: int, size: int = 12288) -> None:
    """A Panasonic RW2 (``IIU`` TIFF variant) with its size tags, make/model and RawDataOffset
    but zeros where the image data would be; ``size`` bytes in all."""
    make, model = b"Panasonic\x00", b"DMC-GH1\x00"
    n, ifd_off = 9, 8
    strings_off = ifd_off + 2 + n * 12 + 4
    entries = [
        (1, 7, 4, b"0100"),  # PanasonicRawVersion
        (2, 3, 1, struct.pack("<HH", width, 0)),  # SensorWidth
        (3, 3, 1, struct.pack("<HH", height, 0)),  # SensorHeight
        (9, 3, 1, struct.pack("<HH", 12, 0)),  # CFAPattern
        (10, 3, 1, struct.pack("<HH", 12, 0)),  # BitsPerSample
        (23, 3, 1, struct.pack("<HH", 100, 0)),  # ISO
        (271, 2, len(make), struct.pack("<I", strings_off)),
        (272, 2, len(model), struct.pack("<I", strings_off + len(make))),
        (280, 4, 1, struct.pack("<I", 4096)),  # RawDataOffset
    ]
    out = bytearray(b"IIU\x00" + struct.pack("<IH", ifd_off, n))
    for tag, typ, count, value in entries:
        out += struct.pack("<HHI", tag, typ, count) + value
    out += struct.pack("<I", 0) + make + model
    out += bytes(size - len(out))
    path.write_bytes(bytes(out))


def test_rw2_metadata_stub_is_corrupt_not_a_black_frame(tmp_path):
    path = tmp_path / "P1000001.RW2"
    write_rw2_stub(path, width=3664, height=2760)
    with rawpy.imread(str(path)) as raw:  # what LibRaw alone gives: a black 10 MP frame
        assert raw.raw_image_visible.shape == (2760, 3664) and raw.raw_image_visible.max() == 0
    with pytest.raises(isp.CorruptRawError, match="3664 x 2760 pixels but holds only 12288 bytes") as info:
        isp.develop(path)
    assert str(path) in str(info.value)


def test_stub_small_enough_for_the_density_floor_is_refused_as_constant(tmp_path):
    path = tmp_path / "small.RW2"
    write_rw2_stub(path, width=320, height=240)  # 12 KB can hold 320 x 240 at 1.3 bit / pixel
    with rawpy.imread(str(path)) as raw:
        assert raw.raw_image_visible.shape == (240, 320) and raw.raw_image_visible.max() == 0
    with pytest.raises(isp.CorruptRawError, match="decoded data are constant"):
        isp.read_raw(path)



@pytest.mark.parametrize("others, constant", [(0, True), (2399, True), (2401, False), (100_000, False)])
def test_constant_frame_rule_is_exact_without_a_histogram(others, constant):
    """The rule: one value on all but 1/10000 of the pixels. The check counts only the majority
    value of a sample; planted minorities right at the threshold, clustered in one block (which a
    sample mostly misses), must still be classified exactly."""
    from isp.raw import _decode_problem

    mosaic = np.full((4000, 6000), 700, np.uint16)  # 24 M pixels: the threshold is 2400 others
    block = mosaic[:100, :]  # a contiguous block, not spread where the sample looks
    block.ravel()[:others] = 3000
    problem = _decode_problem(mosaic, (64.0,) * 4, 4095.0)
    assert (problem is not None and "constant" in problem) == constant, problem
    levels = np.where(np.arange(mosaic.size).reshape(mosaic.shape) % 2 == 0, 64, 4095).astype(np.uint16)
    problem = _decode_problem(levels, (64.0,) * 4, 4095.0)  # only black and white: no exposure
    assert problem is not None and "between the black level" in problem
    levels[1234, 777] = 65
    assert _decode_problem(levels, (64.0,) * 4, 4095.0) is None  # one real pixel is enough
