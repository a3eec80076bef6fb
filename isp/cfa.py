"""Bayer CFA geometry, in one place: the four orders, the channel of each 2x2 site, the check.

A CFA order names the colours of the mosaic's top-left 2x2 block row by row, top-left first, as
dcraw, LibRaw, rawpy and colour-demosaicing do ("RGGB", "BGGR", "GRBG", "GBRG"). Site ``s`` of pixel
``(y, x)`` is ``2 * (y % 2) + x % 2``; every kernel receives the channel of each site as
``int64[4]`` (:func:`site_channels`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .errors import ISPInputError

CFAOrder = Literal["RGGB", "BGGR", "GRBG", "GBRG"]
#: The Bayer orders understood everywhere in ``isp``.
CFA_ORDERS: tuple[str, ...] = ("RGGB", "BGGR", "GRBG", "GBRG")

_CHANNEL = {"R": 0, "G": 1, "B": 2}


def check_cfa(cfa: object, name: str = "cfa") -> str:
    """``cfa`` itself when it is one of :data:`CFA_ORDERS`, else an :class:`ISPInputError` listing them."""
    if not isinstance(cfa, str) or cfa not in CFA_ORDERS:
        raise ISPInputError(f"{name} must be one of {', '.join(CFA_ORDERS)}; got {cfa!r}")
    return cfa


def cfa_channels(cfa: CFAOrder) -> np.ndarray:
    """Channel index (0 = R, 1 = G, 2 = B) of each 2x2 site in row-major order.

    Parameters
    ----------
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the top-left 2x2 block, row by row.

    Returns
    -------
    numpy.ndarray
        int64, shape (2, 2).

    Examples
    --------
    >>> cfa_channels("GRBG").tolist()
    [[1, 0], [2, 1]]
    """
    check_cfa(cfa)
    return np.array([_CHANNEL[c] for c in cfa], dtype=np.int64).reshape(2, 2)


def site_channels(cfa: CFAOrder) -> np.ndarray:
    """:func:`cfa_channels` flattened: int64[4], the channel of site ``2 * (y % 2) + x % 2``."""
    return cfa_channels(cfa).ravel()


def mosaic_from_rgb(rgb: np.ndarray, cfa: CFAOrder) -> np.ndarray:
    """Sample an RGB image through a Bayer CFA (the exact inverse of the demosaic's sampling).

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3, any real dtype (kept), any range. H and W need not be even.
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the top-left 2x2 block.

    Returns
    -------
    numpy.ndarray
        H x W, same dtype as ``rgb``: ``mosaic[y, x] = rgb[y, x, channel(y % 2, x % 2)]``.

    Examples
    --------
    >>> rgb = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    >>> mosaic_from_rgb(rgb, "RGGB").tolist()
    [[0.0, 4.0], [7.0, 11.0]]
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ISPInputError(f"rgb must have shape H x W x 3; got {rgb.shape}")
    chan = cfa_channels(cfa)
    h, w, _ = rgb.shape
    out = np.empty((h, w), dtype=rgb.dtype)
    for dy in range(2):
        for dx in range(2):
            out[dy::2, dx::2] = rgb[dy::2, dx::2, chan[dy, dx]]
    return out
