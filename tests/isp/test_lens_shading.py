"""Lens shading from DNG opcodes: the fused kernel against independent references, and end to end
through ``isp.develop`` on synthetic DNGs with a known falloff."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from isp.errors import ISPInputError
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


def _samples_module(samples_dir):
    import importlib.util

    path = samples_dir / "make_shading_samples.py"
    spec = importlib.util.spec_from_file_location("make_shading_samples", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def samples(samples_dir):
    """The sample generator ``samples/make_shading_samples.py`` as a module."""
    return _samples_module(samples_dir)


def _channel_flatness(rgb: np.ndarray) -> np.ndarray:
    """Per channel: the largest |pixel / channel mean - 1| over the whole image."""
    return np.abs(rgb / rgb.reshape(-1, 3).mean(axis=0, dtype=np.float64) - 1.0).max(axis=(0, 1))


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    return float(10 * np.log10(peak**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_committed_samples_are_what_the_script_writes(samples, samples_dir, tmp_path):
    written = samples.make_samples(tmp_path)
    assert [p.name for p in written] == list(samples.SAMPLE_NAMES)
    for path in written:
        committed = samples_dir / path.name
        assert committed.is_file(), f"{committed} is missing: run python samples/make_shading_samples.py"
        assert committed.read_bytes() == path.read_bytes(), f"{committed.name} is stale: rerun the script"


FLAT_SAMPLES = {
    "shading_gainmap_1plane.dng": ("GainMap (OpcodeList2)",),
    "shading_gainmap_4plane.dng": ("GainMap x4 (OpcodeList2)",),
    "shading_vignette_radial.dng": ("FixVignetteRadial (OpcodeList3)",),
}


@pytest.mark.parametrize("name", FLAT_SAMPLES)
def test_flat_field_comes_back_flat_and_off_keeps_the_falloff(name, samples, samples_dir):
    isp = _develop_api()
    path = samples_dir / name
    frame = isp.read_raw(path)
    assert set(frame.opcodes) == ({3} if "radial" in name else {2})

    auto = isp.develop(frame)  # vignetting="auto" is the default
    assert auto.opcodes_applied == FLAT_SAMPLES[name]
    flat = _channel_flatness(auto.linear)
    assert np.all(flat < 0.01), f"auto: per-channel deviation {flat}"

    off = isp.develop(frame, vignetting="off")
    assert off.opcodes_applied == ()
    # the known falloff is still there: corner / centre per channel as the generator made it
    h, w = frame.mosaic.shape
    if "radial" in name:
        from isp.opcodes import FixVignetteRadial

        op = FixVignetteRadial(k=samples.RADIAL_K, cx=samples.RADIAL_CENTRE[0], cy=samples.RADIAL_CENTRE[1])
        fall = np.repeat(samples.radial_falloff(h, w, op)[:, :, None], 3, axis=2)
    else:
        v, u = samples.relative_grid(h, w)
        strengths = samples.TINT_STRENGTH if "4plane" in name else (samples.NEUTRAL_STRENGTH,) * 3
        fall = np.stack([samples.lens_falloff(v, u, s, aspect=w / h) for s in strengths], axis=-1)
    sl = (slice(2, 12), slice(2, 12))  # top-left corner block, away from the demosaic border
    got = off.linear[sl].mean(axis=(0, 1)) / auto.linear[sl].mean(axis=(0, 1))
    want = fall[sl].mean(axis=(0, 1))
    np.testing.assert_allclose(got, want, rtol=0.02)
    assert np.all(want < 0.7)  # a falloff a test can see


@pytest.mark.parametrize("cfa", CFAS)
def test_four_plane_gain_maps_remove_a_colour_tint_for_every_cfa(cfa, samples, tmp_path):
    isp = _develop_api()
    path = samples.make_gainmap_4plane(tmp_path / f"tint_{cfa}.dng", height=96, width=128, cfa=cfa)
    auto = isp.develop(path, color="raw")
    assert isp.read_raw(path).cfa == cfa
    assert auto.opcodes_applied == ("GainMap x4 (OpcodeList2)",)
    flat = _channel_flatness(auto.linear)
    assert np.all(flat < 0.01), f"{cfa}: per-channel deviation {flat}"
    off = isp.develop(path, color="raw", vignetting="off").linear
    corner = off[2:8, 2:8].mean(axis=(0, 1)) / off[44:52, 60:68].mean(axis=(0, 1))
    assert corner[0] < corner[1] < corner[2] < 0.7  # red falls off most: a cyan corner without opcodes


@pytest.mark.parametrize(
    "kind, applied",
    [("gainmap_4plane", ("GainMap x4 (OpcodeList2)",)), ("vignette_radial", ("FixVignetteRadial (OpcodeList3)",))],
)
def test_natural_scene_comes_back_as_well_as_an_unvignetted_one(kind, applied, samples, tmp_path):
    isp = _develop_api()
    n = 192
    scene = samples.natural_scene(n, n)  # camera RGB
    truth = scene / np.asarray(samples.AS_SHOT_NEUTRAL)  # after the camera white balance
    make = getattr(samples, f"make_{kind}")
    shaded = make(tmp_path / "shaded.dng", height=n, width=n, scene=scene)
    clean = samples.write_sample(tmp_path / "clean.dng", scene, "RGGB")

    ref = isp.develop(clean, color="raw").linear
    auto = isp.develop(shaded, color="raw")
    off = isp.develop(shaded, color="raw", vignetting="off").linear
    assert auto.opcodes_applied == applied
    peak = float(truth.max())
    p_ref, p_auto, p_off = (_psnr(x, truth, peak) for x in (ref, auto.linear, off))
    assert p_auto >= p_ref - 0.3, f"corrected {p_auto:.2f} dB vs unvignetted {p_ref:.2f} dB"
    assert p_off < p_ref - 4.0, f"uncorrected {p_off:.2f} dB vs unvignetted {p_ref:.2f} dB"


def test_opcodes_act_in_sensor_orientation(samples, tmp_path):
    """A one-sided falloff on the sensor comes back flat whatever the output orientation."""
    isp = _develop_api()
    from isp.synthetic import write_dng

    h, w = 64, 96
    v, u = samples.relative_grid(h, w)
    fall = 1.0 / (1.0 + 1.5 * u)  # dark on the sensor's right
    gains = 1.0 + 1.5 * np.linspace(0, 1, 9)  # map points at u = 0, 1/8, ..., 1
    op = GainMap(0, 0, h, w, map_spacing_v=1.0, map_spacing_h=1 / 8, gains=np.tile(gains, (2, 1)).astype(np.float32))
    cam = samples.flat_scene(h, w) * fall[:, :, None]
    for orientation, flip in ((1, 0), (6, 6), (3, 3)):
        path = tmp_path / f"o{orientation}.dng"
        write_dng(path, samples.raw_from_camera_rgb(cam, "RGGB"), cfa="RGGB", black_level=samples.BLACK,
                  white_level=samples.WHITE, as_shot_neutral=samples.AS_SHOT_NEUTRAL, orientation=orientation,
                  opcode_list2=encode_opcode_list([op]))  # fmt: skip
        res = isp.develop(path, color="raw")
        assert res.frame.flip == flip
        assert res.linear.shape[:2] == ((w, h) if flip & 4 else (h, w))
        # the gain map is linear in u, so bilinear interpolation of it is exact up to float32
        assert np.all(_channel_flatness(res.linear) < 2e-3), orientation


def test_develop_reports_corrupt_lists_and_off_does_not_parse(samples, tmp_path):
    isp = _develop_api()
    from isp.synthetic import write_dng

    bad = b"\x00\x00\x00\x01" + b"\x00\x00\x00\x09" + b"\x01\x03\x00\x00" + b"\x00" * 8  # a GainMap of 0 bytes
    path = tmp_path / "bad_opcodes.dng"
    mosaic = samples.raw_from_camera_rgb(samples.flat_scene(32, 48), "RGGB")
    write_dng(path, mosaic, cfa="RGGB", white_level=samples.WHITE, black_level=samples.BLACK, opcode_list2=bad)
    with pytest.raises(isp.CorruptRawError, match=r"bad_opcodes\.dng.*OpcodeList2 \(tag 51009\).*GainMap"):
        isp.develop(path)
    assert isp.develop(path, vignetting="off").opcodes_applied == ()


def test_develop_warns_about_required_opcodes_it_skips(samples, tmp_path):
    isp = _develop_api()
    from isp.opcodes import UnknownOpcode, UnsupportedOpcodeWarning
    from isp.synthetic import write_dng

    warp = encode_opcode_list([UnknownOpcode(1, b"\x00" * 68, flags=0)])  # WarpRectilinear, required
    mosaic = samples.raw_from_camera_rgb(samples.flat_scene(32, 48), "RGGB")
    path = tmp_path / "warp.dng"
    write_dng(path, mosaic, cfa="RGGB", white_level=samples.WHITE, black_level=samples.BLACK, opcode_list3=warp)
    with pytest.warns(UnsupportedOpcodeWarning, match=r"warp\.dng: WarpRectilinear \(OpcodeList3, not optional\)"):
        res = isp.develop(path)
    assert res.opcodes_applied == ()
    np.testing.assert_array_equal(res.linear, isp.develop(path, vignetting="off").linear)


def test_out_argument_and_in_place_application():
    rng = np.random.default_rng(21)
    shape = (30, 40)
    ops2 = [_random_map(rng, top=t, left=l, bottom=30, right=40, row_pitch=2, col_pitch=2) for t in (0, 1) for l in (0, 1)]
    ops3 = [FixVignetteRadial(k=(0.3, 0.1, 0, 0, 0), cx=0.4, cy=0.6), _random_map(rng, top=0, left=0, bottom=30, right=40, planes=3)]
    shading = _shading(ops2, ops3)
    mosaic = rng.uniform(0, 1, shape).astype(np.float32)
    rgb = rng.uniform(0, 1, (*shape, 3)).astype(np.float32)
    want_m = shading.apply_to_mosaic(mosaic, "RGGB")
    want_rgb = shading.apply_to_rgb(rgb)
    np.testing.assert_allclose(want_m, mosaic * shading.mosaic_gain(shape), rtol=1e-6)
    np.testing.assert_allclose(want_rgb, rgb * shading.rgb_gain(shape), rtol=1e-6)
    out = np.empty_like(mosaic)
    assert shading.apply_to_mosaic(mosaic, "RGGB", out=out) is out
    np.testing.assert_array_equal(out, want_m)
    m2, rgb2 = mosaic.copy(), rgb.copy()
    assert shading.apply_to_mosaic(m2, "RGGB", out=m2) is m2
    assert shading.apply_to_rgb(rgb2, out=rgb2) is rgb2
    np.testing.assert_array_equal(m2, want_m)
    np.testing.assert_array_equal(rgb2, want_rgb)
    with pytest.raises(ISPInputError, match=r"out must be a C-contiguous float32 array of shape \(30, 40, 3\), got float64"):
        shading.apply_to_rgb(rgb, out=np.empty((*shape, 3)))


def test_gain_field_through_develop_equals_auto(samples_dir):
    """OpcodeList2 GainMaps applied by develop ("auto") equal develop's own flat-field path fed
    with ``LensShading.mosaic_gain``: the hook sits where the ISP contract says (after black
    level and normalisation, before white balance)."""
    isp = _develop_api()
    from isp.opcodes import lens_shading_from_frame

    frame = isp.read_raw(samples_dir / "shading_gainmap_4plane.dng")
    field = lens_shading_from_frame(frame).mosaic_gain(frame.mosaic.shape)
    auto = isp.develop(frame).linear
    via_field = isp.develop(frame, vignetting=field).linear
    np.testing.assert_allclose(auto, via_field, rtol=1e-5, atol=1e-6)


# ------------------------------------------------ develop's fused path against the array stages


def _shaded_frame(cfa: str, shape: tuple[int, int], flip: int, seed: int, lists: str):
    """A RawFrame (uint16, per-site black levels) carrying lens-shading opcodes: ``lists`` "2"
    (four per-site GainMaps with different grids + a FixVignetteRadial on the mosaic), "3" (an
    off-centre FixVignetteRadial, a 3-plane GainMap on part of the image and a second
    FixVignetteRadial, on camera RGB) or "23"."""
    import isp

    rng = np.random.default_rng(seed)
    h, w = shape
    list2 = [
        GainMap(dy, dx, h, w, 0, 1, 2, 2, 1.0 / (nv - 1), 1.0 / (nh - 1), 0.0, 0.0,
                rng.uniform(0.8, 2.5, (nv, nh, 1)).astype(np.float32))
        for (dy, dx), (nv, nh) in zip(((0, 0), (0, 1), (1, 0), (1, 1)), ((5, 7), (4, 6), (6, 5), (3, 3)))
    ] + [FixVignetteRadial(k=(0.3, -0.1, 0.05, 0.0, 0.01), cx=0.45, cy=0.55)]  # fmt: skip
    list3 = [
        FixVignetteRadial(k=(0.6, 0.2, -0.05, 0.02, 0.0), cx=0.6, cy=0.4),
        GainMap(1, 3, max(h - 2, 1), max(w - 5, 3), 0, 3, 1, 2, 0.3, 0.25, 0.1, -0.05,
                rng.uniform(0.5, 1.5, (4, 5, 3)).astype(np.float32)),
        FixVignetteRadial(k=(-0.1, 0.05, 0.0, 0.0, 0.0), cx=0.5, cy=0.5),
    ]  # fmt: skip
    opcodes = {}
    if "2" in lists:
        opcodes[2] = encode_opcode_list(list2)
    if "3" in lists:
        opcodes[3] = encode_opcode_list(list3)
    black = (512.0, 520.0, 508.0, 515.0)
    mosaic = rng.integers(300, 16000, shape).astype(np.uint16)
    matrix = np.array([[1.6, -0.4, -0.2], [-0.3, 1.5, -0.2], [0.0, -0.5, 1.5]], np.float32)
    return isp.RawFrame(path=None, mosaic=mosaic, cfa=cfa, black_levels=black, white_level=16383.0,
                        camera_wb=(2.1, 1.0, 1.6), color_matrix=matrix, flip=flip, opcodes=opcodes)


@pytest.mark.parametrize("cfa", CFAS)
@pytest.mark.parametrize("denoise", ["off", "median3", "median5"])
def test_fused_develop_equals_unfused_stages(cfa, denoise):
    """develop applies the opcodes inside its fused kernel: the result equals the documented
    order composed from the public stage functions and LensShading.apply_to_mosaic/apply_to_rgb
    (black level -> OpcodeList2 -> WB (smallest gain 1) -> clip at white -> demosaic -> OpcodeList3 -> median -> colour -> orientation),
    for every CFA order, with and without denoise, for every white-balance mode."""
    isp = _develop_api()
    from isp.highlights import clip_highlights, normalize_gains_smallest
    from isp.opcodes import lens_shading_from_frame

    cases = [((37, 54), 0, "23", "camera"), ((40, 31), 6, "2", (1.7, 1.0, 1.3)),
             ((33, 48), 3, "3", "gray_world"), ((36, 41), 5, "23", "white_world"),
             ((2, 9), 0, "23", "camera"), ((21, 2), 0, "23", "camera")]  # fmt: skip
    for k, (shape, flip, lists, wb) in enumerate(cases):
        frame = _shaded_frame(cfa, shape, flip, k, lists)
        shading = lens_shading_from_frame(frame)
        res = isp.develop(frame, denoise=denoise, wb=wb)
        m = isp.apply_black_level(frame.mosaic, black_levels=frame.black_levels, white_level=frame.white_level)
        m = shading.apply_to_mosaic(m, cfa)
        if wb in ("gray_world", "white_world"):
            gains = normalize_gains_smallest(isp.white_balance_gains(m, cfa, method=wb))
            np.testing.assert_allclose(res.wb_gains, gains, rtol=1e-6)
        elif wb == "camera":
            gains = (2.1, 1.0, 1.6)
        else:
            gains = wb
        m = clip_highlights(isp.apply_white_balance(m, cfa, gains))  # highlights="clip"
        rgb = shading.apply_to_rgb(isp.demosaic_bilinear(m, cfa))
        if denoise != "off":
            rgb = isp.denoise_median(rgb, size=int(denoise[-1]))
        want = isp.apply_orientation(isp.convert_color(rgb, frame.color_matrix), frame.flip)
        np.testing.assert_allclose(res.linear, want, rtol=2e-6, atol=1e-6, err_msg=f"case {k}")
        assert res.opcodes_applied == shading.applied and res.opcodes_applied
        off = isp.develop(frame, denoise=denoise, wb=wb, vignetting="off")
        assert off.opcodes_applied == () and not np.allclose(off.linear, res.linear)


def test_fused_gain_tables_give_the_array_stage_gains():
    """The per-row gains the fused kernels compute from ``fused_gain_tables`` are the gains of
    apply_to_mosaic / apply_to_rgb, bit for bit."""
    from isp._shading_kernels import column_segments, max_map_points, row_gains
    from isp.opcodes import lens_shading_from_frame

    frame = _shaded_frame("RGGB", (29, 46), 0, 7, "23")
    shading = lens_shading_from_frame(frame)
    h, w = frame.mosaic.shape
    t2, t3 = shading.fused_gain_tables((h, w))
    for tables, channels, want in ((t2, 1, shading.mosaic_gain((h, w))), (t3, 3, shading.rgb_gain((h, w)))):
        radial = np.empty(w, np.float64)
        mapbuf = np.empty(max(max_map_points(t2[0]), max_map_points(t3[0])) + 1, np.float32)
        got = np.empty((h, w * channels), np.float32)
        for y in range(h):
            row_gains(y, channels, *tables, column_segments(tables[0], tables[4]), radial, mapbuf, got[y])
        np.testing.assert_array_equal(got.reshape(want.shape), want)
