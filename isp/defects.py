"""Hot and dead pixel detection on the raw Bayer mosaic.

A defective photosite reads far above (hot) or far below (dead) every one of its same-colour
neighbours, by a margin that is large against the sensor noise at that signal level. The test
runs on the mosaic before demosaicing, where a defect is still one isolated value (after
demosaicing it has smeared into its neighbours' colours).

Method, per CFA site (the four 2 x 2 positions are handled as four sub-images, so the
"same-colour neighbours at distance 2" of the mosaic are the 8-neighbours in the sub-image):

1. For each pixel: ``med`` the median of its 8 neighbours, ``lo`` / ``hi`` their minimum and
   maximum, ``spread`` their inter-quartile range / 1.349 (a robust local deviation that grows on
   texture and edges).
2. ``sigma(level)``: the frame's noise level function, measured once over the whole frame as
   1.4826 x the median absolute deviation of ``value - med`` in 16 bins of signal level (on a
   regular grid of at most ~256k sites). Robust: defects and edges barely move a median.
3. hot  if ``value - hi > max(threshold * sigma(med), hi - lo)`` and
   ``value - med > threshold * sigma(med) + 3 * spread``; dead mirrored (``lo - value``, ``med - value``).

The first test asks that the pixel lie outside ALL its neighbours (an edge or a line of detail
has neighbours on both sides of it), by more than the frame's noise and more than the
neighbours' own range; the second that it do so by much more than the local texture explains.
On clean noise and on edges nothing is flagged; on very sharp synthetic scenes (mosaics made
from full-resolution photographs, with detail no camera optics would pass) some single-site
highlights are, so ``--auto-mask defects`` is meant for real sensor data. Clusters of two or more same-colour defects touching each other are not found
(each sees the other among its neighbours).
"""

from __future__ import annotations

import numpy as np

from isp.cfa import CFAOrder, check_cfa
from isp.errors import ISPInputError


#: Default detection threshold, in units of the noise at the pixel's signal level.
DEFAULT_THRESHOLD = 8.0

#: How many local spreads (texture) a defect must clear on top of ``threshold`` noise units.
TEXTURE_FACTOR = 3.0

_OFFSETS = ((0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2))


def detect_defective_pixels(
    mosaic: np.ndarray,
    cfa: CFAOrder = "RGGB",
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> np.ndarray:
    """Find hot and dead photosites in a Bayer mosaic.

    Parameters
    ----------
    mosaic : numpy.ndarray
        H x W raw mosaic (any integer or float dtype, raw units), sensor orientation; H, W >= 6.
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}
        CFA order of the top-left 2 x 2 block. Each 2 x 2 site is treated separately, so the
        order is validated but does not change the result.
    threshold : float
        How many times the noise a pixel must stand out from its neighbours. Lower finds more
        (and more false alarms).

    Returns
    -------
    numpy.ndarray
        bool H x W, True at defective photosites, sensor orientation (use
        :func:`isp.apply_orientation` to bring it to the output orientation).

    Raises
    ------
    ISPInputError
        Wrong shape or dtype, unknown CFA order, non-positive threshold, non-finite values.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> m = rng.normal(1000, 10, (64, 64)).astype(np.uint16)
    >>> m[20, 30] = 4000
    >>> np.argwhere(detect_defective_pixels(m, "RGGB")).tolist()
    [[20, 30]]
    """
    arr = np.asarray(mosaic)
    if arr.ndim != 2 or arr.shape[0] < 6 or arr.shape[1] < 6:
        raise ISPInputError(f"detect_defective_pixels: expected an H x W mosaic with H, W >= 6, got shape {arr.shape}")
    check_cfa(cfa, "detect_defective_pixels: cfa")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ISPInputError(f"detect_defective_pixels: expected an integer or float mosaic, got dtype {arr.dtype}")
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        threshold = float("nan")
    if not threshold > 0 or not np.isfinite(threshold):
        raise ISPInputError(f"detect_defective_pixels: threshold must be a positive number; got {threshold!r}")

    out = np.zeros(arr.shape, dtype=bool)
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        sub = arr[dy::2, dx::2].astype(np.float32)
        if not np.isfinite(sub).all():
            raise ISPInputError("detect_defective_pixels: the mosaic holds NaN or infinite values")
        out[dy::2, dx::2] = _detect_site(sub, threshold)
    return out


def _neighbours_at(padded: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The 8 neighbours of sub-image positions (ys, xs), sorted: shape (n, 8)."""
    stack = np.stack([padded[ys + dy, xs + dx] for dy, dx in _OFFSETS], axis=1)
    stack.sort(axis=1)
    return stack


def _robust_stats(neigh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and IQR-based spread of sorted 8-neighbour rows."""
    med = 0.5 * (neigh[:, 3] + neigh[:, 4])
    spread = (0.5 * (neigh[:, 5] + neigh[:, 6]) - 0.5 * (neigh[:, 1] + neigh[:, 2])) / np.float32(1.349)
    return med, spread


def _detect_site(sub: np.ndarray, threshold: float) -> np.ndarray:
    h, w = sub.shape
    padded = np.pad(sub, 1, mode="reflect")  # reflect about the edge = distance-2 mirror on the mosaic
    views = [padded[dy : dy + h, dx : dx + w] for dy, dx in _OFFSETS]
    hi = views[0].copy()
    lo = views[0].copy()
    for v in views[1:]:
        np.maximum(hi, v, out=hi)
        np.minimum(lo, v, out=lo)

    # Noise level function of the frame, from a regular grid of <= ~256k sites, 16 level bins.
    step = max(1, int(np.sqrt(h * w / 262144.0)))
    gy, gx = np.mgrid[0:h:step, 0:w:step]
    gy, gx = gy.ravel(), gx.ravel()
    med_s, _ = _robust_stats(_neighbours_at(padded, gy, gx))
    dev = np.abs(sub[gy, gx] - med_s)
    order = np.argsort(med_s, kind="stable")
    bins = np.array_split(order, min(16, max(1, order.size // 64)))
    levels = np.array([float(np.median(med_s[b])) for b in bins])
    sigmas = np.array([1.4826 * float(np.median(dev[b])) for b in bins])
    # Noise-free or flat quantised data: at least one raw unit, so exact copies never trigger.
    sigmas = np.maximum(sigmas, 1.0)
    t = np.float32(threshold)

    # Cheap first pass at the frame's lowest noise: outside all 8 neighbours by that margin.
    tsig = t * np.float32(sigmas.min())
    cy, cx = np.nonzero((sub - hi > tsig) | (lo - sub > tsig))
    out = np.zeros((h, w), dtype=bool)
    if cy.size:
        neigh = _neighbours_at(padded, cy, cx)
        med, spread = _robust_stats(neigh)
        sigma = np.interp(med, levels, sigmas).astype(np.float32)
        value = sub[cy, cx]
        local = t * sigma + np.float32(TEXTURE_FACTOR) * spread
        resid = value - med
        gap = np.maximum(t * sigma, neigh[:, 7] - neigh[:, 0])  # beyond the neighbours' own range
        hot = (value - neigh[:, 7] > gap) & (resid > local)
        dead = (neigh[:, 0] - value > gap) & (-resid > local)
        keep = hot | dead
        out[cy[keep], cx[keep]] = True
    return out
