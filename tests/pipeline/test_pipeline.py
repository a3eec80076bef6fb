"""The library face: ``Pipeline.process`` and ``Result``, and ``isp.defects`` on synthetic mosaics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import isp
from isp.defects import detect_defective_pixels
from isp.synthetic import mosaic_from_rgb, write_dng
from pipeline import CompletionConfig, Pipeline, PipelineInputError, Result

REPO = Path(__file__).resolve().parents[2]
CFAS = ("RGGB", "BGGR", "GRBG", "GBRG")


def _scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth textured linear RGB scene in (0.05, 0.8)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.35 + 0.25 * np.sin(xx / 11.0)[..., None] * np.cos(yy / 7.0)[..., None]
    tint = np.array([1.0, 0.8, 0.6], np.float32)
    return np.clip(base * tint + 0.05 * (xx > w // 2)[..., None], 0.05, 0.8).astype(np.float32)


def _planted_mosaic(cfa: str, h: int = 120, w: int = 160, n: int = 40, seed: int = 3):
    """A noisy 12-bit mosaic of a smooth scene with ``n`` hot/dead pixels; returns (mosaic, truth)."""
    rng = np.random.default_rng(seed)
    mosaic = mosaic_from_rgb(_scene(h, w), cfa) * 3800 + 64
    mosaic = rng.poisson(mosaic).astype(np.float64) + rng.normal(0, 2, mosaic.shape)
    truth = np.zeros((h, w), bool)
    ys = rng.choice(np.arange(4, h - 4), n, replace=False)
    xs = rng.choice(np.arange(4, w - 4), n, replace=False)
    for i, (y, x) in enumerate(zip(ys, xs)):
        truth[y, x] = True
        mosaic[y, x] = 4095 if i % 2 == 0 else 0
    return np.clip(mosaic, 0, 4095).astype(np.uint16), truth


# -------------------------------------------------------------------------------- defects

@pytest.mark.parametrize("cfa", CFAS)
def test_defects_recall_and_precision(cfa):
    mosaic, truth = _planted_mosaic(cfa)
    found = detect_defective_pixels(mosaic, cfa)
    tp = int((found & truth).sum())
    assert tp / truth.sum() >= 0.8, f"recall {tp}/{truth.sum()}"
    assert tp / max(int(found.sum()), 1) >= 0.95, f"precision {tp}/{found.sum()}"


def test_defects_none_on_clean_noise_and_edges():
    rng = np.random.default_rng(0)
    clean = rng.poisson(np.full((300, 400), 900.0)).astype(np.uint16)
    assert not detect_defective_pixels(clean, "RGGB").any()
    edges = np.zeros((200, 200), np.uint16) + 100
    edges[:, 100:] = 3000  # a hard edge and a one-pixel bright line are detail, not defects
    edges[50, :] = 3500
    assert not detect_defective_pixels(edges, "GRBG").any()


def test_defects_rejects_bad_input():
    with pytest.raises(isp.ISPInputError, match="H x W"):
        detect_defective_pixels(np.zeros((4, 4)), "RGGB")
    with pytest.raises(isp.ISPInputError, match="RGGB, BGGR"):
        detect_defective_pixels(np.zeros((16, 16)), "RGBG")
    with pytest.raises(isp.ISPInputError, match="threshold"):
        detect_defective_pixels(np.zeros((16, 16)), "RGGB", threshold=0)


# ------------------------------------------------------------------------------- pipeline

@pytest.fixture(scope="module")
def sample(samples_dir) -> Path:
    path = samples_dir / "scene_grbg.dng"  # stored rotated (orientation 6)
    if not path.is_file():
        pytest.skip(f"{path} missing: run samples/make_samples.py")
    return path


def test_process_without_mask_is_the_isp_output(sample):
    res = Pipeline(completion="biharmonic").process(sample)
    ref = isp.develop(sample)
    assert isinstance(res, Result)
    assert res.image.dtype == np.float32 and res.image.ndim == 3 and res.image.shape[2] == 3
    np.testing.assert_array_equal(res.image, ref.display)
    np.testing.assert_array_equal(res.linear, ref.linear)
    assert res.mask is None and res.completion_method is None
    assert set(res.timings) == {"read", "develop", "mask", "complete", "total"}
    assert res.metadata.make == "rawcomplete" and res.frame.path == str(sample)


def test_mask_changes_pixels_inside_only(sample):
    pipe = Pipeline(completion=CompletionConfig(method="biharmonic", device="cpu"))
    plain = pipe.process(sample)
    h, w = plain.image.shape[:2]
    holes = np.zeros((h, w), bool)
    holes[h // 3 : h // 3 + 12, w // 4 : w // 4 + 9] = True
    res = pipe.process(sample, mask=np.where(holes, 255, 0).astype(np.uint8))
    np.testing.assert_array_equal(res.mask, holes)
    np.testing.assert_array_equal(res.image[~holes], plain.image[~holes])
    assert np.abs(res.image[holes] - plain.image[holes]).max() > 1e-3
    assert res.completion_method == "biharmonic"
    assert res.image.min() >= 0 and res.image.max() <= 1
    # the fill is plausible: close to the surroundings, far from a black hole
    ring = np.zeros_like(holes)
    ring[h // 3 - 3 : h // 3 + 15, w // 4 - 3 : w // 4 + 12] = True
    ring &= ~holes
    assert abs(res.image[holes].mean() - plain.image[ring].mean()) < 0.15


def test_linear_output_and_frame_source(sample):
    frame = isp.read_raw(sample)
    pipe = Pipeline({"denoise": "median3"}, completion="biharmonic", output="linear")
    res = pipe.process(frame)
    assert res.image is res.linear and res.timings["read"] == 0.0
    np.testing.assert_array_equal(res.image, isp.develop(frame, denoise="median3").linear)


def test_bad_arguments(sample):
    pipe = Pipeline(completion="biharmonic")
    with pytest.raises(PipelineInputError, match=r"mask must be H x W = \d+ x \d+.*got shape \(3, 4\)"):
        pipe.process(sample, mask=np.zeros((3, 4), bool))
    with pytest.raises(PipelineInputError, match="a path, bytes, a binary file object or an isp.RawFrame"):
        pipe.process(42)
    with pytest.raises(PipelineInputError, match="'display', 'linear'"):
        Pipeline(output="log")
    with pytest.raises(PipelineInputError, match="'auto', 'gan', 'biharmonic'"):
        Pipeline(completion="lama")
    with pytest.raises(isp.ISPInputError):
        Pipeline({"denoise": "heavy"})
    with pytest.raises(isp.CorruptRawError):
        pipe.process(REPO / "samples" / "samples.json")


def test_auto_mask_defects_follow_orientation(tmp_path):
    """Defects found on the sensor mosaic land on the right pixels of a rotated output."""
    mosaic, truth = _planted_mosaic("RGGB", 96, 128, n=12)
    path = tmp_path / "hot.dng"
    write_dng(path, mosaic, cfa="RGGB", white_level=4095, as_shot_neutral=(1, 1, 1), orientation=6)
    frame = isp.read_raw(path)
    assert frame.flip == 6
    res = Pipeline(completion="biharmonic", auto_mask="defects").process(path)
    from scipy import ndimage

    expected = np.asarray(isp.apply_orientation(truth, frame.flip))
    assert res.image.shape[:2] == expected.shape == (128, 96)
    found = np.asarray(isp.apply_orientation(detect_defective_pixels(frame.mosaic, frame.cfa), frame.flip))
    assert res.defects_found == int(found.sum())
    assert (found & expected).sum() >= 0.75 * expected.sum()
    assert (found & ~expected).sum() <= 1
    # the mask completed is each defect with its 3 x 3 neighbourhood (bilinear demosaic spread)
    np.testing.assert_array_equal(res.mask, ndimage.binary_dilation(found, np.ones((3, 3), bool)))
    plain = Pipeline(completion="biharmonic").process(path)
    np.testing.assert_array_equal(res.image[~res.mask], plain.image[~res.mask])


def test_library_call_from_another_process(sample, tmp_path):
    code = (
        "import json, sys, numpy as np\n"
        "from pipeline import Pipeline\n"
        "res = Pipeline(completion='biharmonic').process(sys.argv[1])\n"
        "print(json.dumps({'shape': list(res.image.shape), 'mean': float(res.image.astype(np.float64).mean())}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code, str(sample)], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    here = Pipeline(completion="biharmonic").process(sample).image
    assert got["shape"] == list(here.shape)
    assert got["mean"] == pytest.approx(float(here.astype(np.float64).mean()), abs=1e-7)


def test_default_gan_completion(sample):
    weights = REPO / "completion" / "weights" / "generator.pt"
    if not weights.is_file():
        pytest.skip(f"GAN weights not shipped yet ({weights} absent)")
    pipe = Pipeline(completion=CompletionConfig(method="gan", device="cpu"))
    plain = pipe.process(sample)
    h, w = plain.image.shape[:2]
    holes = np.zeros((h, w), bool)
    holes[h // 2 : h // 2 + 10, w // 2 : w // 2 + 10] = True
    res = pipe.process(sample, mask=holes)
    assert res.completion_method == "gan"
    np.testing.assert_array_equal(res.image[~holes], plain.image[~holes])
    assert np.isfinite(res.image).all()
    # a plausible fill on this smooth scene: near what the RAW holds there (a black or random hole is not)
    assert np.abs(res.image[holes] - plain.image[holes]).mean() < 0.1


def test_auto_method_falls_back_to_biharmonic_without_weights(sample, monkeypatch, caplog):
    import completion
    import pipeline

    real = completion.inpaint
    calls = []

    def no_gan(image, mask, *, method="gan", **kw):
        calls.append(method)
        if method != "biharmonic":
            raise completion.WeightsError("generator weights not found (simulated)")
        return real(image, mask, method=method, **kw)

    monkeypatch.setattr(completion, "inpaint", no_gan)
    monkeypatch.setattr(pipeline, "_GAN_UNAVAILABLE", None)
    pipe = Pipeline(completion="auto")
    h, w = pipe.process(sample).image.shape[:2]
    holes = np.zeros((h, w), bool)
    holes[5:9, 5:9] = True
    with caplog.at_level("WARNING", logger="rawcomplete"):
        first = pipe.process(sample, mask=holes)
        second = pipe.process(sample, mask=holes)
    assert first.completion_method == second.completion_method == "biharmonic"
    assert calls == ["auto", "biharmonic", "biharmonic"]  # the GAN is not retried in this process
    assert "GAN weights unavailable" in caplog.text
    with pytest.raises(completion.WeightsError):
        Pipeline(completion="gan").process(sample, mask=holes)  # an explicit "gan" never falls back
