"""Lens shading from DNG opcodes: the fused kernel against independent references, and end to end
through ``isp.develop`` on synthetic DNGs with a known falloff."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from isp.opcodes import FixVignetteRadial, GainMap, LensShading, encode_opcode_list

CFAS = ("RGGB", "BGGR", "GRBG", "GBRG")


# ------------------------------------------------------------------------ independent references


def reference_gain_map(op: GainMap, shape: tuple[int, int], channels: int) -> np.ndarray:
    """H x W x C gain of one GainMap, written from the DNG spec with scipy's bilinear interpolator.

    Map point (i, j) sits at relative (origin_v + i * spacing_v, origin_h + j * spacing_h) of the
    image; a pixel is sampled at its centre; positions outside the grid are clamped to it.
    """
    h, w = shape
    gain = np.ones((h, w, channels), np.float64)
    nv, nh, mp = op.gains.shape
    gv = op.map_origin_v + op.map_spacing_v * np.arange(nv)
    gh = op.map_origin_h + op.map_spacing_h * np.arange(nh)
    v = np.clip((np.arange(h) + 0.5) / h, gv[0], gv[-1])
    u = np.clip((np.arange(w) + 0.5) / w, gh[0], gh[-1])
    vv, uu = np.meshgrid(v, u, indexing="ij")
    rows = np.arange(h)[:, None]
    cols = np.arange(w)[None, :]
    inside = (
        (rows >= op.top) & (rows < op.bottom) & ((rows - op.top) % op.row_pitch == 0)
        & (cols >= op.left) & (cols < op.right) & ((cols - op.left) % op.col_pitch == 0)
    )  # fmt: skip
    for p in range(op.plane, min(op.plane + op.planes, channels)):
        table = op.gains[:, :, min(p, mp - 1)].astype(np.float64)
        if nv == 1:
            table, gv_ = np.vstack([table, table]), np.array([0.0, 1.0])
        else:
            gv_ = gv
        if nh == 1:
            table, gh_ = np.hstack([table, table]), np.array([0.0, 1.0])
        else:
            gh_ = gh
        interp = RegularGridInterpolator((gv_, gh_), table, method="linear")
        vals = interp(np.stack([np.clip(vv, gv_[0], gv_[-1]), np.clip(uu, gh_[0], gh_[-1])], -1))
        gain[:, :, p] = np.where(inside, gain[:, :, p] * vals, gain[:, :, p])
    return gain


def reference_vignette(op: FixVignetteRadial, shape: tuple[int, int]) -> np.ndarray:
    """H x W gain 1 + k0 r^2 + ... + k4 r^10, r = distance / (distance to the farthest corner)."""
    h, w = shape
    cy, cx = op.cy * h, op.cx * w
    corners = [np.hypot(y - cy, x - cx) for y in (0, h) for x in (0, w)]
    y, x = np.mgrid[0:h, 0:w] + 0.5
    r = np.hypot(y - cy, x - cx) / max(corners)
    return 1 + sum(k * r ** (2 * i + 2) for i, k in enumerate(op.k))


def _random_map(rng, **kw) -> GainMap:
    nv, nh, mp = kw.pop("shape", (int(rng.integers(2, 9)), int(rng.integers(2, 9)), 1))
    args = dict(
        map_spacing_v=float(rng.uniform(0.08, 0.4)), map_spacing_h=float(rng.uniform(0.08, 0.4)),
        map_origin_v=float(rng.uniform(-0.2, 0.3)), map_origin_h=float(rng.uniform(-0.2, 0.3)),
        gains=rng.uniform(0.5, 3.0, (nv, nh, mp)).astype(np.float32),
    )  # fmt: skip
    args.update(kw)
    return GainMap(**args)


def _shading(list2=(), list3=()) -> LensShading:
    lists = {}
    if list2:
        lists[2] = encode_opcode_list(list2)
    if list3:
        lists[3] = encode_opcode_list(list3)
    return LensShading.from_opcode_lists(lists)


# ------------------------------------------------------------------------------ kernel tests


@pytest.mark.parametrize("shape", [(37, 53), (64, 48)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_four_per_site_gain_maps_match_reference(shape, seed):
    rng = np.random.default_rng(seed)
    h, w = shape
    ops = [_random_map(rng, top=t, left=l, bottom=h, right=w, row_pitch=2, col_pitch=2) for t in (0, 1) for l in (0, 1)]
    mosaic = rng.uniform(0.0, 1.2, shape).astype(np.float32)
    ref = np.ones((h, w), np.float64)
    for op in ops:
        ref *= reference_gain_map(op, shape, 1)[:, :, 0]
    out = _shading(ops).apply_to_mosaic(mosaic, "RGGB")
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_allclose(out, mosaic * ref, rtol=2e-6, atol=1e-7)
    # each site was touched by exactly one map: the result equals the per-site gain
    gains = _shading(ops).mosaic_gain(shape)
    for op in ops:
        site = (slice(op.top, None, 2), slice(op.left, None, 2))
        np.testing.assert_allclose(gains[site], reference_gain_map(op, shape, 1)[site][..., 0], rtol=2e-6)


@pytest.mark.parametrize(
    "area",
    [
        (5, 3, 30, 41, 3, 2),  # sub-area, odd pitches
        (-3, -4, 100, 100, 2, 3),  # extends past every edge: clipped, pitch phase kept
        (10, 10, 10, 20, 1, 1),  # empty (Top == Bottom): nothing
        (60, 0, 80, 20, 1, 1),  # entirely below the image: nothing
    ],
)
def test_gain_map_area_and_pitch_match_reference(area):
    rng = np.random.default_rng(7)
    top, left, bottom, right, rp, cp = area
    op = _random_map(rng, top=top, left=left, bottom=bottom, right=right, row_pitch=rp, col_pitch=cp)
    shape = (40, 45)
    mosaic = rng.uniform(0.1, 1.0, shape).astype(np.float32)
    out = _shading([op]).apply_to_mosaic(mosaic, "GBRG")
    np.testing.assert_allclose(out, mosaic * reference_gain_map(op, shape, 1)[:, :, 0], rtol=2e-6)


@pytest.mark.parametrize("plane, planes, map_planes", [(0, 3, 1), (0, 3, 3), (1, 2, 3), (2, 5, 2), (0, 1, 1)])
def test_rgb_gain_map_planes_match_reference(plane, planes, map_planes):
    rng = np.random.default_rng(plane * 10 + planes)
    shape = (33, 29)
    op = _random_map(rng, top=0, left=0, bottom=33, right=29, plane=plane, planes=planes, shape=(4, 5, map_planes))
    rgb = rng.uniform(0.0, 1.0, (*shape, 3)).astype(np.float32)
    out = _shading(list3=[op]).apply_to_rgb(rgb)
    np.testing.assert_allclose(out, rgb * reference_gain_map(op, shape, 3), rtol=2e-6)


def test_single_point_map_is_a_constant_gain():
    op = GainMap(0, 0, 10, 10, gains=np.full((1, 1), 1.75, np.float32))
    out = _shading([op]).apply_to_mosaic(np.full((10, 10), 0.5, np.float32), "RGGB")
    np.testing.assert_allclose(out, 0.875)


def test_map_is_clamped_outside_its_grid():
    """Grid covering only the middle: pixels above/left of it take the first row/column's gains."""
    gains = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    op = GainMap(0, 0, 100, 100, map_spacing_v=0.5, map_spacing_h=0.5, map_origin_v=0.25, map_origin_h=0.25, gains=gains)
    g = _shading([op]).mosaic_gain((100, 100))
    assert g[0, 0] == pytest.approx(1.0) and g[-1, -1] == pytest.approx(4.0)
    assert g[0, -1] == pytest.approx(2.0) and g[-1, 0] == pytest.approx(3.0)
    # the centre (relative 0.5, 0.5 lies between pixels 49 and 50) is the mean of the four
    assert 0.5 * (g[49, 49] + g[50, 50]) == pytest.approx(2.5, abs=1e-6)


@pytest.mark.parametrize("cx, cy", [(0.5, 0.5), (0.3, 0.65), (0.0, 1.0)])
def test_fix_vignette_radial_matches_formula(cx, cy):
    op = FixVignetteRadial(k=(0.4, -0.2, 0.15, 0.05, -0.02), cx=cx, cy=cy)
    shape = (31, 44)
    rgb = np.random.default_rng(3).uniform(0, 1, (*shape, 3)).astype(np.float32)
    ref = reference_vignette(op, shape)
    out = _shading(list3=[op]).apply_to_rgb(rgb)
    np.testing.assert_allclose(out, rgb * ref[:, :, None], rtol=2e-6)
    mosaic = rgb[:, :, 1].copy()
    np.testing.assert_allclose(_shading([op]).apply_to_mosaic(mosaic, "RGGB"), mosaic * ref, rtol=2e-6)


def test_several_opcodes_fuse_to_the_product_of_their_gains():
    rng = np.random.default_rng(11)
    shape = (24, 36)
    a = _random_map(rng, top=0, left=0, bottom=24, right=36, planes=3)
    b = FixVignetteRadial(k=(0.3, 0.0, 0.0, 0.0, 0.1), cx=0.6, cy=0.4)
    c = _random_map(rng, top=1, left=0, bottom=24, right=36, row_pitch=2, plane=1, planes=1)
    d = FixVignetteRadial(k=(-0.1, 0.05, 0.0, 0.0, 0.0), cx=0.2, cy=0.7)
    rgb = rng.uniform(0, 1, (*shape, 3)).astype(np.float32)
    ref = (
        reference_gain_map(a, shape, 3) * reference_vignette(b, shape)[:, :, None]
        * reference_gain_map(c, shape, 3) * reference_vignette(d, shape)[:, :, None]
    )  # fmt: skip
    out = _shading(list3=[a, b, c, d]).apply_to_rgb(rgb)
    np.testing.assert_allclose(out, rgb * ref, rtol=5e-6)


def test_inputs_are_not_modified_and_non_contiguous_input_works():
    rng = np.random.default_rng(5)
    op = _random_map(rng, top=0, left=0, bottom=50, right=50, planes=3)
    big = rng.uniform(0, 1, (20, 30, 6)).astype(np.float64)
    view = big[:, :, ::2]  # non-contiguous, float64
    before = view.copy()
    out = _shading(list3=[op]).apply_to_rgb(view)
    np.testing.assert_array_equal(view, before)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, view * reference_gain_map(op, (20, 30), 3), rtol=2e-6)


# ------------------------------------------------------------------- end to end via develop


def _develop_api():
    import isp

    for name in ("develop", "read_raw"):
        if not hasattr(isp, name):
            pytest.skip(f"isp.{name} is not available yet")
    return isp
