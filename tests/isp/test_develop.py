"""isp.read_raw / isp.develop end to end: synthetic DNGs against their ground truth and against
LibRaw's own bilinear (rawpy LINEAR) on the same file; configuration, results, errors."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import rawpy

import isp
from isp.synthetic import SRGB_TO_XYZ, mosaic_from_rgb, write_dng

CFAS = ["RGGB", "BGGR", "GRBG", "GBRG"]
LINEAR = rawpy.DemosaicAlgorithm.LINEAR


def psnr(a, b, peak=1.0):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float(10 * np.log10(peak**2 / mse))


def fitted(a, ref):
    """``a`` times the least-squares global scale onto ``ref``."""
    a = np.asarray(a, np.float64)
    return a * (a * ref).sum() / (a * a).sum()


def libraw_linear(path, *, wb, color="raw"):
    """rawpy's bilinear: linear 16 bit, no auto brightness, given (R, G, B) WB, levels as declared."""
    with rawpy.imread(str(path)) as raw:
        out = raw.postprocess(
            demosaic_algorithm=LINEAR, gamma=(1, 1), no_auto_bright=True, output_bps=16,
            output_color=rawpy.ColorSpace.raw if color == "raw" else rawpy.ColorSpace.sRGB,
            user_wb=[wb[0], wb[1], wb[2], wb[1]], adjust_maximum_thr=0.0,
        )
    return out.astype(np.float64) / 65535.0


# ------------------------------------------------------------------------------------------
# samples/ against their ground truth


@pytest.fixture(scope="module")
def manifest(samples_dir):
    path = samples_dir / "samples.json"
    if not path.is_file():
        pytest.skip("samples/samples.json missing: run samples/make_samples.py")
    return json.loads(path.read_text())


def _truth(samples_dir, entry):
    return np.load(samples_dir / entry["truth"])["linear"].astype(np.float64)


@pytest.mark.parametrize("name", ["scene_rggb", "scene_bggr", "scene_grbg", "scene_gbrg", "wb_cast"])
def test_sample_matches_truth_as_well_as_libraw(samples_dir, manifest, name):
    entry = manifest[name]
    path = samples_dir / entry["file"]
    res = isp.develop(path)
    truth = _truth(samples_dir, entry)
    assert res.linear.shape == truth.shape and res.linear.dtype == np.float32
    np.testing.assert_allclose(res.wb_gains, entry["wb_gains"], rtol=1e-4)
    assert res.frame.cfa == entry["cfa"] and res.frame.flip == entry["flip"]
    ours = np.clip(res.linear, 0, 1)
    # LibRaw's bilinear on the same file, its colour conversion, best global scale
    ref = libraw_linear(path, wb=res.wb_gains, color="srgb")
    tc = np.clip(truth, 0, 1)
    p_ours = psnr(ours, tc)
    p_libraw = psnr(np.clip(fitted(ref, tc), 0, 1), tc)
    p_ours_fitted = psnr(np.clip(fitted(ours, tc), 0, 1), tc)
    assert p_ours > 24.0
    assert p_ours_fitted >= p_libraw - 0.02, (p_ours, p_ours_fitted, p_libraw)


def test_vignetted_sample_is_corrected(samples_dir, manifest):
    entry = manifest["vignetted"]
    path = samples_dir / entry["file"]
    truth = np.clip(_truth(samples_dir, entry), 0, 1)
    fixed = isp.develop(path, vignetting=isp.RadialVignetting(*entry["vignetting_k"])).linear
    raw = isp.develop(path, vignetting="off").linear
    p_fixed, p_raw = psnr(np.clip(fixed, 0, 1), truth), psnr(np.clip(raw, 0, 1), truth)
    assert p_fixed > 28.0 and p_fixed > p_raw + 5.0, (p_fixed, p_raw)
    # the same through a flat-field gain map (a calibration frame of the same lens)
    frame = isp.read_raw(path)
    h, w = frame.shape
    gains = isp.vignetting_gains((h, w), isp.RadialVignetting(*entry["vignetting_k"]))
    via_map = isp.develop(frame, vignetting=gains).linear
    np.testing.assert_allclose(via_map, fixed, rtol=1e-5, atol=1e-6)


def test_noisy_sample_median_helps(samples_dir, manifest):
    entry = manifest["noisy"]
    path = samples_dir / entry["file"]
    truth = np.clip(_truth(samples_dir, entry), 0, 1)
    frame = isp.read_raw(path)
    scores = {d: psnr(np.clip(isp.develop(frame, denoise=d).linear, 0, 1), truth)
              for d in ("off", "median3", "median5")}
    assert scores["median3"] > scores["off"] + 1.0, scores
    assert scores["median5"] > scores["off"] + 1.0, scores


# ------------------------------------------------------------------------------------------
# held-out synthetic scenes written here: equal to LibRaw's bilinear, every CFA order and flip


def _scene(h, w, seed):
    """Smooth colour field + edges + texture, linear, in [0.02, 0.8]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    base = np.stack([0.3 + 0.3 * np.sin(6 * xx + 1), 0.4 + 0.2 * np.cos(5 * yy), 0.2 + 0.3 * xx * yy], -1)
    base[(xx > 0.3) & (xx < 0.55) & (yy > 0.2)] *= np.array([1.6, 0.4, 0.9])
    base += 0.05 * rng.random((h, w, 3))
    return np.clip(base, 0.02, 0.8)


@pytest.mark.parametrize("cfa, orientation", [("RGGB", 1), ("BGGR", 6), ("GRBG", 8), ("GBRG", 3)])
def test_held_out_scene_equals_libraw_linear(tmp_path, cfa, orientation):
    h, w = 64, 90
    cam = _scene(h, w, seed=len(cfa) + orientation)
    cam *= 0.55 / cam.max()  # stays below white after the (1.67, 1, 1.33) gains
    black, white = (100, 101, 102, 103), 4095
    site_black = np.empty((h, w))
    for dy in range(2):
        for dx in range(2):
            site_black[dy::2, dx::2] = black[2 * dy + dx]
    mosaic = mosaic_from_rgb(cam, cfa)
    raw_values = np.round(site_black + mosaic * (white - site_black)).astype(np.uint16)
    path = tmp_path / f"held_out_{cfa}.dng"
    write_dng(path, raw_values, cfa=cfa, black_level=black, white_level=white,
              as_shot_neutral=(0.6, 1.0, 0.75), orientation=orientation)
    res = isp.develop(path, color="raw")
    assert res.wb_gains == pytest.approx((1 / 0.6, 1.0, 1 / 0.75), rel=1e-5)
    gains = np.asarray(res.wb_gains)
    ref = libraw_linear(path, wb=res.wb_gains)  # LibRaw normalises the smallest gain to 1
    ours = res.linear / gains.min()
    assert ours.shape == ref.shape
    assert ref.max() < 0.999  # nothing clipped by LibRaw
    # LibRaw divides every site by (white - common black), we by (white - that site's black):
    # 0.075 % apart here, hence 70 dB rather than exact equality
    assert psnr(ours, ref) > 70.0
    # and the camera -> sRGB conversion against the ground truth camera (here: sRGB itself)
    srgb = isp.develop(path).linear
    np.testing.assert_allclose(srgb, res.linear, atol=1e-3)  # identity matrix for this camera


# ------------------------------------------------------------------------------------------
# read_raw


def test_read_raw_fields(tmp_path):
    rng = np.random.default_rng(3)
    mosaic = rng.integers(0, 1023, size=(40, 60)).astype(np.uint16)
    cm1 = np.array([[0.99, -0.2771, -0.1324], [-0.7072, 1.4229, 0.314], [-0.279, 0.3344, 0.8861]])
    path = tmp_path / "f.dng"
    write_dng(path, mosaic, cfa="GBRG", black_level=(10, 11, 12, 13), white_level=1023,
              as_shot_neutral=(0.5, 1.0, 0.25), color_matrix1=cm1, orientation=6,
              make="Acme", model="Cam 1", opcode_list1=b"\x00\x00\x00\x00",
              opcode_list3=b"\x00\x00\x00\x01abcd")
    frame = isp.read_raw(path)
    assert frame.path == str(path)
    np.testing.assert_array_equal(frame.mosaic, mosaic)
    assert frame.mosaic.dtype == np.uint16
    assert frame.cfa == "GBRG"
    assert frame.black_levels == (10.0, 11.0, 12.0, 13.0)
    assert frame.white_level == 1023.0
    assert frame.camera_wb == pytest.approx((2.0, 1.0, 4.0), rel=1e-5)
    assert frame.flip == 6 and frame.margins == (0, 0)
    assert frame.output_shape == (60, 40)
    assert dict(frame.opcodes) == {1: b"\x00\x00\x00\x00", 3: b"\x00\x00\x00\x01abcd"}
    cam_rgb = cm1 @ SRGB_TO_XYZ
    expected = np.linalg.inv(cam_rgb / cam_rgb.sum(1, keepdims=True))
    np.testing.assert_allclose(frame.color_matrix, expected, atol=1e-4)
    np.testing.assert_allclose(frame.color_matrix.sum(axis=1), 1.0, atol=1e-4)
    assert frame.color_matrix.dtype == np.float32
    assert frame.metadata.make == "Acme" and frame.metadata.model == "Cam 1"
    with pytest.raises(Exception):
        frame.cfa = "RGGB"  # frozen


@pytest.mark.parametrize(
    "cfa, black, white, neutral, orientation, extra",
    [
        ("RGGB", 0, 65535, None, 1, ()),
        ("BGGR", (60, 62, 64, 66), 16383, (0.4, 1.0, 0.7), 6, ()),
        ("GRBG", 512, 4095, (0.9, 1.0, 1.2), 8, ()),
        ("GBRG", (1, 2, 3, 4), 1023, (0.5, 1.0, 0.5), 3, ()),
        ("RGGB", 100, 4095, (0.5, 1.0, 0.6), 1, ((50712, 3, 3, (0, 2000, 4095), True),)),  # LinearizationTable
        ("RGGB", 100, 4095, (0.5, 1.0, 0.6), 1, ((50829, 4, 4, (2, 4, 40, 60), True),)),  # ActiveArea
    ],
)
def test_fast_dng_reader_equals_libraw(tmp_path, cfa, black, white, neutral, orientation, extra):
    """Plain uncompressed DNGs are read with tifffile; the frame must equal LibRaw's own reading,
    and files LibRaw treats specially (linearisation, active area) must be left to LibRaw."""
    from isp.raw import _read_dng_fast, _read_libraw

    rng = np.random.default_rng(5)
    mosaic = rng.integers(0, int(white) + 1, size=(42, 64)).astype(np.uint16)
    path = tmp_path / "plain.dng"
    write_dng(path, mosaic, cfa=cfa, black_level=black, white_level=white, as_shot_neutral=neutral,
              color_matrix1=np.array([[0.9, -0.3, -0.1], [-0.6, 1.4, 0.3], [-0.2, 0.3, 0.9]]),
              orientation=orientation, extra_tags=extra)
    fast, slow = _read_dng_fast(str(path)), _read_libraw(str(path))
    if extra:
        assert fast is None
        return
    assert fast is not None
    (m1, cfa1, b1, w1, wb1, cm1, f1, mg1, _), (m2, cfa2, b2, w2, wb2, cm2, f2, mg2, _) = fast, slow
    np.testing.assert_array_equal(m1, m2)
    assert (cfa1, b1, w1, f1, mg1) == (cfa2, b2, w2, f2, mg2)
    assert (wb1 is None) == (wb2 is None)
    if wb1 is not None:
        np.testing.assert_allclose(wb1, wb2, rtol=1e-6)
    np.testing.assert_allclose(cm1, cm2, atol=1e-5)


def test_fast_dng_reader_on_samples(samples_dir):
    from isp.raw import _read_dng_fast, _read_libraw

    samples = sorted(samples_dir.glob("*.dng"))
    assert samples
    for sample in samples:
        a, b = _read_dng_fast(str(sample)), _read_libraw(str(sample))
        assert a is not None, sample
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4] and a[6:8] == b[6:8], sample
        np.testing.assert_allclose(a[5], b[5], atol=1e-5)


@pytest.mark.parametrize(
    "payload, error",
    [
        (b"", isp.CorruptRawError),
        (b"just some text, not a raw file\n" * 40, isp.CorruptRawError),
        ("random", isp.CorruptRawError),
        ("truncated", isp.CorruptRawError),
        ("truncated_tail", isp.CorruptRawError),
    ],
)
def test_bad_files_raise_typed_errors(tmp_path, samples_dir, payload, error):
    path = tmp_path / "bad.dng"
    if payload == "random":
        payload = np.random.default_rng(0).bytes(50_000)
    elif payload == "truncated":
        payload = (samples_dir / "scene_rggb.dng").read_bytes()[:60_000]
    elif payload == "truncated_tail":
        payload = (samples_dir / "scene_rggb.dng").read_bytes()[:-1000]
    path.write_bytes(payload)
    with pytest.raises(error) as info:
        isp.read_raw(path)
    assert str(path) in str(info.value)
    with pytest.raises(error):
        isp.develop(path)


def test_missing_file(tmp_path):
    with pytest.raises(isp.RawFileError, match="cannot open") as info:
        isp.read_raw(tmp_path / "nope.dng")
    assert isinstance(info.value, OSError) and isinstance(info.value, isp.RawError)


# ------------------------------------------------------------------------------------------
# develop: config, result, white balance modes


@pytest.fixture(scope="module")
def small_dng(tmp_path_factory):
    h, w = 48, 64
    cam = _scene(h, w, seed=11)
    path = tmp_path_factory.mktemp("dng") / "small.dng"
    mosaic = np.round(64 + mosaic_from_rgb(cam * np.array([0.5, 1.0, 0.7]), "RGGB") * (4095 - 64))
    write_dng(path, mosaic.astype(np.uint16), cfa="RGGB", black_level=64, white_level=4095,
              orientation=3)  # no AsShotNeutral: camera WB unavailable
    return path


def test_result_fields_and_lazy_display(small_dng, caplog):
    with caplog.at_level(logging.WARNING, logger="isp"):
        res = isp.develop(small_dng)
    assert "falling back to gray-world" in caplog.text
    assert res.wb_method.startswith("gray_world") and "camera" in res.wb_method
    assert res.config == isp.ISPConfig()
    assert res.opcodes_applied == ()
    assert res.linear.shape == (48, 64, 3) and res.linear.dtype == np.float32
    assert "_display" not in res.__dict__  # not computed until asked for
    disp = res.display
    assert disp.dtype == np.float32 and disp.min() >= 0 and disp.max() <= 1
    np.testing.assert_array_equal(disp, isp.encode_gamma(res.linear, "srgb"))
    assert res.display is disp  # cached
    gamma22 = isp.develop(res.frame, gamma=2.2, wb=res.wb_gains)
    np.testing.assert_array_equal(gamma22.linear, res.linear)  # gamma never touches linear
    np.testing.assert_allclose(gamma22.display, np.clip(res.linear, 0, 1) ** (1 / 2.2), atol=2e-6)


def test_develop_equals_stage_composition(small_dng):
    frame = isp.read_raw(small_dng)
    gains = (1.9, 1.0, 1.4)
    vig = isp.RadialVignetting(-0.2, 0.01, 0.0)
    for denoise, size in (("off", None), ("median3", 3), ("median5", 5)):
        res = isp.develop(frame, wb=gains, vignetting=vig, denoise=denoise)
        m = isp.apply_black_level(frame.mosaic, black_levels=frame.black_levels,
                                  white_level=frame.white_level)
        m = isp.correct_vignetting(m, vig)
        m = isp.apply_white_balance(m, frame.cfa, gains)
        rgb = isp.demosaic_bilinear(m, frame.cfa)
        if size:
            rgb = isp.denoise_median(rgb, size=size)
        rgb = isp.convert_color(rgb, frame.color_matrix)
        rgb = isp.apply_orientation(rgb, frame.flip)
        np.testing.assert_allclose(res.linear, rgb, rtol=1e-5, atol=1e-6)


def test_develop_from_path_equals_from_frame(small_dng):
    a = isp.develop(small_dng, wb="white_world", denoise="median3")
    b = isp.develop(isp.read_raw(small_dng), isp.ISPConfig(wb="white_world", denoise="median3"))
    np.testing.assert_array_equal(a.linear, b.linear)
    assert a.wb_gains == b.wb_gains and a.wb_method == "white_world"


def test_white_balance_modes_recover_the_cast(small_dng):
    # gray world: the white-balanced camera RGB has equal channel means
    res = isp.develop(small_dng, wb="gray_world", color="raw")
    means = res.linear.reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(means / means[1], 1.0, rtol=0.01)
    # and its gains are the mosaic's channel-mean ratios (computed here independently)
    frame = res.frame
    m = (frame.mosaic.astype(np.float64) - 64) / (4095 - 64)
    r, g, b = m[0::2, 0::2].mean(), np.r_[m[0::2, 1::2].ravel(), m[1::2, 0::2].ravel()].mean(), m[1::2, 1::2].mean()
    np.testing.assert_allclose(res.wb_gains, (g / r, 1.0, g / b), rtol=1e-5)
    user = isp.develop(small_dng, wb=(4.0, 2.0, 2.8))
    assert user.wb_gains == (2.0, 1.0, 1.4) and user.wb_method == "user"


def test_config_validation_lists_choices(small_dng):
    with pytest.raises(isp.ISPInputError, match="'off', 'median3', 'median5'; got 'bilateral'"):
        isp.develop(small_dng, denoise="bilateral")
    with pytest.raises(isp.ISPInputError, match="'camera', 'gray_world', 'white_world'"):
        isp.ISPConfig(wb="auto")
    with pytest.raises(isp.ISPInputError, match="'srgb', 'raw'"):
        isp.ISPConfig(color="xyz")
    with pytest.raises(isp.ISPInputError, match="positive float"):
        isp.ISPConfig(gamma=0)
    with pytest.raises(isp.ISPInputError, match="'auto', 'off'"):
        isp.ISPConfig(vignetting="on")
    with pytest.raises(isp.ISPInputError, match="valid fields: wb, vignetting, denoise, color, gamma"):
        isp.develop(small_dng, sharpen=True)
    with pytest.raises(isp.ISPInputError, match="expected the mosaic's"):
        isp.develop(small_dng, vignetting=np.ones((10, 10)))
    with pytest.raises(isp.ISPInputError, match="path or an isp.RawFrame"):
        isp.develop(np.zeros((4, 4)))
    assert isinstance(isp.ISPInputError("x"), ValueError)
    cfg = isp.ISPConfig(vignetting=np.ones((2, 2)))
    assert cfg == isp.ISPConfig(vignetting=np.ones((2, 2))) and hash(cfg) == hash(cfg.replace())


def test_import_is_light():
    code = "import sys, isp; print(sorted(m for m in ('numba', 'rawpy', 'tifffile', 'torch', 'completion') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("denoise, size", [("off", None), ("median3", 3), ("median5", 5)])
def test_develop_with_lens_shading_equals_stage_composition(samples_dir, denoise, size):
    """With DNG lens-shading opcodes, develop calls the opcodes hook at the documented points:
    GainMap on the normalised mosaic, FixVignetteRadial on camera RGB before denoise."""
    from isp.opcodes import lens_shading_from_frame

    candidates = sorted(samples_dir.glob("shading_*.dng"))
    if not candidates:
        pytest.skip("no lens-shading sample DNGs in samples/")
    for path in candidates:
        frame = isp.read_raw(path)
        shading = lens_shading_from_frame(frame)
        if shading.is_empty:
            continue
        res = isp.develop(frame, denoise=denoise, wb=(1.7, 1.0, 1.3))
        m = isp.apply_black_level(frame.mosaic, black_levels=frame.black_levels,
                                  white_level=frame.white_level)
        m = shading.apply_to_mosaic(m, frame.cfa)
        m = isp.apply_white_balance(m, frame.cfa, (1.7, 1.0, 1.3))
        rgb = shading.apply_to_rgb(isp.demosaic_bilinear(m, frame.cfa))
        if size:
            rgb = isp.denoise_median(rgb, size=size)
        rgb = isp.apply_orientation(isp.convert_color(rgb, frame.color_matrix), frame.flip)
        np.testing.assert_allclose(res.linear, rgb, rtol=1e-5, atol=1e-6)
        assert res.opcodes_applied == shading.applied and res.opcodes_applied


def test_frame_and_result_pickle(small_dng):
    """Batch runners send frames and results between processes."""
    import pickle

    res = isp.develop(small_dng, wb=(2.0, 1.0, 1.5))
    back = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(back.linear, res.linear)
    np.testing.assert_array_equal(back.frame.mosaic, res.frame.mosaic)
    assert back.frame.cfa == res.frame.cfa and dict(back.frame.opcodes) == dict(res.frame.opcodes)
    assert back.wb_gains == res.wb_gains and back.config == res.config
    np.testing.assert_array_equal(back.display, res.display)
    frame = isp.RawFrame(path=None, mosaic=res.frame.mosaic, cfa="RGGB", black_levels=(0, 0, 0, 0),
                         white_level=4095.0, camera_wb=None, color_matrix=np.eye(3, dtype=np.float32),
                         opcodes={2: b"\x00"})
    assert pickle.loads(pickle.dumps(frame)).opcodes[2] == b"\x00"
    with pytest.raises(TypeError):
        frame.opcodes[3] = b""  # read-only
