"""Geometry: non-square pixels stretched exactly as LibRaw does; the DNG DefaultCrop applied."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import rawpy

import isp
from isp.errors import ISPInputError
from isp.geometry import mask_to_output, stretch_pixel_aspect, stretched_shape
from isp.synthetic import mosaic_from_rgb, write_dng


def _scene(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([0.2 + 0.1 * np.sin(x / 3.0 + c) + 0.05 * np.cos(y / 4.0 + c) for c in range(3)], -1) * 0.8


def _non_square_dng(path, scale, orientation=1, h=40, w=60):
    """A DNG whose DefaultScale (50718) makes LibRaw report pixel_aspect = scale[0] / scale[1]."""
    raw = np.round(mosaic_from_rgb(_scene(h, w), "RGGB") * 4095).astype(np.uint16)
    num = [int(round(v * 1000)) for v in scale]
    write_dng(path, raw, cfa="RGGB", white_level=4095, as_shot_neutral=(1, 1, 1), orientation=orientation,
              extra_tags=[(50718, 5, 2, (num[0], 1000, num[1], 1000), True)])


def _libraw_raw_linear(path):
    with rawpy.imread(str(path)) as raw:
        out = raw.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, gamma=(1, 1),
                              no_auto_bright=True, output_bps=16, output_color=rawpy.ColorSpace.raw,
                              user_wb=[1, 1, 1, 1], adjust_maximum_thr=0.0)
    return out.astype(np.float64) / 65535.0


def test_stretch_definition():
    img = np.arange(4, dtype=np.float32).reshape(1, 4)
    # widen by 1.5: 6 columns, source columns floor(j / 1.5) (accumulated) = 0 0 1 2 2 3
    assert stretch_pixel_aspect(img, 1.5).tolist() == [[0, 0, 1, 2, 2, 3]]
    # heighten: pixel_aspect 0.5 doubles the rows
    tall = stretch_pixel_aspect(img.T, 0.5)
    assert tall.shape == (8, 1) and tall.ravel().tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert stretched_shape((976, 848), 1.5345911949685533) == (976, 1301)  # Kodak DC120, as LibRaw
    codes = np.arange(6, dtype=np.uint16).reshape(2, 3)
    assert stretch_pixel_aspect(codes, 2.0).dtype == np.uint16
    with pytest.raises(ISPInputError, match="pixel_aspect"):
        stretch_pixel_aspect(img, 0.0)


@pytest.mark.parametrize("scale, orientation", [((1.5, 1.0), 1), ((1.5, 1.0), 6), ((1.0, 2.0), 8)])
def test_non_square_dng_matches_libraw(tmp_path, scale, orientation):
    path = tmp_path / "aspect.dng"
    _non_square_dng(path, scale, orientation)
    frame = isp.read_raw(path)
    assert frame.pixel_aspect == pytest.approx(scale[0] / scale[1])
    res = isp.develop(frame, color="raw", wb=(1, 1, 1))
    ref = _libraw_raw_linear(path)
    assert res.linear.shape == ref.shape == frame.output_shape + (3,)
    err = np.mean((np.clip(res.linear, 0, 1) - ref) ** 2)
    assert 10 * np.log10(1 / err) > 90.0
    # without the stretch the image would be squeezed: the test sees the difference
    square = isp.develop(dataclasses.replace(frame, pixel_aspect=1.0), color="raw", wb=(1, 1, 1))
    assert square.linear.shape != ref.shape


def test_display_codes_and_masks_follow_the_stretch(tmp_path):
    path = tmp_path / "aspect.dng"
    _non_square_dng(path, (1.5, 1.0), orientation=6)
    frame = isp.read_raw(path)
    res = isp.develop(frame, display_codes="uint16")
    np.testing.assert_array_equal(res.codes, isp.stages.encode_display(res.linear, "srgb", dtype="uint16"))
    defects = np.zeros(frame.shape, bool)
    defects[5, 7] = True
    out = mask_to_output(defects, frame)
    assert out.shape == frame.output_shape and out.dtype == bool and out.any()
    # the marked photosite lands where the image's own pixels from it land
    probe = np.zeros(frame.shape + (3,), np.float32)
    probe[5, 7] = 1.0
    from isp.geometry import stretch_oriented

    moved = stretch_oriented(isp.apply_orientation(probe, frame.flip), frame.pixel_aspect, frame.flip)
    np.testing.assert_array_equal(out, moved[..., 0] > 0)


def test_bad_pixel_aspect_in_a_frame_is_refused():
    frame = isp.RawFrame(path=None, mosaic=np.full((8, 8), 100, np.uint16), cfa="RGGB",
                         black_levels=(0.0,) * 4, white_level=1000.0, camera_wb=None,
                         color_matrix=np.eye(3, dtype=np.float32), pixel_aspect=0.0)
    with pytest.raises(ISPInputError, match="pixel_aspect"):
        isp.develop(frame, wb=(1, 1, 1))


def _cropped_dng(path, orientation):
    """DefaultCropOrigin (x 4, y 6), DefaultCropSize (50 x 30) on a 40 x 60 mosaic."""
    raw = np.round(mosaic_from_rgb(_scene(40, 60), "RGGB") * 4095).astype(np.uint16)
    write_dng(path, raw, cfa="RGGB", white_level=4095, as_shot_neutral=(1, 1, 1), orientation=orientation,
              extra_tags=[(50719, 4, 2, (4, 6), True), (50720, 4, 2, (50, 30), True)])


@pytest.mark.parametrize("orientation", [1, 6, 3])
def test_default_crop_applied_in_every_orientation(tmp_path, orientation):
    from isp.geometry import crop_oriented

    path = tmp_path / "crop.dng"
    _cropped_dng(path, orientation)
    frame = isp.read_raw(path)
    assert frame.default_crop == (6, 4, 30, 50)
    res = isp.develop(frame, color="raw", wb=(1, 1, 1), display_codes="uint8")
    full = isp.develop(frame, color="raw", wb=(1, 1, 1), crop="full")
    ref = _libraw_raw_linear(path)  # LibRaw reports the crop but does not apply it
    assert full.linear.shape == ref.shape and res.linear.shape == frame.output_shape + (3,)
    assert res.linear.shape[:2] == ((50, 30) if frame.flip & 4 else (30, 50))
    # the crop is the sensor rectangle rows 6..35, columns 4..53, in output orientation
    sensor = np.zeros((40, 60), np.float32)
    sensor[6:36, 4:54] = 1.0
    inside = isp.apply_orientation(sensor, frame.flip) > 0
    np.testing.assert_array_equal(res.linear.reshape(-1, 3), full.linear[inside])
    np.testing.assert_array_equal(crop_oriented(ref, frame.default_crop, frame.flip).shape, res.linear.shape)
    np.testing.assert_array_equal(res.codes, isp.stages.encode_display(res.linear, "srgb", dtype="uint8"))
    mask = mask_to_output(np.ones((40, 60), bool), frame)
    assert mask.shape == frame.output_shape
    assert mask_to_output(np.ones((40, 60), bool), frame, "full").shape == frame.output_shape_for("full")


def test_crop_option_is_validated():
    assert isp.ISPConfig().crop == "default"
    with pytest.raises(ISPInputError, match="crop must be one of 'default', 'full'"):
        isp.ISPConfig(crop="none")
