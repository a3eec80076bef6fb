"""The piecewise sRGB transfer function (IEC 61966-2-1), used for ``space="linear"``."""

from __future__ import annotations

import numpy as np


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Scene-linear -> sRGB-encoded (display) values; input clipped to [0, 1] first. float32 out."""
    x = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def srgb_decode(display: np.ndarray) -> np.ndarray:
    """sRGB-encoded (display) values in [0, 1] -> scene-linear [0, 1]. float32 out."""
    v = np.clip(np.asarray(display, dtype=np.float32), 0.0, 1.0)
    return np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4)).astype(np.float32)
