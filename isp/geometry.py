"""Geometry after development: the DNG DefaultCrop and non-square pixels (LibRaw's ``stretch``).

DefaultCrop (DNG DefaultCropOrigin / DefaultCropSize, LibRaw ``sizes.crop_*``) is the area the
camera maker means as the image; LibRaw reports it but does not apply it. :func:`isp.develop`
applies it by default (``ISPConfig(crop="default")``; ``"full"`` keeps the whole visible area), in
sensor coordinates before the stretch, as the DNG specification orders them.

Some sensors have rectangular photosites (Kodak DC120: 1.53 times wider than tall, LibRaw
``sizes.pixel_aspect``; DNG DefaultScale). LibRaw stretches the developed image, in sensor
orientation and before flipping, along one axis: ``pixel_aspect > 1`` widens to
``round(W * pixel_aspect)`` columns, ``< 1`` heightens to ``round(H / pixel_aspect)`` rows.
Output column ``j`` (row ``i``) takes the source column (row) ``floor(rc)``, where ``rc`` is the
running double-precision sum of ``1 / pixel_aspect`` (of ``pixel_aspect``). dcraw's ``stretch``
also blends in the next column by the fraction of ``rc``; LibRaw 0.22.2 as shipped in rawpy 0.28
does not (measured: its output columns equal source columns exactly, 98-102 dB against this
definition, 39-46 dB against the blended one), and this module reproduces LibRaw.
:func:`stretch_pixel_aspect` is that definition.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ISPInputError


def stretched_shape(shape: tuple[int, int], pixel_aspect: float) -> tuple[int, int]:
    """(H, W) after :func:`stretch_pixel_aspect` of an H x W sensor-oriented image."""
    h, w = int(shape[0]), int(shape[1])
    if pixel_aspect == 1:
        return h, w
    if pixel_aspect < 1:
        return int(h / pixel_aspect + 0.5), w
    return h, int(w * pixel_aspect + 0.5)


def _check_aspect(pixel_aspect: float) -> float:
    if isinstance(pixel_aspect, bool) or not isinstance(pixel_aspect, (int, float, np.floating, np.integer)):
        raise ISPInputError(f"pixel_aspect must be a positive real number; got {pixel_aspect!r}")
    value = float(pixel_aspect)
    if not (math.isfinite(value) and 0.1 <= value <= 10):
        raise ISPInputError(f"pixel_aspect must be in [0.1, 10] (width / height of a photosite); got {pixel_aspect!r}")
    return value


def stretch_pixel_aspect(image: np.ndarray, pixel_aspect: float) -> np.ndarray:
    """Resample a sensor-oriented image to square pixels, as LibRaw's ``stretch``.

    Parameters
    ----------
    image : numpy.ndarray
        H x W or H x W x C, any dtype (float images, display codes, boolean masks), sensor
        orientation (before flipping).
    pixel_aspect : float
        Photosite width / height (LibRaw ``sizes.pixel_aspect``), in [0.1, 10].

    Returns
    -------
    numpy.ndarray
        A new array of the same dtype, shape :func:`stretched_shape` (x C); a copy when
        ``pixel_aspect == 1``.

    Examples
    --------
    >>> stretch_pixel_aspect(np.array([[0.0, 1.0]]), 2.0).tolist()
    [[0.0, 0.0, 1.0, 1.0]]
    """
    aspect = _check_aspect(pixel_aspect)
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise ISPInputError(f"image must be a non-empty H x W (x C) array; got shape {arr.shape}")
    src = arr
    if aspect == 1:
        return src.copy()
    axis = 0 if aspect < 1 else 1
    n = src.shape[axis]
    new = stretched_shape(src.shape[:2], aspect)[axis]
    step = aspect if aspect < 1 else 1.0 / aspect
    # LibRaw's loop: rc = 0, rc += step (double), source index (int) rc
    pos = np.concatenate([[0.0], np.cumsum(np.full(new - 1, step, np.float64))])
    index = np.minimum(pos.astype(np.int64), n - 1)
    return np.ascontiguousarray(np.take(src, index, axis=axis))


def _unorient(array: np.ndarray, flip: int) -> np.ndarray:
    """Inverse of :func:`isp.apply_orientation` (a view)."""
    if flip & 4:
        array = array.swapaxes(0, 1)
    if flip & 1:
        array = array[:, ::-1]
    if flip & 2:
        array = array[::-1]
    return array


def stretch_oriented(image: np.ndarray, pixel_aspect: float, flip: int) -> np.ndarray:
    """:func:`stretch_pixel_aspect` of an image already in output orientation (``flip``, LibRaw
    ``sizes.flip``): stretched in sensor orientation, as LibRaw does, then oriented again."""
    from .stages import apply_orientation

    sensor = _unorient(np.asarray(image), int(flip))
    return apply_orientation(stretch_pixel_aspect(sensor, pixel_aspect), int(flip))





def crop_oriented(image: np.ndarray, crop: tuple[int, int, int, int], flip: int) -> np.ndarray:
    """Cut a sensor-coordinate rectangle ``crop = (top, left, height, width)`` out of an image
    already in output orientation (``flip``). Returns a C-contiguous copy."""
    top, left, height, width = (int(v) for v in crop)
    sensor = _unorient(np.asarray(image), int(flip))
    if top < 0 or left < 0 or height < 1 or width < 1 or top + height > sensor.shape[0] or left + width > sensor.shape[1]:
        raise ISPInputError(f"crop {crop} does not fit the {sensor.shape[:2]} image (sensor orientation)")
    from .stages import apply_orientation

    return apply_orientation(sensor[top : top + height, left : left + width], int(flip))


def final_geometry(linear: np.ndarray, codes: np.ndarray | None, frame, crop_mode: str = "default"):
    """(linear, codes) of a develop pass after DefaultCrop (``crop_mode="default"`` and the
    frame has one) and the pixel-aspect stretch; codes may be None. Crop and stretch only
    select pixels, so the codes stay equal to encoding the final linear image."""
    flip = int(frame.flip)
    crop = getattr(frame, "default_crop", None)
    if crop_mode == "default" and crop is not None:
        linear = crop_oriented(linear, crop, flip)
        codes = None if codes is None else crop_oriented(codes, crop, flip)
    if frame.pixel_aspect != 1:
        linear = stretch_oriented(linear, frame.pixel_aspect, flip)
        codes = None if codes is None else stretch_oriented(codes, frame.pixel_aspect, flip)
    return linear, codes


def mask_to_output(mask: np.ndarray, frame, crop_mode: str = "default") -> np.ndarray:
    """A sensor-oriented H x W boolean map of ``frame`` (e.g. defective photosites) in the
    geometry of its developed image: oriented, cropped (DefaultCrop, ``crop_mode="default"``)
    and stretched like the image (each output pixel takes its source pixel's value)."""
    from .stages import apply_orientation

    arr = apply_orientation(np.asarray(mask, dtype=bool), int(frame.flip))
    return final_geometry(arr, None, frame, crop_mode)[0]


__all__ = ["crop_oriented", "final_geometry", "mask_to_output", "stretch_oriented", "stretch_pixel_aspect", "stretched_shape"]
