"""Highlights: LibRaw's white-balance normalisation (smallest gain = 1) and clipping at white."""

from __future__ import annotations

import numpy as np
import pytest

import isp
from isp.errors import ISPInputError
from isp.highlights import clip_highlights, clipped_mosaic, normalize_gains_smallest
from isp.raw import RawFrame

# a realistic camera -> sRGB matrix (rows sum to 1, strong off-diagonal terms)
MATRIX = np.array([[1.8, -0.6, -0.2], [-0.25, 1.5, -0.25], [0.05, -0.55, 1.5]], np.float32)


def _frame(gains_as_shot=(0.8, 1.0, 1.6), cfa="RGGB", h=48, w=64):
    """A mid-grey scene with a blown rectangle: every site of it at the white level."""
    black, white = 64.0, 4095.0
    rng = np.random.default_rng(3)
    mosaic = (black + (0.18 + 0.02 * rng.random((h, w))) * (white - black)).astype(np.uint16)
    mosaic[10:30, 16:44] = int(white)
    neutral = 1 / np.asarray(gains_as_shot)
    camera_wb = tuple(float(g) for g in neutral[1] / neutral)  # multipliers, G = 1
    return RawFrame(path=None, mosaic=mosaic, cfa=cfa, black_levels=(black,) * 4, white_level=white,
                    camera_wb=camera_wb, color_matrix=MATRIX)


def _chroma(rgb):
    """max - min over the channels, per pixel."""
    return rgb.max(axis=-1) - rgb.min(axis=-1)


def test_normalize_gains_smallest():
    assert normalize_gains_smallest((0.8, 1.0, 1.6)) == pytest.approx((1.0, 1.25, 2.0))
    assert normalize_gains_smallest((2.0, 1.0, 1.5)) == (2.0, 1.0, 1.5)
    with pytest.raises(ISPInputError, match="positive"):
        normalize_gains_smallest((1.0, 0.0, 1.0))


def test_clip_highlights_stage():
    out = clip_highlights(np.array([[0.5, 1.0], [1.7, -0.1]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.5, 1.0], [1.0, -0.1]], rtol=1e-6)
    with pytest.raises(ISPInputError):
        clip_highlights(np.zeros((2, 2, 3)))


def test_clipped_mosaic_skips_when_nothing_reaches_white():
    src = np.full((4, 4), 1000, np.uint16)
    black, scale = np.zeros(4, np.float32), np.full(4, 1 / 4095, np.float32)
    assert clipped_mosaic(src, black, scale, np.zeros((0, 0), np.float32)) is None
    out = clipped_mosaic(src, black, scale * 5, np.zeros((0, 0), np.float32))
    assert out is not None and np.all(out == 1.0)


def test_config_validates_highlights():
    assert isp.ISPConfig().highlights == "clip"
    assert isp.ISPConfig(highlights="keep").highlights == "keep"
    assert isp.ISPConfig(highlights="reconstruct").highlights == "reconstruct"
    with pytest.raises(ISPInputError, match="highlights must be one of 'clip', 'keep', 'reconstruct'"):
        isp.ISPConfig(highlights="unclip")
    assert isp.ISPConfig(highlights="keep") != isp.ISPConfig()


@pytest.mark.parametrize("demosaic", ["bilinear", "rcd"])
@pytest.mark.parametrize("cfa", ["RGGB", "GBRG"])
def test_clipped_highlights_with_gain_below_one_are_neutral_white(demosaic, cfa):
    frame = _frame(cfa=cfa)
    res = isp.develop(frame, demosaic=demosaic)
    assert res.wb_gains == pytest.approx((1.0, 1.25, 2.0), rel=1e-5)  # smallest = 1, as LibRaw
    inner = (slice(13, 27), slice(19, 41))  # away from the demosaic's edge of the blown area
    disp = res.display[inner]
    assert _chroma(disp).max() < 1e-5
    assert disp.min() > 0.9999  # white, not grey
    assert _chroma(res.linear[inner]).max() < 1e-5
    if demosaic == "bilinear":  # camera RGB is clipped at white (bilinear cannot overshoot)
        assert isp.develop(frame, color="raw").linear.max() <= 1.0
    # far from the blown area it is the same image as "keep" (same normalisation; float rounding
    # apart, the clipped path reads a normalised float mosaic)
    keep = isp.develop(frame, demosaic=demosaic, highlights="keep")
    np.testing.assert_allclose(res.linear[:2], keep.linear[:2], rtol=1e-5)


def test_keep_leaves_data_above_white_and_is_what_clip_fixes():
    frame = _frame()
    keep = isp.develop(frame, highlights="keep")
    inner = (slice(13, 27), slice(19, 41))
    # scene-linear: the blown sites keep their white-balanced values (B gain 2 -> above white)
    assert keep.linear[inner].max() > 1.5
    # and the display of those values is tinted: what "clip" exists for (so the test above can fail)
    assert _chroma(keep.display[inner]).min() > 0.05


def test_clip_with_vignetting_gain_map_and_display_codes():
    frame = _frame()
    vig = isp.RadialVignetting(-0.3)
    res = isp.develop(frame, vignetting=vig, display_codes="uint8")
    inner = (slice(13, 27), slice(19, 41))
    codes = res.display_as("uint8")[inner].astype(int)
    assert (codes.max(axis=-1) - codes.min(axis=-1)).max() == 0 and codes.min() == 255
    # the fused codes equal quantising the float display
    np.testing.assert_array_equal(res.codes, isp.stages.encode_display(res.linear, "srgb", dtype="uint8"))


def test_no_clipped_pixel_output_unchanged_by_mode():
    frame = _frame()
    dim = RawFrame(path=None, mosaic=np.minimum(frame.mosaic, 1500).astype(np.uint16), cfa="RGGB",
                   black_levels=frame.black_levels, white_level=frame.white_level,
                   camera_wb=frame.camera_wb, color_matrix=MATRIX)
    a = isp.develop(dim)
    b = isp.develop(dim, highlights="keep")
    np.testing.assert_array_equal(a.linear, b.linear)
