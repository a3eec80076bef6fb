"""Numba kernels for the DNG lens-shading opcodes (GainMap, FixVignetteRadial).

Only loops: every argument is validated and every index table is built by ``isp.opcodes``.
One pass over the image, parallel over rows. For each row the kernel builds the row's combined
gain (product of every radial vignette and every gain-map entry covering the row) in a small
buffer that stays in L1 cache, then writes ``dst = src * gain`` in one contiguous, vectorisable
loop. A gain map is first interpolated vertically at its own ``MapPointsH`` columns (a few dozen
values), so each covered pixel costs one horizontal lerp.

:func:`row_gains` computes the same gains one row at a time, for ``isp.develop``'s fused
demosaic kernels (``isp._kernels``), which multiply them into the rows they produce.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def map_row(y, e, ent, ri0, ri1, rw, maps, row):  # pragma: no cover - jitted
    """Gain-map entry ``e`` at image row ``y``, interpolated vertically at its map columns.

    Returns False, leaving ``row`` alone, where the entry does not cover row ``y`` (outside its
    area or off its row pitch). Otherwise fills ``row[0:nh]`` (``nh = map_points_h``) with the
    map rows ``ri0``/``ri1`` blended by ``rw`` and repeats the last value in ``row[nh]``, so that
    reading one past the last map column is harmless, and returns True. Shared by
    :func:`apply_gains` and :func:`row_gains`, which must agree bit for bit.
    """
    y0 = ent[e, 0]
    if y < y0 or y >= ent[e, 1] or (y - y0) % ent[e, 2] != 0:
        return False
    nh = ent[e, 8]
    base0 = ent[e, 7] + ri0[e, y] * nh
    base1 = ent[e, 7] + ri1[e, y] * nh
    b = rw[e, y]
    a = np.float32(1.0) - b
    for j in range(nh):
        row[j] = maps[base0 + j] * a + maps[base1 + j] * b
    row[nh] = row[nh - 1]
    return True


@njit(cache=True, parallel=True)
def apply_gains(src, dst, src_rows, dst_rows, ent, ri0, ri1, rw, ci0, cw, maps, max_nh, vig, vdx2, vdy2):  # pragma: no cover - jitted
    """``dst = src * gains`` for an H x W x C float32 image.

    Parameters
    ----------
    src, dst : float32[H, W, C]
        Input and output (distinct, C-contiguous).
    src_rows, dst_rows : float32[H, W * C]
        The same two arrays reshaped to rows (views of the same memory): the final multiply runs
        over them as flat, vectorisable rows, while the radial-only path is faster on the 3-D view.
    ent : int64[E, 9]
        Gain-map entries, one per (opcode, image plane):
        ``y0, y1, row_pitch, x0, x1, col_pitch, plane, map_offset, map_points_h`` with ``y0``/``x0``
        already the first covered row/column >= 0 and ``y1``/``x1`` clipped to the image.
    ri0, ri1 : int64[E, H]; rw : float32[E, H]
        Per entry and row: the two map rows and the weight of the second.
    ci0 : int64[E, W]; cw : float32[E, W]
        Per entry and column: the first map column and the weight of the next one (0 where the
        map is clamped, so reading one past the last column is harmless: the row buffer repeats it).
    maps : float32[N]
        The map planes, concatenated row-major (``map_offset`` / ``map_points_h`` index them).
    max_nh : int
        The largest ``map_points_h`` (size of the per-row map buffer, minus one).
    vig : float64[V, 5]
        FixVignetteRadial coefficients k0..k4.
    vdx2 : float64[V, W]; vdy2 : float64[V, H]
        Squared normalised horizontal / vertical distance of each column / row from the centre.
    """
    height, width, channels = src.shape
    row_len = width * channels
    n_ent = ent.shape[0]
    n_vig = vig.shape[0]
    for y in prange(height):
        radial = np.ones(width, np.float64)
        for v in range(n_vig):
            k0, k1, k2, k3, k4 = vig[v, 0], vig[v, 1], vig[v, 2], vig[v, 3], vig[v, 4]
            dy2 = vdy2[v, y]
            for x in range(width):
                r2 = vdx2[v, x] + dy2
                radial[x] *= 1.0 + r2 * (k0 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4))))
        if n_ent == 0:  # radial gains only: straight to the output
            for x in range(width):
                g = np.float32(radial[x])
                for c in range(channels):
                    dst[y, x, c] = src[y, x, c] * g
            continue
        gain = np.empty(row_len, np.float32)
        if n_vig == 0:
            for i in range(row_len):
                gain[i] = 1.0
        else:
            for x in range(width):
                g = np.float32(radial[x])
                for c in range(channels):
                    gain[x * channels + c] = g
        row = np.empty(max_nh + 1, np.float32)
        for e in range(n_ent):
            if not map_row(y, e, ent, ri0, ri1, rw, maps, row):
                continue
            c = ent[e, 6]
            for x in range(ent[e, 3], ent[e, 4], ent[e, 5]):
                j = ci0[e, x]
                g0 = row[j]
                gain[x * channels + c] *= g0 + (row[j + 1] - g0) * cw[e, x]
        s = src_rows[y]
        d = dst_rows[y]
        for i in range(row_len):
            d[i] = s[i] * gain[i]


# --------------------------------------------------------------------------------------------
# per-row gains for isp.develop's fused demosaic kernels


@njit(cache=True)
def max_map_points(ent):  # pragma: no cover - jitted
    """The largest ``map_points_h`` of a table of entries (1 when there is none)."""
    n = 1
    for e in range(ent.shape[0]):
        n = max(n, ent[e, 8])
    return n


@njit(cache=True)
def column_segments(ent, ci0):  # pragma: no cover - jitted
    """Per gain-map entry, where each map interval starts along a row.

    ``seg[e, j]`` is the first column the entry covers (``x0 + k * col_pitch``) whose map
    interval ``ci0[e, x]`` is >= j, for j = 0..``map_points_h`` (the last one is past the
    covered columns); ``ci0`` never decreases along a row, so interval j holds the covered
    columns ``range(seg[e, j], seg[e, j + 1], col_pitch)``. For :func:`row_gains`.
    """
    n_ent = ent.shape[0]
    seg = np.empty((n_ent, max_map_points(ent) + 1), np.int64)
    for e in range(n_ent):
        x, x1, pitch, nh = ent[e, 3], ent[e, 4], ent[e, 5], ent[e, 8]
        for j in range(nh + 1):
            while x < x1 and ci0[e, x] < j:
                x += pitch
            seg[e, j] = x
    return seg


@njit(cache=True)
def row_gains(y, channels, ent, ri0, ri1, rw, ci0, cw, maps, vig, vdx2, vdy2, seg, radial, mapbuf, gain):  # pragma: no cover - jitted
    """The combined gain of image row ``y`` into ``gain`` (float32[W * C], interleaved channels).

    Same tables and the same arithmetic, operation for operation, as :func:`apply_gains` (so
    ``src[y] * gain`` equals its output row bit for bit), for kernels that apply the gains on the
    fly to rows they produce themselves. ``seg`` is ``column_segments(ent, ci0)``: each map
    interval's columns are walked with its two gains held, which lets the loop vectorise.
    ``radial`` (float64[W]) and ``mapbuf`` (float32[max_map_points(ent) + 1]) are scratch.
    """
    width = radial.shape[0]
    n_ent = ent.shape[0]
    n_vig = vig.shape[0]
    if n_vig == 0:
        for i in range(width * channels):
            gain[i] = 1.0
    else:
        k0, k1, k2, k3, k4 = vig[0, 0], vig[0, 1], vig[0, 2], vig[0, 3], vig[0, 4]
        dy2 = vdy2[0, y]
        dx2 = vdx2[0]
        for x in range(width):  # 1.0 * the first gain, exactly
            r2 = dx2[x] + dy2
            radial[x] = 1.0 + r2 * (k0 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4))))
        for v in range(1, n_vig):
            k0, k1, k2, k3, k4 = vig[v, 0], vig[v, 1], vig[v, 2], vig[v, 3], vig[v, 4]
            dy2 = vdy2[v, y]
            dx2 = vdx2[v]
            for x in range(width):
                r2 = dx2[x] + dy2
                radial[x] *= 1.0 + r2 * (k0 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4))))
        if channels == 1:
            for x in range(width):
                gain[x] = np.float32(radial[x])
        elif channels == 3:
            for x in range(width):
                g = np.float32(radial[x])
                gain[3 * x] = g
                gain[3 * x + 1] = g
                gain[3 * x + 2] = g
        else:
            for x in range(width):
                g = np.float32(radial[x])
                for c in range(channels):
                    gain[x * channels + c] = g
    for e in range(n_ent):
        if not map_row(y, e, ent, ri0, ri1, rw, maps, mapbuf):
            continue
        nh = ent[e, 8]
        c = ent[e, 6]
        pitch = ent[e, 5]
        cwe = cw[e]
        for j in range(nh):
            g0 = mapbuf[j]
            dg = mapbuf[j + 1] - g0
            xs = seg[e, j]
            xe = seg[e, j + 1]
            if channels == 1 and pitch == 2:  # per-site maps on a mosaic: a constant stride
                for k in range((xe - xs + 1) // 2):
                    x = xs + 2 * k
                    gain[x] *= g0 + dg * cwe[x]
            else:
                for x in range(xs, xe, pitch):
                    gain[x * channels + c] *= g0 + dg * cwe[x]
