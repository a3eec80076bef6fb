"""The real RAW files in ../shared/raw (see its MANIFEST.md): every Bayer file against rawpy's
LINEAR postprocess with the same white balance, and the right error for the others."""

from __future__ import annotations

import numpy as np
import pytest
import rawpy
from scipy.ndimage import maximum_filter

import isp
from conftest import shared_raw_file as _path

pytestmark = pytest.mark.shared

# file, CFA order of the visible area, expected camera WB usable?, margins
BAYER = [
    ("Blackmagic_PocketCinema4K.dng", "RGGB", True, (0, 0)),
    ("Canon_EOS_D30.CRW", "RGGB", False, (6, 48)),  # cam_mul[0] == -1: unusable
    ("Kodak_DC50.KDC", "GRBG", False, (0, 0)),  # all ones: no as-shot data
]
UNSUPPORTED = [
    "Sigma_DP2_exiftool_stub.x3f",  # Foveon
    "GoPro_HERO8_Black.GPR",  # VC-5: LibRaw has no decoder
]




def psnr(a, b):
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


@pytest.mark.slow
@pytest.mark.parametrize("name, cfa, has_wb, margins", BAYER)
def test_bayer_file_matches_libraw_linear(shared_raw, name, cfa, has_wb, margins):
    path = _path(shared_raw, name)
    frame = isp.read_raw(path)
    assert frame.cfa == cfa and frame.margins == margins
    assert (frame.camera_wb is not None) == has_wb
    res = isp.develop(frame, color="raw", crop="full")  # camera WB, gray world where unusable; LibRaw's area
    gains = np.asarray(res.wb_gains)
    with rawpy.imread(str(path)) as raw:
        np.testing.assert_array_equal(frame.mosaic, raw.raw_image_visible)
        ref = raw.postprocess(
            demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, gamma=(1, 1), no_auto_bright=True,
            output_bps=16, output_color=rawpy.ColorSpace.raw,
            user_wb=[gains[0], gains[1], gains[2], gains[1]], adjust_maximum_thr=0.0,
        ).astype(np.float64) / 65535.0
    # LibRaw normalises the smallest gain to 1 and clips at white; ours is unclipped
    ours = np.clip(res.linear.astype(np.float64) / gains.min(), 0, 1)
    assert ours.shape == ref.shape
    scale = (ours * ref).sum() / (ours * ours).sum()
    assert abs(scale - 1) < 0.01
    assert psnr(ours * scale, ref) >= 40.0
    # away from clipped highlights (which LibRaw clips before demosaicing) it is the same image
    unclipped = maximum_filter(ref.max(axis=2), size=5) < 0.999
    assert psnr(ours[unclipped], ref[unclipped]) >= 80.0


@pytest.mark.slow
def test_bayer_file_srgb_matches_libraw(shared_raw):
    path = _path(shared_raw, "Blackmagic_PocketCinema4K.dng")
    res = isp.develop(path, crop="full")  # camera WB, the file's colour matrix, LibRaw's area
    g = res.wb_gains
    with rawpy.imread(str(path)) as raw:
        ref = raw.postprocess(
            demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, gamma=(1, 1), no_auto_bright=True,
            output_bps=16, output_color=rawpy.ColorSpace.sRGB, user_wb=[g[0], g[1], g[2], g[1]],
            adjust_maximum_thr=0.0,
        ).astype(np.float64) / 65535.0
    ours = np.clip(res.linear.astype(np.float64) / min(g), 0, 1)
    unclipped = maximum_filter(ref.max(axis=2), size=5) < 0.999
    assert psnr(ours[unclipped], ref[unclipped]) >= 50.0


def test_metadata_best_effort(shared_raw):
    dc50 = isp.read_raw(_path(shared_raw, "Kodak_DC50.KDC")).metadata
    assert dc50.make == "Eastman Kodak Company" and dc50.model.startswith("Kodak")
    assert dc50.iso == pytest.approx(84) and dc50.f_number == pytest.approx(6.2)
    assert dc50.datetime == "1997:04:23 08:00:47"
    d30 = isp.read_raw(_path(shared_raw, "Canon_EOS_D30.CRW"))
    assert d30.metadata.iso == pytest.approx(100) and d30.metadata.focal_length == pytest.approx(31)
    assert d30.black_levels == (127.0, 128.0, 128.0, 128.0) and d30.white_level == 4095.0
    assert d30.mosaic.shape == (1448, 2176)


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_non_bayer_and_undecodable_are_unsupported(shared_raw, name):
    path = _path(shared_raw, name)
    with pytest.raises(isp.UnsupportedRawError) as info:
        isp.read_raw(path)
    assert str(path) in str(info.value)
    with pytest.raises(isp.UnsupportedRawError):
        isp.develop(path)


@pytest.mark.parametrize("name", ["Canon_EOS_D30.CRW", "Kodak_DC50.KDC", "GoPro_HERO8_Black.GPR"])
@pytest.mark.parametrize("fraction", [0.5, 0.01])
def test_truncated_real_files_are_corrupt(shared_raw, tmp_path, name, fraction):
    data = _path(shared_raw, name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(isp.CorruptRawError, match="truncated|damaged"):
        isp.read_raw(path)
