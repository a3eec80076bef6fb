"""Highlights: LibRaw's white-balance normalisation and clipping at white.

A sensor site that saturated holds ``white`` whatever the scene was; after white balance the
three channels of a blown area sit at their own gains (R = 2, G = 1, B = 1.5 for a daylight
Canon), and a colour matrix turns that into a saturated magenta. LibRaw (``scale_colors`` with
``highlight = 0``, dcraw's ``-H 0``) avoids it in two steps, reproduced here:

1. the white-balance gains are normalised so that the *smallest* is 1 (not green), so no
   channel is scaled below the point where the least amplified one saturates;
2. the white-balanced mosaic is clipped at 1 before demosaicing, so a blown site is (1, 1, 1) in
   camera RGB, which every colour matrix maps to white (its rows sum to 1).

``ISPConfig(highlights="clip")`` (the default) does both; ``"keep"`` does step 1 only and leaves
values above white in ``ISPResult.linear`` for scene-linear work (its display output shows the
clipped channels' colour, as before).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .errors import ISPInputError


def normalize_gains_smallest(gains: Sequence[float]) -> tuple[float, float, float]:
    """White-balance gains scaled so the smallest is 1, as LibRaw scales ``pre_mul``.

    Parameters
    ----------
    gains : sequence of 3 floats
        (R, G, B) gains, > 0, any normalisation.

    Returns
    -------
    tuple of 3 floats
        The same ratios with ``min == 1`` (G stays 1 when green has the smallest gain).

    Examples
    --------
    >>> normalize_gains_smallest((0.8, 1.0, 1.6))
    (1.0, 1.25, 2.0)
    """
    arr = np.asarray(gains, dtype=np.float64).ravel()
    if arr.shape != (3,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ISPInputError(f"gains must be 3 positive finite numbers (R, G, B); got {gains!r}")
    arr = arr / arr.min()
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def clip_highlights(mosaic: np.ndarray) -> np.ndarray:
    """Clip a normalised, white-balanced mosaic at white: ``min(mosaic, 1)``.

    Parameters
    ----------
    mosaic : numpy.ndarray
        H x W float, black 0, white 1, white-balance gains (smallest 1) applied.

    Returns
    -------
    numpy.ndarray
        float32 H x W in ``(-inf, 1]``; a site saturated in every channel becomes exactly 1.
    """
    arr = np.asarray(mosaic)
    if arr.ndim != 2 or arr.dtype.kind not in "fiu" or arr.size == 0:
        raise ISPInputError(
            f"mosaic must be a non-empty 2-D real array; got dtype {arr.dtype}, shape {arr.shape}"
        )
    return np.minimum(arr.astype(np.float32), np.float32(1.0))


def clipped_mosaic(
    src: np.ndarray,
    black: np.ndarray,
    scale: np.ndarray,
    gain_map: np.ndarray,
    shade: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray | None:
    """The mosaic :func:`isp.develop` demosaics in ``highlights="clip"`` mode, or None when no
    site reaches white (then clipping changes nothing and the fused path reads ``src`` as is).

    Parameters
    ----------
    src : numpy.ndarray
        H x W mosaic, uint16 raw or float32 normalised.
    black, scale : numpy.ndarray
        float32[4] per 2x2 site: ``max(src - black, 0) * scale`` is the normalised,
        white-balanced value (``scale`` holds the gains).
    gain_map : numpy.ndarray
        float32 H x W vignetting gains, or an empty (0, 0) array for none.
    shade : callable, optional
        Lens-shading gains (DNG OpcodeList2) applied in place to the normalised mosaic.

    Returns
    -------
    numpy.ndarray or None
        float32 H x W, normalised, shaded, white-balanced, clipped at 1.
    """
    from . import _kernels

    if gain_map.size == 0 and shade is None:
        # cheap test first: the largest value of each site against the value that reaches white
        reach = [
            (float(src[dy::2, dx::2].max()) - float(black[2 * dy + dx])) * float(scale[2 * dy + dx])
            for dy in range(min(2, src.shape[0]))
            for dx in range(min(2, src.shape[1]))
        ]
        if max(reach) < 1.0:
            return None
    out = np.empty(src.shape, np.float32)
    _kernels.normalize_mosaic(src, np.asarray(black, np.float32), np.asarray(scale, np.float32),
                              gain_map, out)
    if shade is not None:
        out = shade(out)
    np.minimum(out, np.float32(1.0), out=out)
    return out


__all__ = ["clip_highlights", "clipped_mosaic", "normalize_gains_smallest"]
