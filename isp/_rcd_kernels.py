"""Numba kernels of the RCD demosaic (Ratio Corrected Demosaicing, Luis Sanz Rodriguez, 2017):
loops only, no validation (``isp.demosaic`` checks and allocates).

The algorithm, as its author describes it (and RawTherapee / darktable ship it):

1. Vertical / horizontal discrimination: the squared response of the 1-D high-pass
   ``[1, -3, -1, 6, -1, -3, 1]`` along each direction, summed over three pixels across it, gives
   ``VH = V / (V + H)`` at every pixel (large: strong vertical detail, interpolate horizontally).
2. A low-pass of the raw data at every red and blue site (3x3, weights 1, 1/2, 1/4).
3. Green at red / blue sites: along each of the four cardinal directions the neighbouring green
   times the ratio of the low-pass here to the low-pass two pixels away (the "ratio correction"),
   the two of each axis weighted by the inverse of their directional gradients; the vertical and
   horizontal estimates mixed by ``VH`` (or by the mean of its four diagonal neighbours, whichever
   is more decided).
4. Red at blue and blue at red: the same scheme on the diagonals ``P`` (NW-SE) and ``Q`` (NE-SW)
   with colour differences instead of ratios, mixed by ``PQ = P / (P + Q)``.
5. Red and blue at green sites: cardinal colour differences (now that red and blue exist at every
   non-green site), mixed by ``VH`` again.

Differences from the reference implementation, all deliberate: nothing is clipped (the reference
clips every estimate to [0, 1]; here data above white and below black survive, as the ISP needs);
the ratio of step 3 has no epsilon in its denominator (a flat field stays exactly flat) and falls
back to 1 where the two low-passes are not both positive; borders are handled by mirroring the
mosaic about its edge pixels (``numpy.pad(mode="reflect")``, which keeps the CFA phase), so every
pixel gets the full algorithm.

The image is processed in square tiles (``TILE`` output pixels a side plus a ``MARGIN`` of mirrored
or neighbouring input each side), each by one thread with buffers that stay in cache; the tile
loader normalises the raw values on the fly (black level, white-balance scale, flat-field gain
map: the conventions of :mod:`isp._kernels`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._kernels import _store_segment, _value

#: Output pixels per tile side (even, so each tile starts on the CFA's phase).
TILE = 256
#: Rows / columns around a tile that RCD's five steps need (3 + 1 + 1 + 2 + 3).
STEP5_REACH = 10
#: Most refining passes a tile has room for (each reads 3 pixels further).
MAX_REFINE_PASSES = 2
#: Input pixels read beyond each side of a tile (even, so tiles keep the CFA phase).
MARGIN = STEP5_REACH + 3 * MAX_REFINE_PASSES

_EPS = np.float32(1e-5)
_EPSSQ = np.float32(1e-10)


@njit(cache=True, inline="always", error_model="numpy")
def _mirror(i, n):
    """Index of ``i`` in a length-``n`` axis mirrored about its end pixels (numpy 'reflect');
    keeps the parity of ``i``, hence the CFA phase. ``n >= 2``."""
    period = 2 * (n - 1)
    i = i % period
    if i < 0:
        i += period
    return i if i < n else period - i


@njit(cache=True, inline="always", error_model="numpy")
def _ratio(lc, ln):
    """RCD's ratio correction ``2 lc / (lc + ln)``, 1 where the low-passes are not both > 0."""
    if lc > 0 and ln > 0:
        return np.float32(2.0) * lc / (lc + ln)
    return np.float32(1.0)


@njit(cache=True, inline="always", error_model="numpy")
def _decided(central, neighbours):
    """The more decided (further from 0.5) of a direction weight and its neighbourhood's mean."""
    if abs(np.float32(0.5) - central) < abs(np.float32(0.5) - neighbours):
        return neighbours
    return central


@njit(cache=True, error_model="numpy")
def _load_tile(src, black, scale, gain_map, use_map, ty, tx, cols, cfa):
    """cfa[i, j] = normalised src[mirror(ty - MARGIN + i), mirror(tx - MARGIN + j)];
    ``cols`` (int64, one per tile column) is scratch for the mirrored column indices."""
    h, w = src.shape
    lh, lw = cfa.shape
    for j in range(lw):
        cols[j] = _mirror(tx - MARGIN + j, w)
    inside = tx - MARGIN >= 0 and tx - MARGIN + lw <= w
    for i in range(lh):
        sy = _mirror(ty - MARGIN + i, h)
        row = cfa[i]
        if inside:
            x0 = tx - MARGIN
            for j in range(lw):
                row[j] = _value(src, sy, x0 + j, black, scale, gain_map, use_map)
        else:
            for j in range(lw):
                row[j] = _value(src, sy, cols[j], black, scale, gain_map, use_map)


@njit(cache=True, error_model="numpy")
def _filters(cfa, site_ch, vhpf, hhpf, lpf, phpf, qhpf):
    """Steps 1.1 and 2 on one tile (local coordinates, even origin): the squared directional
    high-passes (vertical and horizontal everywhere, diagonal at red and blue sites) and the
    low-pass at red and blue sites, for rows and columns ``[3, size - 3)``."""
    lh, lw = cfa.shape
    three = np.float32(3.0)
    six = np.float32(6.0)
    half = np.float32(0.5)
    quarter = np.float32(0.25)
    # step 1.1 and 2: high-passes and the low-pass
    for y in range(3, lh - 3):
        ry = (y & 1) << 1
        ng = 1 if site_ch[ry] == 1 else 0  # column parity of the red / blue sites of this row
        for x in range(3, lw - 3):
            c0 = cfa[y, x]
            v = (cfa[y - 3, x] - cfa[y - 1, x] - cfa[y + 1, x] + cfa[y + 3, x]) \
                - three * (cfa[y - 2, x] + cfa[y + 2, x]) + six * c0
            hh = (cfa[y, x - 3] - cfa[y, x - 1] - cfa[y, x + 1] + cfa[y, x + 3]) \
                - three * (cfa[y, x - 2] + cfa[y, x + 2]) + six * c0
            vhpf[y, x] = v * v
            hhpf[y, x] = hh * hh
        for x in range(3 + ((ng + 1) & 1), lw - 3, 2):
            c0 = cfa[y, x]
            lpf[y, x] = c0 + half * (cfa[y - 1, x] + cfa[y + 1, x] + cfa[y, x - 1] + cfa[y, x + 1]) \
                + quarter * (cfa[y - 1, x - 1] + cfa[y - 1, x + 1] + cfa[y + 1, x - 1] + cfa[y + 1, x + 1])
            p = (cfa[y - 3, x - 3] - cfa[y - 1, x - 1] - cfa[y + 1, x + 1] + cfa[y + 3, x + 3]) \
                - three * (cfa[y - 2, x - 2] + cfa[y + 2, x + 2]) + six * c0
            q = (cfa[y - 3, x + 3] - cfa[y - 1, x + 1] - cfa[y + 1, x - 1] + cfa[y + 3, x - 3]) \
                - three * (cfa[y - 2, x + 2] + cfa[y + 2, x - 2]) + six * c0
            phpf[y, x] = p * p
            qhpf[y, x] = q * q


@njit(cache=True, error_model="numpy")
def _directions(site_ch, vhpf, hhpf, phpf, qhpf, vh, pq):
    """Step 1.2: the directional discrimination ``VH`` everywhere and ``PQ`` at red and blue
    sites, for rows and columns ``[4, size - 4)``."""
    lh, lw = vh.shape
    for y in range(4, lh - 4):
        ng = 1 if site_ch[(y & 1) << 1] == 1 else 0
        for x in range(4, lw - 4):
            vs = max(_EPSSQ, vhpf[y - 1, x] + vhpf[y, x] + vhpf[y + 1, x])
            hs = max(_EPSSQ, hhpf[y, x - 1] + hhpf[y, x] + hhpf[y, x + 1])
            vh[y, x] = vs / (vs + hs)
        for x in range(4 + (ng & 1), lw - 4, 2):
            ps = max(_EPSSQ, phpf[y - 1, x - 1] + phpf[y, x] + phpf[y + 1, x + 1])
            qs = max(_EPSSQ, qhpf[y - 1, x + 1] + qhpf[y, x] + qhpf[y + 1, x - 1])
            pq[y, x] = ps / (ps + qs)


@njit(cache=True, error_model="numpy")
def _green(cfa, site_ch, lpf, vh, green):
    """Step 3: green at red and blue sites (green sites keep theirs), for rows and columns
    ``[4, size - 4)`` (valid from 5)."""
    lh, lw = cfa.shape
    quarter = np.float32(0.25)
    one = np.float32(1.0)
    for y in range(4, lh - 4):
        ng = 1 if site_ch[(y & 1) << 1] == 1 else 0
        for x in range(4 + (1 - ng), lw - 4, 2):
            green[y, x] = cfa[y, x]
        for x in range(4 + ng, lw - 4, 2):
            c0 = cfa[y, x]
            gn = cfa[y - 1, x]
            gs = cfa[y + 1, x]
            gw = cfa[y, x - 1]
            ge = cfa[y, x + 1]
            n_grad = _EPS + abs(gn - gs) + abs(c0 - cfa[y - 2, x]) + abs(gn - cfa[y - 3, x]) \
                + abs(cfa[y - 2, x] - cfa[y - 4, x])
            s_grad = _EPS + abs(gn - gs) + abs(c0 - cfa[y + 2, x]) + abs(gs - cfa[y + 3, x]) \
                + abs(cfa[y + 2, x] - cfa[y + 4, x])
            w_grad = _EPS + abs(gw - ge) + abs(c0 - cfa[y, x - 2]) + abs(gw - cfa[y, x - 3]) \
                + abs(cfa[y, x - 2] - cfa[y, x - 4])
            e_grad = _EPS + abs(gw - ge) + abs(c0 - cfa[y, x + 2]) + abs(ge - cfa[y, x + 3]) \
                + abs(cfa[y, x + 2] - cfa[y, x + 4])
            lc = lpf[y, x]
            n_est = gn * _ratio(lc, lpf[y - 2, x])
            s_est = gs * _ratio(lc, lpf[y + 2, x])
            w_est = gw * _ratio(lc, lpf[y, x - 2])
            e_est = ge * _ratio(lc, lpf[y, x + 2])
            v_est = (s_grad * n_est + n_grad * s_est) / (n_grad + s_grad)
            h_est = (w_grad * e_est + e_grad * w_est) / (e_grad + w_grad)
            disc = _decided(
                vh[y, x],
                quarter * (vh[y - 1, x - 1] + vh[y - 1, x + 1] + vh[y + 1, x - 1] + vh[y + 1, x + 1]),
            )
            green[y, x] = disc * h_est + (one - disc) * v_est


@njit(cache=True, error_model="numpy")
def _red_blue(cfa, site_ch, pq, green, other):
    """Step 4: red at blue and blue at red (``other``), along the diagonals, for rows and
    columns ``[6, size - 6)``."""
    lh, lw = cfa.shape
    quarter = np.float32(0.25)
    one = np.float32(1.0)
    for y in range(6, lh - 6):
        ng = 1 if site_ch[(y & 1) << 1] == 1 else 0
        for x in range(6 + ng, lw - 6, 2):
            g0 = green[y, x]
            cnw = cfa[y - 1, x - 1]
            cne = cfa[y - 1, x + 1]
            csw = cfa[y + 1, x - 1]
            cse = cfa[y + 1, x + 1]
            disc = _decided(
                pq[y, x],
                quarter * (pq[y - 1, x - 1] + pq[y - 1, x + 1] + pq[y + 1, x - 1] + pq[y + 1, x + 1]),
            )
            nw_grad = _EPS + abs(cnw - cse) + abs(cnw - cfa[y - 3, x - 3]) + abs(g0 - green[y - 2, x - 2])
            ne_grad = _EPS + abs(cne - csw) + abs(cne - cfa[y - 3, x + 3]) + abs(g0 - green[y - 2, x + 2])
            sw_grad = _EPS + abs(cne - csw) + abs(csw - cfa[y + 3, x - 3]) + abs(g0 - green[y + 2, x - 2])
            se_grad = _EPS + abs(cnw - cse) + abs(cse - cfa[y + 3, x + 3]) + abs(g0 - green[y + 2, x + 2])
            nw_est = cnw - green[y - 1, x - 1]
            ne_est = cne - green[y - 1, x + 1]
            sw_est = csw - green[y + 1, x - 1]
            se_est = cse - green[y + 1, x + 1]
            p_est = (nw_grad * se_est + se_grad * nw_est) / (nw_grad + se_grad)
            q_est = (ne_grad * sw_est + sw_grad * ne_est) / (ne_grad + sw_grad)
            other[y, x] = g0 + (one - disc) * p_est + disc * q_est


@njit(cache=True, inline="always", error_model="numpy")
def _cardinal_estimate(g0, dn, ds, dw, de, cn, cs, cn3, cs3, cw, ce, cw3, ce3, gn1, gs1, gw1, ge1, disc):
    """Step 5 for one colour at a green site ``g0``: ``d*`` the green differences to the
    greens two pixels away, ``c*`` / ``c*3`` the colour one / three pixels away, ``g*1`` the
    (interpolated) green one pixel away; ``disc`` the horizontal weight."""
    n_grad = _EPS + abs(dn) + abs(cn - cs) + abs(cn - cn3)
    s_grad = _EPS + abs(ds) + abs(cs - cn) + abs(cs - cs3)
    w_grad = _EPS + abs(dw) + abs(cw - ce) + abs(cw - cw3)
    e_grad = _EPS + abs(de) + abs(ce - cw) + abs(ce - ce3)
    n_est = cn - gn1
    s_est = cs - gs1
    w_est = cw - gw1
    e_est = ce - ge1
    v_est = (n_grad * s_est + s_grad * n_est) / (n_grad + s_grad)
    h_est = (e_grad * w_est + w_grad * e_est) / (e_grad + w_grad)
    return g0 + (np.float32(1.0) - disc) * v_est + disc * h_est


@njit(cache=True, error_model="numpy")
def _rcd_tile_rgb(cfa, site_ch, vh, green, other, rgb):
    """Step 5: red and blue at green sites; fills the tile's planar ``rgb`` (3 x size x size) for
    rows and columns ``[STEP5_REACH, size - STEP5_REACH)``."""
    lh, lw = cfa.shape
    quarter = np.float32(0.25)
    lo = STEP5_REACH
    for y in range(lo, lh - lo):
        ry = (y & 1) << 1
        ng = 1 if site_ch[ry] == 1 else 0  # column parity of the red / blue sites
        own = site_ch[ry | ng]
        pown = rgb[own]
        pg = rgb[1]
        poth = rgb[2 - own]
        for x in range(lo + ((lo + ng) & 1), lw - lo, 2):
            pown[y, x] = cfa[y, x]
            pg[y, x] = green[y, x]
            poth[y, x] = other[y, x]
        hc = own  # at this row's green sites, the horizontal neighbours carry the row's colour
        vc = 2 - own
        ph = rgb[hc]
        pv = rgb[vc]
        for x in range(lo + ((lo + ng + 1) & 1), lw - lo, 2):
            g0 = cfa[y, x]
            disc = _decided(
                vh[y, x],
                quarter * (vh[y - 1, x - 1] + vh[y - 1, x + 1] + vh[y + 1, x - 1] + vh[y + 1, x + 1]),
            )
            dn = g0 - cfa[y - 2, x]
            ds = g0 - cfa[y + 2, x]
            dw = g0 - cfa[y, x - 2]
            de = g0 - cfa[y, x + 2]
            gn1 = green[y - 1, x]
            gs1 = green[y + 1, x]
            gw1 = green[y, x - 1]
            ge1 = green[y, x + 1]
            pg[y, x] = g0
            # the row's colour: raw on the row, interpolated ("other") on the column
            ph[y, x] = _cardinal_estimate(
                g0, dn, ds, dw, de,
                other[y - 1, x], other[y + 1, x], other[y - 3, x], other[y + 3, x],
                cfa[y, x - 1], cfa[y, x + 1], cfa[y, x - 3], cfa[y, x + 3],
                gn1, gs1, gw1, ge1, disc,
            )
            # the column's colour: raw on the column, interpolated on the row
            pv[y, x] = _cardinal_estimate(
                g0, dn, ds, dw, de,
                cfa[y - 1, x], cfa[y + 1, x], cfa[y - 3, x], cfa[y + 3, x],
                other[y, x - 1], other[y, x + 1], other[y, x - 3], other[y, x + 3],
                gn1, gs1, gw1, ge1, disc,
            )


@njit(cache=True, inline="always", error_model="numpy")
def _directional_mean(a, b, y, x, d):
    """Mean of ``a - b`` over the 3 pixels through (y, x) along each axis, mixed with the
    horizontal weight ``d``."""
    dh = (a[y, x - 1] - b[y, x - 1]) + (a[y, x] - b[y, x]) + (a[y, x + 1] - b[y, x + 1])
    dv = (a[y - 1, x] - b[y - 1, x]) + (a[y, x] - b[y, x]) + (a[y + 1, x] - b[y + 1, x])
    return np.float32(1.0 / 3.0) * (d * dh + (np.float32(1.0) - d) * dv)


@njit(cache=True, error_model="numpy")
def _refine_red_blue_sites(site_ch, vh, rgb, lo, green):
    """One refining sub-step at the red and blue sites of rows / columns ``[lo, size - lo)``:
    green from the difference to the site's own colour (``green``), else the site's missing
    colour from the red - blue difference, each averaged along the direction."""
    lh = rgb.shape[1]
    lw = rgb.shape[2]
    for y in range(lo, lh - lo):
        ry = (y & 1) << 1
        ng = 1 if site_ch[ry] == 1 else 0  # column parity of the red / blue sites of this row
        own = site_ch[ry | ng]
        po = rgb[own]
        pg = rgb[1]
        pc = rgb[2 - own]
        vy = vh[y]
        x0 = lo + ((lo + ng) & 1)
        if green:
            for x in range(x0, lw - lo, 2):
                pg[y, x] = po[y, x] - _directional_mean(po, pg, y, x, vy[x])
        else:
            for x in range(x0, lw - lo, 2):
                pc[y, x] = po[y, x] + _directional_mean(pc, po, y, x, vy[x])


@njit(cache=True, error_model="numpy")
def _refine_green_sites(site_ch, rgb, lo):
    """The refining sub-step at the green sites of rows / columns ``[lo, size - lo)``: red and
    blue from the colour differences of the two neighbours that carry each."""
    lh = rgb.shape[1]
    lw = rgb.shape[2]
    half = np.float32(0.5)
    for y in range(lo, lh - lo):
        ry = (y & 1) << 1
        ng = 1 if site_ch[ry] == 1 else 0
        hc = site_ch[ry | ng]  # colour of the horizontal neighbours of this row's green sites
        ph = rgb[hc]
        pv = rgb[2 - hc]
        pg = rgb[1]
        for x in range(lo + ((lo + ng + 1) & 1), lw - lo, 2):
            g0 = pg[y, x]
            ph[y, x] = g0 + half * (ph[y, x - 1] - pg[y, x - 1] + ph[y, x + 1] - pg[y, x + 1])
            pv[y, x] = g0 + half * (pv[y - 1, x] - pg[y - 1, x] + pv[y + 1, x] - pg[y + 1, x])


@njit(cache=True, error_model="numpy")
def _refine_tile(site_ch, vh, rgb, passes):
    """Menon et al. 2007's refining step, ``passes`` times, in place on the tile's planar ``rgb``,
    with RCD's soft vertical / horizontal weight ``vh`` (1: horizontal) in place of Menon's hard
    decisions. Each pass: (a) green at red / blue sites from the colour difference to the own
    colour averaged over 3 pixels along the direction; (b) red and blue at green sites from the
    colour differences of the two neighbours that carry them; (c) red at blue and blue at red from
    the red - blue difference averaged along the direction. Each sub-step reads one pixel around,
    so a pass shrinks the valid region by 3 (sub-steps never read what they write)."""
    lo = STEP5_REACH
    for _ in range(passes):
        _refine_red_blue_sites(site_ch, vh, rgb, lo + 1, True)
        _refine_green_sites(site_ch, rgb, lo + 2)
        _refine_red_blue_sites(site_ch, vh, rgb, lo + 3, False)
        lo += 3


@njit(cache=True, error_model="numpy")
def _interleave(rgb, y, x0, n, dst):
    """dst[3 k + c] = rgb[c, y, x0 + k] for k < n: one tile row as flat interleaved RGB."""
    r0 = rgb[0, y]
    r1 = rgb[1, y]
    r2 = rgb[2, y]
    for k in range(n):
        dst[3 * k] = r0[x0 + k]
        dst[3 * k + 1] = r1[x0 + k]
        dst[3 * k + 2] = r2[x0 + k]


@njit(cache=True, parallel=True)
def demosaic_rcd(src, black, scale, gain_map, site_ch, passes, matrix, use_matrix, flip, out, disp):
    """RCD demosaic of a raw (uint16) or normalised (float32) H x W mosaic, followed by
    ``passes`` (0 to ``MAX_REFINE_PASSES``) refining passes, written to ``out`` (float32, unclipped)
    as :func:`isp._kernels.color_orient` writes it: ``matrix @ rgb`` when ``use_matrix``,
    oriented by ``flip``, with the display codes ``disp`` (:data:`isp._kernels.DisplayCodes`)
    beside it (``use_matrix`` False, ``flip`` 0 and :data:`isp._kernels.NO_DISPLAY`: camera RGB,
    H x W x 3, sensor orientation). ``H, W >= 2``.

    Values are normalised on load as in :func:`isp._kernels.normalize_mosaic`
    (``max(v - black, 0) * scale (* gain_map)``). Tiles of ``TILE`` x ``TILE`` output pixels run in
    parallel, a band of tiles per thread iteration, with buffers allocated once per band; each
    tile's rows are colour converted and stored while in cache (no full-frame camera-RGB
    intermediate).
    """
    h, w = src.shape
    use_map = gain_map.shape[0] > 0
    nty = (h + TILE - 1) // TILE
    ntx = (w + TILE - 1) // TILE
    size = TILE + 2 * MARGIN
    for bi in prange(nty):
        ty = bi * TILE
        th = min(TILE, h - ty)
        cfa = np.zeros((size, size), np.float32)
        vhpf = np.zeros((size, size), np.float32)
        hhpf = np.zeros((size, size), np.float32)
        lpf = np.zeros((size, size), np.float32)
        phpf = np.zeros((size, size), np.float32)
        qhpf = np.zeros((size, size), np.float32)
        vh = np.zeros((size, size), np.float32)
        pq = np.zeros((size, size), np.float32)
        green = np.zeros((size, size), np.float32)
        other = np.zeros((size, size), np.float32)
        rgb = np.zeros((3, size, size), np.float32)
        cols = np.zeros(size, np.int64)
        rgbrow = np.empty(3 * TILE, np.float32)
        for bj in range(ntx):
            # every tile is computed full size (past the image's end on mirrored data, which
            # keeps the buffers contiguous and the loops fixed); only its inside is stored
            tx = bj * TILE
            tw = min(TILE, w - tx)
            _load_tile(src, black, scale, gain_map, use_map, ty, tx, cols, cfa)
            _filters(cfa, site_ch, vhpf, hhpf, lpf, phpf, qhpf)
            _directions(site_ch, vhpf, hhpf, phpf, qhpf, vh, pq)
            _green(cfa, site_ch, lpf, vh, green)
            _red_blue(cfa, site_ch, pq, green, other)
            _rcd_tile_rgb(cfa, site_ch, vh, green, other, rgb)
            _refine_tile(site_ch, vh, rgb, passes)
            for i in range(th):
                _interleave(rgb, MARGIN + i, MARGIN, tw, rgbrow)
                _store_segment(rgbrow, ty + i, tx, tw, h, w, matrix, use_matrix, flip, out, disp)
