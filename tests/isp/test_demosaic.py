"""The demosaic registry: every algorithm on all four CFA orders, alone and inside ``develop``
(plain, white balance, lens shading, median), flat and saturated fields, symmetry, quality."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import isp
from isp.demosaic import demosaic, demosaic_rcd
from isp.opcodes import lens_shading_from_frame
from isp.synthetic import mosaic_from_rgb, write_dng

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "samples"))
import make_shading_samples as shading_samples  # noqa: E402

ALGORITHMS = isp.DEMOSAIC_ALGORITHMS
CFAS = isp.CFA_ORDERS
# Edge-aware algorithms decide with ratios and gradient weights, which amplify the last-bit
# differences between develop's fused normalisation and the staged one.
TOL = {"bilinear": dict(rtol=1e-5, atol=1e-6), "rcd": dict(rtol=1e-4, atol=1e-4),
       "rcd_refined": dict(rtol=1e-4, atol=1e-4)}


def _scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Camera-linear RGB in [0, 0.9] with edges, gradients and fine texture (a natural photo)."""
    from skimage import data, transform

    img = data.astronaut()[40 + seed : 40 + seed + 2 * h, 100 : 100 + 2 * w].astype(np.float64) / 255
    img = transform.resize(img, (h, w), order=1, anti_aliasing=False)
    return (0.9 * img**2.2).astype(np.float32)


def _psnr(a: np.ndarray, b: np.ndarray, border: int = 8) -> float:
    d = a[border:-border, border:-border].astype(np.float64) - b[border:-border, border:-border]
    return float(10 * np.log10(1.0 / np.mean(d * d)))


def test_registry_and_validation():
    assert ALGORITHMS == ("bilinear", "rcd", "rcd_refined")
    assert isp.ISPConfig().demosaic == "bilinear"
    assert isp.ISPConfig(demosaic="rcd") != isp.ISPConfig()
    with pytest.raises(isp.ISPInputError, match="'bilinear', 'rcd', 'rcd_refined'; got 'amaze'"):
        isp.ISPConfig(demosaic="amaze")
    with pytest.raises(isp.ISPInputError, match="'bilinear', 'rcd', 'rcd_refined'; got 'ahd'"):
        demosaic(np.zeros((4, 4)), "RGGB", algorithm="ahd")
    with pytest.raises(isp.ISPInputError, match="cfa must be one of RGGB, BGGR, GRBG, GBRG; got 'RGBG'"):
        demosaic(np.zeros((4, 4)), "RGBG", algorithm="rcd")
    with pytest.raises(isp.ISPInputError, match="refine must be an int in 0..2; got 3"):
        demosaic_rcd(np.zeros((4, 4)), refine=3)
    with pytest.raises(isp.ISPInputError, match="2-D real array"):
        demosaic(np.zeros((4, 4, 3)), algorithm="rcd")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("cfa", CFAS)
def test_sites_keep_their_value_and_input_is_untouched(algorithm, cfa):
    rgb = _scene(70, 90)
    mosaic = mosaic_from_rgb(rgb, cfa)
    before = mosaic.copy()
    out = demosaic(mosaic, cfa, algorithm=algorithm)
    assert out.shape == (70, 90, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(mosaic, before)
    np.testing.assert_array_equal(mosaic_from_rgb(out, cfa), mosaic)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("cfa", CFAS)
@pytest.mark.parametrize("level", [(0.3, 0.5, 0.2), (3.5, 2.0, 4.0)])
def test_flat_field_stays_flat_and_unclipped(algorithm, cfa, level):
    """Including the borders, and above white (1.0): nothing is clipped."""
    rgb = np.broadcast_to(np.asarray(level, np.float32), (38, 52, 3))
    out = demosaic(mosaic_from_rgb(rgb, cfa), cfa, algorithm=algorithm)
    np.testing.assert_allclose(out, rgb, rtol=1e-6)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("cfa", CFAS)
def test_saturated_area_stays_neutral(algorithm, cfa):
    """A clipped block (every site at white) inside texture: the demosaic alone adds no colour to
    it beyond the algorithm's reach from the block's edge (16 px: RCD's 10 + 2 refining passes)."""
    rgb = _scene(128, 160)
    rgb[32:96, 40:120] = 1.0
    out = demosaic(mosaic_from_rgb(rgb, cfa), cfa, algorithm=algorithm)
    inner = out[48:80, 56:104]
    np.testing.assert_allclose(inner, 1.0, rtol=1e-6)
    # nearer the edge the block keeps its neutrality within a few percent (bilinear: exactly,
    # except its outermost pixel)
    ring = out[35:93, 43:117]
    chroma = ring.max(axis=2) - ring.min(axis=2)
    assert chroma.max() < (1e-6 if algorithm == "bilinear" else 0.08), chroma.max()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_mirrored_mosaic_gives_mirrored_result(algorithm):
    """Flipping an RGGB mosaic turns it into GRBG / GBRG / BGGR and transposing GRBG into GBRG:
    every algorithm must treat the four orders and both axes alike. The size spans several
    128 px tiles, partial ones included, which flipping moves: tile seams must not show."""
    rgb = _scene(150, 262)
    m = mosaic_from_rgb(rgb, "RGGB")
    ref = demosaic(m, "RGGB", algorithm=algorithm)
    for cfa, flip in (("GRBG", lambda a: a[:, ::-1]), ("GBRG", lambda a: a[::-1]),
                      ("BGGR", lambda a: a[::-1, ::-1])):
        got = demosaic(np.ascontiguousarray(flip(m)), cfa, algorithm=algorithm)
        np.testing.assert_allclose(got, flip(ref), rtol=1e-5, atol=1e-6, err_msg=cfa)
    t = np.ascontiguousarray(m.T)
    np.testing.assert_allclose(demosaic(t, "RGGB", algorithm=algorithm), ref.swapaxes(0, 1),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cfa", CFAS)
def test_edge_aware_algorithms_beat_bilinear(cfa):
    rgb = _scene(160, 200, seed=30)
    m = mosaic_from_rgb(rgb, cfa)
    score = {a: _psnr(demosaic(m, cfa, algorithm=a), rgb) for a in ALGORITHMS}
    assert score["rcd"] > score["bilinear"] + 4.0, score
    assert score["rcd_refined"] > score["rcd"], score


def test_tiny_images_fall_back_to_bilinear():
    m = np.arange(5, dtype=np.float32)[None, :] / 5
    np.testing.assert_array_equal(demosaic(m, "GRBG", algorithm="rcd"), isp.demosaic_bilinear(m, "GRBG"))
    tiny = np.full((2, 3), 0.25, np.float32)  # smallest mirrored size
    np.testing.assert_allclose(demosaic(tiny, "BGGR", algorithm="rcd_refined"), 0.25, rtol=1e-6)


# ------------------------------------------------------------------------------------------
# inside develop: plain, white balance, lens shading, median, against the staged composition


@pytest.fixture(scope="module")
def dngs(tmp_path_factory):
    """Per CFA order: a plain scene DNG, and lens-shading DNGs (GainMap per site in OpcodeList2,
    FixVignetteRadial in OpcodeList3) of the same scene, with their ground truth."""
    root = tmp_path_factory.mktemp("demosaic")
    out = {}
    for cfa in CFAS:
        cam = _scene(96, 136, seed=CFAS.index(cfa) * 5)
        plain = root / f"plain_{cfa}.dng"
        mosaic = np.round(64 + mosaic_from_rgb(cam * np.array([0.5, 1.0, 0.7]), cfa) * (4095 - 64))
        write_dng(plain, mosaic.astype(np.uint16), cfa=cfa, black_level=64, white_level=4095,
                  as_shot_neutral=(0.5, 1.0, 0.7), orientation=6)
        scene = shading_samples.natural_scene(96, 136)
        gain = shading_samples.make_gainmap_4plane(root / f"gain_{cfa}.dng", height=96, width=136,
                                                   cfa=cfa, scene=scene)
        radial = shading_samples.make_vignette_radial(root / f"radial_{cfa}.dng", height=96,
                                                      width=136, cfa=cfa, scene=scene)
        out[cfa] = {"plain": plain, "gain": gain, "radial": radial, "truth": cam}
    return out


def _staged(frame, algorithm, gains, denoise, color):
    """develop written as a composition of the public stages."""
    m = isp.apply_black_level(frame.mosaic, black_levels=frame.black_levels,
                              white_level=frame.white_level)
    shading = lens_shading_from_frame(frame)
    m = shading.apply_to_mosaic(m, frame.cfa)
    m = isp.apply_white_balance(m, frame.cfa, gains)
    rgb = shading.apply_to_rgb(demosaic(m, frame.cfa, algorithm=algorithm))
    if denoise != "off":
        rgb = isp.denoise_median(rgb, size=int(denoise[-1]))
    if color == "srgb":
        rgb = isp.convert_color(rgb, frame.color_matrix)
    return isp.apply_orientation(rgb, frame.flip)


CASES = {
    "plain": dict(file="plain", wb=(1.0, 1.0, 1.0), denoise="off", color="raw"),
    "wb": dict(file="plain", wb="camera", denoise="off", color="srgb"),
    "wb_gray_world": dict(file="plain", wb="gray_world", denoise="off", color="srgb"),
    "gainmap": dict(file="gain", wb=(1.7, 1.0, 1.3), denoise="off", color="srgb"),
    "gainmap_gray_world": dict(file="gain", wb="gray_world", denoise="off", color="raw"),
    "radial": dict(file="radial", wb="camera", denoise="off", color="srgb"),
    "median3": dict(file="radial", wb="camera", denoise="median3", color="srgb"),
    "median5": dict(file="gain", wb="camera", denoise="median5", color="raw"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("cfa", CFAS)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_develop_equals_stage_composition(dngs, algorithm, cfa, case):
    spec = CASES[case]
    frame = isp.read_raw(dngs[cfa][spec["file"]])
    res = isp.develop(frame, demosaic=algorithm, wb=spec["wb"], denoise=spec["denoise"],
                      color=spec["color"])
    assert res.config.demosaic == algorithm
    want = _staged(frame, algorithm, res.wb_gains, spec["denoise"], spec["color"])
    assert res.linear.shape == want.shape
    np.testing.assert_allclose(res.linear, want, **TOL[algorithm])
    if spec["file"] != "plain":
        assert res.opcodes_applied == lens_shading_from_frame(frame).applied != ()


@pytest.mark.parametrize("cfa", CFAS)
def test_develop_edge_aware_is_closer_to_truth(dngs, cfa):
    """On the plain scene with its camera white balance, in camera RGB (sensor orientation)."""
    frame = isp.read_raw(dngs[cfa]["plain"])
    truth = dngs[cfa]["truth"]
    score = {}
    for algorithm in ALGORITHMS:
        res = isp.develop(frame, demosaic=algorithm, color="raw")
        score[algorithm] = _psnr(np.rot90(res.linear, 1), truth)  # orientation 6 undone
    assert score["rcd"] > score["bilinear"] + 3.0, score
    assert score["rcd_refined"] > score["rcd"], score


def test_samples_manifest_scenes(samples_dir):
    """The shipped scene samples (4 CFA orders) develop closer to their truth with RCD."""
    manifest = json.loads((samples_dir / "samples.json").read_text())
    for name in ("scene_rggb", "scene_bggr", "scene_grbg", "scene_gbrg"):
        entry = manifest[name]
        truth = np.load(samples_dir / entry["truth"])["linear"].astype(np.float32)
        frame = isp.read_raw(samples_dir / entry["file"])
        bil = _psnr(isp.develop(frame).linear, truth)
        rcd = _psnr(isp.develop(frame, demosaic="rcd_refined").linear, truth)
        assert rcd > bil + 4.0, (name, bil, rcd)
