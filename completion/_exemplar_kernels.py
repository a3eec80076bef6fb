"""Numba kernels of the exemplar (PatchMatch / Wexler EM) fill: loops only, no validation.

:mod:`completion.exemplar` validates, builds the pyramid and calls these. Conventions:

* ``img``: float32 (H, W, C), the current estimate (RGB, optionally followed by texture features;
  known pixels exact, hole pixels estimated);
* ``hole``: bool (H, W), True = to be filled;
* ``valid``: bool (H, W), True where a source patch centred there lies inside the image and holds
  no hole pixel; ``vys``, ``vxs``: int32 coordinates of all valid centres (for random draws);
* ``tys``, ``txs``: int32 coordinates of the target patch centres (every pixel whose patch touches
  the hole), in raster order; ``win``: int32 (H, W), each target's search window half-size (its
  sources stay within that many px, Chebyshev);
* ``nn_y``, ``nn_x``: int32 (H, W) nearest-neighbour field (source centre of each target centre),
  ``nn_d``: float32 (H, W) its patch distance (sum of squared differences over the patch, over the
  target pixels inside the image).
* ``wt``: float32 (H, W) weight of each target pixel in a patch distance (1 everywhere, except at
  the start of the coarsest level, where only known pixels count);
* ``r``: patch radius (patch side ``2r + 1``).

Everything runs on one thread with Numba's own seeded generator, so results are bit-reproducible.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _dist(img, wt, ty, tx, sy, sx, r, limit):
    """SSD between the target patch at (ty, tx) and the source patch at (sy, sx), each target pixel
    weighted by ``wt`` (1 = counts, 0 = not yet estimated); stops early once the sum exceeds ``limit``
    (returns a value > limit then)."""
    h, w = img.shape[0], img.shape[1]
    d = 0.0
    for dy in range(-r, r + 1):
        y = ty + dy
        if y < 0 or y >= h:
            continue
        for dx in range(-r, r + 1):
            x = tx + dx
            if x < 0 or x >= w:
                continue
            q = wt[y, x]
            if q == 0.0:
                continue
            for c in range(img.shape[2]):
                e = img[y, x, c] - img[sy + dy, sx + dx, c]
                d += q * e * e
        if d > limit:
            return d
    return d


@njit(cache=True, inline="always")
def _random_source(ty, tx, win, valid, vys, vxs):
    """A random valid source centre within ``win`` px (Chebyshev) of the target; after 32 misses, a
    random valid centre anywhere."""
    h, w = valid.shape
    for _ in range(32):
        cy = ty + np.random.randint(-win, win + 1)
        cx = tx + np.random.randint(-win, win + 1)
        if 0 <= cy < h and 0 <= cx < w and valid[cy, cx]:
            return cy, cx
    k = np.random.randint(0, vys.shape[0])
    return vys[k], vxs[k]


@njit(cache=True)
def init_field(img, wt, tys, txs, win, valid, vys, vxs, nn_y, nn_x, nn_d, r, seed, keep):
    """Give every target a source: with ``keep``, only recompute the distances of the current field;
    else a random valid centre within the target's search window ``win[ty, tx]``."""
    np.random.seed(seed)
    for i in range(tys.shape[0]):
        ty, tx = tys[i], txs[i]
        if not keep:
            nn_y[ty, tx], nn_x[ty, tx] = _random_source(ty, tx, win[ty, tx], valid, vys, vxs)
        nn_d[ty, tx] = _dist(img, wt, ty, tx, nn_y[ty, tx], nn_x[ty, tx], r, np.inf)


@njit(cache=True)
def patchmatch(img, wt, target, tys, txs, win, valid, nn_y, nn_x, nn_d, r, iters, seed):
    """``iters`` PatchMatch sweeps (Barnes et al. 2009): propagation from the previous neighbours in
    scan order (alternating direction) and a random search with halving radius around the best;
    sources stay within ``win[ty, tx]`` px (Chebyshev) of their target."""
    np.random.seed(seed)
    h, w = img.shape[0], img.shape[1]
    n = tys.shape[0]
    for it in range(iters):
        step = 1 if it % 2 == 0 else -1
        for j in range(n):
            i = j if step == 1 else n - 1 - j
            ty, tx = tys[i], txs[i]
            lim = win[ty, tx]
            by, bx, bd = nn_y[ty, tx], nn_x[ty, tx], nn_d[ty, tx]
            # propagation: the neighbour before us in scan order, shifted by one
            py = ty - step
            if 0 <= py < h and target[py, tx]:
                cy, cx = nn_y[py, tx] + step, nn_x[py, tx]
                if 0 <= cy < h and valid[cy, cx] and (cy != by or cx != bx) and abs(cy - ty) <= lim:
                    d = _dist(img, wt, ty, tx, cy, cx, r, bd)
                    if d < bd:
                        by, bx, bd = cy, cx, d
            px = tx - step
            if 0 <= px < w and target[ty, px]:
                cy, cx = nn_y[ty, px], nn_x[ty, px] + step
                if 0 <= cx < w and valid[cy, cx] and (cy != by or cx != bx) and abs(cx - tx) <= lim:
                    d = _dist(img, wt, ty, tx, cy, cx, r, bd)
                    if d < bd:
                        by, bx, bd = cy, cx, d
            # random search around the current best, radius halving
            rad = 2 * lim
            while rad >= 1:
                cy = by + np.random.randint(-rad, rad + 1)
                cx = bx + np.random.randint(-rad, rad + 1)
                if (0 <= cy < h and 0 <= cx < w and valid[cy, cx] and (cy != by or cx != bx)
                        and abs(cy - ty) <= lim and abs(cx - tx) <= lim):
                    d = _dist(img, wt, ty, tx, cy, cx, r, bd)
                    if d < bd:
                        by, bx, bd = cy, cx, d
                rad //= 2
            nn_y[ty, tx], nn_x[ty, tx], nn_d[ty, tx] = by, bx, bd


@njit(cache=True)
def vote(img, hole, tys, txs, nn_y, nn_x, nn_d, r, sigma2, out):
    """Wexler et al. (2007) voting: each hole pixel becomes the weighted mean of the source pixels that
    the target patches covering it map it to, weight ``exp(-d / (2 sigma2))`` per patch. Known pixels
    of ``out`` are left as they are."""
    h, w = img.shape[0], img.shape[1]
    nc = img.shape[2]
    acc = np.zeros((h, w, nc), np.float64)
    wsum = np.zeros((h, w), np.float64)
    for i in range(tys.shape[0]):
        ty, tx = tys[i], txs[i]
        sy, sx = nn_y[ty, tx], nn_x[ty, tx]
        wt = np.exp(-nn_d[ty, tx] / (2.0 * sigma2))
        for dy in range(-r, r + 1):
            y = ty + dy
            if y < 0 or y >= h:
                continue
            for dx in range(-r, r + 1):
                x = tx + dx
                if x < 0 or x >= w or not hole[y, x]:
                    continue
                for c in range(nc):
                    acc[y, x, c] += wt * img[sy + dy, sx + dx, c]
                wsum[y, x] += wt
    for y in range(h):
        for x in range(w):
            if hole[y, x] and wsum[y, x] > 0:
                for c in range(nc):
                    out[y, x, c] = acc[y, x, c] / wsum[y, x]


@njit(cache=True)
def copy_centres(img, hole, nn_y, nn_x, out):
    """Each hole pixel takes the centre pixel of its own patch's match (no averaging over the
    overlapping patches: the copied texture keeps its full sharpness). Known pixels of ``out`` are
    left as they are."""
    h, w = img.shape[0], img.shape[1]
    for y in range(h):
        for x in range(w):
            if hole[y, x]:
                sy, sx = nn_y[y, x], nn_x[y, x]
                for c in range(img.shape[2]):
                    out[y, x, c] = img[sy, sx, c]


@njit(cache=True)
def upsample_field(c_nn_y, c_nn_x, tys, txs, win, valid, vys, vxs, nn_y, nn_x, seed):
    """Initialise a finer level's field from the coarser one: source = 2 x coarse source + the target's
    offset within its 2 x 2 parent; an invalid result falls back to a random source in the window."""
    np.random.seed(seed)
    h, w = valid.shape
    ch, cw = c_nn_y.shape
    for i in range(tys.shape[0]):
        ty, tx = tys[i], txs[i]
        py, px = min(ty // 2, ch - 1), min(tx // 2, cw - 1)
        sy = 2 * c_nn_y[py, px] + (ty - 2 * py)
        sx = 2 * c_nn_x[py, px] + (tx - 2 * px)
        if 0 <= sy < h and 0 <= sx < w and valid[sy, sx]:
            nn_y[ty, tx], nn_x[ty, tx] = sy, sx
        else:
            nn_y[ty, tx], nn_x[ty, tx] = _random_source(ty, tx, win[ty, tx], valid, vys, vxs)
