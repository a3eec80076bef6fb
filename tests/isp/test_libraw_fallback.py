"""The LibRaw fallback (isp.libraw_fallback): CFAs our kernels do not cover are demosaiced by
LibRaw and continue through our colour / orientation / crop / output path.

* the real CMYG Canon PowerShot G1 CRW of ../shared/raw (skipped when absent), against rawpy's own
  postprocess with matched settings;
* a synthetic X-Trans DNG (isp.synthetic.write_dng with the 6x6 XTRANS_PATTERN): LibRaw reads it as
  X-Trans (raw_pattern 6x6) and demosaics it for real, so nothing is mocked; the scene is known.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import rawpy

import isp
from conftest import shared_raw_file
from isp.stages import encode_gamma
from isp.synthetic import XTRANS_PATTERN, mosaic_from_pattern, write_dng

G1 = "Canon_PowerShotG1_CMYG.CRW"
SIZE = 516  # LibRaw demosaics X-Trans only from 512 x 512 up
SCALE, BLACK = 50000.0, 100.0


def psnr(a, b) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def _scene() -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    return np.stack([0.2 + 0.6 * xx, 0.3 + 0.3 * yy, 0.5 - 0.3 * xx * yy], axis=-1)


@pytest.fixture(scope="module")
def xtrans_dng(tmp_path_factory):
    """An X-Trans DNG of a smooth known scene, camera RGB = linear sRGB (ColorMatrix1 XYZ->sRGB),
    as-shot neutral (0.5, 1, 0.8), Orientation 6 (rotate 90 CW)."""
    path = tmp_path_factory.mktemp("xtrans") / "xtrans.dng"
    mosaic = (mosaic_from_pattern(_scene(), XTRANS_PATTERN) * SCALE + BLACK).astype(np.uint16)
    write_dng(path, mosaic, cfa=XTRANS_PATTERN, black_level=BLACK, white_level=65535,
              as_shot_neutral=(0.5, 1.0, 0.8), orientation=6)
    return path


def _libraw(path, **kw) -> np.ndarray:
    base = dict(demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, gamma=(1, 1), no_auto_bright=True,
                output_bps=16, use_camera_wb=True, adjust_maximum_thr=0.0)
    with rawpy.imread(str(path)) as raw:
        return raw.postprocess(**{**base, **kw}).astype(np.float64) / 65535.0


# ---------------------------------------------------------------------------------- X-Trans


def test_synthetic_xtrans_is_read_for_the_fallback(xtrans_dng):
    with rawpy.imread(str(xtrans_dng)) as raw:
        assert raw.raw_pattern.shape == (6, 6)  # LibRaw itself sees X-Trans
    frame = isp.read_raw(xtrans_dng)
    fb = frame.libraw_fallback
    assert fb is not None and fb.kind == "X-Trans 6x6 RGB CFA" and fb.colors == 3
    assert np.array_equal(np.asarray(fb.pattern), XTRANS_PATTERN)
    assert frame.cfa is None and frame.mosaic.shape == (SIZE, SIZE) and frame.flip == 6
    assert frame.camera_wb == pytest.approx((2.0, 1.0, 1.25))
    assert frame.color_matrix_source.startswith("LibRaw")


@pytest.mark.parametrize("color", ["raw", "srgb"])
@pytest.mark.parametrize("demosaic, algorithm, tol", [("bilinear", "libraw:linear", 3e-3),
                                                     ("rcd", "libraw:markesteijn-3pass", 6e-4)])
def test_xtrans_develops_to_the_scene_oriented_once(xtrans_dng, color, demosaic, algorithm, tol):
    res = isp.develop(xtrans_dng, wb=(1.0, 1.0, 1.0), color=color, demosaic=demosaic)
    assert res.demosaic == algorithm
    truth = np.rot90(_scene(), -1) * SCALE / (65535 - BLACK)  # Orientation 6, applied once
    assert res.linear.shape == truth.shape
    err = np.abs(res.linear - truth)[8:-8, 8:-8]
    assert err.max() < tol, err.max()
    # with the camera's own white balance everything but the gains is the same
    cam = isp.develop(xtrans_dng, color=color, demosaic=demosaic)
    assert cam.wb_gains == pytest.approx((2.0, 1.0, 1.25)) and cam.wb_method == "camera"
    np.testing.assert_allclose(isp.develop(xtrans_dng, wb=(2.0, 1.0, 1.25), color=color, demosaic=demosaic).linear,
                               cam.linear, atol=1e-6)


def test_xtrans_gray_world_measures_each_raw_colour(xtrans_dng):
    res = isp.develop(xtrans_dng, wb="gray_world", color="raw")
    means = _scene().reshape(-1, 3).mean(axis=0)
    expected = (1 / means) / (1 / means).min()
    assert res.wb_gains == pytest.approx(tuple(expected), rel=5e-3)
    assert np.ptp(res.linear[8:-8, 8:-8].reshape(-1, 3).mean(axis=0)) < 5e-3  # gray on average


def test_fallback_frame_develops_after_pickling_and_from_bytes(xtrans_dng):
    import pipeline

    frame = isp.read_raw(xtrans_dng)
    direct = isp.develop(frame)
    again = isp.develop(pickle.loads(pickle.dumps(frame)))
    np.testing.assert_array_equal(direct.linear, again.linear)
    from_bytes = pipeline.Pipeline(completion="biharmonic").process(xtrans_dng.read_bytes())
    assert from_bytes.isp.frame.path is None and from_bytes.isp.demosaic == "libraw:linear"
    np.testing.assert_array_equal(from_bytes.isp.linear, direct.linear)


def test_cli_develops_a_fallback_file_and_reports_it(xtrans_dng, tmp_path):
    out, report = tmp_path / "out", tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pipeline", str(xtrans_dng), "-o", str(out), "--report", str(report)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (rec,) = json.loads(report.read_text())["records"]
    assert rec["status"] == "done" and rec["size"] == [SIZE, SIZE]
    assert rec["demosaic"] == "libraw:linear" and rec["color_matrix_source"].startswith("LibRaw")
    assert (out / "xtrans.tif").is_file()


# ---------------------------------------------------------------------- CMYG PowerShot G1


@pytest.fixture(scope="module")
def g1(shared_raw):
    return isp.read_raw(shared_raw_file(shared_raw, G1))


def test_g1_is_read_for_the_fallback(g1):
    fb = g1.libraw_fallback
    assert fb is not None and fb.kind == "4-colour GMCY 2x2 CFA" and fb.color_desc == "GMCY"
    assert g1.cfa is None and g1.camera_wb is None and fb.camera_multipliers == (1307.0, 1274.0, 838.0, 857.0)
    assert g1.color_matrix_source.startswith("LibRaw rgb_xyz_matrix (4 colours): 3x4 rgb_cam")
    assert fb.rgb_cam.shape == (3, 4) and not fb.rgb_cam.flags.writeable


def test_g1_rgb_cam_is_the_one_libraw_applies(g1):
    """LibRaw's 4-colour output times the fallback's 3x4 rgb_cam is LibRaw's own sRGB output."""
    cam = _libraw(g1.path, output_color=rawpy.ColorSpace.raw)
    srgb = _libraw(g1.path, output_color=rawpy.ColorSpace.sRGB)
    assert cam.shape[2] == 4
    ours = np.clip(cam @ g1.libraw_fallback.rgb_cam.T.astype(np.float64), 0, 1)
    assert psnr(ours, srgb) > 95.0  # 101.2 dB measured (16-bit rounding)


@pytest.mark.parametrize("demosaic, libraw_algorithm, name", [
    ("bilinear", rawpy.DemosaicAlgorithm.LINEAR, "libraw:linear"),
    ("rcd", rawpy.DemosaicAlgorithm.VNG, "libraw:vng"),
])
def test_g1_matches_libraw(g1, demosaic, libraw_algorithm, name):
    ref = _libraw(g1.path, demosaic_algorithm=libraw_algorithm, output_color=rawpy.ColorSpace.sRGB)
    full = isp.develop(g1, crop="full", demosaic=demosaic)
    assert full.demosaic == name and full.wb_method == "camera" and len(full.wb_gains) == 4
    assert full.linear.shape == ref.shape == (1550, 2088, 3)
    ref_display = encode_gamma(ref.astype(np.float32), "srgb")
    assert psnr(np.clip(full.linear, 0, 1), ref) > 90.0
    assert psnr(full.display, ref_display) > 80.0
    # by default LibRaw's reported crop is applied, once
    default = isp.develop(g1, demosaic=demosaic)
    top, left, h, w = g1.default_crop
    assert default.linear.shape == (h, w, 3) == (1535, 2048, 3)
    np.testing.assert_array_equal(default.linear, full.linear[top:top + h, left:left + w])


def test_g1_white_balance_options(g1):
    camera = isp.develop(g1)
    gray = isp.develop(g1, wb="gray_world")
    assert gray.wb_method == "gray_world" and min(gray.wb_gains) == 1.0 and len(gray.wb_gains) == 4
    assert not np.allclose(gray.wb_gains, camera.wb_gains, rtol=0.02)
    with pytest.raises(isp.ISPInputError, match="GMCY.*'camera', 'gray_world'"):
        isp.develop(g1, wb=(2.0, 1.0, 1.5))
    with pytest.raises(isp.ISPInputError, match="color='raw' is not available"):
        isp.develop(g1, color="raw")


def test_g1_keep_highlights_keeps_data_above_white(g1):
    clip = isp.develop(g1, crop="full")
    keep = isp.develop(g1, crop="full", highlights="keep")
    from scipy.ndimage import binary_dilation

    # photosites "clip" cuts: white-balanced (smallest gain 1) above white
    pattern = np.asarray(g1.libraw_fallback.pattern)
    index = np.tile(pattern, (g1.mosaic.shape[0] // 2 + 1, g1.mosaic.shape[1] // 2 + 1))[:g1.mosaic.shape[0], :g1.mosaic.shape[1]]
    black = np.asarray(g1.black_levels)[index]
    clipped = (g1.mosaic - black) / (g1.white_level - black) * np.asarray(clip.wb_gains)[index] >= 1.0
    # there "keep" keeps what "clip" cuts at white: brighter
    assert keep.linear[clipped].sum(axis=1).mean() > 1.1 * clip.linear[clipped].sum(axis=1).mean()
    # away from them (and their demosaic neighbours) both modes agree

    untouched = ~binary_dilation(clipped, iterations=3)
    assert untouched.mean() > 0.99
    np.testing.assert_allclose(keep.linear[untouched], clip.linear[untouched], atol=2e-3)


def test_auto_mask_defects_is_skipped_with_a_warning_without_a_bayer_mosaic(xtrans_dng, caplog):
    import logging

    import pipeline

    pipe = pipeline.Pipeline(completion="biharmonic", auto_mask="defects")
    linear = isp.RawFrame(path="linear.dng", mosaic=np.full((24, 32, 3), 1000, np.uint16), cfa=None,
                          black_levels=(0.0,) * 4, white_level=4095.0, camera_wb=(1.0, 1.0, 1.0),
                          color_matrix=np.eye(3, dtype=np.float32))
    with caplog.at_level(logging.WARNING, logger="rawcomplete"):
        results = [pipe.process(xtrans_dng), pipe.process(linear)]
    assert [r.defects_found for r in results] == [0, 0] and all(r.mask is None for r in results)
    messages = [r.getMessage() for r in caplog.records if "auto_mask='defects' skipped" in r.getMessage()]
    assert len(messages) == 2
    assert "X-Trans 6x6 RGB CFA (demosaiced by LibRaw)" in messages[0] and "a linear RAW" in messages[1]


def test_g1_reconstruct_develops_as_keep(g1):
    """``--highlights reconstruct`` rebuilds on a Bayer mosaic; a batch with it still develops a
    LibRaw-demosaiced file, as ``keep`` (nothing rebuilt, so nothing counted)."""
    keep = isp.develop(g1, crop="full", highlights="keep")
    rebuilt = isp.develop(g1, crop="full", highlights="reconstruct")
    np.testing.assert_array_equal(rebuilt.linear, keep.linear)
    assert rebuilt.highlights_reconstructed == {} and rebuilt.highlight_mask is None
