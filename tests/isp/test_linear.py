"""Linear (demosaiced) RAWs through the ISP minus the demosaic (isp.linear), against LibRaw."""

from __future__ import annotations

import numpy as np
import pytest
import rawpy
import tifffile

import isp
from isp.stages import encode_gamma
from conftest import shared_raw_file

CAMERA = np.array([[0.9, -0.3, -0.1], [-0.6, 1.4, 0.3], [-0.2, 0.3, 0.9]])  # XYZ -> camera


def write_linear_dng(path, rgb16, *, neutral=(0.5, 1.0, 0.7), orientation=1, white=65535, extra=()):
    """A minimal LinearRaw DNG (PhotometricInterpretation 34892, 3 samples, uncompressed)."""

    def srational(values):
        return tuple(v for f in values for v in (int(round(f * 10000)), 10000))

    tags = [
        (50706, 1, 4, (1, 4, 0, 0), True),  # DNGVersion
        (50708, 2, 0, "rawcomplete linear", True),  # UniqueCameraModel
        (50717, 4, 1, white, True),  # WhiteLevel
        (50721, 10, 9, srational(CAMERA.ravel()), True),  # ColorMatrix1
        (50778, 3, 1, 21, True),  # CalibrationIlluminant1: D65
        (50728, 5, 3, srational(neutral), True),  # AsShotNeutral
        (274, 3, 1, orientation, True),
        (271, 2, 0, "rawcomplete", True),
        (272, 2, 0, "linear", True),
        *extra,
    ]
    tifffile.imwrite(path, rgb16, photometric=34892, planarconfig="contig", extratags=tags, subfiletype=0)


def _scene(h=40, w=60):
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([0.2 + 0.15 * np.sin(x / 5.0 + c) + 0.1 * np.cos(y / 7.0) for c in range(3)], -1)
    rgb[5:14, 10:22] = 1.0  # blown: every channel at white
    return np.round(rgb * 65535).astype(np.uint16)


def _libraw(path, gains, color=rawpy.ColorSpace.sRGB):
    with rawpy.imread(str(path)) as raw:
        out = raw.postprocess(gamma=(1, 1), no_auto_bright=True, output_bps=16, output_color=color,
                              user_wb=[gains[0], gains[1], gains[2], gains[1]], adjust_maximum_thr=0.0)
    return out.astype(np.float64) / 65535.0


def _psnr(a, b):
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


@pytest.mark.parametrize("orientation", [1, 6])
def test_synthetic_linear_dng_matches_libraw(tmp_path, orientation):
    path = tmp_path / "linear.dng"
    write_linear_dng(path, _scene(), orientation=orientation)
    frame = isp.read_raw(path)
    assert frame.cfa is None and frame.mosaic.shape == (40, 60, 3)
    res = isp.develop(frame)
    assert res.wb_gains == pytest.approx((2.0, 1.0, 1 / 0.7), rel=1e-4)
    ref = _libraw(path, res.wb_gains)
    assert res.linear.shape == ref.shape == frame.output_shape + (3,)
    assert _psnr(np.clip(res.linear, 0, 1), ref) > 80.0
    assert _psnr(res.display, encode_gamma(ref.astype(np.float32))) > 70.0
    # the blown patch is neutral white in the display (highlights="clip"), tinted with "keep"
    blown = isp.apply_orientation(np.pad(np.ones((9, 12), bool), ((5, 26), (10, 38))), frame.flip)
    disp = res.display[blown]
    assert (disp.max(axis=1) - disp.min(axis=1)).max() < 1e-5 and disp.min() > 0.9999
    keep = isp.develop(frame, highlights="keep").display[blown]
    assert (keep.max(axis=1) - keep.min(axis=1)).min() > 0.05


def test_linear_dng_options_and_codes(tmp_path):
    path = tmp_path / "linear.dng"
    write_linear_dng(path, _scene())
    frame = isp.read_raw(path)
    res = isp.develop(frame, denoise="median3", wb="gray_world", display_codes="uint8")
    assert res.wb_method == "gray_world" and min(res.wb_gains) == 1.0
    np.testing.assert_array_equal(res.codes, isp.stages.encode_display(res.linear, "srgb", dtype="uint8"))
    raw_rgb = isp.develop(frame, color="raw", wb=(1, 1, 1), vignetting=isp.RadialVignetting(-0.2))
    plain = isp.develop(frame, color="raw", wb=(1, 1, 1), vignetting="off")
    assert raw_rgb.linear[0, 0, 1] > plain.linear[0, 0, 1] * 1.1  # corners brightened


def test_opcode_list2_applies_per_plane_on_a_linear_dng(tmp_path):
    from isp.opcodes import GainMap, encode_opcode_list

    h, w = 40, 60
    ops = [GainMap(0, 0, h, w, plane=1, planes=1, gains=np.full((1, 1), 1.5, np.float32)),  # G only
           GainMap(0, 0, h, w, plane=0, planes=3, gains=np.array([[1.0, 2.0]], np.float32))]  # ramp, all
    blob = encode_opcode_list(ops)
    path = tmp_path / "list2.dng"
    write_linear_dng(path, _scene(h, w), extra=[(51009, 7, len(blob), blob, True)])
    kw = dict(color="raw", wb=(1.0, 1.0, 1.0), highlights="keep")
    auto, off = isp.develop(path, vignetting="auto", **kw), isp.develop(path, vignetting="off", **kw)
    assert auto.opcodes_applied == ("GainMap x2 (OpcodeList2)",)
    ramp = 1.0 + (np.arange(w) + 0.5) / w  # map points at x = 0 and 1, pixel centres, clamped
    expected = ramp[None, :, None] * np.array([1.0, 1.5, 1.0])
    np.testing.assert_allclose(auto.linear, off.linear * expected, rtol=1e-5, atol=1e-7)


def test_linear_dng_that_decodes_to_zeros_is_corrupt(tmp_path):
    path = tmp_path / "zeros.dng"
    write_linear_dng(path, np.zeros((40, 60, 3), np.uint16))
    with rawpy.imread(str(path)) as raw:  # LibRaw alone: a black image, no error
        assert raw.postprocess(gamma=(1, 1), no_auto_bright=True).max() == 0
    with pytest.raises(isp.CorruptRawError, match="constant"):
        isp.develop(path)


def test_completion_runs_on_a_linear_raw(tmp_path):
    from pipeline import Pipeline

    path = tmp_path / "linear.dng"
    write_linear_dng(path, _scene())
    mask = np.zeros((40, 60), bool)
    mask[25:29, 40:44] = True
    res = Pipeline(completion="biharmonic").process(str(path), mask)
    assert res.image.shape == (40, 60, 3) and res.completion_method == "biharmonic"
    assert np.all(np.isfinite(res.image))


@pytest.mark.shared
@pytest.mark.filterwarnings("ignore::isp.opcodes.UnsupportedOpcodeWarning")
@pytest.mark.parametrize("name", ["LG_G4_linear_ACR.dng", "Kodak_C330_YRGB.raw"])
def test_real_linear_raws_match_libraw(shared_raw, name):
    path = shared_raw_file(shared_raw, name)
    res = isp.develop(path)
    ref = _libraw(path, res.wb_gains)
    assert res.linear.shape == ref.shape
    assert _psnr(np.clip(res.linear, 0, 1), ref) > 85.0
