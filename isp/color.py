"""Colour science of the ISP, in one place: the sRGB primaries and the display transfer curves.

Everything that needs the sRGB <-> XYZ matrices or a transfer curve (``raw.py`` for LibRaw's
camera matrix, ``synthetic.py`` for the DNGs it writes, ``stages.encode_gamma`` and the fused
display path of ``develop``) takes them from here.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from .config import GAMMA_MODES
from .errors import ISPInputError

#: Linear sRGB (D65) -> CIE XYZ, as in IEC 61966-2-1 (and LibRaw's ``xyz_rgb`` transposed).
SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=np.float64,
)
#: CIE XYZ (D65) -> linear sRGB.
XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)

#: Kernel codes of the transfer curves: 0 linear (clip only), 1 sRGB, 2 BT.709, 3 power 1 / g.
TRANSFER_CODES = {"linear": 0, "srgb": 1, "bt709": 2}


def transfer_code(gamma: object) -> tuple[int, float]:
    """(kernel code, exponent) of a transfer curve: ``"srgb"``, ``"bt709"``, ``"linear"`` or ``g > 0``.

    Raises
    ------
    ISPInputError
        For anything else (the message lists the valid values).
    """
    if isinstance(gamma, str):
        if gamma not in GAMMA_MODES:
            raise ISPInputError(
                f"gamma must be one of {', '.join(map(repr, GAMMA_MODES))} or a positive float; "
                f"got {gamma!r}"
            )
        return TRANSFER_CODES[gamma], 1.0
    if isinstance(gamma, (int, float, np.integer, np.floating)) and not isinstance(gamma, bool):
        g = float(gamma)
        if np.isfinite(g) and g > 0:
            return 3, g
    raise ISPInputError(
        f"gamma must be one of {', '.join(map(repr, GAMMA_MODES))} or a positive float; got {gamma!r}"
    )


def transfer_reference(x: np.ndarray, gamma: Union[str, float]) -> np.ndarray:
    """The transfer curve in float64 numpy (the reference the kernels are tested against).

    Parameters
    ----------
    x : numpy.ndarray
        Linear values, already clipped to [0, 1].
    gamma : {"srgb", "bt709", "linear"} or float

    Returns
    -------
    numpy.ndarray
        float64, same shape, in [0, 1].
    """
    mode, g = transfer_code(gamma)
    x = np.asarray(x, dtype=np.float64)
    if mode == 1:
        return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    if mode == 2:
        return np.where(x < 0.018, 4.5 * x, 1.099 * x**0.45 - 0.099)
    if mode == 3:
        return x ** (1.0 / g)
    return x.copy()


def transfer_exponent(mode: int, g: float) -> float:
    """Exponent of the power segment of the curve with kernel code ``mode`` (see
    :func:`transfer_code`): 1/2.4 for sRGB, 0.45 for BT.709, 1/g for a power curve, 1 for linear."""
    return {0: 1.0, 1: 1.0 / 2.4, 2: 0.45}.get(int(mode), 1.0 / float(g))
