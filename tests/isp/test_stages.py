"""Each public ISP stage on arrays, on all four CFA orders, against independent references
(numpy formulas, scipy.ndimage, straightforward loops)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import convolve, median_filter

import isp
from isp.synthetic import cfa_channels

CFAS = ["RGGB", "BGGR", "GRBG", "GBRG"]


def _site_planes(shape, cfa):
    """Boolean H x W x 3 masks of which pixel samples which colour."""
    h, w = shape
    chan = cfa_channels(cfa)
    masks = np.zeros((h, w, 3), bool)
    for dy in range(2):
        for dx in range(2):
            masks[dy::2, dx::2, chan[dy, dx]] = True
    return masks


# ------------------------------------------------------------------------------------------
# black level


@pytest.mark.parametrize("cfa", CFAS)
def test_black_level_per_site_clips_and_normalises(cfa):
    rng = np.random.default_rng(0)
    mosaic = rng.integers(0, 4200, size=(31, 46)).astype(np.uint16)  # odd size, above white too
    black = (60.0, 64.0, 130.0, 200.0)
    out = isp.apply_black_level(mosaic, black_levels=black, white_level=4095)
    site_black = np.empty(mosaic.shape)
    for dy in range(2):
        for dx in range(2):
            site_black[dy::2, dx::2] = black[2 * dy + dx]
    ref = np.maximum(mosaic - site_black, 0) / (4095 - site_black)
    assert out.dtype == np.float32 and out.shape == mosaic.shape
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)
    assert out.min() == 0.0 and out.max() > 1.0  # negatives clipped, above-white kept
    # also from float input and a scalar black level
    out2 = isp.apply_black_level(mosaic.astype(np.float64), black_levels=60, white_level=4095)
    np.testing.assert_allclose(out2, np.maximum(mosaic - 60.0, 0) / 4035, rtol=1e-6)


def test_black_level_rejects_bad_levels():
    m = np.zeros((4, 4), np.uint16)
    with pytest.raises(isp.ISPInputError, match="white_level must exceed"):
        isp.apply_black_level(m, black_levels=100, white_level=50)
    with pytest.raises(isp.ISPInputError, match="4 finite numbers"):
        isp.apply_black_level(m, black_levels=(1, 2, 3), white_level=50)
    with pytest.raises(isp.ISPInputError, match="2-D real array"):
        isp.apply_black_level(np.zeros((4, 4, 3)), black_levels=0, white_level=1)


# ------------------------------------------------------------------------------------------
# vignetting


def _falloff(h, w, k):
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / (cy**2 + cx**2)
    return 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3


def test_radial_vignetting_gains_follow_lensfun_pa():
    k = (-0.4, 0.1, -0.05)
    gains = isp.vignetting_gains((41, 60), isp.RadialVignetting(*k))
    np.testing.assert_allclose(gains, 1 / _falloff(41, 60, k), rtol=1e-6)
    # r = 1 exactly at the corners (half-diagonal), 0 at the centre
    assert gains[0, 0] == pytest.approx(1 / (1 + sum(k)), rel=1e-6)
    assert isp.RadialVignetting(*k).falloff(0.0) == 1.0


@pytest.mark.parametrize("cfa", CFAS)
def test_vignetting_correction_radial_and_flat_field(cfa):
    rng = np.random.default_rng(1)
    h, w = 40, 58
    k = (-0.35, 0.05, 0.0)
    scene = rng.uniform(0.1, 0.8, size=(h, w, 3))
    mosaic = isp.mosaic_from_rgb(scene, cfa)
    vignetted = mosaic * _falloff(h, w, k)
    fixed = isp.correct_vignetting(vignetted, isp.RadialVignetting(*k))
    np.testing.assert_allclose(fixed, mosaic, rtol=2e-6)
    # a flat-field calibration frame with a per-colour falloff and channel response
    response = np.array([0.5, 0.9, 0.7])
    flat = isp.mosaic_from_rgb(np.ones((h, w, 3)) * response, cfa) * _falloff(h, w, k)
    gains = isp.flat_field_gains(flat, cfa)
    corrected = isp.correct_vignetting(flat, gains)
    # each colour becomes uniform at its brightest (centre) level
    for c, mask in enumerate(np.moveaxis(_site_planes((h, w), cfa), -1, 0)):
        np.testing.assert_allclose(corrected[mask], flat[mask].max(), rtol=1e-5)
    # 3-channel images too
    rgb_fixed = isp.correct_vignetting(scene * _falloff(h, w, k)[..., None], isp.RadialVignetting(*k))
    np.testing.assert_allclose(rgb_fixed, scene, rtol=2e-6)


def test_vignetting_rejects_bad_input():
    with pytest.raises(isp.ISPInputError, match="must match"):
        isp.correct_vignetting(np.ones((4, 6)), np.ones((4, 5)))
    with pytest.raises(isp.ISPInputError, match="> 0"):
        isp.RadialVignetting(-2.0)
    with pytest.raises(isp.ISPInputError, match="finite"):
        isp.RadialVignetting(float("nan"))


# ------------------------------------------------------------------------------------------
# white balance


def _cast_mosaic(cfa, cast, rng, h=64, w=96):
    """A scene whose channel means and 99.5th percentiles are equal, seen through a cast."""
    # constant over each 2x2 block, so every CFA colour samples the same grey values
    gray = np.kron(rng.uniform(0.05, 0.6, size=(h // 2, w // 2)), np.ones((2, 2)))
    scene = np.repeat(gray[..., None], 3, axis=2)
    return isp.mosaic_from_rgb(scene * np.asarray(cast), cfa)


@pytest.mark.parametrize("cfa", CFAS)
@pytest.mark.parametrize("method", ["gray_world", "white_world"])
def test_white_balance_recovers_cast(cfa, method):
    rng = np.random.default_rng(2)
    cast = (0.55, 0.9, 0.35)
    mosaic = _cast_mosaic(cfa, cast, rng)
    gains = isp.white_balance_gains(mosaic, cfa, method=method)
    expected = (cast[1] / cast[0], 1.0, cast[1] / cast[2])
    assert gains[1] == 1.0
    np.testing.assert_allclose(gains, expected, rtol=0.02 if method == "white_world" else 1e-5)
    balanced = isp.apply_white_balance(mosaic, cfa, gains)
    gain_map = isp.mosaic_from_rgb(np.ones(mosaic.shape + (3,)) * np.asarray(gains), cfa)
    np.testing.assert_allclose(balanced, mosaic * gain_map, rtol=1e-6)
    per_channel = [balanced[m].mean() for m in np.moveaxis(_site_planes(mosaic.shape, cfa), -1, 0)]
    if method == "gray_world":
        np.testing.assert_allclose(per_channel, per_channel[1], rtol=1e-5)


@pytest.mark.parametrize("cfa", CFAS)
def test_white_balance_ignores_clipped_pixels(cfa):
    rng = np.random.default_rng(3)
    cast = (0.5, 0.8, 0.4)
    mosaic = _cast_mosaic(cfa, cast, rng)
    # a blown-out highlight region: clipped in every channel (would pull gray world towards 1:1:1)
    mosaic[10:40, 20:70] = 1.0
    gains = isp.white_balance_gains(mosaic, cfa, method="gray_world")
    np.testing.assert_allclose(gains, (0.8 / 0.5, 1.0, 0.8 / 0.4), rtol=0.02)


@pytest.mark.parametrize("cfa", CFAS)
def test_white_world_is_robust_to_hot_pixels(cfa):
    rng = np.random.default_rng(4)
    cast = (0.6, 0.9, 0.45)
    mosaic = _cast_mosaic(cfa, cast, rng)
    clean = isp.white_balance_gains(mosaic, cfa, method="white_world")
    # a handful of hot pixels, bright but below the saturation threshold, all on red sites
    red_sites = np.argwhere(_site_planes(mosaic.shape, cfa)[..., 0])
    for y, x in red_sites[rng.choice(len(red_sites), 5, replace=False)]:
        mosaic[y, x] = 0.97
    hot = isp.white_balance_gains(mosaic, cfa, method="white_world")
    np.testing.assert_allclose(hot, clean, rtol=0.01)
    # the plain maximum would be fooled
    maxed = isp.white_balance_gains(mosaic, cfa, method="white_world", percentile=100)
    assert abs(maxed[0] - clean[0]) / clean[0] > 0.1


def test_white_balance_validation():
    m = np.full((8, 8), 0.5, np.float32)
    with pytest.raises(isp.ISPInputError, match="'gray_world', 'white_world'"):
        isp.white_balance_gains(m, "RGGB", method="camera")
    with pytest.raises(isp.ISPInputError, match="RGGB, BGGR, GRBG, GBRG"):
        isp.white_balance_gains(m, "RGBG")
    with pytest.raises(isp.ISPInputError, match="no unclipped"):
        isp.white_balance_gains(np.ones((8, 8)), "RGGB")
    with pytest.raises(isp.ISPInputError, match="3 positive"):
        isp.apply_white_balance(m, "RGGB", (1.0, 0.0, 1.0))


# ------------------------------------------------------------------------------------------
# demosaic


def _bilinear_reference(mosaic, cfa):
    """Textbook bilinear demosaic by convolution of the masked colour planes (interior only)."""
    masks = _site_planes(mosaic.shape, cfa)
    k_g = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]]) / 4.0
    k_rb = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4.0
    return np.stack(
        [convolve(mosaic * masks[..., c], k_g if c == 1 else k_rb, mode="constant") for c in range(3)],
        axis=-1,
    )


def _border_reference(mosaic, cfa):
    """LibRaw border_interpolate(1) written as plain loops (all pixels, used on the border)."""
    h, w = mosaic.shape
    chan = cfa_channels(cfa)
    out = np.zeros((h, w, 3))
    for y in range(h):
        for x in range(w):
            sums, counts = np.zeros(3), np.zeros(3)
            for yy in range(max(y - 1, 0), min(y + 2, h)):
                for xx in range(max(x - 1, 0), min(x + 2, w)):
                    c = chan[yy % 2, xx % 2]
                    sums[c] += mosaic[yy, xx]
                    counts[c] += 1
            out[y, x] = np.where(counts > 0, sums / np.maximum(counts, 1), 0)
            out[y, x, chan[y % 2, x % 2]] = mosaic[y, x]
    return out


@pytest.mark.parametrize("cfa", CFAS)
@pytest.mark.parametrize("shape", [(24, 36), (17, 23)])
def test_demosaic_matches_convolution_reference(cfa, shape):
    rng = np.random.default_rng(5)
    rgb = rng.random(shape + (3,))
    mosaic = isp.mosaic_from_rgb(rgb, cfa)
    out = isp.demosaic_bilinear(mosaic, cfa)
    assert out.dtype == np.float32 and out.shape == shape + (3,)
    ref = _bilinear_reference(mosaic, cfa)
    np.testing.assert_allclose(out[1:-1, 1:-1], ref[1:-1, 1:-1], atol=1e-6)
    border = _border_reference(mosaic, cfa)
    edge = np.ones(shape, bool)
    edge[1:-1, 1:-1] = False
    np.testing.assert_allclose(out[edge], border[edge], atol=1e-6)
    # round trip: every site keeps its own sample exactly
    masks = _site_planes(shape, cfa)
    np.testing.assert_array_equal(out[masks], rgb.astype(np.float32)[masks])


@pytest.mark.parametrize("cfa", CFAS)
def test_demosaic_is_exact_on_linear_ramps(cfa):
    yy, xx = np.mgrid[0:20, 0:30].astype(np.float64)
    rgb = np.stack([0.01 * xx + 0.02 * yy, 0.03 * xx + 0.1, 0.5 - 0.01 * yy], -1)
    out = isp.demosaic_bilinear(isp.mosaic_from_rgb(rgb, cfa), cfa)
    np.testing.assert_allclose(out[1:-1, 1:-1], rgb[1:-1, 1:-1], atol=1e-5)


def test_demosaic_tiny_and_validation():
    out = isp.demosaic_bilinear(np.array([[0.5]]), "GRBG")
    np.testing.assert_allclose(out, [[[0.0, 0.5, 0.0]]])
    out = isp.demosaic_bilinear(np.arange(6, dtype=np.float32).reshape(2, 3), "RGGB")
    np.testing.assert_allclose(out, _border_reference(np.arange(6.0).reshape(2, 3), "RGGB"), atol=1e-6)
    with pytest.raises(isp.ISPInputError, match="cfa must be one of RGGB, BGGR, GRBG, GBRG; got 'XTRANS'"):
        isp.demosaic_bilinear(np.zeros((4, 4)), "XTRANS")
    with pytest.raises(isp.ISPInputError, match="2-D"):
        isp.demosaic_bilinear(np.zeros((4, 4, 3)), "RGGB")


# ------------------------------------------------------------------------------------------
# median denoise


@pytest.mark.parametrize("size", [3, 5])
@pytest.mark.parametrize("shape", [(33, 47), (6, 5), (1, 9), (2, 2)])
def test_median_equals_scipy(size, shape):
    rng = np.random.default_rng(6)
    rgb = rng.random(shape + (3,)).astype(np.float32)
    rgb[rng.random(shape) < 0.05] = 5.0  # impulses
    rgb[..., 1] = np.round(rgb[..., 1] * 4) / 4  # many ties in one channel
    out = isp.denoise_median(rgb, size=size)
    ref = np.stack([median_filter(rgb[..., c], size=size, mode="reflect") for c in range(3)], -1)
    np.testing.assert_array_equal(out, ref)


def test_median_noncontiguous_input_and_validation():
    rng = np.random.default_rng(7)
    big = rng.random((20, 30, 3)).astype(np.float64)
    view = big[::2, ::-1]
    ref = np.stack([median_filter(view[..., c].astype(np.float32), size=3) for c in range(3)], -1)
    np.testing.assert_array_equal(isp.denoise_median(view, size=3), ref)
    with pytest.raises(isp.ISPInputError, match="one of 3, 5"):
        isp.denoise_median(big, size=4)
    with pytest.raises(isp.ISPInputError, match="H x W x 3"):
        isp.denoise_median(big[..., :2])


# ------------------------------------------------------------------------------------------
# colour, orientation, gamma


def test_convert_color_matches_einsum():
    rng = np.random.default_rng(8)
    rgb = rng.random((9, 13, 3))
    m = rng.normal(size=(3, 3))
    np.testing.assert_allclose(
        isp.convert_color(rgb, m), np.einsum("ij,hwj->hwi", m, rgb), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(isp.ISPInputError, match="3x3"):
        isp.convert_color(rgb, np.eye(4))


@pytest.mark.parametrize(
    "flip, ref",
    [
        (0, lambda a: a),
        (3, lambda a: np.rot90(a, 2)),
        (5, lambda a: np.rot90(a, 1)),  # 90 counter-clockwise
        (6, lambda a: np.rot90(a, -1)),  # 90 clockwise
        (1, lambda a: a[:, ::-1]),
        (2, lambda a: a[::-1]),
    ],
)
def test_apply_orientation(flip, ref):
    a = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    np.testing.assert_array_equal(isp.apply_orientation(a, flip), ref(a))
    np.testing.assert_array_equal(isp.apply_orientation(a[..., 0], flip), ref(a[..., 0]))
    out = isp.apply_orientation(a, flip)
    assert out.flags.c_contiguous and not np.shares_memory(out, a)


def test_apply_orientation_validation():
    with pytest.raises(isp.ISPInputError, match="0..7"):
        isp.apply_orientation(np.zeros((2, 2)), 8)
    with pytest.raises(isp.ISPInputError, match="H x W"):
        isp.apply_orientation(np.zeros(4), 0)


def _srgb(v):
    v = np.clip(v, 0, 1)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


def test_gamma_curves():
    x = np.concatenate([np.linspace(-0.5, 1.5, 2001), [np.nan, 0.0031308, 0.018, 1.0]])
    x = x.astype(np.float32)
    x64 = np.nan_to_num(x.astype(np.float64), nan=0.0)
    np.testing.assert_allclose(isp.encode_gamma(x, "srgb"), _srgb(x64), atol=2e-6)
    c = np.clip(x64, 0, 1)
    below = np.clip(np.nan_to_num(x, nan=0.0), 0, 1) < np.float32(0.018)  # threshold in float32
    bt709 = np.where(below, 4.5 * c, 1.099 * c**0.45 - 0.099)
    np.testing.assert_allclose(isp.encode_gamma(x, "bt709"), bt709, atol=2e-6)
    np.testing.assert_allclose(isp.encode_gamma(x, 2.2), c ** (1 / 2.2), atol=2e-6)
    np.testing.assert_allclose(isp.encode_gamma(x, "linear"), c, atol=0)
    for g in ("srgb", "bt709", 2.2, "linear"):
        out = isp.encode_gamma(x, g)
        assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    # monotonic and shape preserving on images
    img = np.random.default_rng(9).random((5, 7, 3)).astype(np.float32)
    assert isp.encode_gamma(img).shape == img.shape
    with pytest.raises(isp.ISPInputError, match="'srgb', 'bt709', 'linear'"):
        isp.encode_gamma(img, "rec2020")
    with pytest.raises(isp.ISPInputError, match="positive float"):
        isp.encode_gamma(img, -1.0)
