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
* ``g2``, ``g3`` (fused demosaic kernels): DNG lens-shading gains as index tables (see
  :data:`NO_GAINS`), evaluated per row by :func:`isp._shading_kernels.row_gains`: ``g2``
  (OpcodeList2) multiplies each normalised mosaic row, in place of ``gain_map`` (the two are
  exclusive), ``g3`` (OpcodeList3) each demosaiced camera-RGB row before the median filters and
  the colour matrix see it.

Everything is compiled with ``cache=True`` so a fresh process with a warm cache pays no
compilation.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ._shading_kernels import column_segments, max_map_points, row_gains

#: "No shading gains" for the fused demosaic kernels: the tables of
#: ``isp.opcodes.LensShading.fused_gain_tables`` (entries, map-row indices and weights, column
#: indices and weights, map values, vignette coefficients and squared distances), all empty.
NO_GAINS = (
    np.zeros((0, 9), np.int64), np.zeros((0, 0), np.int64), np.zeros((0, 0), np.int64),
    np.zeros((0, 0), np.float32), np.zeros((0, 0), np.int64), np.zeros((0, 0), np.float32),
    np.ones(1, np.float32), np.zeros((0, 5), np.float64), np.zeros((0, 0), np.float64),
    np.zeros((0, 0), np.float64),
)  # fmt: skip

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
def _border_pixel(y, x, h, w, up, cur, dn, site_ch, rgb):
    """LibRaw ``border_interpolate``: the two missing colours are the means of the in-image
    neighbours of that colour in the 3x3 window; the pixel keeps its own colour.

    ``up``, ``cur``, ``dn`` are the normalised rows y - 1, y, y + 1 (rows outside the image are
    never read, so any row may stand in for them).
    """
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    n0 = 0
    n1 = 0
    n2 = 0
    for yy in range(y - 1, y + 2):
        if yy < 0 or yy >= h:
            continue
        row = up if yy < y else (cur if yy == y else dn)
        for xx in range(x - 1, x + 2):
            if xx < 0 or xx >= w:
                continue
            c = site_ch[((yy & 1) << 1) | (xx & 1)]
            v = row[xx]
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
    rgb[own] = cur[x]


@njit(cache=True)
def _row_levels(y, w, black, scale, brow, srow):
    """Per-column black and scale of row y (the two sites of its parity, alternating)."""
    ry = (y & 1) << 1
    b0, b1 = black[ry], black[ry | 1]
    s0, s1 = scale[ry], scale[ry | 1]
    for x in range(0, w - 1, 2):
        brow[x] = b0
        brow[x + 1] = b1
        srow[x] = s0
        srow[x + 1] = s1
    if w & 1:
        brow[w - 1] = b0
        srow[w - 1] = s0


@njit(cache=True)
def _norm_row(src, y, black, scale, g, use_g, brow, srow, dst):
    """dst[x] = max(src[y, x] - black, 0) * scale (* g[x]) for one row."""
    w = src.shape[1]
    _row_levels(y, w, black, scale, brow, srow)
    row = src[y]
    if use_g:
        for x in range(w):
            d = np.float32(row[x]) - brow[x]
            dst[x] = max(d, np.float32(0.0)) * srow[x] * g[x]
    else:
        for x in range(w):
            d = np.float32(row[x]) - brow[x]
            dst[x] = max(d, np.float32(0.0)) * srow[x]


@njit(cache=True)
def _ensure_norm(r, src, black, scale, gain_map, use_map, brow, srow, nbuf, ntag, sh):
    """Slot of the ring buffer holding normalised row r (computed if not there yet).

    The row's gain is ``gain_map[r]`` (user flat field) or, with mosaic shading gains in ``sh``,
    their row computed on the fly.
    """
    slot = r % nbuf.shape[0]
    if ntag[slot] != r:
        g2, use2, seg2, g3, use3, seg3, radial, mapbuf, gbuf2, gbuf3 = sh
        if use_map:
            _norm_row(src, r, black, scale, gain_map[r], True, brow, srow, nbuf[slot])
        elif use2:
            row_gains(r, 1, g2[0], g2[1], g2[2], g2[3], g2[4], g2[5], g2[6], g2[7], g2[8], g2[9],
                      seg2, radial, mapbuf, gbuf2)
            _norm_row(src, r, black, scale, gbuf2, True, brow, srow, nbuf[slot])
        else:
            _norm_row(src, r, black, scale, gbuf2, False, brow, srow, nbuf[slot])
        ntag[slot] = r
    return slot


@njit(cache=True)
def _demosaic_row(y, h, w, site_ch, up, cur, dn, pix, rgbrow):
    """Bilinear demosaic of row y into rgbrow (flat, interleaved R, G, B; length 3 W).

    ``up``, ``cur``, ``dn`` are the normalised rows y - 1, y, y + 1 (any row where y - 1 or
    y + 1 is outside the image: it is not read).
    """
    if y == 0 or y == h - 1 or w < 3:
        for x in range(w):
            _border_pixel(y, x, h, w, up, cur, dn, site_ch, pix)
            rgbrow[3 * x] = pix[0]
            rgbrow[3 * x + 1] = pix[1]
            rgbrow[3 * x + 2] = pix[2]
        return
    for k in range(2):
        x = 0 if k == 0 else w - 1
        _border_pixel(y, x, h, w, up, cur, dn, site_ch, pix)
        rgbrow[3 * x] = pix[0]
        rgbrow[3 * x + 1] = pix[1]
        rgbrow[3 * x + 2] = pix[2]
    ry = (y & 1) << 1
    half = np.float32(0.5)
    quarter = np.float32(0.25)
    for p in range(2):
        c = site_ch[ry | p]
        x0 = 1 if p == 1 else 2  # first interior column of this parity
        if c == 1:
            # green site: the row's other colour is horizontal, the remaining one vertical
            h_is_red = site_ch[ry | (1 - p)] == 0
            for x in range(x0, w - 1, 2):
                hv = (cur[x - 1] + cur[x + 1]) * half
                vv = (up[x] + dn[x]) * half
                if h_is_red:
                    rgbrow[3 * x] = hv
                    rgbrow[3 * x + 2] = vv
                else:
                    rgbrow[3 * x] = vv
                    rgbrow[3 * x + 2] = hv
                rgbrow[3 * x + 1] = cur[x]
        else:
            own = 0 if c == 0 else 2
            other = 2 - own
            for x in range(x0, w - 1, 2):
                gv = (cur[x - 1] + cur[x + 1] + up[x] + dn[x]) * quarter
                dv = (up[x - 1] + up[x + 1] + dn[x - 1] + dn[x + 1]) * quarter
                rgbrow[3 * x + own] = cur[x]
                rgbrow[3 * x + 1] = gv
                rgbrow[3 * x + other] = dv


@njit(cache=True)
def _store_row(rgbrow, y, h, w, matrix, use_matrix, flip, out):
    """Write one sensor row (flat interleaved RGB) into the oriented output, colour converted."""
    if flip == 0 and not use_matrix:
        o = out[y]
        for x in range(w):
            o[x, 0] = rgbrow[3 * x]
            o[x, 1] = rgbrow[3 * x + 1]
            o[x, 2] = rgbrow[3 * x + 2]
        return
    m00, m01, m02 = matrix[0, 0], matrix[0, 1], matrix[0, 2]
    m10, m11, m12 = matrix[1, 0], matrix[1, 1], matrix[1, 2]
    m20, m21, m22 = matrix[2, 0], matrix[2, 1], matrix[2, 2]
    if flip == 0:
        o = out[y]
        for x in range(w):
            r = rgbrow[3 * x]
            g = rgbrow[3 * x + 1]
            b = rgbrow[3 * x + 2]
            o[x, 0] = m00 * r + m01 * g + m02 * b
            o[x, 1] = m10 * r + m11 * g + m12 * b
            o[x, 2] = m20 * r + m21 * g + m22 * b
        return
    for x in range(w):
        r = rgbrow[3 * x]
        g = rgbrow[3 * x + 1]
        b = rgbrow[3 * x + 2]
        oy, ox = _dest(y, x, h, w, flip)
        if use_matrix:
            out[oy, ox, 0] = m00 * r + m01 * g + m02 * b
            out[oy, ox, 1] = m10 * r + m11 * g + m12 * b
            out[oy, ox, 2] = m20 * r + m21 * g + m22 * b
        else:
            out[oy, ox, 0] = r
            out[oy, ox, 1] = g
            out[oy, ox, 2] = b


def _chunks(h):
    """Number of row bands for the parallel loops: a few per thread, so load stays balanced."""
    return int(min(h, max(1, 4 * numba.get_num_threads())))


@njit(cache=True)
def _ensure_rgb(r, src, black, scale, gain_map, use_map, site_ch, brow, srow, nbuf, ntag,
                pix, rbuf, rtag, sh):
    """Slot of the ring buffer holding demosaiced row r (computed if not there yet), times the
    camera-RGB shading gains of ``sh`` when there are any."""
    h, w = src.shape
    slot = r % rbuf.shape[0]
    if rtag[slot] != r:
        sc = _ensure_norm(r, src, black, scale, gain_map, use_map, brow, srow, nbuf, ntag, sh)
        su = sc
        sd = sc
        if r > 0:
            su = _ensure_norm(r - 1, src, black, scale, gain_map, use_map, brow, srow, nbuf,
                              ntag, sh)
        if r < h - 1:
            sd = _ensure_norm(r + 1, src, black, scale, gain_map, use_map, brow, srow, nbuf,
                              ntag, sh)
        rgbrow = rbuf[slot]
        _demosaic_row(r, h, w, site_ch, nbuf[su], nbuf[sc], nbuf[sd], pix, rgbrow)
        g2, use2, seg2, g3, use3, seg3, radial, mapbuf, gbuf2, gbuf3 = sh
        if use3:
            row_gains(r, 3, g3[0], g3[1], g3[2], g3[3], g3[4], g3[5], g3[6], g3[7], g3[8], g3[9],
                      seg3, radial, mapbuf, gbuf3)
            for i in range(3 * w):
                rgbrow[i] *= gbuf3[i]
        rtag[slot] = r
    return slot


@njit(cache=True)
def _has_gains(g):
    """Whether a table of shading gains (see :data:`NO_GAINS`) holds any gain map or vignette."""
    return g[0].shape[0] > 0 or g[7].shape[0] > 0


@njit(cache=True)
def _shading_workspace(w, g2, g3):
    """Per-thread state of the on-the-fly shading gains: the tables, whether each applies, and
    the scratch rows :func:`isp._shading_kernels.row_gains` fills."""
    use2 = _has_gains(g2)
    use3 = _has_gains(g3)
    nmap = max(max_map_points(g2[0]), max_map_points(g3[0]))
    radial = np.empty(w, np.float64)
    mapbuf = np.empty(nmap + 1, np.float32)
    gbuf2 = np.empty(w, np.float32)
    gbuf3 = np.empty(3 * w if use3 else 0, np.float32)
    seg2 = column_segments(g2[0], g2[4])
    seg3 = column_segments(g3[0], g3[4])
    return (g2, use2, seg2, g3, use3, seg3, radial, mapbuf, gbuf2, gbuf3)


@njit(cache=True, parallel=True)
def _demosaic_fused(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out, n,
                    g2, g3):
    """Bilinear demosaic of a raw (uint16) or normalised (float32) mosaic into ``out``.

    ``out`` is float32 H x W x 3 (or W x H x 3 when ``flip & 4``), written in output orientation.
    Interior pixels use the 3x3 bilinear kernels (same definition as LibRaw ``lin_interpolate``),
    the one-pixel border uses LibRaw's ``border_interpolate`` rule. Each thread walks a band of
    rows with a ring of normalised rows, so every raw value is normalised once per band.
    ``g2`` / ``g3``: lens-shading gains on the mosaic / on camera RGB (``NO_GAINS`` for none).
    """
    h, w = src.shape
    use_map = gain_map.shape[0] > 0
    for ci in prange(n):
        y0 = ci * h // n
        y1 = (ci + 1) * h // n
        brow = np.empty(w, np.float32)
        srow = np.empty(w, np.float32)
        nbuf = np.empty((4, w), np.float32)
        ntag = np.full(4, -1, np.int64)
        rbuf = np.empty((1, 3 * w), np.float32)
        rtag = np.full(1, -1, np.int64)
        pix = np.empty(3, np.float32)
        sh = _shading_workspace(w, g2, g3)
        for y in range(y0, y1):
            slot = _ensure_rgb(y, src, black, scale, gain_map, use_map, site_ch, brow, srow,
                               nbuf, ntag, pix, rbuf, rtag, sh)
            _store_row(rbuf[slot], y, h, w, matrix, use_matrix, flip, out)


@njit(cache=True)
def _median3_row(a, b, c, w, lo, mi, hi, med):
    """3x3 median per channel of one row from its three (clamped) neighbour rows, all flat
    interleaved RGB of length 3 W. scipy's 'reflect' border equals clamping for a 3x3 window."""
    n = 3 * w
    for i in range(n):
        p = a[i]
        q = b[i]
        r = c[i]
        lo1 = min(p, q)
        hi1 = max(p, q)
        lo[i + 3] = min(lo1, r)
        hi[i + 3] = max(hi1, r)
        mi[i + 3] = max(lo1, min(hi1, r))
    for k in range(3):
        lo[k] = lo[3 + k]
        mi[k] = mi[3 + k]
        hi[k] = hi[3 + k]
        lo[n + 3 + k] = lo[n + k]
        mi[n + 3 + k] = mi[n + k]
        hi[n + 3 + k] = hi[n + k]
    for i in range(n):
        l = max(max(lo[i], lo[i + 3]), lo[i + 6])
        h = min(min(hi[i], hi[i + 3]), hi[i + 6])
        m1 = mi[i]
        m2 = mi[i + 3]
        m3 = mi[i + 6]
        mm = max(min(m1, m2), min(max(m1, m2), m3))
        med[i] = max(min(l, mm), min(max(l, mm), h))


@njit(cache=True, parallel=True)
def _demosaic_median3_fused(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out, n,
                            g2, g3):
    """``demosaic_fused`` followed by a 3x3 median per channel, without a full-frame temporary:
    each thread keeps a ring of demosaiced rows and filters them as they come."""
    h, w = src.shape
    use_map = gain_map.shape[0] > 0
    for ci in prange(n):
        y0 = ci * h // n
        y1 = (ci + 1) * h // n
        brow = np.empty(w, np.float32)
        srow = np.empty(w, np.float32)
        nbuf = np.empty((4, w), np.float32)
        ntag = np.full(4, -1, np.int64)
        rbuf = np.empty((4, 3 * w), np.float32)
        rtag = np.full(4, -1, np.int64)
        pix = np.empty(3, np.float32)
        sh = _shading_workspace(w, g2, g3)
        lo = np.empty(3 * w + 6, np.float32)
        mi = np.empty(3 * w + 6, np.float32)
        hi = np.empty(3 * w + 6, np.float32)
        med = np.empty(3 * w, np.float32)
        for y in range(y0, y1):
            su = _ensure_rgb(max(y - 1, 0), src, black, scale, gain_map, use_map, site_ch, brow,
                             srow, nbuf, ntag, pix, rbuf, rtag, sh)
            sc = _ensure_rgb(y, src, black, scale, gain_map, use_map, site_ch, brow, srow, nbuf,
                             ntag, pix, rbuf, rtag, sh)
            sd = _ensure_rgb(min(y + 1, h - 1), src, black, scale, gain_map, use_map, site_ch,
                             brow, srow, nbuf, ntag, pix, rbuf, rtag, sh)
            _median3_row(rbuf[su], rbuf[sc], rbuf[sd], w, lo, mi, hi, med)
            _store_row(med, y, h, w, matrix, use_matrix, flip, out)


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


@njit(cache=True, parallel=True)
def _median3_color(rgb, matrix, use_matrix, flip, out, n):
    """3x3 median per channel (scipy reflect borders), then colour matrix and orientation.

    ``rgb`` is float32 H x W x 3. Each column of three is sorted once (min / mid / max, as flat
    rows the compiler vectorises) and shared by the three windows containing it; the window
    median is ``med3(max of lows, med3 of mids, min of highs)``.
    """
    h, w, _ = rgb.shape
    flat = rgb.reshape(h, 3 * w)
    for ci in prange(n):
        y0 = ci * h // n
        y1 = (ci + 1) * h // n
        lo = np.empty(3 * w + 6, np.float32)
        mi = np.empty(3 * w + 6, np.float32)
        hi = np.empty(3 * w + 6, np.float32)
        med = np.empty(3 * w, np.float32)
        for y in range(y0, y1):
            _median3_row(flat[max(y - 1, 0)], flat[y], flat[min(y + 1, h - 1)], w, lo, mi, hi, med)
            _store_row(med, y, h, w, matrix, use_matrix, flip, out)


@njit(cache=True, inline="always")
def _median25_sorted_columns(v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15, v16, v17, v18, v19, v20, v21, v22, v23, v24):
    """Median of a 5x5 window given its columns sorted (v[5 * rank + column]): the rows are
    sorted next (only as far as needed), then the 13 values that can still be the median
    (6 are provably below it, 6 above) go through a sorting network pruned to its middle
    output. Generated, and checked against numpy.median on all 0-1 inputs (0-1 principle); straight-line
    min/max code, so loops calling it vectorise."""
    v0, v1 = min(v0, v1), max(v0, v1)
    v3, v4 = min(v3, v4), max(v3, v4)
    v2, v4 = min(v2, v4), max(v2, v4)
    v3 = max(v2, v3)
    v1, v4 = min(v1, v4), max(v1, v4)
    v3 = max(v0, v3)
    v3 = max(v1, v3)
    v5, v6 = min(v5, v6), max(v5, v6)
    v8, v9 = min(v8, v9), max(v8, v9)
    v7, v9 = min(v7, v9), max(v7, v9)
    v7, v8 = min(v7, v8), max(v7, v8)
    v6, v9 = min(v6, v9), max(v6, v9)
    v5, v8 = min(v5, v8), max(v5, v8)
    v7 = max(v5, v7)
    v6, v8 = min(v6, v8), max(v6, v8)
    v7 = max(v6, v7)
    v10, v11 = min(v10, v11), max(v10, v11)
    v13, v14 = min(v13, v14), max(v13, v14)
    v12, v14 = min(v12, v14), max(v12, v14)
    v12, v13 = min(v12, v13), max(v12, v13)
    v11 = min(v11, v14)
    v10, v13 = min(v10, v13), max(v10, v13)
    v12 = max(v10, v12)
    v11, v13 = min(v11, v13), max(v11, v13)
    v11, v12 = min(v11, v12), max(v11, v12)
    v15, v16 = min(v15, v16), max(v15, v16)
    v18, v19 = min(v18, v19), max(v18, v19)
    v17, v19 = min(v17, v19), max(v17, v19)
    v17, v18 = min(v17, v18), max(v17, v18)
    v16 = min(v16, v19)
    v15, v18 = min(v15, v18), max(v15, v18)
    v15, v17 = min(v15, v17), max(v15, v17)
    v16 = min(v16, v18)
    v16, v17 = min(v16, v17), max(v16, v17)
    v20, v21 = min(v20, v21), max(v20, v21)
    v23, v24 = min(v23, v24), max(v23, v24)
    v22, v24 = min(v22, v24), max(v22, v24)
    v22, v23 = min(v22, v23), max(v22, v23)
    v21 = min(v21, v24)
    v20, v23 = min(v20, v23), max(v20, v23)
    v20, v22 = min(v20, v22), max(v20, v22)
    v21 = min(v21, v23)
    v21 = min(v21, v22)
    v3, v4 = min(v3, v4), max(v3, v4)
    v7, v8 = min(v7, v8), max(v7, v8)
    v3, v7 = min(v3, v7), max(v3, v7)
    v4, v8 = min(v4, v8), max(v4, v8)
    v4, v7 = min(v4, v7), max(v4, v7)
    v9, v11 = min(v9, v11), max(v9, v11)
    v12, v13 = min(v12, v13), max(v12, v13)
    v9, v12 = min(v9, v12), max(v9, v12)
    v11, v13 = min(v11, v13), max(v11, v13)
    v11, v12 = min(v11, v12), max(v11, v12)
    v3, v9 = min(v3, v9), max(v3, v9)
    v7, v12 = min(v7, v12), max(v7, v12)
    v7, v9 = min(v7, v9), max(v7, v9)
    v4, v11 = min(v4, v11), max(v4, v11)
    v8 = min(v8, v13)
    v8, v11 = min(v8, v11), max(v8, v11)
    v4, v7 = min(v4, v7), max(v4, v7)
    v8, v9 = min(v8, v9), max(v8, v9)
    v11, v12 = min(v11, v12), max(v11, v12)
    v15, v16 = min(v15, v16), max(v15, v16)
    v17, v20 = min(v17, v20), max(v17, v20)
    v15, v17 = min(v15, v17), max(v15, v17)
    v16, v20 = min(v16, v20), max(v16, v20)
    v16, v17 = min(v16, v17), max(v16, v17)
    v15, v21 = min(v15, v21), max(v15, v21)
    v17, v21 = min(v17, v21), max(v17, v21)
    v16, v17 = min(v16, v17), max(v16, v17)
    v20, v21 = min(v20, v21), max(v20, v21)
    v15 = max(v3, v15)
    v9 = min(v9, v21)
    v15 = max(v9, v15)
    v17 = max(v7, v17)
    v12 = min(v12, v17)
    v12 = min(v12, v15)
    v16 = max(v4, v16)
    v11 = min(v11, v16)
    v8 = min(v8, v20)
    v11 = max(v8, v11)
    v12 = max(v11, v12)
    return v12


@njit(cache=True)
def _median5_row(rows, w, srt, med):
    """5x5 median per channel of one row. ``rows`` holds the five (reflected) neighbour rows,
    flat interleaved RGB of length 3 W; ``srt`` (5 x (3 W + 12)) receives their columns sorted,
    padded by two reflected columns each side (scipy 'reflect'); ``med`` the result."""
    n = 3 * w
    r0, r1, r2, r3, r4 = rows[0], rows[1], rows[2], rows[3], rows[4]
    s0, s1, s2, s3, s4 = srt[0], srt[1], srt[2], srt[3], srt[4]
    for i in range(n):
        a, b, c, d, e = r0[i], r1[i], r2[i], r3[i], r4[i]
        a, b = min(a, b), max(a, b)
        d, e = min(d, e), max(d, e)
        c, e = min(c, e), max(c, e)
        c, d = min(c, d), max(c, d)
        b, e = min(b, e), max(b, e)
        a, d = min(a, d), max(a, d)
        a, c = min(a, c), max(a, c)
        b, d = min(b, d), max(b, d)
        b, c = min(b, c), max(b, c)
        s0[i + 6] = a
        s1[i + 6] = b
        s2[i + 6] = c
        s3[i + 6] = d
        s4[i + 6] = e
    for j in (-2, -1, w, w + 1):  # padding columns, reflected
        src_col = _reflect(j, w)
        for k in range(5):
            for ch in range(3):
                srt[k, 6 + 3 * j + ch] = srt[k, 6 + 3 * src_col + ch]
    for i in range(n):
        med[i] = _median25_sorted_columns(
            s0[i], s0[i + 3], s0[i + 6], s0[i + 9], s0[i + 12],
            s1[i], s1[i + 3], s1[i + 6], s1[i + 9], s1[i + 12],
            s2[i], s2[i + 3], s2[i + 6], s2[i + 9], s2[i + 12],
            s3[i], s3[i + 3], s3[i + 6], s3[i + 9], s3[i + 12],
            s4[i], s4[i + 3], s4[i + 6], s4[i + 9], s4[i + 12],
        )


@njit(cache=True, parallel=True)
def _median5_color(rgb, matrix, use_matrix, flip, out, n):
    """5x5 median per channel (scipy reflect borders), then colour matrix and orientation."""
    h, w, _ = rgb.shape
    flat = rgb.reshape(h, 3 * w)
    for ci in prange(n):
        y0 = ci * h // n
        y1 = (ci + 1) * h // n
        rows = np.empty((5, 3 * w), np.float32)
        srt = np.empty((5, 3 * w + 12), np.float32)
        med = np.empty(3 * w, np.float32)
        for y in range(y0, y1):
            for k in range(5):
                rows[k] = flat[_reflect(y + k - 2, h)]
            _median5_row(rows, w, srt, med)
            _store_row(med, y, h, w, matrix, use_matrix, flip, out)


@njit(cache=True, parallel=True)
def _demosaic_median5_fused(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out, n,
                            g2, g3):
    """``demosaic_fused`` followed by a 5x5 median per channel, on a ring of demosaiced rows."""
    h, w = src.shape
    use_map = gain_map.shape[0] > 0
    for ci in prange(n):
        y0 = ci * h // n
        y1 = (ci + 1) * h // n
        brow = np.empty(w, np.float32)
        srow = np.empty(w, np.float32)
        nbuf = np.empty((4, w), np.float32)
        ntag = np.full(4, -1, np.int64)
        rbuf = np.empty((8, 3 * w), np.float32)
        rtag = np.full(8, -1, np.int64)
        pix = np.empty(3, np.float32)
        sh = _shading_workspace(w, g2, g3)
        rows = np.empty((5, 3 * w), np.float32)
        srt = np.empty((5, 3 * w + 12), np.float32)
        med = np.empty(3 * w, np.float32)
        for y in range(y0, y1):
            for k in range(5):
                r = _reflect(y + k - 2, h)
                slot = _ensure_rgb(r, src, black, scale, gain_map, use_map, site_ch, brow, srow,
                                   nbuf, ntag, pix, rbuf, rtag, sh)
                rows[k] = rbuf[slot]
            _median5_row(rows, w, srt, med)
            _store_row(med, y, h, w, matrix, use_matrix, flip, out)


# --------------------------------------------------------------------------------------------
# display encoding


@njit(cache=True, inline="always")
def _gamma_exact(v, mode, inv_g):
    if mode == 1:
        if v <= np.float32(0.0031308):
            return v * np.float32(12.92)
        return np.float32(1.055) * v ** np.float32(1.0 / 2.4) - np.float32(0.055)
    if mode == 2:
        if v < np.float32(0.018):
            return v * np.float32(4.5)
        return np.float32(1.099) * v ** np.float32(0.45) - np.float32(0.099)
    if mode == 3:
        return v**inv_g
    return v


#: Values per block of the display encoders (a cache-sized run of a flat array).
_ENCODE_BLOCK = 8192


@njit(cache=True)
def _encode_block(src, i0, i1, mode, inv_g, lut, dst):
    """dst[i - i0] = transfer(clip(src[i], 0, 1)) for i in [i0, i1): see :func:`encode_gamma`."""
    size = lut.shape[0] - 1
    fsize = np.float32(size)
    zero = np.float32(0.0)
    one = np.float32(1.0)
    if mode == 0:
        for i in range(i0, i1):
            v = src[i]
            dst[i - i0] = zero if not (v > zero) else (one if v > one else v)
        return
    small = np.float32((64.0 / size) ** 2)
    brk = np.int64(np.sqrt(0.018) * size)
    brk_lo = np.float32(((brk - 1.0) / size) ** 2) if mode == 2 else np.float32(2.0)
    brk_hi = np.float32(((brk + 2.0) / size) ** 2) if mode == 2 else np.float32(2.0)
    for i in range(i0, i1):
        v = src[i]
        v = zero if not (v > zero) else (one if v > one else v)
        t = np.sqrt(v) * fsize
        k = min(np.int64(t), size - 1)
        f = t - np.float32(k)
        dst[i - i0] = lut[k] + (lut[k + 1] - lut[k]) * f
    for i in range(i0, i1):
        v = src[i]
        if v < small or (v >= brk_lo and v < brk_hi):
            v = max(v, zero)
            dst[i - i0] = min(max(_gamma_exact(v, mode, inv_g), zero), one)


@njit(cache=True, parallel=True)
def encode_gamma(src, mode, g, lut, out):
    """Clip to [0, 1] and encode. mode 0: linear, 1: sRGB, 2: BT.709, 3: power 1/g.

    ``src`` and ``out`` are flat float32 arrays of equal size; NaN becomes 0. ``lut`` holds the
    curve at ``x = (i / N)^2``, i = 0..N, interpolated linearly in ``sqrt(x)`` (max error about
    1e-6). Values near 0 (where steep power curves defeat interpolation) and next to BT.709's
    break at 0.018 are then recomputed exactly. Both loops run on cache-sized blocks, so the
    first vectorises and the second, rarely taken, reads from cache.
    """
    n = src.shape[0]
    inv_g = np.float32(1.0 / g)
    nblocks = (n + _ENCODE_BLOCK - 1) // _ENCODE_BLOCK
    for b in prange(nblocks):
        i0 = b * _ENCODE_BLOCK
        i1 = min(n, i0 + _ENCODE_BLOCK)
        _encode_block(src, i0, i1, mode, inv_g, lut, out[i0:i1])


@njit(cache=True, parallel=True)
def encode_display(src, mode, g, lut, full, out):
    """:func:`encode_gamma` and quantisation in one pass: ``out[i] = floor(e * full + 0.5)``
    with ``e`` the encoded float32 value (round half up, as ``runner.writers.quantize``).

    ``src`` flat float32, ``out`` flat uint8 or uint16 of the same size, ``full`` 255 or 65535.
    """
    n = src.shape[0]
    inv_g = np.float32(1.0 / g)
    scale = np.float32(full)
    half = np.float32(0.5)
    nblocks = (n + _ENCODE_BLOCK - 1) // _ENCODE_BLOCK
    for b in prange(nblocks):
        i0 = b * _ENCODE_BLOCK
        i1 = min(n, i0 + _ENCODE_BLOCK)
        buf = np.empty(i1 - i0, np.float32)
        _encode_block(src, i0, i1, mode, inv_g, lut, buf)
        for i in range(i1 - i0):
            out[i0 + i] = np.int64(buf[i] * scale + half)


# --------------------------------------------------------------------------------------------
# Python entry points of the banded kernels (the band count depends on the thread count, which a
# cached kernel may not read itself)


def demosaic_fused(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out,
                   mosaic_gains=NO_GAINS, rgb_gains=NO_GAINS):
    """See :func:`_demosaic_fused`."""
    _demosaic_fused(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out,
                    _chunks(src.shape[0]), mosaic_gains, rgb_gains)


def demosaic_median3_fused(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out,
                           mosaic_gains=NO_GAINS, rgb_gains=NO_GAINS):
    """See :func:`_demosaic_median3_fused`."""
    _demosaic_median3_fused(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out,
                            _chunks(src.shape[0]), mosaic_gains, rgb_gains)


def median3_color(rgb, matrix, use_matrix, flip, out):
    """See :func:`_median3_color`."""
    _median3_color(rgb, matrix, use_matrix, flip, out, _chunks(rgb.shape[0]))


def median5_color(rgb, matrix, use_matrix, flip, out):
    """See :func:`_median5_color`."""
    _median5_color(rgb, matrix, use_matrix, flip, out, _chunks(rgb.shape[0]))


def demosaic_median5_fused(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out,
                           mosaic_gains=NO_GAINS, rgb_gains=NO_GAINS):
    """See :func:`_demosaic_median5_fused`."""
    _demosaic_median5_fused(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out,
                            _chunks(src.shape[0]), mosaic_gains, rgb_gains)
