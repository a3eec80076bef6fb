"""isp.synthetic: the DNG writer and the CFA sampler, checked against LibRaw (rawpy) and tifffile."""

from __future__ import annotations

import numpy as np
import pytest
import rawpy
import tifffile

import isp
from isp.synthetic import SRGB_TO_XYZ, XYZ_TO_SRGB, cfa_channels, mosaic_from_rgb, write_dng

CFAS = ["RGGB", "BGGR", "GRBG", "GBRG"]
LETTERS = "RGB"
CM1 = np.array([[0.8139, -0.2171, -0.0663], [-0.8747, 1.6541, 0.2295], [-0.1925, 0.2008, 0.8093]])


@pytest.mark.parametrize("cfa", CFAS)
def test_mosaic_from_rgb_samples_each_site(cfa):
    rgb = np.random.default_rng(0).random((5, 7, 3))
    m = mosaic_from_rgb(rgb, cfa)
    chan = cfa_channels(cfa)
    for y in range(5):
        for x in range(7):
            assert m[y, x] == rgb[y, x, chan[y % 2, x % 2]]
    assert "".join(LETTERS[c] for c in chan.ravel()) == cfa


@pytest.mark.parametrize("cfa, orientation, flip", [("RGGB", 1, 0), ("BGGR", 3, 3), ("GRBG", 6, 6), ("GBRG", 8, 5)])
def test_written_dng_reads_back_in_libraw(tmp_path, cfa, orientation, flip):
    rng = np.random.default_rng(1)
    mosaic = rng.integers(100, 4000, size=(32, 48)).astype(np.uint16)
    black = (64, 65, 66, 67)
    path = tmp_path / f"{cfa}.dng"
    write_dng(path, mosaic, cfa=cfa, black_level=black, white_level=4095,
              as_shot_neutral=(0.5, 1.0, 0.8), color_matrix1=CM1, orientation=orientation,
              opcode_list2=b"\x00\x00\x00\x00", opcode_list3=b"\x00\x00\x00\x01xyz")
    with rawpy.imread(str(path)) as raw:
        np.testing.assert_array_equal(raw.raw_image_visible, mosaic)
        desc = raw.color_desc.decode()
        letters = "".join(desc[raw.raw_color(y, x)] for y in range(2) for x in range(2))
        assert letters == cfa
        blpc = raw.black_level_per_channel
        assert [blpc[raw.raw_color(y, x)] for y in range(2) for x in range(2)] == list(black)
        assert raw.white_level == 4095
        wb = raw.camera_whitebalance
        np.testing.assert_allclose([wb[0] / wb[1], wb[2] / wb[1]], [2.0, 1.25], rtol=1e-5)
        assert raw.sizes.flip == flip
        # LibRaw's rgb_cam from ColorMatrix1: rows of ColorMatrix1 @ sRGB->XYZ normalised, inverted
        cam_rgb = CM1 @ SRGB_TO_XYZ
        expected = np.linalg.inv(cam_rgb / cam_rgb.sum(1, keepdims=True))
        np.testing.assert_allclose(raw.color_matrix[:, :3], expected, atol=2e-4)
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        assert tags[51009].value == b"\x00\x00\x00\x00"
        assert tags[51022].value == b"\x00\x00\x00\x01xyz"
        assert 51008 not in tags
        assert tags[50706].value in ((1, 4, 0, 0), b"\x01\x04\x00\x00")


def test_default_color_matrix_is_srgb_camera(tmp_path):
    path = tmp_path / "s.dng"
    noise = np.random.default_rng(0).integers(90, 110, (32, 32)).astype(np.uint16)  # constant data are refused
    write_dng(path, noise, cfa="RGGB", white_level=1000)
    frame = isp.read_raw(path)
    np.testing.assert_allclose(frame.color_matrix, np.eye(3), atol=1e-4)
    assert frame.camera_wb is None  # no AsShotNeutral written
    np.testing.assert_allclose(XYZ_TO_SRGB @ SRGB_TO_XYZ, np.eye(3), atol=1e-12)


def test_write_dng_validation(tmp_path):
    m = np.zeros((4, 4), np.uint16)
    with pytest.raises(isp.ISPInputError, match="uint16"):
        write_dng(tmp_path / "a.dng", m.astype(np.float32), cfa="RGGB", white_level=10)
    with pytest.raises(isp.ISPInputError, match="RGGB, BGGR, GRBG, GBRG"):
        write_dng(tmp_path / "a.dng", m, cfa="RGB", white_level=10)
    with pytest.raises(isp.ISPInputError, match="black_level"):
        write_dng(tmp_path / "a.dng", m, cfa="RGGB", white_level=10, black_level=20)
    with pytest.raises(isp.ISPInputError, match="orientation"):
        write_dng(tmp_path / "a.dng", m, cfa="RGGB", white_level=10, orientation=9)
    with pytest.raises(isp.ISPInputError, match="as_shot_neutral"):
        write_dng(tmp_path / "a.dng", m, cfa="RGGB", white_level=10, as_shot_neutral=(1, 0, 1))
