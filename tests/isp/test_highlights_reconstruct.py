"""``highlights="reconstruct"``: clipped photosites rebuilt on the mosaic, all-clipped pixels completed
in linear light under their lower bound (isp.highlights, completion.highlights, the pipeline hook)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import isp
from completion import MaskError
from completion.highlights import complete_highlights, enforce_floor
from isp.cfa import CFA_ORDERS, site_channels
from isp.highlights import clip_flags, reconstruct_highlights, white_balanced_mosaic
from isp.raw import RawFrame

REPO = Path(__file__).resolve().parents[2]
MATRIX = np.array([[1.8, -0.6, -0.2], [-0.25, 1.5, -0.25], [0.05, -0.55, 1.5]], np.float32)
GAINS = (2.0, 1.0, 1.5)
BLACK, WHITE = 64.0, 4095.0


def _scene(h=64, w=96, peak=3.0):
    """White-balanced camera RGB: a warm (1, 0.8, 0.6) background with a bright blob up to ``peak``
    and a greener stripe, so that some pixels clip in one, two or all three channels."""
    yy, xx = np.mgrid[:h, :w]
    bright = 0.3 + (peak - 0.3) * np.exp(-((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / (2 * (h / 5) ** 2))
    colour = np.where((xx // 12 % 3 == 0)[..., None], [0.7, 1.0, 0.5], [1.0, 0.8, 0.6])
    return bright[..., None] * colour


def _frame(cfa="RGGB", peak=3.0, h=64, w=96, gains=GAINS):
    scene = _scene(h, w, peak)
    ch = site_channels(cfa)[(np.arange(h)[:, None] % 2) * 2 + np.arange(w)[None, :] % 2]
    cam = np.take_along_axis(scene, ch[..., None], 2)[..., 0] / np.asarray(gains)[ch]
    raw = np.clip(np.round(BLACK + cam * (WHITE - BLACK)), 0, WHITE).astype(np.uint16)
    return RawFrame(path=None, mosaic=raw, cfa=cfa, black_levels=(BLACK,) * 4, white_level=WHITE,
                    camera_wb=tuple(gains), color_matrix=MATRIX)


def _mosaic_parts(frame):
    site_ch = site_channels(frame.cfa)
    black = np.full(4, BLACK, np.float32)
    inv = np.full(4, 1 / (WHITE - BLACK))
    scale = (inv * np.asarray(GAINS)[site_ch]).astype(np.float32)
    norm = white_balanced_mosaic(frame.mosaic, black, scale, np.zeros((0, 0), np.float32))
    flags, n = clip_flags(frame.mosaic, black, WHITE)
    return norm, flags, n, site_ch


@pytest.mark.parametrize("cfa", CFA_ORDERS)
def test_rebuilt_sites_never_below_their_clip_level_and_unclipped_sites_untouched(cfa):
    frame = _frame(cfa)
    norm, flags, n, site_ch = _mosaic_parts(frame)
    assert n > 0 and np.array_equal(flags.astype(bool), frame.mosaic >= WHITE)
    rec = reconstruct_highlights(norm, flags, site_ch, GAINS)
    clipped = flags.astype(bool)
    assert np.all(rec.mosaic[clipped] >= norm[clipped])  # the clip level is a lower bound
    assert np.array_equal(rec.mosaic[~clipped], norm[~clipped])  # bit for bit
    assert np.mean(rec.mosaic[clipped] > norm[clipped]) > 0.5  # and it did rebuild
    assert set(rec.counts) == {"two_channels", "one_channel", "all_clipped"}
    assert sum(rec.counts.values()) == n and all(v > 0 for v in rec.counts.values())
    assert rec.all_clipped.sum() > 0 and np.all(clipped[rec.all_clipped])


@pytest.mark.parametrize("cfa", CFA_ORDERS)
def test_develop_reconstruct_is_truer_than_clip_and_keep(cfa):
    frame = _frame(cfa)
    truth = _scene()
    res = {m: isp.develop(frame, highlights=m, color="raw") for m in ("clip", "keep", "reconstruct")}
    rec = res["reconstruct"]
    assert rec.highlights_reconstructed["two_channels"] > 0
    # far (> 1 px, the bilinear reach) from any clipped site the image is keep's (float rounding apart)
    from scipy import ndimage

    near = ndimage.binary_dilation(frame.mosaic >= WHITE, structure=np.ones((3, 3), bool))
    np.testing.assert_allclose(rec.linear[~near], res["keep"].linear[~near], rtol=2e-6, atol=1e-7)
    # in the clipped region it is closer to the truth than clip and keep, in brightness and colour
    inner = near.copy()
    inner[:2] = inner[-2:] = False
    inner[:, :2] = inner[:, -2:] = False

    def errors(img):
        lum = np.abs(np.log2(img[inner].sum(-1)) - np.log2(truth[inner].sum(-1))).mean()
        chroma = np.abs(img[inner] / img[inner].sum(-1, keepdims=True)
                        - truth[inner] / truth[inner].sum(-1, keepdims=True)).sum(-1).mean()
        return lum, chroma

    lum, chroma = errors(rec.linear)
    for other in ("clip", "keep"):
        lum_o, chroma_o = errors(res[other].linear)
        assert lum < 0.6 * lum_o and chroma < 0.6 * chroma_o, (other, lum, lum_o, chroma, chroma_o)
    # all-clipped pixels: mask in output geometry, floor = the gains (no lens shading), respected
    assert rec.highlight_mask.shape == rec.linear.shape[:2] and rec.highlight_mask.any()
    np.testing.assert_allclose(rec.highlight_floor, np.broadcast_to(GAINS, rec.highlight_floor.shape))
    assert np.all(rec.linear[rec.highlight_mask] >= rec.highlight_floor * (1 - 1e-5))
    assert res["clip"].highlight_mask is None and res["clip"].highlights_reconstructed == {}


def test_no_clipping_is_bit_identical_to_clip():
    frame = _frame(peak=0.7)  # brightest white-balanced value below 1 and raw below 3/4 of white
    clip = isp.develop(frame, highlights="clip", display_codes="uint8")
    rec = isp.develop(frame, highlights="reconstruct", display_codes="uint8")
    assert np.array_equal(clip.linear, rec.linear) and np.array_equal(clip.codes, rec.codes)
    assert rec.highlight_mask is None and rec.highlights_reconstructed == {}


def test_mask_follows_orientation_and_crop():
    frame = _frame()
    base = isp.develop(frame, highlights="reconstruct")
    turned = isp.develop(dataclasses.replace(frame, flip=6), highlights="reconstruct")
    assert turned.highlight_mask.shape == turned.linear.shape[:2]
    np.testing.assert_array_equal(turned.highlight_mask, isp.apply_orientation(base.highlight_mask, 6))
    np.testing.assert_allclose(turned.highlight_floor.sum(), base.highlight_floor.sum(), rtol=1e-6)


def test_enforce_floor_lives_in_camera_rgb_and_keeps_the_fill_chroma():
    cam = np.array([[1.0, 0.5, 0.5], [3.0, 3.0, 3.0], [0.2, 0.1, 0.05]])
    floor = np.array([[2.0, 1.0, 1.5]] * 3)
    out = enforce_floor(cam @ MATRIX.T.astype(np.float64), floor, MATRIX)
    back = out.astype(np.float64) @ np.linalg.inv(MATRIX.astype(np.float64)).T
    assert np.all(back >= floor * (1 - 1e-5))
    np.testing.assert_allclose(back[0] / back[0].sum(), cam[0] / cam[0].sum(), rtol=1e-5)  # scaled, same hue
    np.testing.assert_allclose(back[0], cam[0] * 3.0, rtol=1e-5)  # B reaches 1.5 first: factor 3
    np.testing.assert_array_equal(out[1], (cam[1] @ MATRIX.T.astype(np.float64)).astype(np.float32))  # above: kept
    # clamping channel by channel (here in output RGB) gives the floor's colour, not the fill's
    naive = np.maximum(cam @ MATRIX.T, floor @ MATRIX.T) @ np.linalg.inv(MATRIX).T
    assert np.abs(naive[0] / naive[0].sum() - cam[0] / cam[0].sum()).sum() > 0.1


@pytest.mark.parametrize("method", ["biharmonic", "pullpush", "auto"])
def test_complete_highlights_respects_floor_and_leaves_known_pixels(method):
    res = isp.develop(_frame(), highlights="reconstruct")
    mask = res.highlight_mask
    out = complete_highlights(res.linear, mask, res.highlight_floor, res.camera_to_output, method=method)
    assert np.array_equal(out[~mask], res.linear[~mask])
    cam = out[mask].astype(np.float64) @ np.linalg.inv(res.camera_to_output).T
    assert np.all(cam >= res.highlight_floor * (1 - 1e-5))
    assert np.all(np.isfinite(out)) and not np.array_equal(out[mask], res.linear[mask])  # something was filled
    fill = complete_highlights(res.linear, mask, res.highlight_floor, res.camera_to_output, method=method,
                               chroma="fill")
    assert np.all(fill[mask].astype(np.float64) @ np.linalg.inv(res.camera_to_output).T >= res.highlight_floor * (1 - 1e-5))
    with pytest.raises(MaskError, match="floor must be"):
        complete_highlights(res.linear, mask, res.highlight_floor[:-1], res.camera_to_output)
    with pytest.raises(MaskError, match="mask must be bool"):
        complete_highlights(res.linear, mask.astype(np.uint8), res.highlight_floor, res.camera_to_output)


def test_pipeline_completes_all_clipped_and_reports_counts():
    from pipeline import Pipeline

    frame = _frame()
    res = Pipeline({"highlights": "reconstruct"}, completion="biharmonic", output="linear").process(frame)
    assert res.highlights_reconstructed == res.isp.highlights_reconstructed
    assert res.highlights_reconstructed["all_clipped"] > 0
    mask = res.isp.highlight_mask
    cam = res.linear[mask].astype(np.float64) @ np.linalg.inv(res.isp.camera_to_output).T
    assert np.all(cam >= res.isp.highlight_floor * (1 - 1e-5))
    assert set(res.timings) == {"read", "develop", "mask", "complete", "total"}
    display = Pipeline({"highlights": "reconstruct"}, completion="biharmonic").process(frame).image
    assert display.max() <= 1.0 and np.all(display[mask] > 0.99)  # the display path clips as before
    no_completion = Pipeline({"highlights": "reconstruct"}, completion=None, output="linear").process(frame)
    assert np.array_equal(no_completion.linear, isp.develop(frame, highlights="reconstruct").linear)


def test_cli_end_to_end_on_a_synthetic_dng(tmp_path):
    import tifffile

    from isp.synthetic import write_dng

    frame = _frame(h=48, w=64)
    inp = tmp_path / "in"
    inp.mkdir()
    write_dng(inp / "blown.dng", frame.mosaic, cfa="RGGB", black_level=BLACK, white_level=WHITE,
              as_shot_neutral=[1 / g for g in GAINS])
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    report = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "pipeline", str(inp), "-o", str(tmp_path / "out"), "--report",
                           str(report), "--highlights", "reconstruct", "--format", "tiff32f", "--method",
                           "biharmonic"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (rec,) = json.loads(report.read_text())["records"]
    assert rec["status"] == "done" and rec["highlights_reconstructed"]["all_clipped"] > 0
    out = tifffile.imread(tmp_path / "out" / "blown.tif")
    assert out.dtype == np.float32 and out.max() > 1.5  # unclipped scene-linear highlights
