"""Numba kernel for the DNG lens-shading opcodes (GainMap, FixVignetteRadial).

Only loops: every argument is validated and every index table is built by ``isp.opcodes``.
One pass over the image, parallel over rows: each output row is written once from the input row
times the product of the radial vignette gains, then every gain-map entry that covers the row
multiplies it in place while the row is still in cache.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, fastmath=False)
def apply_gains(src, dst, ent, ri0, ri1, rw, ci0, ci1, cw, maps, vig, vdx2, vdy2):  # pragma: no cover - jitted
    """``dst = src * gains`` for an H x W x C float32 image.

    Parameters
    ----------
    src, dst : float32[H, W, C]
        Input and output (distinct, C-contiguous).
    ent : int64[E, 9]
        Gain-map entries, one per (opcode, image plane):
        ``y0, y1, row_pitch, x0, x1, col_pitch, plane, map_offset, map_points_h`` with ``y0``/``x0``
        already the first covered row/column >= 0 and ``y1``/``x1`` clipped to the image.
    ri0, ri1 : int64[E, H]; rw : float32[E, H]
        Per entry and row: the two map rows and the weight of the second.
    ci0, ci1 : int64[E, W]; cw : float32[E, W]
        Per entry and column: the two map columns and the weight of the second.
    maps : float32[N]
        The map planes, concatenated row-major (``map_offset`` / ``map_points_h`` index them).
    vig : float64[V, 5]
        FixVignetteRadial coefficients k0..k4.
    vdx2 : float64[V, W]; vdy2 : float64[V, H]
        Squared normalised horizontal / vertical distance of each column / row from the centre.
    """
    height, width, channels = src.shape
    n_ent = ent.shape[0]
    n_vig = vig.shape[0]
    for y in prange(height):
        # Copy, with the radial gain fused in.
        if n_vig == 0:
            for x in range(width):
                for c in range(channels):
                    dst[y, x, c] = src[y, x, c]
        else:
            for x in range(width):
                g = 1.0
                for v in range(n_vig):
                    r2 = vdx2[v, x] + vdy2[v, y]
                    g *= 1.0 + r2 * (vig[v, 0] + r2 * (vig[v, 1] + r2 * (vig[v, 2] + r2 * (vig[v, 3] + r2 * vig[v, 4]))))
                gf = np.float32(g)
                for c in range(channels):
                    dst[y, x, c] = src[y, x, c] * gf
        # Gain maps covering this row.
        for e in range(n_ent):
            y0 = ent[e, 0]
            if y < y0 or y >= ent[e, 1] or (y - y0) % ent[e, 2] != 0:
                continue
            x0 = ent[e, 3]
            x1 = ent[e, 4]
            step = ent[e, 5]
            c = ent[e, 6]
            nh = ent[e, 8]
            row0 = ent[e, 7] + ri0[e, y] * nh
            row1 = ent[e, 7] + ri1[e, y] * nh
            b = rw[e, y]
            a = np.float32(1.0) - b
            for x in range(x0, x1, step):
                j0 = ci0[e, x]
                j1 = ci1[e, x]
                d = cw[e, x]
                cc = np.float32(1.0) - d
                top = maps[row0 + j0] * cc + maps[row0 + j1] * d
                bot = maps[row1 + j0] * cc + maps[row1 + j1] * d
                dst[y, x, c] *= top * a + bot * b
