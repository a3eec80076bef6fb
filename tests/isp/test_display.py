"""The display path: transfer curve and quantisation in one pass (``isp.encode_display``,
``ISPResult.display_as``) against the unfused composition and a float64 reference."""

from __future__ import annotations

import numpy as np
import pytest

import isp
from isp.color import transfer_reference
from isp.synthetic import mosaic_from_rgb, write_dng

CURVES = ["srgb", "bt709", "linear", 2.2, 0.8]
FULL = {"uint8": 255, "uint16": 65535}


def _values() -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.concatenate([
        rng.uniform(-0.2, 1.3, 200_000), rng.uniform(0, 0.02, 50_000),  # near the toes and 0.018
        np.linspace(0, 1, 65536 * 4), [np.nan, np.inf, -np.inf, 0.0, 1.0, 0.0031308, 0.018],
    ]).astype(np.float32)  # fmt: skip


@pytest.mark.parametrize("dtype", sorted(FULL))
@pytest.mark.parametrize("gamma", CURVES)
def test_encode_display_equals_quantised_encode_gamma(gamma, dtype):
    x = _values()
    got = isp.encode_display(x, gamma, dtype=dtype)
    assert got.dtype == np.dtype(dtype) and got.shape == x.shape
    # the unfused composition: float display, then round half up (runner.writers.quantize)
    want = np.floor(isp.encode_gamma(x, gamma) * np.float32(FULL[dtype]) + np.float32(0.5))
    np.testing.assert_array_equal(got, want.astype(dtype))
    # and within one code of the curve computed in float64 (BT.709 jumps by 3e-4 at its break:
    # the side is chosen in float32, as tests/isp/test_stages.py::test_gamma_curves pins)
    c = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0), 0, 1)
    curve = transfer_reference(c, gamma)
    if gamma == "bt709":
        c64 = c.astype(np.float64)
        curve = np.where(c < np.float32(0.018), 4.5 * c64, 1.099 * c64**0.45 - 0.099)
    ref = np.floor(curve * FULL[dtype] + 0.5)
    assert np.abs(got.astype(np.int64) - ref.astype(np.int64)).max() <= 1


def test_encode_display_shapes_and_errors():
    img = np.full((3, 4, 3), 0.5, np.float32)
    assert isp.encode_display(img, "linear", dtype="uint8").shape == (3, 4, 3)
    assert int(isp.encode_display(img, "linear", dtype="uint8")[0, 0, 0]) == 128
    with pytest.raises(isp.ISPInputError, match="'uint8', 'uint16'; got 'float16'"):
        isp.encode_display(img, dtype="float16")
    with pytest.raises(isp.ISPInputError, match="positive float"):
        isp.encode_display(img, gamma="log")


@pytest.mark.parametrize("algorithm", isp.DEMOSAIC_ALGORITHMS)
@pytest.mark.parametrize("gamma", ["srgb", "bt709", 2.2])
def test_develop_display_as_equals_display_quantised(tmp_path, algorithm, gamma):
    rng = np.random.default_rng(2)
    cam = rng.uniform(0, 1.2, (40, 60, 3)).astype(np.float32)  # some of it above white
    path = tmp_path / "d.dng"
    mosaic = np.clip(np.round(64 + mosaic_from_rgb(cam, "GBRG") * (4095 - 64)), 0, 4095)
    write_dng(path, mosaic.astype(np.uint16), cfa="GBRG", black_level=64, white_level=4095,
              as_shot_neutral=(0.5, 1.0, 0.7), orientation=8)
    res = isp.develop(path, demosaic=algorithm, gamma=gamma)
    assert res.display_as("float32") is res.display
    for dtype, full in FULL.items():
        codes = res.display_as(dtype)
        assert codes.dtype == np.dtype(dtype) and codes.shape == res.linear.shape
        want = np.floor(res.display * np.float32(full) + np.float32(0.5)).astype(dtype)
        np.testing.assert_array_equal(codes, want)


@pytest.mark.parametrize("algorithm", isp.DEMOSAIC_ALGORITHMS)
@pytest.mark.parametrize("denoise", ["off", "median3", "median5"])
@pytest.mark.parametrize("dtype", sorted(FULL))
def test_codes_written_in_the_develop_pass_equal_the_unfused_ones(tmp_path, algorithm, denoise, dtype):
    """``display_codes`` makes the develop pass write the codes too (every orientation, every
    demosaic, with and without median): equal to encoding .linear afterwards, code for code."""
    rng = np.random.default_rng(3)
    cam = rng.uniform(0, 1.1, (30, 44, 3)).astype(np.float32)
    for orientation in (1, 3, 6, 8):
        path = tmp_path / f"o{orientation}.dng"
        mosaic = np.clip(np.round(64 + mosaic_from_rgb(cam, "RGGB") * (4095 - 64)), 0, 4095)
        write_dng(path, mosaic.astype(np.uint16), cfa="RGGB", black_level=64, white_level=4095,
                  as_shot_neutral=(0.6, 1.0, 0.8), orientation=orientation)
        frame = isp.read_raw(path)
        fused = isp.develop(frame, demosaic=algorithm, denoise=denoise, gamma="bt709",
                            display_codes=dtype)
        plain = isp.develop(frame, demosaic=algorithm, denoise=denoise, gamma="bt709")
        np.testing.assert_array_equal(fused.linear, plain.linear)
        assert plain.codes is None and fused.codes.dtype == np.dtype(dtype)
        assert fused.display_as(dtype) is fused.codes
        np.testing.assert_array_equal(fused.codes, plain.display_as(dtype))
    with pytest.raises(isp.ISPInputError, match="'none', 'uint8', 'uint16'; got 'uint32'"):
        isp.ISPConfig(display_codes="uint32")


@pytest.mark.parametrize("gamma", ["srgb", "bt709", 2.2, 0.3, 10.0])
def test_vectorised_curves_track_float64_down_to_subnormals(gamma):
    """The polynomial 2^(p log2 x) evaluation stays within 3e-7 of the float64 curve over the
    whole float32 range in [0, 1], tiny and subnormal inputs included (steep x^(1/10) there)."""
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(0, 1, 100_000), np.geomspace(1e-44, 1, 50_000), [0.0, 1.0]])
    x = x.astype(np.float32)
    c = x.astype(np.float64)
    ref = transfer_reference(c, gamma)
    if gamma == "bt709":
        ref = np.where(x < np.float32(0.018), 4.5 * c, 1.099 * c**0.45 - 0.099)
    got = isp.encode_gamma(x, gamma).astype(np.float64)
    assert np.abs(got - ref).max() < 3e-7
    assert got[-2] == 0.0
    assert isp.encode_display(x[-2:], gamma, dtype="uint16").tolist() == [0, 65535]
