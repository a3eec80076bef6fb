"""The ISP stages as public pure functions on arrays: validate at the edge, allocate, call a kernel.

Each function returns a new array and never modifies its input. Mosaics are H x W in sensor
orientation; RGB images are H x W x 3; everything computed is float32. The CFA order names the
colours of the mosaic's top-left 2x2 block, row by row ("RGGB", "BGGR", "GRBG", "GBRG").

Order used by :func:`isp.develop` (which fuses these into fewer passes)::

    apply_black_level -> correct_vignetting -> apply_white_balance -> demosaic_bilinear
    -> denoise_median -> convert_color -> apply_orientation        (-> encode_gamma for display)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Union

import numpy as np

from .config import RadialVignetting
from .errors import ISPInputError
from .cfa import CFAOrder, cfa_channels, check_cfa
from .color import transfer_code, transfer_exponent

WB_STAT_METHODS: tuple[str, ...] = ("gray_world", "white_world")
FLIPS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)

#: Default percentile of white-world white balance (robust to a handful of hot pixels).
WHITE_WORLD_PERCENTILE = 99.5
#: Default saturation threshold: normalised sensor values at or above it count as clipped.
SATURATION = 0.98

_EMPTY_MAP = np.zeros((0, 0), np.float32)
_IDENTITY = np.eye(3, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# validation helpers


def _real_array(a: object, name: str, ndims: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiu" or arr.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ISPInputError(
            f"{name} must be a {want} real array; got dtype {arr.dtype}, shape {arr.shape}"
        )
    if arr.size == 0:
        raise ISPInputError(f"{name} must not be empty; got shape {arr.shape}")
    return arr


def _mosaic(a: object, name: str = "mosaic") -> np.ndarray:
    """2-D uint16 kept as is (kernels read it natively), anything else as float32, C-contiguous."""
    arr = _real_array(a, name, (2,))
    if arr.dtype == np.uint16:
        return np.ascontiguousarray(arr)
    return np.ascontiguousarray(arr, dtype=np.float32)


def _rgb(a: object, name: str = "rgb") -> np.ndarray:
    arr = _real_array(a, name, (3,))
    if arr.shape[2] != 3:
        raise ISPInputError(f"{name} must have shape H x W x 3; got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _four(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel() if np.ndim(values) else None
    if arr is None:
        arr = np.full(4, float(values), np.float64)  # type: ignore[arg-type]
    if arr.shape != (4,) or not np.all(np.isfinite(arr)):
        raise ISPInputError(f"{name} must be a number or 4 finite numbers; got {values!r}")
    return arr


def _gains3(gains: object) -> np.ndarray:
    try:
        arr = np.asarray(gains, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ISPInputError(f"gains must be 3 positive finite numbers (R, G, B); got {gains!r}")
    return arr


def site_values(per_channel: Sequence[float], cfa: CFAOrder) -> np.ndarray:
    """Spread (R, G, B) values onto the four 2x2 sites of ``cfa`` (row-major), float32[4]."""
    chan = cfa_channels(check_cfa(cfa)).ravel()
    vals = np.asarray(per_channel, dtype=np.float64)
    return vals[chan].astype(np.float32)


# --------------------------------------------------------------------------------------------
# black level, normalisation


def apply_black_level(
    mosaic: np.ndarray, *, black_levels: float | Sequence[float], white_level: float
) -> np.ndarray:
    """Subtract the black level per CFA site, clip negatives, normalise the white level to 1.

    ``out = max(mosaic - black[site], 0) / (white_level - black[site])`` with
    ``site = 2 * (y % 2) + x % 2``.

    Parameters
    ----------
    mosaic : numpy.ndarray
        H x W raw values, any real dtype (uint16 typical).
    black_levels : float or sequence of 4 floats
        Black level, one for all sites or one per 2x2 site in row-major order.
    white_level : float
        Saturation value; must exceed every black level.

    Returns
    -------
    numpy.ndarray
        float32 H x W, 0 at black, 1 at white; values above white stay above 1.

    Examples
    --------
    >>> apply_black_level(np.array([[64, 1087]], np.uint16), black_levels=64, white_level=1087)
    array([[0., 1.]], dtype=float32)
    """
    from . import _kernels

    src = _mosaic(mosaic)
    black = _four(black_levels, "black_levels")
    white = float(white_level)
    if not np.isfinite(white) or np.any(white <= black):
        raise ISPInputError(
            f"white_level must exceed every black level; got white {white_level!r}, "
            f"black {black.tolist()}"
        )
    out = np.empty(src.shape, np.float32)
    _kernels.normalize_mosaic(
        src, black.astype(np.float32), (1.0 / (white - black)).astype(np.float32), _EMPTY_MAP, out
    )
    return out


# --------------------------------------------------------------------------------------------
# vignetting


def vignetting_gains(shape: tuple[int, int], model: RadialVignetting) -> np.ndarray:
    """Gain map that undoes a radial fall-off: ``1 / (1 + k1 r^2 + k2 r^4 + k3 r^6)``.

    Parameters
    ----------
    shape : (int, int)
        (H, W) of the image.
    model : RadialVignetting
        Lens fall-off, ``r = 1`` at the half-diagonal, centre ``((H - 1) / 2, (W - 1) / 2)``.

    Returns
    -------
    numpy.ndarray
        float32 H x W, >= 1 where the lens darkens.
    """
    from . import _kernels

    if not isinstance(model, RadialVignetting):
        raise ISPInputError(f"model must be a RadialVignetting; got {type(model).__name__}")
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ISPInputError(f"shape must be (H, W); got {shape!r}") from None
    if h <= 0 or w <= 0:
        raise ISPInputError(f"shape must be positive (H, W); got {shape!r}")
    out = np.empty((h, w), np.float32)
    _kernels.vignetting_gain_map(h, w, model.k1, model.k2, model.k3, out)
    return out


def correct_vignetting(
    image: np.ndarray, vignetting: Union[RadialVignetting, np.ndarray]
) -> np.ndarray:
    """Correct lens fall-off: divide by a radial model or multiply by a flat-field gain map.

    Parameters
    ----------
    image : numpy.ndarray
        H x W (normalised mosaic) or H x W x C, real.
    vignetting : RadialVignetting or numpy.ndarray
        Radial model (see :class:`isp.RadialVignetting`) or an H x W array of positive gains
        (for example from :func:`flat_field_gains`).

    Returns
    -------
    numpy.ndarray
        float32, same shape as ``image``.
    """
    img = _real_array(image, "image", (2, 3))
    h, w = img.shape[:2]
    if isinstance(vignetting, RadialVignetting):
        gains = vignetting_gains((h, w), vignetting)
    else:
        gains = _real_array(vignetting, "vignetting gains", (2,)).astype(np.float32, copy=False)
        if gains.shape != (h, w):
            raise ISPInputError(
                f"vignetting gain map must match the image's H x W {(h, w)}; got {gains.shape}"
            )
        if not np.all(np.isfinite(gains)) or np.any(gains <= 0):
            raise ISPInputError("vignetting gains must be finite and > 0")
    img = img.astype(np.float32, copy=False)
    return img * (gains[:, :, None] if img.ndim == 3 else gains)


def flat_field_gains(flat: np.ndarray, cfa: CFAOrder | None = None, *, sigma: float = 0.0) -> np.ndarray:
    """Gain map from a flat-field calibration frame (a uniformly lit, normalised exposure).

    Each CFA colour (or the whole frame when ``cfa`` is None) is scaled so that its brightest
    smoothed value gets gain 1: ``gain = max(smooth(flat_c)) / smooth(flat_c)``.

    Parameters
    ----------
    flat : numpy.ndarray
        H x W, black-level-corrected flat frame (a mosaic when ``cfa`` is given), > 0.
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}, optional
        Treat ``flat`` as a Bayer mosaic and normalise each 2x2 site plane separately.
    sigma : float
        Gaussian smoothing (in pixels of each plane) against noise in the calibration frame;
        0 disables it.

    Returns
    -------
    numpy.ndarray
        float32 H x W, >= 1, usable as ``ISPConfig(vignetting=...)``.
    """
    arr = _real_array(flat, "flat", (2,)).astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ISPInputError("flat must be finite and > 0 everywhere")
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ISPInputError(f"sigma must be >= 0; got {sigma!r}")

    def _smooth(p: np.ndarray) -> np.ndarray:
        if sigma <= 0:
            return p
        from scipy.ndimage import gaussian_filter

        return gaussian_filter(p, sigma, mode="nearest")

    out = np.empty(arr.shape, np.float32)
    if cfa is None:
        s = _smooth(arr)
        out[...] = s.max() / s
        return out
    chan = cfa_channels(check_cfa(cfa))
    planes = {}
    for dy in range(2):
        for dx in range(2):
            planes[(dy, dx)] = _smooth(arr[dy::2, dx::2])
    for c in range(3):
        keys = [k for k in planes if chan[k] == c]
        top = max(planes[k].max() for k in keys)
        for k in keys:
            out[k[0] :: 2, k[1] :: 2] = top / planes[k]
    return out


# --------------------------------------------------------------------------------------------
# white balance


def white_balance_gains(
    mosaic: np.ndarray,
    cfa: CFAOrder,
    *,
    method: Literal["gray_world", "white_world"] = "gray_world",
    saturation: float = SATURATION,
    percentile: float = WHITE_WORLD_PERCENTILE,
) -> tuple[float, float, float]:
    """Estimate white-balance gains from a normalised mosaic, per CFA colour.

    Pixels at or above ``saturation`` (clipped) are ignored. ``"gray_world"`` makes the channel
    means equal; ``"white_world"`` makes the channels' ``percentile``-th percentiles equal (a high
    percentile instead of the maximum, so a handful of hot pixels cannot move it: with the default
    99.5 it takes more than 0.5 % of a channel's pixels).

    Parameters
    ----------
    mosaic : numpy.ndarray
        H x W normalised mosaic (black 0, white 1), e.g. from :func:`apply_black_level`.
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}
        CFA order of the mosaic's top-left 2x2 block.
    method : {"gray_world", "white_world"}
    saturation : float
        Clipping threshold in normalised units.
    percentile : float
        Percentile used by ``"white_world"``, in (0, 100].

    Returns
    -------
    tuple of 3 floats
        (R, G, B) gains, G = 1.

    Raises
    ------
    ISPInputError
        For bad arguments, or when a channel has no usable (unclipped, non-black) pixel.
    """
    from . import _kernels

    check_cfa(cfa)
    if method not in WB_STAT_METHODS:
        raise ISPInputError(f"method must be one of {', '.join(map(repr, WB_STAT_METHODS))}; got {method!r}")
    if not (np.isfinite(saturation) and saturation > 0):
        raise ISPInputError(f"saturation must be > 0; got {saturation!r}")
    if not (np.isfinite(percentile) and 0 < percentile <= 100):
        raise ISPInputError(f"percentile must be in (0, 100]; got {percentile!r}")
    src = _mosaic(mosaic).astype(np.float32, copy=False)
    site_ch = cfa_channels(cfa).ravel()
    if method == "gray_world":
        zeros = np.zeros(4, np.float32)
        ones = np.ones(4, np.float32)
        sums, counts = _kernels.channel_means(src, zeros, ones, _EMPTY_MAP, site_ch, saturation)
        with np.errstate(invalid="ignore", divide="ignore"):
            stat = sums / np.maximum(counts, 1)
    else:
        stat = np.zeros(3)
        for c in range(3):
            vals = np.concatenate(
                [
                    src[dy::2, dx::2].ravel()
                    for dy in range(2)
                    for dx in range(2)
                    if site_ch[2 * dy + dx] == c
                ]
            )
            vals = vals[vals < saturation]
            stat[c] = np.percentile(vals, percentile) if vals.size else 0.0
    if not np.all(stat > 0):
        raise ISPInputError(
            f"cannot estimate {method} white balance: a channel has no unclipped non-black "
            f"pixel (channel statistics R, G, B = {np.round(stat, 6).tolist()})"
        )
    gains = stat[1] / stat
    return (float(gains[0]), 1.0, float(gains[2]))


def apply_white_balance(mosaic: np.ndarray, cfa: CFAOrder, gains: Sequence[float]) -> np.ndarray:
    """Multiply each CFA site of a mosaic by its colour's gain.

    Parameters
    ----------
    mosaic : numpy.ndarray
        H x W normalised mosaic.
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}
    gains : sequence of 3 floats
        (R, G, B) gains, > 0 (not renormalised here).

    Returns
    -------
    numpy.ndarray
        float32 H x W, unclipped.
    """
    from . import _kernels

    src = _mosaic(mosaic).astype(np.float32, copy=False)
    site = site_values(_gains3(gains), cfa)
    out = np.empty(src.shape, np.float32)
    _kernels.normalize_mosaic(src, np.zeros(4, np.float32), site, _EMPTY_MAP, out)
    return out


# --------------------------------------------------------------------------------------------
# demosaic


def demosaic_bilinear(mosaic: np.ndarray, cfa: CFAOrder = "RGGB") -> np.ndarray:
    """Bilinear demosaic, the same definition as LibRaw's LINEAR (``lin_interpolate``).

    Each pixel keeps its own colour; a missing colour is the mean of the nearest pixels of that
    colour in the 3x3 window (2 or 4 of them in the interior). On the one-pixel border, it is the
    mean of that colour's pixels in the part of the 3x3 window inside the image (LibRaw's
    ``border_interpolate``). Values are not clipped.

    Parameters
    ----------
    mosaic : numpy.ndarray
        H x W real mosaic (normalised, white-balanced), any size >= 1 x 1.
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}

    Returns
    -------
    numpy.ndarray
        float32 H x W x 3 (R, G, B).

    Examples
    --------
    >>> m = np.ones((4, 4), np.float32)
    >>> demosaic_bilinear(m, "GRBG").shape
    (4, 4, 3)
    """
    from . import _kernels

    src = _mosaic(mosaic).astype(np.float32, copy=False)
    site_ch = cfa_channels(check_cfa(cfa)).ravel()
    out = np.empty(src.shape + (3,), np.float32)
    _kernels.demosaic_banded(
        src, np.zeros(4, np.float32), np.ones(4, np.float32), _EMPTY_MAP, site_ch,
        _IDENTITY, False, 0, out,
    )
    return out


# --------------------------------------------------------------------------------------------
# denoise


def denoise_median(rgb: np.ndarray, *, size: Literal[3, 5] = 3) -> np.ndarray:
    """Median filter per channel, a 3x3 or 5x5 window.

    Identical to ``scipy.ndimage.median_filter(rgb[..., c], size=size, mode="reflect")`` for each
    channel, borders included (reflect = half-sample symmetric extension).

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3, real.
    size : {3, 5}

    Returns
    -------
    numpy.ndarray
        float32 H x W x 3.
    """
    from . import _kernels

    if size not in (3, 5) or isinstance(size, bool):
        raise ISPInputError(f"size must be one of 3, 5; got {size!r}")
    src = _rgb(rgb)
    out = np.empty_like(src)
    kernel = _kernels.median3_color if size == 3 else _kernels.median5_color
    kernel(src, _IDENTITY, False, 0, out)
    return out


# --------------------------------------------------------------------------------------------
# colour, orientation, gamma


def convert_color(rgb: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 3x3 colour matrix per pixel: ``out[y, x] = matrix @ rgb[y, x]``.

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3 camera RGB (white-balanced).
    matrix : numpy.ndarray
        3x3, e.g. ``RawFrame.color_matrix`` (white-balanced camera RGB -> linear sRGB).

    Returns
    -------
    numpy.ndarray
        float32 H x W x 3, unclipped.
    """
    from . import _kernels

    src = _rgb(rgb)
    m = np.asarray(matrix, dtype=np.float32)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise ISPInputError(f"matrix must be a finite 3x3 array; got shape {m.shape}")
    out = np.empty_like(src)
    _kernels.color_orient(src, np.ascontiguousarray(m), True, 0, out, _kernels.NO_DISPLAY)
    return out


def apply_orientation(array: np.ndarray, flip: int) -> np.ndarray:
    """Orient a sensor-oriented image as LibRaw does for ``sizes.flip``.

    0: unchanged, 3: rotate 180, 5: rotate 90 counter-clockwise, 6: rotate 90 clockwise (in
    general: bit 2 reverses rows, bit 1 reverses columns, then bit 4 transposes).

    Parameters
    ----------
    array : numpy.ndarray
        H x W or H x W x C, any dtype.
    flip : int
        0..7.

    Returns
    -------
    numpy.ndarray
        A new C-contiguous array, H x W (x C), or W x H (x C) when ``flip & 4``.
    """
    arr = np.asarray(array)
    if arr.ndim not in (2, 3):
        raise ISPInputError(f"array must be H x W or H x W x C; got shape {arr.shape}")
    if isinstance(flip, bool) or not isinstance(flip, (int, np.integer)) or int(flip) not in FLIPS:
        raise ISPInputError(f"flip must be an int in 0..7 (LibRaw sizes.flip); got {flip!r}")
    flip = int(flip)
    if flip & 2:
        arr = arr[::-1]
    if flip & 1:
        arr = arr[:, ::-1]
    if flip & 4:
        arr = arr.swapaxes(0, 1)
    return np.ascontiguousarray(arr) if arr is not array else arr.copy()


def encode_gamma(linear: np.ndarray, gamma: Union[str, float] = "srgb") -> np.ndarray:
    """Clip to [0, 1] and apply a transfer function for display.

    Parameters
    ----------
    linear : numpy.ndarray
        Any shape, real, scene-linear.
    gamma : {"srgb", "bt709", "linear"} or float
        ``"srgb"``: IEC 61966-2-1 piecewise curve; ``"bt709"``: ITU-R BT.709 OETF;
        ``"linear"``: clip only; a float ``g > 0``: ``x ** (1 / g)``.

    Returns
    -------
    numpy.ndarray
        float32, same shape, in [0, 1]. NaN maps to 0.
    """
    from . import _kernels

    mode, g = transfer_code(gamma)
    src = _real_array(linear, "linear", (1, 2, 3, 4))
    flat = np.ascontiguousarray(src, dtype=np.float32).reshape(-1)
    out = np.empty(flat.shape, np.float32)
    _kernels.encode_transfer(flat, mode, transfer_exponent(mode, g), 0, out)
    return out.reshape(src.shape)


#: Integer display dtypes of :func:`encode_display`, and their full-scale code.
DISPLAY_DTYPES = {"uint8": 255, "uint16": 65535}


def encode_display(
    linear: np.ndarray, gamma: Union[str, float] = "srgb", *, dtype: Literal["uint8", "uint16"] = "uint16"
) -> np.ndarray:
    """Clip, apply a transfer function and quantise for display, in one pass.

    Equal, code for code, to quantising :func:`encode_gamma`'s output with round half up
    (``floor(encode_gamma(linear) * full + 0.5)``, ``full`` = 255 or 65535), which is what the
    runner's writers do with a float image.

    Parameters
    ----------
    linear : numpy.ndarray
        Any shape, real, scene-linear.
    gamma : {"srgb", "bt709", "linear"} or float
        As :func:`encode_gamma`.
    dtype : {"uint8", "uint16"}

    Returns
    -------
    numpy.ndarray
        uint8 or uint16, same shape, 0 .. full scale. NaN maps to 0.

    Examples
    --------
    >>> encode_display(np.array([0.0, 0.5, 2.0], np.float32), "linear", dtype="uint8").tolist()
    [0, 128, 255]
    """
    from . import _kernels

    if not isinstance(dtype, str) or dtype not in DISPLAY_DTYPES:
        raise ISPInputError(f"dtype must be one of {', '.join(map(repr, DISPLAY_DTYPES))}; got {dtype!r}")
    mode, g = transfer_code(gamma)
    src = _real_array(linear, "linear", (1, 2, 3, 4))
    flat = np.ascontiguousarray(src, dtype=np.float32).reshape(-1)
    out = np.empty(flat.shape, np.dtype(dtype))
    _kernels.encode_transfer(flat, mode, transfer_exponent(mode, g), DISPLAY_DTYPES[dtype], out)
    return out.reshape(src.shape)
