"""Numba kernels of the ISP: loops only, no validation (the public functions in ``isp.stages`` and
``isp.develop`` check shapes, dtypes and options, allocate outputs and call these).

Conventions shared by all kernels:

* ``site_ch``: int64[4], channel (0 R, 1 G, 2 B) of each 2x2 CFA site, index ``2 * (y % 2) + x % 2``.
* ``black``, ``scale``: float32[4] per site; a raw value becomes ``max(v - black, 0) * scale``
  (scale = white-balance gain / (white - black)), then times ``gain_map[y, x]`` when the map is
  non-empty (shape (0, 0) means none). Negatives are clipped before any gain.
* ``flip``: LibRaw ``sizes.flip``; the output pixel of sensor pixel (y, x) is given by
  :func:`_dest`, so orientation costs no extra pass.
* ``matrix``: float32 3x3 applied as ``out = matrix @ rgb`` when ``use_matrix`` is true.

Everything is compiled with ``cache=True`` so a fresh process with a warm cache pays no
compilation.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# --------------------------------------------------------------------------------------------
# small helpers


@njit(cache=True, inline="always")
def _dest(y, x, h, w, flip):
    """Output (row, col) of sensor pixel (y, x) for LibRaw's flip (bit 2: rows reversed, bit 1:
    columns reversed, bit 4: transposed afterwards), as LibRaw's ``flip_index``."""
    y = np.int64(y)
    x = np.int64(x)
    ay = np.int64(h - 1 - y) if (flip & 2) else y
    ax = np.int64(w - 1 - x) if (flip & 1) else x
    if flip & 4:
        return ax, ay
    return ay, ax


@njit(cache=True, inline="always")
def _norm(v, site, black, scale):
    d = np.float32(v) - black[site]
    if d < 0:
        d = np.float32(0.0)
    return d * scale[site]


@njit(cache=True, inline="always")
def _value(src, y, x, black, scale, gain_map, use_map):
    site = ((y & 1) << 1) | (x & 1)
    v = _norm(src[y, x], site, black, scale)
    if use_map:
        v *= gain_map[y, x]
    return v


@njit(cache=True, inline="always")
def _store(out, oy, ox, r, g, b, matrix, use_matrix):
    if use_matrix:
        out[oy, ox, 0] = matrix[0, 0] * r + matrix[0, 1] * g + matrix[0, 2] * b
        out[oy, ox, 1] = matrix[1, 0] * r + matrix[1, 1] * g + matrix[1, 2] * b
        out[oy, ox, 2] = matrix[2, 0] * r + matrix[2, 1] * g + matrix[2, 2] * b
    else:
        out[oy, ox, 0] = r
        out[oy, ox, 1] = g
        out[oy, ox, 2] = b


# --------------------------------------------------------------------------------------------
# black level / normalisation / gains on the mosaic


@njit(cache=True, parallel=True)
def normalize_mosaic(src, black, scale, gain_map, out):
    """out[y, x] = max(src - black[site], 0) * scale[site] (* gain_map[y, x])."""
    h, w = src.shape
    use_map = gain_map.shape[0] > 0
    for y in prange(h):
        for x in range(w):
            out[y, x] = _value(src, y, x, black, scale, gain_map, use_map)


@njit(cache=True, parallel=True)
def _channel_sums_rows(src, black, scale, gain_map, site_ch, clip, sums, counts):
    h, w = src.shape
    use_map = gain_map.shape[0] > 0
    for y in prange(h):
        for x in range(w):
            site = ((y & 1) << 1) | (x & 1)
            d = np.float32(src[y, x]) - black[site]
            if d < 0:
                d = np.float32(0.0)
            n = d * scale[site]
            if n >= clip:  # clipped: judged before vignetting gains, on the sensor value
                continue
            if use_map:
                n *= gain_map[y, x]
            c = site_ch[site]
            sums[y, c] += n
            counts[y, c] += 1


def channel_means(src, black, scale, gain_map, site_ch, clip):
    """Mean per channel of normalised unclipped values; (sums, counts) as float64[3], int64[3]."""
    h = src.shape[0]
    sums = np.zeros((h, 3), np.float64)
    counts = np.zeros((h, 3), np.int64)
    _channel_sums_rows(src, black, scale, gain_map, site_ch, np.float32(clip), sums, counts)
    return sums.sum(axis=0), counts.sum(axis=0)


# --------------------------------------------------------------------------------------------
# bilinear demosaic (LibRaw LINEAR), fused with normalisation, gains, colour and orientation


@njit(cache=True)
def _border_pixel(src, y, x, h, w, black, scale, gain_map, use_map, site_ch, rgb):
    """LibRaw ``border_interpolate``: the two missing colours are the means of the in-image
    neighbours of that colour in the 3x3 window; the pixel keeps its own colour."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    n0 = 0
    n1 = 0
    n2 = 0
    for yy in range(y - 1, y + 2):
        if yy < 0 or yy >= h:
            continue
        for xx in range(x - 1, x + 2):
            if xx < 0 or xx >= w:
                continue
            c = site_ch[((yy & 1) << 1) | (xx & 1)]
            v = _value(src, yy, xx, black, scale, gain_map, use_map)
            if c == 0:
                s0 += v
                n0 += 1
            elif c == 1:
                s1 += v
                n1 += 1
            else:
                s2 += v
                n2 += 1
    rgb[0] = s0 / n0 if n0 > 0 else 0.0
    rgb[1] = s1 / n1 if n1 > 0 else 0.0
    rgb[2] = s2 / n2 if n2 > 0 else 0.0
    own = site_ch[((y & 1) << 1) | (x & 1)]
    rgb[own] = _value(src, y, x, black, scale, gain_map, use_map)


@njit(cache=True, parallel=True)
def demosaic_fused(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out):
    """Bilinear demosaic of a raw (uint16) or normalised (float32) mosaic into ``out``.

    ``out`` is float32 H x W x 3 (or W x H x 3 when ``flip & 4``), written in output orientation.
    Interior pixels use the 3x3 bilinear kernels (same definition as LibRaw ``lin_interpolate``),
    the one-pixel border uses LibRaw's ``border_interpolate`` rule.
    """
    h, w = src.shape
    use_map = gain_map.shape[0] > 0
    half = np.float32(0.5)
    quarter = np.float32(0.25)
    for y in prange(h):
        rgb = np.empty(3, np.float32)
        border_row = y == 0 or y == h - 1
        if border_row or w < 3:
            for x in range(w):
                _border_pixel(src, y, x, h, w, black, scale, gain_map, use_map, site_ch, rgb)
                oy, ox = _dest(y, x, h, w, flip)
                _store(out, oy, ox, rgb[0], rgb[1], rgb[2], matrix, use_matrix)
            continue
        for k in range(2):
            x = 0 if k == 0 else w - 1
            _border_pixel(src, y, x, h, w, black, scale, gain_map, use_map, site_ch, rgb)
            oy, ox = _dest(y, x, h, w, flip)
            _store(out, oy, ox, rgb[0], rgb[1], rgb[2], matrix, use_matrix)
        ry = (y & 1) << 1
        # per-row constants: the two site kinds of this row
        for x in range(1, w - 1):
            site = ry | (x & 1)
            c = site_ch[site]
            # neighbours (normalised)
            sl = ry | ((x - 1) & 1)
            su = (((y - 1) & 1) << 1) | (x & 1)
            sd = su
            sul = (((y - 1) & 1) << 1) | ((x - 1) & 1)
            bc, sc = black[site], scale[site]
            vc = np.float32(src[y, x]) - bc
            vc = (vc if vc > 0 else np.float32(0.0)) * sc
            vl = np.float32(src[y, x - 1]) - black[sl]
            vl = (vl if vl > 0 else np.float32(0.0)) * scale[sl]
            vr = np.float32(src[y, x + 1]) - black[sl]
            vr = (vr if vr > 0 else np.float32(0.0)) * scale[sl]
            vu = np.float32(src[y - 1, x]) - black[su]
            vu = (vu if vu > 0 else np.float32(0.0)) * scale[su]
            vd = np.float32(src[y + 1, x]) - black[sd]
            vd = (vd if vd > 0 else np.float32(0.0)) * scale[sd]
            if use_map:
                vc *= gain_map[y, x]
                vl *= gain_map[y, x - 1]
                vr *= gain_map[y, x + 1]
                vu *= gain_map[y - 1, x]
                vd *= gain_map[y + 1, x]
            if c == 1:
                # green site: horizontal neighbours are one colour, vertical ones the other
                hv = (vl + vr) * half
                vv = (vu + vd) * half
                if site_ch[sl] == 0:
                    r, g, b = hv, vc, vv
                else:
                    r, g, b = vv, vc, hv
            else:
                bul, sul_s = black[sul], scale[sul]
                d1 = np.float32(src[y - 1, x - 1]) - bul
                d2 = np.float32(src[y - 1, x + 1]) - bul
                d3 = np.float32(src[y + 1, x - 1]) - bul
                d4 = np.float32(src[y + 1, x + 1]) - bul
                d1 = (d1 if d1 > 0 else np.float32(0.0)) * sul_s
                d2 = (d2 if d2 > 0 else np.float32(0.0)) * sul_s
                d3 = (d3 if d3 > 0 else np.float32(0.0)) * sul_s
                d4 = (d4 if d4 > 0 else np.float32(0.0)) * sul_s
                if use_map:
                    d1 *= gain_map[y - 1, x - 1]
                    d2 *= gain_map[y - 1, x + 1]
                    d3 *= gain_map[y + 1, x - 1]
                    d4 *= gain_map[y + 1, x + 1]
                gv = (vl + vr + vu + vd) * quarter
                dv = (d1 + d2 + d3 + d4) * quarter
                if c == 0:
                    r, g, b = vc, gv, dv
                else:
                    r, g, b = dv, gv, vc
            oy, ox = _dest(y, x, h, w, flip)
            _store(out, oy, ox, r, g, b, matrix, use_matrix)


# --------------------------------------------------------------------------------------------
# colour matrix + orientation on an RGB image


@njit(cache=True, parallel=True)
def color_orient(rgb, matrix, use_matrix, flip, out):
    """out[dest(y, x)] = matrix @ rgb[y, x] (or rgb[y, x])."""
    h, w, _ = rgb.shape
    for y in prange(h):
        for x in range(w):
            oy, ox = _dest(y, x, h, w, flip)
            _store(out, oy, ox, rgb[y, x, 0], rgb[y, x, 1], rgb[y, x, 2], matrix, use_matrix)


@njit(cache=True, parallel=True)
def vignetting_gain_map(h, w, k1, k2, k3, out):
    """out[y, x] = 1 / (1 + k1 r^2 + k2 r^4 + k3 r^6), r = distance to centre / half-diagonal."""
    cy = (h - 1) * 0.5
    cx = (w - 1) * 0.5
    inv = 1.0 / (cy * cy + cx * cx) if (cy > 0 or cx > 0) else 0.0
    for y in prange(h):
        dy2 = (y - cy) * (y - cy)
        for x in range(w):
            r2 = (dy2 + (x - cx) * (x - cx)) * inv
            out[y, x] = np.float32(1.0 / (1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))))


# --------------------------------------------------------------------------------------------
# median filters (scipy.ndimage.median_filter, mode="reflect") fused with colour + orientation


@njit(cache=True, inline="always")
def _reflect(i, n):
    """scipy 'reflect' (half-sample symmetric) index for any i."""
    if n == 1:
        return 0
    period = 2 * n
    i = i % period
    if i < 0:
        i += period
    return i if i < n else period - 1 - i


@njit(cache=True, inline="always")
def _sort3(a, b, c):
    if a > b:
        a, b = b, a
    if b > c:
        b, c = c, b
    if a > b:
        a, b = b, a
    return a, b, c


@njit(cache=True, inline="always")
def _med3(a, b, c):
    return max(min(a, b), min(max(a, b), c))


@njit(cache=True, parallel=True)
def median3_color(rgb, matrix, use_matrix, flip, out):
    """3x3 median per channel (scipy reflect borders), then colour matrix and orientation.

    Each column of three is sorted once and reused by the three windows that contain it; the
    window median is ``med3(max of lows, med3 of mids, min of highs)`` of the sorted columns.
    """
    h, w, nc = rgb.shape
    for y in prange(h):
        y0 = _reflect(y - 1, h)
        y2 = _reflect(y + 1, h)
        lo = np.empty((3, w + 2), np.float32)
        mi = np.empty((3, w + 2), np.float32)
        hi = np.empty((3, w + 2), np.float32)
        for j in range(w + 2):
            xs = _reflect(j - 1, w)
            for c in range(3):
                a, b, d = _sort3(rgb[y0, xs, c], rgb[y, xs, c], rgb[y2, xs, c])
                lo[c, j] = a
                mi[c, j] = b
                hi[c, j] = d
        for x in range(w):
            r = _med3(
                max(max(lo[0, x], lo[0, x + 1]), lo[0, x + 2]),
                _med3(mi[0, x], mi[0, x + 1], mi[0, x + 2]),
                min(min(hi[0, x], hi[0, x + 1]), hi[0, x + 2]),
            )
            g = _med3(
                max(max(lo[1, x], lo[1, x + 1]), lo[1, x + 2]),
                _med3(mi[1, x], mi[1, x + 1], mi[1, x + 2]),
                min(min(hi[1, x], hi[1, x + 1]), hi[1, x + 2]),
            )
            b = _med3(
                max(max(lo[2, x], lo[2, x + 1]), lo[2, x + 2]),
                _med3(mi[2, x], mi[2, x + 1], mi[2, x + 2]),
                min(min(hi[2, x], hi[2, x + 1]), hi[2, x + 2]),
            )
            oy, ox = _dest(y, x, h, w, flip)
            _store(out, oy, ox, r, g, b, matrix, use_matrix)


@njit(cache=True, inline="always")
def _sort5(v):
    # optimal 9-comparator network for 5 elements
    for i, j in ((0, 1), (3, 4), (2, 4), (2, 3), (1, 4), (0, 3), (0, 2), (1, 3), (1, 2)):
        if v[i] > v[j]:
            v[i], v[j] = v[j], v[i]


@njit(cache=True)
def _median_of_sorted_columns(cols, c, x):
    """13th smallest of the 25 values in the 5 sorted columns cols[c, x .. x+4, 0..4]:
    a 5-way merge stopped after 13 steps."""
    p0 = 0
    p1 = 0
    p2 = 0
    p3 = 0
    p4 = 0
    big = np.float32(np.inf)
    v = big
    for _ in range(13):
        a0 = cols[c, x, p0] if p0 < 5 else big
        a1 = cols[c, x + 1, p1] if p1 < 5 else big
        a2 = cols[c, x + 2, p2] if p2 < 5 else big
        a3 = cols[c, x + 3, p3] if p3 < 5 else big
        a4 = cols[c, x + 4, p4] if p4 < 5 else big
        v = a0
        k = 0
        if a1 < v:
            v = a1
            k = 1
        if a2 < v:
            v = a2
            k = 2
        if a3 < v:
            v = a3
            k = 3
        if a4 < v:
            v = a4
            k = 4
        if k == 0:
            p0 += 1
        elif k == 1:
            p1 += 1
        elif k == 2:
            p2 += 1
        elif k == 3:
            p3 += 1
        else:
            p4 += 1
    return v


@njit(cache=True, parallel=True)
def median5_color(rgb, matrix, use_matrix, flip, out):
    """5x5 median per channel (scipy reflect borders), then colour matrix and orientation.

    Columns of five are sorted once by a 9-comparator network and shared by the five windows
    containing them; each window median is a 13-step merge of its five sorted columns.
    """
    h, w, nc = rgb.shape
    for y in prange(h):
        rows = np.empty(5, np.int64)
        for k in range(5):
            rows[k] = _reflect(y + k - 2, h)
        cols = np.empty((3, w + 4, 5), np.float32)
        for j in range(w + 4):
            xs = _reflect(j - 2, w)
            for c in range(3):
                for k in range(5):
                    cols[c, j, k] = rgb[rows[k], xs, c]
                _sort5(cols[c, j])
        for x in range(w):
            r = _median_of_sorted_columns(cols, 0, x)
            g = _median_of_sorted_columns(cols, 1, x)
            b = _median_of_sorted_columns(cols, 2, x)
            oy, ox = _dest(y, x, h, w, flip)
            _store(out, oy, ox, r, g, b, matrix, use_matrix)


# --------------------------------------------------------------------------------------------
# display encoding


@njit(cache=True, parallel=True)
def encode_gamma(src, mode, g, out):
    """Clip to [0, 1] and encode. mode 0: linear, 1: sRGB, 2: BT.709, 3: power 1/g.

    ``src`` and ``out`` are flat float32 arrays of equal size.
    """
    n = src.shape[0]
    inv_g = np.float32(1.0 / g)
    inv_srgb = np.float32(1.0 / 2.4)
    inv_709 = np.float32(0.45)
    for i in prange(n):
        v = src[i]
        if not (v > 0):  # also maps NaN to 0
            v = np.float32(0.0)
        elif v > 1:
            v = np.float32(1.0)
        if mode == 1:
            if v <= np.float32(0.0031308):
                v = v * np.float32(12.92)
            else:
                v = np.float32(1.055) * v**inv_srgb - np.float32(0.055)
        elif mode == 2:
            if v < np.float32(0.018):
                v = v * np.float32(4.5)
            else:
                v = np.float32(1.099) * v**inv_709 - np.float32(0.099)
        elif mode == 3:
            v = v**inv_g
        out[i] = min(v, np.float32(1.0))
