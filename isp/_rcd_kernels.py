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
or neighbouring input each side), each by one thread with 8 tile-sized float32 planes allocated
once per thread; the tile loader normalises the raw values on the fly (black level,
white-balance scale, flat-field gain map: the conventions of :mod:`isp._kernels`), and each
finished tile row is colour converted, oriented and display-encoded by ``_kernels._store_segment``.

How the loops are written, for speed (each rule measured; together 3.8x, exact same output):
every step runs over *every* pixel of a row (an estimate a site does not need is computed and
discarded by a select, or left unread) instead of stepping by 2 over one CFA parity, which does
not vectorise; rows are taken as 1-D views (``cfa0`` the row, ``cfam2`` / ``cfap2`` the rows 2
above / below); and each x loop counts from 0 with compile-time offsets (``x = i + 4``), so the
compiler knows no index is negative: Numba's negative-index wraparound otherwise turns every load
into a gather. In-place refining writes go through a scratch row (no loop-carried dependence).
"""

from __future__ import annotations

import numba
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


@njit(cache=True, inline="always", error_model="numpy")
def _decided_at(w0, wm1, wp1, x):
    """:func:`_decided` of the weight ``w0[x]`` and the mean of its four diagonal neighbours
    (``wm1`` / ``wp1``: the weight's rows above / below)."""
    return _decided(w0[x], np.float32(0.25) * (wm1[x - 1] + wm1[x + 1] + wp1[x - 1] + wp1[x + 1]))


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
def _filters(cfa, vhpf, hhpf, lpf, phpf, qhpf):
    """Steps 1.1 and 2 on one tile (local coordinates, even origin): the squared directional
    high-passes (vertical, horizontal, both diagonals) and the low-pass, for rows and columns
    ``[3, size - 3)``."""
    lh, lw = cfa.shape
    three = np.float32(3.0)
    six = np.float32(6.0)
    half = np.float32(0.5)
    quarter = np.float32(0.25)
    # step 1.1 and 2: high-passes and the low-pass, at every pixel (a loop the compiler
    # vectorises; the diagonal ones are only read at red and blue sites)
    for y in range(3, lh - 3):
        cfa0, cfam1, cfam2, cfam3 = cfa[y], cfa[y - 1], cfa[y - 2], cfa[y - 3]
        cfap1, cfap2, cfap3 = cfa[y + 1], cfa[y + 2], cfa[y + 3]
        hhpf0 = hhpf[y]
        lpf0 = lpf[y]
        phpf0 = phpf[y]
        qhpf0 = qhpf[y]
        vhpf0 = vhpf[y]
        for i in range(lw - 2 * 3):  # from 0, so indices are known >= 0 (no gathers)
            x = i + 3
            c0 = cfa0[x]
            v = (cfam3[x] - cfam1[x] - cfap1[x] + cfap3[x]) \
                - three * (cfam2[x] + cfap2[x]) + six * c0
            hh = (cfa0[x - 3] - cfa0[x - 1] - cfa0[x + 1] + cfa0[x + 3]) \
                - three * (cfa0[x - 2] + cfa0[x + 2]) + six * c0
            vhpf0[x] = v * v
            hhpf0[x] = hh * hh
            lpf0[x] = c0 + half * (cfam1[x] + cfap1[x] + cfa0[x - 1] + cfa0[x + 1]) \
                + quarter * (cfam1[x - 1] + cfam1[x + 1] + cfap1[x - 1] + cfap1[x + 1])
            p = (cfam3[x - 3] - cfam1[x - 1] - cfap1[x + 1] + cfap3[x + 3]) \
                - three * (cfam2[x - 2] + cfap2[x + 2]) + six * c0
            q = (cfam3[x + 3] - cfam1[x + 1] - cfap1[x - 1] + cfap3[x - 3]) \
                - three * (cfam2[x + 2] + cfap2[x - 2]) + six * c0
            phpf0[x] = p * p
            qhpf0[x] = q * q


@njit(cache=True, error_model="numpy")
def _directions(vhpf, hhpf, phpf, qhpf, vh, pq):
    """Step 1.2: the directional discriminations ``VH`` and ``PQ`` (``PQ`` is only read at red
    and blue sites), for rows and columns ``[4, size - 4)``."""
    lh, lw = vh.shape
    for y in range(4, lh - 4):
        hhpf0 = hhpf[y]
        phpf0, phpfm1, phpfp1 = phpf[y], phpf[y - 1], phpf[y + 1]
        pq0 = pq[y]
        qhpf0, qhpfm1, qhpfp1 = qhpf[y], qhpf[y - 1], qhpf[y + 1]
        vh0 = vh[y]
        vhpf0, vhpfm1, vhpfp1 = vhpf[y], vhpf[y - 1], vhpf[y + 1]
        for i in range(lw - 2 * 4):  # from 0, so indices are known >= 0 (no gathers)
            x = i + 4
            vs = max(_EPSSQ, vhpfm1[x] + vhpf0[x] + vhpfp1[x])
            hs = max(_EPSSQ, hhpf0[x - 1] + hhpf0[x] + hhpf0[x + 1])
            vh0[x] = vs / (vs + hs)
            ps = max(_EPSSQ, phpfm1[x - 1] + phpf0[x] + phpfp1[x + 1])
            qs = max(_EPSSQ, qhpfm1[x + 1] + qhpf0[x] + qhpfp1[x - 1])
            pq0[x] = ps / (ps + qs)


@njit(cache=True, error_model="numpy")
def _green(cfa, site_ch, lpf, vh, green):
    """Step 3: green at red and blue sites (green sites keep theirs), for rows and columns
    ``[4, size - 4)`` (valid from 5)."""
    lh, lw = cfa.shape
    one = np.float32(1.0)
    for y in range(4, lh - 4):
        ng = 1 if site_ch[(y & 1) << 1] == 1 else 0
        # every pixel is estimated and green sites keep their own: a loop that vectorises
        cfa0, cfam1, cfam2, cfam3 = cfa[y], cfa[y - 1], cfa[y - 2], cfa[y - 3]
        cfam4, cfap1, cfap2, cfap3 = cfa[y - 4], cfa[y + 1], cfa[y + 2], cfa[y + 3]
        cfap4 = cfa[y + 4]
        green0 = green[y]
        lpf0, lpfm2, lpfp2 = lpf[y], lpf[y - 2], lpf[y + 2]
        vh0, vhm1, vhp1 = vh[y], vh[y - 1], vh[y + 1]
        for i in range(lw - 2 * 4):  # from 0, so indices are known >= 0 (no gathers)
            x = i + 4
            c0 = cfa0[x]
            gn = cfam1[x]
            gs = cfap1[x]
            gw = cfa0[x - 1]
            ge = cfa0[x + 1]
            n_grad = _EPS + abs(gn - gs) + abs(c0 - cfam2[x]) + abs(gn - cfam3[x]) \
                + abs(cfam2[x] - cfam4[x])
            s_grad = _EPS + abs(gn - gs) + abs(c0 - cfap2[x]) + abs(gs - cfap3[x]) \
                + abs(cfap2[x] - cfap4[x])
            w_grad = _EPS + abs(gw - ge) + abs(c0 - cfa0[x - 2]) + abs(gw - cfa0[x - 3]) \
                + abs(cfa0[x - 2] - cfa0[x - 4])
            e_grad = _EPS + abs(gw - ge) + abs(c0 - cfa0[x + 2]) + abs(ge - cfa0[x + 3]) \
                + abs(cfa0[x + 2] - cfa0[x + 4])
            lc = lpf0[x]
            n_est = gn * _ratio(lc, lpfm2[x])
            s_est = gs * _ratio(lc, lpfp2[x])
            w_est = gw * _ratio(lc, lpf0[x - 2])
            e_est = ge * _ratio(lc, lpf0[x + 2])
            v_est = (s_grad * n_est + n_grad * s_est) / (n_grad + s_grad)
            h_est = (w_grad * e_est + e_grad * w_est) / (e_grad + w_grad)
            disc = _decided_at(vh0, vhm1, vhp1, x)
            green0[x] = disc * h_est + (one - disc) * v_est if (x & 1) == ng else c0


@njit(cache=True, error_model="numpy")
def _red_blue(cfa, pq, green, other):
    """Step 4: red at blue and blue at red (``other``, meaningful at red and blue sites), along
    the diagonals, for rows and columns ``[6, size - 6)``."""
    lh, lw = cfa.shape
    one = np.float32(1.0)
    for y in range(6, lh - 6):
        # every pixel (only red and blue sites are read): a loop that vectorises
        cfam1, cfam3, cfap1, cfap3 = cfa[y - 1], cfa[y - 3], cfa[y + 1], cfa[y + 3]
        green0, greenm1, greenm2, greenp1 = green[y], green[y - 1], green[y - 2], green[y + 1]
        greenp2 = green[y + 2]
        other0 = other[y]
        pq0, pqm1, pqp1 = pq[y], pq[y - 1], pq[y + 1]
        for i in range(lw - 2 * 6):  # from 0, so indices are known >= 0 (no gathers)
            x = i + 6
            g0 = green0[x]
            cnw = cfam1[x - 1]
            cne = cfam1[x + 1]
            csw = cfap1[x - 1]
            cse = cfap1[x + 1]
            disc = _decided_at(pq0, pqm1, pqp1, x)
            nw_grad = _EPS + abs(cnw - cse) + abs(cnw - cfam3[x - 3]) + abs(g0 - greenm2[x - 2])
            ne_grad = _EPS + abs(cne - csw) + abs(cne - cfam3[x + 3]) + abs(g0 - greenm2[x + 2])
            sw_grad = _EPS + abs(cne - csw) + abs(csw - cfap3[x - 3]) + abs(g0 - greenp2[x - 2])
            se_grad = _EPS + abs(cnw - cse) + abs(cse - cfap3[x + 3]) + abs(g0 - greenp2[x + 2])
            nw_est = cnw - greenm1[x - 1]
            ne_est = cne - greenm1[x + 1]
            sw_est = csw - greenp1[x - 1]
            se_est = cse - greenp1[x + 1]
            p_est = (nw_grad * se_est + se_grad * nw_est) / (nw_grad + se_grad)
            q_est = (ne_grad * sw_est + sw_grad * ne_est) / (ne_grad + sw_grad)
            other0[x] = g0 + (one - disc) * p_est + disc * q_est


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


@njit(cache=True, inline="always", error_model="numpy")
def _step5_estimate(x, cfa0, cfam2, cfap2, col_m1, col_p1, col_m3, col_p3, row_c, greenm1, green0,
                    greenp1, vhm1, vh0, vhp1):
    """Step 5 at the green site ``x`` of a row for one colour: ``col_*`` the rows above (m) and
    below (p) that carry it on the column, ``row_c`` the row that carries it on the row (raw
    where the mosaic has it, else step 4's "other"). Names ending in ``m<k>`` / ``p<k>``: the
    rows k above / below."""
    g0 = cfa0[x]
    disc = _decided_at(vh0, vhm1, vhp1, x)
    return _cardinal_estimate(
        g0, g0 - cfam2[x], g0 - cfap2[x], g0 - cfa0[x - 2], g0 - cfa0[x + 2],
        col_m1[x], col_p1[x], col_m3[x], col_p3[x],
        row_c[x - 1], row_c[x + 1], row_c[x - 3], row_c[x + 3],
        greenm1[x], greenp1[x], green0[x - 1], green0[x + 1], disc,
    )


@njit(cache=True, error_model="numpy")
def _rcd_tile_rgb(cfa, site_ch, vh, green, other, rgb):
    """Step 5: red and blue at green sites; fills the tile's planar ``rgb`` (3 x size x size) for
    rows and columns ``[STEP5_REACH, size - STEP5_REACH)``.

    Every pixel of a row gets each estimate and red / blue sites keep their values: one loop
    per plane, from 0 with compile-time offsets, so each vectorises."""
    lh, lw = cfa.shape
    lo = STEP5_REACH
    n = lw - 2 * STEP5_REACH
    for y in range(lo, lh - lo):
        ry = (y & 1) << 1
        ng = 1 if site_ch[ry] == 1 else 0  # column parity of the red / blue sites
        own = site_ch[ry | ng]  # at this row's green sites, the horizontal neighbours carry it
        cfa0, cfam1, cfam2, cfam3 = cfa[y], cfa[y - 1], cfa[y - 2], cfa[y - 3]
        cfap1, cfap2, cfap3 = cfa[y + 1], cfa[y + 2], cfa[y + 3]
        greenm1, green0, greenp1 = green[y - 1], green[y], green[y + 1]
        other0, otherm1, otherm3 = other[y], other[y - 1], other[y - 3]
        otherp1, otherp3 = other[y + 1], other[y + 3]
        vhm1, vh0, vhp1 = vh[y - 1], vh[y], vh[y + 1]
        dst = rgb[1, y]
        for i in range(n):
            dst[i + STEP5_REACH] = green0[i + STEP5_REACH]  # green sites: their own value
        dst = rgb[own, y]  # the row's colour: raw on the row, interpolated on the column
        for i in range(n):
            x = i + STEP5_REACH
            est = _step5_estimate(x, cfa0, cfam2, cfap2, otherm1, otherp1, otherm3, otherp3, cfa0,
                                  greenm1, green0, greenp1, vhm1, vh0, vhp1)
            dst[x] = cfa0[x] if (x & 1) == ng else est
        dst = rgb[2 - own, y]  # the column's colour: raw on the column, interpolated on the row
        for i in range(n):
            x = i + STEP5_REACH
            est = _step5_estimate(x, cfa0, cfam2, cfap2, cfam1, cfap1, cfam3, cfap3, other0,
                                  greenm1, green0, greenp1, vhm1, vh0, vhp1)
            dst[x] = other0[x] if (x & 1) == ng else est


#: First row / column the refining passes compute (each sub-step on the same region: pixels
#: beyond its valid part only feed pixels that are invalid anyway, so the stored ones are
#: unchanged, and the compile-time bounds let the loops vectorise).
_REFINE_LO = STEP5_REACH + 1


@njit(cache=True, inline="always", error_model="numpy")
def _directional_mean(a_m1, a0, a_p1, b_m1, b0, b_p1, x, d):
    """Mean of ``a - b`` over the 3 pixels through column x of row 0 along each axis (``_m1`` /
    ``_p1``: the rows above / below), mixed with the horizontal weight ``d``."""
    dh = (a0[x - 1] - b0[x - 1]) + (a0[x] - b0[x]) + (a0[x + 1] - b0[x + 1])
    dv = (a_m1[x] - b_m1[x]) + (a0[x] - b0[x]) + (a_p1[x] - b_p1[x])
    return np.float32(1.0 / 3.0) * (d * dh + (np.float32(1.0) - d) * dv)


@njit(cache=True, error_model="numpy")
def _keep_parity(src, ng, dst):
    """dst[x] = src[x - _REFINE_LO] at the columns x of parity ``ng`` in the refined region."""
    for i in range(src.shape[0]):
        x = i + _REFINE_LO
        dst[x] = src[i] if (x & 1) == ng else dst[x]


@njit(cache=True, error_model="numpy")
def _refine_red_blue_sites(site_ch, vh, rgb, green, tmp):
    """One refining sub-step at the red and blue sites: green from the difference to the site's
    own colour (``green``), else the site's missing colour from the red - blue difference, each
    averaged along the direction. Every pixel of a row is computed into ``tmp`` first (a loop
    that vectorises), then the red / blue sites are copied back."""
    lh = rgb.shape[1]
    for y in range(_REFINE_LO, lh - _REFINE_LO):
        ry = (y & 1) << 1
        ng = 1 if site_ch[ry] == 1 else 0  # column parity of the red / blue sites of this row
        own = site_ch[ry | ng]
        po_m1, po0, po_p1 = rgb[own, y - 1], rgb[own, y], rgb[own, y + 1]
        c = 1 if green else 2 - own  # the channel this sub-step writes
        pc_m1, pc0, pc_p1 = rgb[c, y - 1], rgb[c, y], rgb[c, y + 1]
        vy = vh[y]
        if green:
            for i in range(tmp.shape[0]):
                x = i + _REFINE_LO
                tmp[i] = po0[x] - _directional_mean(po_m1, po0, po_p1, pc_m1, pc0, pc_p1, x, vy[x])
        else:
            for i in range(tmp.shape[0]):
                x = i + _REFINE_LO
                tmp[i] = po0[x] + _directional_mean(pc_m1, pc0, pc_p1, po_m1, po0, po_p1, x, vy[x])
        _keep_parity(tmp, ng, pc0)


@njit(cache=True, error_model="numpy")
def _refine_green_sites(site_ch, rgb, tmp_h, tmp_v):
    """The refining sub-step at the green sites: red and blue from the colour differences of
    the two neighbours that carry each (computed at every pixel into ``tmp_h`` / ``tmp_v``,
    then copied back at the green sites)."""
    lh = rgb.shape[1]
    half = np.float32(0.5)
    for y in range(_REFINE_LO, lh - _REFINE_LO):
        ry = (y & 1) << 1
        ng = 1 if site_ch[ry] == 1 else 0
        hc = site_ch[ry | ng]  # colour of the horizontal neighbours of this row's green sites
        ph0 = rgb[hc, y]
        pv_m1, pv0, pv_p1 = rgb[2 - hc, y - 1], rgb[2 - hc, y], rgb[2 - hc, y + 1]
        pg_m1, pg0, pg_p1 = rgb[1, y - 1], rgb[1, y], rgb[1, y + 1]
        for i in range(tmp_h.shape[0]):
            x = i + _REFINE_LO
            g0 = pg0[x]
            tmp_h[i] = g0 + half * (ph0[x - 1] - pg0[x - 1] + ph0[x + 1] - pg0[x + 1])
            tmp_v[i] = g0 + half * (pv_m1[x] - pg_m1[x] + pv_p1[x] - pg_p1[x])
        _keep_parity(tmp_h, 1 - ng, ph0)
        _keep_parity(tmp_v, 1 - ng, pv0)


@njit(cache=True, error_model="numpy")
def _refine_tile(site_ch, vh, rgb, passes, tmp):
    """Menon et al. 2007's refining step, ``passes`` times, in place on the tile's planar ``rgb``,
    with RCD's soft vertical / horizontal weight ``vh`` (1: horizontal) in place of Menon's hard
    decisions. Each pass: (a) green at red / blue sites from the colour difference to the own
    colour averaged over 3 pixels along the direction; (b) red and blue at green sites from the
    colour differences of the two neighbours that carry them; (c) red at blue and blue at red from
    the red - blue difference averaged along the direction. Each sub-step reads one pixel around,
    so a pass shrinks the valid region by 3 (sub-steps never read what they write). ``tmp``:
    float32 (2, size - 2 _REFINE_LO) scratch."""
    for _ in range(passes):
        _refine_red_blue_sites(site_ch, vh, rgb, True, tmp[0])
        _refine_green_sites(site_ch, rgb, tmp[0], tmp[1])
        _refine_red_blue_sites(site_ch, vh, rgb, False, tmp[0])


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
def _demosaic_rcd(src, black, scale, gain_map, site_ch, passes, matrix, use_matrix, flip, out, disp,
                  workers):
    """See :func:`demosaic_rcd`; ``workers`` parallel iterations, each walking every
    ``workers``-th band of tiles with buffers allocated once."""
    h, w = src.shape
    use_map = gain_map.shape[0] > 0
    nty = (h + TILE - 1) // TILE
    ntx = (w + TILE - 1) // TILE
    size = TILE + 2 * MARGIN
    for wi in prange(workers):
        # 8 tile-sized planes: a step's outputs reuse the planes of inputs no later step reads
        cfa = np.empty((size, size), np.float32)
        vhpf = np.empty((size, size), np.float32)
        hhpf = np.empty((size, size), np.float32)
        rgb = np.empty((3, size, size), np.float32)
        lpf = rgb[0]
        phpf = rgb[1]
        qhpf = rgb[2]
        vh = np.empty((size, size), np.float32)
        pq = np.empty((size, size), np.float32)
        green = vhpf  # the high-passes are dead once VH and PQ exist
        other = hhpf
        cols = np.empty(size, np.int64)
        rgbrow = np.empty(3 * TILE, np.float32)
        tmp = np.empty((2, size - 2 * _REFINE_LO), np.float32)
        for bi in range(wi, nty, workers):
            ty = bi * TILE
            th = min(TILE, h - ty)
            for bj in range(ntx):
                # every tile is computed full size (past the image's end on mirrored data, which
                # keeps the buffers contiguous and the loops fixed); only its inside is stored
                tx = bj * TILE
                tw = min(TILE, w - tx)
                _load_tile(src, black, scale, gain_map, use_map, ty, tx, cols, cfa)
                _filters(cfa, vhpf, hhpf, lpf, phpf, qhpf)
                _directions(vhpf, hhpf, phpf, qhpf, vh, pq)
                _green(cfa, site_ch, lpf, vh, green)
                _red_blue(cfa, pq, green, other)
                _rcd_tile_rgb(cfa, site_ch, vh, green, other, rgb)  # lpf, PQ, P, Q are dead
                _refine_tile(site_ch, vh, rgb, passes, tmp)
                for i in range(th):
                    _interleave(rgb, MARGIN + i, MARGIN, tw, rgbrow)
                    _store_segment(rgbrow, ty + i, tx, tw, h, w, matrix, use_matrix, flip, out,
                                   disp)


def demosaic_rcd(src, black, scale, gain_map, site_ch, passes, matrix, use_matrix, flip, out, disp):
    """RCD demosaic of a raw (uint16) or normalised (float32) H x W mosaic, followed by
    ``passes`` (0 to ``MAX_REFINE_PASSES``) refining passes, written to ``out`` (float32, unclipped)
    as :func:`isp._kernels.color_orient` writes it: ``matrix @ rgb`` when ``use_matrix``,
    oriented by ``flip``, with the display codes ``disp`` (:data:`isp._kernels.DisplayCodes`)
    beside it (``use_matrix`` False, ``flip`` 0 and :data:`isp._kernels.NO_DISPLAY`: camera RGB,
    H x W x 3, sensor orientation). ``H, W >= 2``.

    Values are normalised on load as in :func:`isp._kernels.normalize_mosaic`
    (``max(v - black, 0) * scale (* gain_map)``). Tiles of ``TILE`` x ``TILE`` output pixels run in
    parallel, one worker per thread walking bands of tiles with its buffers allocated once; each
    tile's rows are colour converted and stored while in cache (no full-frame camera-RGB
    intermediate).
    """
    nty = (src.shape[0] + TILE - 1) // TILE
    _demosaic_rcd(src, black, scale, gain_map, site_ch, int(passes), matrix, bool(use_matrix),
                  int(flip), out, disp, int(min(nty, numba.get_num_threads())))
