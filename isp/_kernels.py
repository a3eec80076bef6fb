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
* ``g2``, ``g3`` (banded demosaic): DNG lens-shading gains as :data:`ShadingTables` (see
  :data:`NO_GAINS`), evaluated per row by :func:`isp._shading_kernels.row_gains`: ``g2``
  (OpcodeList2) multiplies each normalised mosaic row, in place of ``gain_map`` (the two are
  exclusive), ``g3`` (OpcodeList3) each demosaiced camera-RGB row before the median filters and
  the colour matrix see it.
* ``disp`` (every kernel that writes the oriented output): :data:`DisplayCodes` written beside
  the linear output, in the same pass (:data:`NO_DISPLAY` for none).

Every loop that must vectorise lives in a serial function called per row or block: loops written
directly inside a ``prange`` body do not vectorise (a 7x difference for the quantiser).
Everything is compiled with ``cache=True`` so a fresh process with a warm cache pays no
compilation.
"""

from __future__ import annotations

from collections import namedtuple

import numba
import numpy as np
from numba import njit, prange

from ._shading_kernels import column_segments, max_map_points, row_gains

#: DNG lens-shading gains as index tables: what ``isp.opcodes.LensShading.fused_gain_tables``
#: builds (in this field order) and :func:`isp._shading_kernels.row_gains` reads.
ShadingTables = namedtuple("ShadingTables", "ent ri0 ri1 rw ci0 cw maps vig vdx2 vdy2")

#: "No shading gains" for the banded demosaic: every table empty.
NO_GAINS = ShadingTables(
    np.zeros((0, 9), np.int64), np.zeros((0, 0), np.int64), np.zeros((0, 0), np.int64),
    np.zeros((0, 0), np.float32), np.zeros((0, 0), np.int64), np.zeros((0, 0), np.float32),
    np.ones(1, np.float32), np.zeros((0, 5), np.float64), np.zeros((0, 0), np.float64),
    np.zeros((0, 0), np.float64),
)  # fmt: skip

#: Display codes a pass writes beside its linear output: ``codes`` (uint8 or uint16, the output's
#: shape; shape (0, 0, 3) for none), the transfer curve's kernel ``mode`` and exponent ``p``
#: (see :func:`encode_transfer`), and the full-scale code ``full`` (255 or 65535).
DisplayCodes = namedtuple("DisplayCodes", "codes mode p full")

#: No display codes.
NO_DISPLAY = DisplayCodes(np.zeros((0, 0, 3), np.uint16), 0, 1.0, 65535)

#: A mosaic as the banded demosaic reads it: raw (uint16) or normalised (float32) values and
#: their levels (see the conventions above); ``use_map``: whether ``gain_map`` is non-empty.
MosaicLevels = namedtuple("MosaicLevels", "src black scale gain_map use_map site_ch")

#: One band's ring buffers: per-column levels of a row (``brow``, ``srow``), normalised rows
#: (``nbuf``, tagged with their row in ``ntag``), a pixel scratch (``pix``) and demosaiced rows
#: (``rbuf``, flat interleaved RGB, tagged in ``rtag``).
RowRings = namedtuple("RowRings", "brow srow nbuf ntag pix rbuf rtag")

#: One band's state of the on-the-fly shading gains: the tables of each list, whether it applies,
#: its column segments, and scratch rows for :func:`isp._shading_kernels.row_gains`.
ShadingWorkspace = namedtuple(
    "ShadingWorkspace",
    "mosaic use_mosaic seg_mosaic rgb use_rgb seg_rgb radial mapbuf gain_mosaic gain_rgb",
)

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
def _row_gains(y, channels, tables, seg, ws, gain):
    """:func:`isp._shading_kernels.row_gains` of ``tables`` (a :data:`ShadingTables`) for row y."""
    t = tables
    row_gains(y, channels, t.ent, t.ri0, t.ri1, t.rw, t.ci0, t.cw, t.maps, t.vig, t.vdx2, t.vdy2,
              seg, ws.radial, ws.mapbuf, gain)


@njit(cache=True)
def _ensure_norm(r, lv, ring, sh):
    """Slot of ``ring.nbuf`` holding normalised row r of the :data:`MosaicLevels` ``lv``
    (computed if not there yet). The row's gain is ``gain_map[r]`` (user flat field) or, with
    mosaic shading gains in the :data:`ShadingWorkspace` ``sh``, their row computed on the fly."""
    nbuf = ring.nbuf
    slot = r % nbuf.shape[0]
    if ring.ntag[slot] != r:
        if lv.use_map:
            _norm_row(lv.src, r, lv.black, lv.scale, lv.gain_map[r], True, ring.brow, ring.srow,
                      nbuf[slot])
        elif sh.use_mosaic:
            _row_gains(r, 1, sh.mosaic, sh.seg_mosaic, sh, sh.gain_mosaic)
            _norm_row(lv.src, r, lv.black, lv.scale, sh.gain_mosaic, True, ring.brow, ring.srow,
                      nbuf[slot])
        else:
            _norm_row(lv.src, r, lv.black, lv.scale, sh.gain_mosaic, False, ring.brow, ring.srow,
                      nbuf[slot])
        ring.ntag[slot] = r
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
def _store_row(rgbrow, y, h, w, matrix, use_matrix, flip, out, disp):
    """Write one sensor row (flat interleaved RGB) into the oriented output: see
    :func:`_store_segment`."""
    _store_segment(rgbrow, y, 0, w, h, w, matrix, use_matrix, flip, out, disp)


@njit(cache=True)
def _store_segment(rgbrow, y, x0, n, h, w, matrix, use_matrix, flip, out, disp):
    """Write sensor pixels (y, x0 .. x0 + n - 1) of an h x w mosaic, given as flat interleaved
    RGB ``rgbrow`` (length >= 3 n), into the oriented output, colour converted, and, when
    ``disp`` (a :data:`DisplayCodes`) has codes, their display codes too: encoded and quantised
    exactly as :func:`encode_transfer` does, while the segment is in cache."""
    _store_linear_segment(rgbrow, y, x0, n, h, w, matrix, use_matrix, flip, out)
    codes = disp.codes
    if codes.shape[0] == 0:
        return
    if flip == 0:
        conv = out[y, x0:x0 + n].reshape(3 * n)
    else:
        conv = np.empty(3 * n, np.float32)
        for k in range(n):
            oy, ox = _dest(y, x0 + k, h, w, flip)
            conv[3 * k] = out[oy, ox, 0]
            conv[3 * k + 1] = out[oy, ox, 1]
            conv[3 * k + 2] = out[oy, ox, 2]
    enc = np.empty(3 * n, np.float32)
    _encode_row(conv, disp.mode, disp.p, enc)
    if flip == 0:
        _quantise_block(enc, disp.full, codes[y, x0:x0 + n].reshape(3 * n))
        return
    row = np.empty(3 * n, codes.dtype)
    _quantise_block(enc, disp.full, row)
    for k in range(n):
        oy, ox = _dest(y, x0 + k, h, w, flip)
        codes[oy, ox, 0] = row[3 * k]
        codes[oy, ox, 1] = row[3 * k + 1]
        codes[oy, ox, 2] = row[3 * k + 2]


@njit(cache=True)
def _store_linear_segment(rgbrow, y, x0, n, h, w, matrix, use_matrix, flip, out):
    """Write sensor pixels (y, x0 .. x0 + n - 1) (flat interleaved RGB) into the oriented output,
    colour converted."""
    if flip == 0 and not use_matrix:
        o = out[y]
        for k in range(n):
            o[x0 + k, 0] = rgbrow[3 * k]
            o[x0 + k, 1] = rgbrow[3 * k + 1]
            o[x0 + k, 2] = rgbrow[3 * k + 2]
        return
    m00, m01, m02 = matrix[0, 0], matrix[0, 1], matrix[0, 2]
    m10, m11, m12 = matrix[1, 0], matrix[1, 1], matrix[1, 2]
    m20, m21, m22 = matrix[2, 0], matrix[2, 1], matrix[2, 2]
    if flip == 0:
        o = out[y]
        for k in range(n):
            r = rgbrow[3 * k]
            g = rgbrow[3 * k + 1]
            b = rgbrow[3 * k + 2]
            o[x0 + k, 0] = m00 * r + m01 * g + m02 * b
            o[x0 + k, 1] = m10 * r + m11 * g + m12 * b
            o[x0 + k, 2] = m20 * r + m21 * g + m22 * b
        return
    for k in range(n):
        r = rgbrow[3 * k]
        g = rgbrow[3 * k + 1]
        b = rgbrow[3 * k + 2]
        oy, ox = _dest(y, x0 + k, h, w, flip)
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
def _ensure_rgb(r, lv, ring, sh):
    """Slot of ``ring.rbuf`` holding demosaiced row r (computed if not there yet), times the
    camera-RGB shading gains of ``sh`` when there are any."""
    h, w = lv.src.shape
    rbuf = ring.rbuf
    slot = r % rbuf.shape[0]
    if ring.rtag[slot] != r:
        sc = _ensure_norm(r, lv, ring, sh)
        su = sc
        sd = sc
        if r > 0:
            su = _ensure_norm(r - 1, lv, ring, sh)
        if r < h - 1:
            sd = _ensure_norm(r + 1, lv, ring, sh)
        rgbrow = rbuf[slot]
        nbuf = ring.nbuf
        _demosaic_row(r, h, w, lv.site_ch, nbuf[su], nbuf[sc], nbuf[sd], ring.pix, rgbrow)
        if sh.use_rgb:
            _row_gains(r, 3, sh.rgb, sh.seg_rgb, sh, sh.gain_rgb)
            gain = sh.gain_rgb
            for i in range(3 * w):
                rgbrow[i] *= gain[i]
        ring.rtag[slot] = r
    return slot


@njit(cache=True)
def _has_gains(g):
    """Whether :data:`ShadingTables` hold any gain map or vignette."""
    return g.ent.shape[0] > 0 or g.vig.shape[0] > 0


@njit(cache=True)
def _shading_workspace(w, g2, g3):
    """A band's :data:`ShadingWorkspace` for mosaic gains ``g2`` and camera-RGB gains ``g3``."""
    use2 = _has_gains(g2)
    use3 = _has_gains(g3)
    nmap = max(max_map_points(g2.ent), max_map_points(g3.ent))
    return ShadingWorkspace(
        g2, use2, column_segments(g2.ent, g2.ci0), g3, use3, column_segments(g3.ent, g3.ci0),
        np.empty(w, np.float64), np.empty(nmap + 1, np.float32), np.empty(w, np.float32),
        np.empty(3 * w if use3 else 0, np.float32),
    )


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


# --------------------------------------------------------------------------------------------
# colour matrix + orientation on an RGB image


@njit(cache=True, parallel=True)
def color_orient(rgb, matrix, use_matrix, flip, out, disp):
    """out[dest(y, x)] = matrix @ rgb[y, x] (or rgb[y, x]), and display codes per ``disp``."""
    h, w, _ = rgb.shape
    flat = rgb.reshape(h, 3 * w)
    for y in prange(h):
        _store_row(flat[y], y, h, w, matrix, use_matrix, flip, out, disp)


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
def _median3_color(rgb, matrix, use_matrix, flip, out, n, disp):
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
            _store_row(med, y, h, w, matrix, use_matrix, flip, out, disp)


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
def _median5_color(rgb, matrix, use_matrix, flip, out, n, disp):
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
            _store_row(med, y, h, w, matrix, use_matrix, flip, out, disp)


@njit(cache=True, parallel=True)
def _demosaic_banded(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out, n, median,
                     g2, g3, disp):
    """The ISP in one pass: bilinear demosaic of a raw (uint16) or normalised (float32) mosaic,
    then a ``median`` x ``median`` median per channel (0: none, 3 or 5), colour and orientation,
    into ``out`` (float32 H x W x 3, or W x H x 3 when ``flip & 4``).

    Interior pixels use the 3x3 bilinear kernels (LibRaw ``lin_interpolate``), the one-pixel
    border LibRaw's ``border_interpolate`` rule. Each of the ``n`` bands of rows is walked by one
    thread with a ring of normalised rows (each raw value normalised once per band) and a ring
    of demosaiced rows as deep as the median needs (1, 4 or 8), which the median reads as they
    come: no full-frame temporary. ``g2`` / ``g3``: :data:`ShadingTables` of the lens-shading
    gains on the mosaic / on camera RGB (:data:`NO_GAINS` for none); ``disp``: display codes
    written in the same pass (:data:`NO_DISPLAY` for none).
    """
    h, w = src.shape
    depth = 1 if median == 0 else (4 if median == 3 else 8)
    n3 = 3 * w + 6 if median == 3 else 0
    n5 = 5 if median == 5 else 0
    for ci in prange(n):
        y0 = ci * h // n
        y1 = (ci + 1) * h // n
        lv = MosaicLevels(src, black, scale, gain_map, gain_map.shape[0] > 0, site_ch)
        ring = RowRings(
            np.empty(w, np.float32), np.empty(w, np.float32), np.empty((4, w), np.float32),
            np.full(4, -1, np.int64), np.empty(3, np.float32), np.empty((depth, 3 * w), np.float32),
            np.full(depth, -1, np.int64),
        )
        sh = _shading_workspace(w, g2, g3)
        lo = np.empty(n3, np.float32)
        mi = np.empty(n3, np.float32)
        hi = np.empty(n3, np.float32)
        rows = np.empty((n5, 3 * w), np.float32)
        srt = np.empty((n5, 3 * w + 12), np.float32)
        med = np.empty(3 * w if median else 0, np.float32)
        rbuf = ring.rbuf
        for y in range(y0, y1):
            if median == 0:
                slot = _ensure_rgb(y, lv, ring, sh)
                _store_row(rbuf[slot], y, h, w, matrix, use_matrix, flip, out, disp)
                continue
            if median == 3:
                su = _ensure_rgb(max(y - 1, 0), lv, ring, sh)
                sc = _ensure_rgb(y, lv, ring, sh)
                sd = _ensure_rgb(min(y + 1, h - 1), lv, ring, sh)
                _median3_row(rbuf[su], rbuf[sc], rbuf[sd], w, lo, mi, hi, med)
            else:
                for k in range(5):
                    rows[k] = rbuf[_ensure_rgb(_reflect(y + k - 2, h), lv, ring, sh)]
                _median5_row(rows, w, srt, med)
            _store_row(med, y, h, w, matrix, use_matrix, flip, out, disp)


# --------------------------------------------------------------------------------------------
# display encoding
#
# The transfer curves are evaluated as ``2^(p log2 x)`` with float32 polynomials on whole
# blocks, in loops the compiler vectorises (no table lookups, no libm calls): within 2e-7 of the
# float64 curve, so the codes are those of the float64 curve or one off where it lies within
# that distance of a rounding boundary. Loops with a float division need
# ``error_model="numpy"`` (Numba's zero-division check stops vectorisation).

#: Values per block of the display encoders (a cache-sized run of a flat array).
_ENCODE_BLOCK = 8192


@njit(cache=True)
def _clip_unit(src, dst):
    """dst[i] = clip(src[i], 0, 1), NaN -> 0."""
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for i in range(src.shape[0]):
        v = src[i]
        dst[i] = zero if not (v > zero) else (one if v > one else v)


@njit(cache=True)
def _split_exponent(bits, exps):
    """x = 2^e * m, m in [sqrt(1/2), sqrt(2)): e into ``exps``, and ``bits`` (the float32 bits of
    x >= 0) replaced in place by those of m (one array read and written at the same index, so
    the loop vectorises without an aliasing check)."""
    for i in range(bits.shape[0]):
        b = bits[i]
        e = ((b >> 23) & 0xFF) - 127
        mb = (b & 0x7FFFFF) | 0x3F800000
        above = np.int32(mb > 0x3FB504F3)  # m > sqrt(2): halve it
        exps[i] = e + above
        bits[i] = mb - (above << 23)


@njit(cache=True, error_model="numpy")
def _pow_fraction(exps, m, p):
    """With x = 2^exps * m: m <- 2^f and exps <- k, where p log2 x = k + f, k integer,
    |f| <= 1/2. log2 m from the atanh series (|s| < 0.172, error < 4e-10), 2^f from Taylor
    (error < 5e-9)."""
    c = np.float32(2.0 / np.log(2.0))
    ln2 = np.float32(np.log(2.0))
    one = np.float32(1.0)
    for i in range(m.shape[0]):
        mm = m[i]
        s = (mm - one) / (mm + one)
        s2 = s * s
        l2 = c * s * (one + s2 * (np.float32(1 / 3) + s2 * (np.float32(1 / 5) + s2 * (
            np.float32(1 / 7) + s2 * np.float32(1 / 9)))))
        t = max(p * (np.float32(exps[i]) + l2), np.float32(-200.0))  # 2^-200: 0 anyway
        k = np.int32(t + np.float32(512.5)) - 512  # round to nearest (t > -512)
        f = (t - np.float32(k)) * ln2
        m[i] = one + f * (one + f * (np.float32(1 / 2) + f * (np.float32(1 / 6) + f * (
            np.float32(1 / 24) + f * (np.float32(1 / 120) + f * (np.float32(1 / 720) + f * np.float32(1 / 5040)))))))
        exps[i] = k


@njit(cache=True)
def _scale_exponent(fbits, exps, x):
    """fbits <- bits of 2^exps * (float of fbits) (results below 2^-126 flushed up to about
    2^-126: far below any code), 0 where x is 0."""
    for i in range(fbits.shape[0]):
        k = max(exps[i], np.int32(-126))
        v = fbits[i] + (k << 23)
        fbits[i] = v if x[i] > np.float32(0.0) else np.int32(0)


@njit(cache=True)
def _power_block(x, p, exps, y):
    """y[i] = x[i] ** p for x in [0, 1] (0 -> 0); ``exps`` int32 scratch. Values below 2^-60
    (subnormals included) are scaled by 2^64 first, so the exponent split sees normal numbers."""
    lift = np.float32(2.0**64)
    small = np.float32(2.0**-60)
    for i in range(x.shape[0]):
        v = x[i]
        y[i] = v * lift if v < small else v
    ybits = y.view(np.int32)
    _split_exponent(ybits, exps)
    for i in range(x.shape[0]):
        exps[i] -= np.int32(64) if x[i] < small else np.int32(0)
    _pow_fraction(exps, y, np.float32(p))
    _scale_exponent(ybits, exps, x)


@njit(cache=True)
def _encode_block(src, mode, p, dst, exps, pw):
    """dst[i] = transfer(clip(src[i], 0, 1)) in [0, 1] (see :func:`encode_transfer`); ``exps``
    (int32) and ``pw`` (float32) are scratch of src's length. Serial, so its loops vectorise."""
    _clip_unit(src, dst)
    if mode == 0:
        return
    _power_block(dst, p, exps, pw)
    zero = np.float32(0.0)
    one = np.float32(1.0)
    n = dst.shape[0]
    if mode == 1:
        for i in range(n):
            v = dst[i]
            e = np.float32(12.92) * v if v <= np.float32(0.0031308) else (
                np.float32(1.055) * pw[i] - np.float32(0.055))
            dst[i] = min(max(e, zero), one)
    elif mode == 2:
        for i in range(n):
            v = dst[i]
            e = np.float32(4.5) * v if v < np.float32(0.018) else (
                np.float32(1.099) * pw[i] - np.float32(0.099))
            dst[i] = min(max(e, zero), one)
    else:
        for i in range(n):
            dst[i] = min(pw[i], one)


@njit(cache=True)
def _encode_row(src, mode, p, dst):
    """:func:`_encode_block` with its scratch allocated."""
    n = src.shape[0]
    _encode_block(src, mode, p, dst, np.empty(n, np.int32), np.empty(n, np.float32))


@njit(cache=True)
def _quantise_block(enc, full, codes):
    """codes[i] = floor(enc[i] * full + 0.5) for encoded values in [0, 1] (round half up)."""
    scale = np.float32(full)
    half = np.float32(0.5)
    for i in range(enc.shape[0]):
        codes[i] = np.int64(enc[i] * scale + half)


@njit(cache=True, parallel=True)
def encode_transfer(src, mode, p, full, out):
    """Clip to [0, 1] and encode (mode 0: linear, 1: sRGB, 2: BT.709, 3: power p = 1/g; ``p``
    from :func:`isp.color.transfer_exponent`), then, for ``full`` > 0, quantise:
    ``out[i] = floor(e * full + 0.5)`` (round half up, as ``runner.writers.quantize``).

    ``src`` flat float32; ``out`` of the same size, float32 for ``full`` = 0, else uint8 / uint16
    (``full`` 255 / 65535); NaN becomes 0. The work runs on cache-sized blocks; every display
    kernel encodes through :func:`_encode_block`, so all of them give the same codes.
    """
    n = src.shape[0]
    nblocks = (n + _ENCODE_BLOCK - 1) // _ENCODE_BLOCK
    for b in prange(nblocks):
        i0 = b * _ENCODE_BLOCK
        i1 = min(n, i0 + _ENCODE_BLOCK)
        if full == 0:
            _encode_row(src[i0:i1], mode, p, out[i0:i1])
        else:
            buf = np.empty(i1 - i0, np.float32)
            _encode_row(src[i0:i1], mode, p, buf)
            _quantise_block(buf, full, out[i0:i1])


# --------------------------------------------------------------------------------------------
# Python entry points of the banded kernels (the band count depends on the thread count, which a
# cached kernel may not read itself)


def demosaic_banded(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out, *,
                    median=0, mosaic_gains=NO_GAINS, rgb_gains=NO_GAINS, display=NO_DISPLAY):
    """See :func:`_demosaic_banded`; ``median`` 0, 3 or 5; the gains any 10-sequence in
    :data:`ShadingTables` order (as ``LensShading.fused_gain_tables`` returns them)."""
    _demosaic_banded(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out,
                     _chunks(src.shape[0]), int(median), ShadingTables(*mosaic_gains),
                     ShadingTables(*rgb_gains), display)


def median3_color(rgb, matrix, use_matrix, flip, out, display=NO_DISPLAY):
    """See :func:`_median3_color`."""
    _median3_color(rgb, matrix, use_matrix, flip, out, _chunks(rgb.shape[0]), display)


def median5_color(rgb, matrix, use_matrix, flip, out, display=NO_DISPLAY):
    """See :func:`_median5_color`."""
    _median5_color(rgb, matrix, use_matrix, flip, out, _chunks(rgb.shape[0]), display)
