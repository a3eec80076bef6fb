"""The demosaic registry: :data:`DEMOSAIC_ALGORITHMS`, :func:`demosaic` and one function per algorithm.

===============  ============================================================================
``bilinear``   LibRaw's LINEAR (``lin_interpolate`` + ``border_interpolate``), exactly;
               :func:`isp.demosaic_bilinear`. ``develop`` fuses it with every other stage.
``rcd``        Ratio Corrected Demosaicing (Luis Sanz Rodriguez, 2017), edge-aware:
               :func:`demosaic_rcd`.
``rcd_refined``  RCD, then two passes of the refining step of Menon, Andriani and Calvagno
               (2007, "Demosaicing with directional filtering and a posteriori decision"),
               steered by RCD's soft direction weights: ``demosaic_rcd(..., refine=2)``.
===============  ============================================================================

Every algorithm takes a normalised, white-balanced mosaic (H x W, sensor orientation) and returns
float32 H x W x 3 camera RGB, unclipped, each site keeping its own value exactly.
"""

from __future__ import annotations

import numpy as np

from .cfa import CFAOrder, check_cfa, site_channels
from .config import DEMOSAIC_ALGORITHMS, DemosaicAlgorithm
from .errors import ISPInputError

__all__ = ["DEMOSAIC_ALGORITHMS", "demosaic", "demosaic_rcd"]

#: Refining passes of each RCD-based algorithm.
RCD_PASSES = {"rcd": 0, "rcd_refined": 2}

_EMPTY_MAP = np.zeros((0, 0), np.float32)
_NO_BLACK = np.zeros(4, np.float32)
_UNIT = np.ones(4, np.float32)
_IDENTITY = np.eye(3, dtype=np.float32)


def _float_mosaic(mosaic: object) -> np.ndarray:
    arr = np.asarray(mosaic)
    if arr.ndim != 2 or arr.dtype.kind not in "fiu" or arr.size == 0:
        raise ISPInputError(
            f"mosaic must be a non-empty 2-D real array; got dtype {arr.dtype}, shape {arr.shape}"
        )
    return np.ascontiguousarray(arr, dtype=np.float32)


def demosaic_rcd(mosaic: np.ndarray, cfa: CFAOrder = "RGGB", *, refine: int = 0) -> np.ndarray:
    """RCD demosaic (Ratio Corrected Demosaicing, L. Sanz Rodriguez 2017), optionally refined.

    Green is interpolated along the less-detailed of the vertical and horizontal axes, each
    neighbour corrected by the ratio of local low-passes; red and blue by colour differences along
    the diagonals, then the cardinals. ``refine`` passes of Menon et al. 2007's refining step then
    smooth the colour differences along the same directions (green at red / blue sites, red and
    blue at green sites, red at blue and blue at red). Nothing is clipped (data above white
    survives); borders use the mosaic mirrored about its edge pixels. Images smaller than 2 x 2
    fall back to bilinear.

    Parameters
    ----------
    mosaic : numpy.ndarray
        H x W real mosaic, normalised (black 0, white 1) and white-balanced, values >= 0 (what
        :func:`isp.apply_black_level` and :func:`isp.apply_white_balance` give).
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}
    refine : {0, 1, 2}
        Refining passes (2 is ``"rcd_refined"``).

    Returns
    -------
    numpy.ndarray
        float32 H x W x 3 (R, G, B); each pixel keeps its own CFA value.

    Examples
    --------
    >>> m = np.full((8, 8), 0.5, np.float32)
    >>> bool(np.allclose(demosaic_rcd(m, "GBRG"), 0.5))
    True
    """
    from ._kernels import NO_DISPLAY
    from ._rcd_kernels import MAX_REFINE_PASSES
    from ._rcd_kernels import demosaic_rcd as kernel

    if isinstance(refine, bool) or refine not in range(MAX_REFINE_PASSES + 1):
        raise ISPInputError(f"refine must be an int in 0..{MAX_REFINE_PASSES}; got {refine!r}")
    src = _float_mosaic(mosaic)
    site_ch = site_channels(check_cfa(cfa))
    if min(src.shape) < 2:
        from .stages import demosaic_bilinear

        return demosaic_bilinear(src, cfa)
    out = np.empty(src.shape + (3,), np.float32)
    kernel(src, _NO_BLACK, _UNIT, _EMPTY_MAP, site_ch, int(refine), _IDENTITY, False, 0, out, NO_DISPLAY)
    return out


def demosaic(
    mosaic: np.ndarray, cfa: CFAOrder = "RGGB", *, algorithm: DemosaicAlgorithm = "bilinear"
) -> np.ndarray:
    """Demosaic with the named algorithm (one of :data:`DEMOSAIC_ALGORITHMS`).

    Parameters
    ----------
    mosaic : numpy.ndarray
        H x W real mosaic, normalised and white-balanced.
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}
    algorithm : {"bilinear", "rcd", "rcd_refined"}

    Returns
    -------
    numpy.ndarray
        float32 H x W x 3 (R, G, B), unclipped.

    Raises
    ------
    ISPInputError
        Unknown algorithm or CFA order (the message lists the valid ones), or a mosaic that is
        not a non-empty 2-D real array.
    """
    if not isinstance(algorithm, str) or algorithm not in DEMOSAIC_ALGORITHMS:
        raise ISPInputError(
            f"algorithm must be one of {', '.join(map(repr, DEMOSAIC_ALGORITHMS))}; got {algorithm!r}"
        )
    if algorithm in RCD_PASSES:
        return demosaic_rcd(mosaic, cfa, refine=RCD_PASSES[algorithm])
    from .stages import demosaic_bilinear

    return demosaic_bilinear(mosaic, cfa)
