"""Numba kernels of highlight reconstruction (``ISPConfig(highlights="reconstruct")``): loops only,
no validation (:mod:`isp.highlights` checks, allocates and calls these).

Conventions (as :mod:`isp._kernels`): ``site_ch`` int64[4] is the channel (0 R, 1 G, 2 B) of each
2x2 CFA site, index ``2 * (y % 2) + x % 2``. ``norm`` is the normalised, lens-shaded,
white-balanced float32 mosaic (unclipped: a clipped photosite holds its own clip level, the value
white maps to). ``flags`` is uint8 H x W, 1 where the raw value reached white. Neighbourhoods are
3 x 3 photosites, mirrored at the border with the CFA phase kept (row -1 reads row 1), so every
neighbourhood holds all three channels; the mosaic must be at least 2 x 2.

Chroma is a *chromaticity* ``r = (R, G, B) / (R + G + B)`` of white-balanced camera RGB (neutral
is (1/3, 1/3, 1/3)); a clipped channel is rebuilt as ``k * r_c`` where ``k`` is fixed by the
channels that survive, so the rebuilt pixel has the chroma of its unclipped surroundings.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Rules of :func:`reconstruct_sites`, index = rule number in its ``counts`` columns.
RULES = ("two_channels", "one_channel", "all_clipped")
#: Smallest chromaticity a rebuilt channel is divided by (a pure-colour neighbourhood would
#: otherwise blow a clipped channel up without bound).
MIN_CHROMA = np.float32(0.04)
#: A rebuilt site is at most this many times its clip level (4 stops).
MAX_OVER_CLIP = np.float32(16.0)


@njit(cache=True, inline="always")
def _mirror(i, n):
    if i < 0:
        return -i
    if i >= n:
        return 2 * (n - 1) - i
    return i


@njit(cache=True)
def _stats_scratch():
    """Per-thread scratch of :func:`_stats3`: (su, nu, sa, na)."""
    return np.zeros(3, np.float64), np.zeros(3, np.int64), np.zeros(3, np.float64), np.zeros(3, np.int64)


@njit(cache=True)
def _stats3(norm, flags, site_ch, y, x, su, nu, sa, na):
    """Per channel over the 3 x 3 neighbourhood of (y, x): sum / count of the unclipped sites
    (``su``, ``nu``) and of all sites (``sa``, ``na``)."""
    h, w = norm.shape
    for c in range(3):
        su[c] = 0.0
        nu[c] = 0
        sa[c] = 0.0
        na[c] = 0
    for dy in range(-1, 2):
        yy = _mirror(y + dy, h)
        for dx in range(-1, 2):
            xx = _mirror(x + dx, w)
            c = site_ch[((yy & 1) << 1) | (xx & 1)]
            v = norm[yy, xx]
            sa[c] += v
            na[c] += 1
            if flags[yy, xx] == 0:
                su[c] += v
                nu[c] += 1


@njit(cache=True, parallel=True)
def clip_flags(src, threshold, flags, row_counts):
    """flags[y, x] = 1 where ``src[y, x] >= threshold[site]`` (raw units, float64[4]);
    row_counts[y] = clipped sites of row y."""
    h, w = src.shape
    for y in prange(h):
        n = 0
        for x in range(w):
            if np.float64(src[y, x]) >= threshold[((y & 1) << 1) | (x & 1)]:
                flags[y, x] = 1
                n += 1
            else:
                flags[y, x] = 0
        row_counts[y] = n


@njit(cache=True, parallel=True)
def near_clip(flags, ring, across, near):
    """near[y, x] = 1 where a clipped site lies within ``ring`` photosites (Chebyshev) of (y, x):
    a sliding count along each row into ``across`` (uint8 H x W scratch), then along columns."""
    h, w = flags.shape
    for y in prange(h):
        count = 0
        for x in range(min(ring, w)):
            count += flags[y, x]
        for x in range(w):
            if x + ring < w:
                count += flags[y, x + ring]
            if x - ring - 1 >= 0:
                count -= flags[y, x - ring - 1]
            across[y, x] = 1 if count > 0 else 0
    for y in prange(h):
        y0 = max(0, y - ring)
        y1 = min(h, y + ring + 1)
        for x in range(w):
            v = 0
            for yy in range(y0, y1):
                v |= across[yy, x]
            near[y, x] = v


@njit(cache=True, parallel=True)
def chroma_blocks(norm, flags, near, site_ch, gains, block, bright_min, sums, weights):
    """Accumulate, per ``block`` x ``block`` tile, the chromaticity of the 3 x 3 neighbourhoods
    that hold no clipped site, lie near one (``near[y, x]``, :func:`near_clip`) and are bright
    (``max_c mean_c / gains[c] >= bright_min``): ``sums[by, bx, c] += w * r_c``, ``weights[by, bx] += w`` with ``w = brightness ** 2``."""
    h, w = norm.shape
    nby, nbx = weights.shape
    for by in prange(nby):
        su, nu, sa, na = _stats_scratch()
        for bx in range(nbx):
            for y in range(by * block, min(h, (by + 1) * block)):
                for x in range(bx * block, min(w, (bx + 1) * block)):
                    if flags[y, x] or near[y, x] == 0:
                        continue
                    _stats3(norm, flags, site_ch, y, x, su, nu, sa, na)
                    if na[0] != nu[0] or na[1] != nu[1] or na[2] != nu[2]:
                        continue
                    m0 = su[0] / nu[0]
                    m1 = su[1] / nu[1]
                    m2 = su[2] / nu[2]
                    bright = max(m0 / gains[0], m1 / gains[1], m2 / gains[2])
                    total = m0 + m1 + m2
                    if bright < bright_min or total <= 0:
                        continue
                    wt = bright * bright
                    sums[by, bx, 0] += wt * m0 / total
                    sums[by, bx, 1] += wt * m1 / total
                    sums[by, bx, 2] += wt * m2 / total
                    weights[by, bx] += wt


@njit(cache=True, inline="always")
def _chroma_at(chroma, block, y, x, r):
    """Bilinear interpolation of the tile chromaticities (tile centres) at photosite (y, x)."""
    nby, nbx = chroma.shape[0], chroma.shape[1]
    fy = (y + 0.5) / block - 0.5
    fx = (x + 0.5) / block - 0.5
    y0 = int(np.floor(fy))
    x0 = int(np.floor(fx))
    ty = fy - y0
    tx = fx - x0
    ya = min(max(y0, 0), nby - 1)
    yb = min(max(y0 + 1, 0), nby - 1)
    xa = min(max(x0, 0), nbx - 1)
    xb = min(max(x0 + 1, 0), nbx - 1)
    for c in range(3):
        top = chroma[ya, xa, c] * (1 - tx) + chroma[ya, xb, c] * tx
        bot = chroma[yb, xa, c] * (1 - tx) + chroma[yb, xb, c] * tx
        r[c] = max(top * (1 - ty) + bot * ty, MIN_CHROMA)


@njit(cache=True, parallel=True)
def reconstruct_sites(norm, flags, site_ch, chroma, block, neutral, equalise, out, full, counts):
    """Rebuild the clipped sites of ``norm`` into ``out`` (float32 H x W; unclipped sites copied).

    A clipped site of channel c, with ``r`` the chromaticity at it (:func:`_chroma_at`):

    * rule 0 (``two_channels``): both other channels have unclipped sites in the 3 x 3: ``k`` =
      their unclipped means' sum over their chromaticities' sum;
    * rule 1 (``one_channel``): one other channel o has: ``k = mean_o / r_o``, the chromaticities
      of the two clipped channels first drawn ``equalise`` of the way to their mean (their ratio
      is the least known);
    * rule 2 (``all_clipped``): none has; the chroma is mixed towards neutral by ``neutral``
      (0: the surroundings', 1: white);

    then ``k`` is raised to at least ``level_o / r_o`` for every channel o with clipped sites
    (``level_o``: their mean, a lower bound), the least brightness at which each reaches its clip
    level with this chroma (without it a channel rebuilt below its level stays at the level while
    another rises: a hue shift), and ``out = max(norm, min(k * r_c, MAX_OVER_CLIP * norm))``:
    never below the clip level.
    ``full[y, x] = 1`` where no channel has an unclipped site in the 3 x 3 (the pixel holds no
    measurement, only lower bounds); ``counts[y, rule]`` = sites of row y rebuilt by each rule.
    """
    h, w = norm.shape
    for y in prange(h):
        su, nu, sa, na = _stats_scratch()
        r = np.zeros(3, np.float64)
        for x in range(w):
            v = norm[y, x]
            out[y, x] = v
            full[y, x] = 0
            if flags[y, x] == 0:
                continue
            _stats3(norm, flags, site_ch, y, x, su, nu, sa, na)
            c = site_ch[((y & 1) << 1) | (x & 1)]
            if nu[0] == 0 and nu[1] == 0 and nu[2] == 0:
                full[y, x] = 1
            _chroma_at(chroma, block, y, x, r)
            o1 = (c + 1) % 3
            o2 = (c + 2) % 3
            if nu[o1] > 0 and nu[o2] > 0:
                k = (su[o1] / nu[o1] + su[o2] / nu[o2]) / (r[o1] + r[o2])
                rule = 0
            elif nu[o1] > 0 or nu[o2] > 0:
                o, q = (o1, o2) if nu[o1] > 0 else (o2, o1)  # o survives, q clipped with c
                pair = 0.5 * (r[c] + r[q])  # the two clipped channels drawn towards each other
                r[c] = (1 - equalise) * r[c] + equalise * pair
                r[q] = (1 - equalise) * r[q] + equalise * pair
                k = su[o] / nu[o] / r[o]
                rule = 1
            else:
                k = 0.0
                rule = 2
                for o in range(3):
                    r[o] = (1 - neutral) * r[o] + neutral / 3
            # at least bright enough that every channel with clipped sites reaches its clip level
            for o in range(3):
                if na[o] > nu[o]:
                    k = max(k, (sa[o] - su[o]) / (na[o] - nu[o]) / r[o])
            est = min(k * r[c], MAX_OVER_CLIP * v)
            if est > v:
                out[y, x] = np.float32(est)
            counts[y, rule] += 1
