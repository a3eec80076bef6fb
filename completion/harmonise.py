"""Low-frequency colour harmonisation of a hole fill (a pure numpy / scipy stage).

A fill copied from elsewhere in the image (the exemplar fill, refined by the generator) has the
right texture but often the wrong colour: a patch of sky of a slightly different blue, foliage of a
warmer green. The smooth pull-push fill of the same hole has no texture but its colour is an
interpolation of the hole's border, which measured truer (Kodak, in-hole CIELAB chroma error).
:func:`harmonise_low_frequencies` keeps the fill's luminance detail and replaces, in an opponent
(YCbCr, BT.601) space, the low frequencies (a Gaussian low-pass) of its chroma -- and optionally a
fraction of those of its luminance -- by the reference's.
"""

from __future__ import annotations

import numpy as np

#: BT.601 RGB -> YCbCr (offsets dropped: only differences are used).
_RGB2YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)
_YCC2RGB = np.linalg.inv(_RGB2YCC).astype(np.float32)


def harmonise_low_frequencies(fill: np.ndarray, reference: np.ndarray, hole: np.ndarray, *, sigma: float = 4.0,
                              chroma_weight: float = 1.0, luma_weight: float = 1.0, luma_sigma: float = 16.0) -> np.ndarray:
    """Give a fill the low-frequency colour of a smooth reference fill, keeping its texture.

    Parameters
    ----------
    fill : ndarray, (H, W, 3) float32
        The image with its holes filled (display-referred RGB, nominally [0, 1]).
    reference : ndarray, (H, W, 3) float32
        The same image with a smooth, colour-faithful fill of the same holes (e.g. pull-push); its
        known pixels should equal ``fill``'s.
    hole : ndarray, (H, W) bool
        True = filled pixel; only these are changed.
    sigma, luma_sigma : float
        Gaussian low-pass sigmas (px) of the chroma and of the luminance: variations coarser than
        these take the reference's values (the luminance's coarser, so that the copied shading and
        texture survive).
    chroma_weight, luma_weight : float in [0, 1]
        How much of the reference's low-pass chroma (Cb, Cr) and luminance (Y) replaces the fill's.

    Returns
    -------
    ndarray, (H, W, 3) float32: ``fill`` with, in the hole, ``fill + w * (low(reference) - low(fill))``
    per YCbCr channel (converted back to RGB, not clipped); known pixels bit-identical to ``fill``.
    """
    from scipy import ndimage

    from .errors import CompletionError

    fill = np.asarray(fill, np.float32)
    reference = np.asarray(reference, np.float32)
    hole = np.asarray(hole, bool)
    if fill.ndim != 3 or fill.shape[2] != 3 or reference.shape != fill.shape or hole.shape != fill.shape[:2]:
        raise CompletionError(f"harmonise: fill {fill.shape}, reference {reference.shape} and hole {hole.shape} "
                              "must be (H, W, 3), (H, W, 3), (H, W)")
    if not (sigma > 0 and luma_sigma > 0) or not (0 <= chroma_weight <= 1) or not (0 <= luma_weight <= 1):
        raise CompletionError(f"harmonise: need sigma > 0 and weights in [0, 1]; got sigma={sigma}, luma_sigma={luma_sigma}, "
                              f"chroma_weight={chroma_weight}, luma_weight={luma_weight}")
    out = fill.copy()
    if not hole.any():
        return out
    diff = (reference - fill) @ _RGB2YCC.T  # YCbCr difference; zero on known pixels
    sigmas = (luma_sigma, sigma, sigma)
    low = np.stack([ndimage.gaussian_filter(diff[..., c], sigmas[c], mode="reflect") for c in range(3)], axis=-1)
    low *= np.array([luma_weight, chroma_weight, chroma_weight], np.float32)
    out[hole] = fill[hole] + low[hole] @ _YCC2RGB.T
    return out
