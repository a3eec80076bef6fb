"""Random hole masks: LaMa-style thin / medium / thick strokes and boxes, and DeepFill-style free-form strokes.

All generators take ``(h, w, rng)`` and return an ``(h, w)`` bool array (True = hole). Sizes follow
LaMa's ``random_{thin,medium,thick}_256`` settings, scaled by ``min(h, w) / 256`` so that a mask kind
covers about the same fraction of any image.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

MaskKind = Literal["thin", "medium", "thick", "box", "freeform", "mixed"]
MASK_KINDS = ("thin", "medium", "thick", "box", "freeform")

# (min_times, max_times, max_len, max_width, max_angle, box_proba, box_max_times, box_min, box_max) at 256 px
_LAMA = {
    "thin": (4, 50, 40, 10, 4.0, 0.0, 0, 10, 30),
    "medium": (4, 5, 100, 50, 4.0, 0.3, 3, 30, 100),
    "thick": (1, 5, 200, 100, 4.0, 0.3, 4, 30, 150),
}


def _draw_segment(mask: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], width: float) -> None:
    """Rasterise a thick line segment with round caps (what ``cv2.line`` + joints gives) into ``mask``."""
    h, w = mask.shape
    r = width / 2.0
    y0, x0 = p0
    y1, x1 = p1
    ya, yb = int(max(0, np.floor(min(y0, y1) - r))), int(min(h, np.ceil(max(y0, y1) + r) + 1))
    xa, xb = int(max(0, np.floor(min(x0, x1) - r))), int(min(w, np.ceil(max(x0, x1) + r) + 1))
    if ya >= yb or xa >= xb:
        return
    yy, xx = np.mgrid[ya:yb, xa:xb].astype(np.float32)
    dy, dx = y1 - y0, x1 - x0
    seg2 = dy * dy + dx * dx
    if seg2 > 0:
        t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / seg2, 0.0, 1.0)
    else:
        t = np.zeros_like(yy)
    d2 = (yy - (y0 + t * dy)) ** 2 + (xx - (x0 + t * dx)) ** 2
    mask[ya:yb, xa:xb] |= d2 <= r * r


def _irregular(h: int, w: int, rng: np.random.Generator, min_times: int, max_times: int, max_len: float,
               max_width: float, max_angle: float, scale: float) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    for _ in range(int(rng.integers(min_times, max_times + 1))):
        y, x = float(rng.integers(0, h)), float(rng.integers(0, w))
        for j in range(1 + int(rng.integers(0, 5))):
            angle = 0.01 + rng.uniform(0.0, max_angle)
            if j % 2 == 0:
                angle = 2 * np.pi - angle
            length = (10 + rng.uniform(0.0, max_len)) * scale
            width = max(1.0, (5 + rng.uniform(0.0, max_width)) * scale)
            y1 = float(np.clip(y + length * np.sin(angle), 0, h - 1))
            x1 = float(np.clip(x + length * np.cos(angle), 0, w - 1))
            _draw_segment(mask, (y, x), (y1, x1), width)
            y, x = y1, x1
    return mask


def _boxes(h: int, w: int, rng: np.random.Generator, max_times: int, bmin: float, bmax: float, scale: float) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    margin = int(10 * scale)
    for _ in range(int(rng.integers(1, max_times + 1))):
        bh = int(rng.uniform(bmin, bmax) * scale)
        bw = int(rng.uniform(bmin, bmax) * scale)
        bh, bw = max(1, min(bh, h - 2 * margin - 1)), max(1, min(bw, w - 2 * margin - 1))
        y = int(rng.integers(margin, max(margin + 1, h - margin - bh)))
        x = int(rng.integers(margin, max(margin + 1, w - margin - bw)))
        mask[y : y + bh, x : x + bw] = True
    return mask


def random_mask(h: int, w: int, kind: MaskKind = "mixed", *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Draw one random hole mask.

    Parameters
    ----------
    h, w : int
        Mask size in pixels.
    kind : {"thin", "medium", "thick", "box", "freeform", "mixed"}
        LaMa-style stroke families (``thick`` and ``medium`` also add boxes with probability 0.3),
        axis-aligned boxes, DeepFill-style free-form strokes, or a random choice among those.
    rng : numpy Generator, optional
        Source of randomness (seed it for reproducible masks).

    Returns
    -------
    ndarray, (h, w), bool -- True = hole. Never empty and never the whole image.
    """
    rng = rng if rng is not None else np.random.default_rng()
    if kind == "mixed":
        kind = rng.choice(["thin", "medium", "thick", "box", "freeform"], p=[0.2, 0.3, 0.3, 0.1, 0.1])
    scale = min(h, w) / 256.0
    for _ in range(20):
        if kind in _LAMA:
            mn, mx, ln, wd, ang, bp, bt, b0, b1 = _LAMA[kind]
            mask = _irregular(h, w, rng, mn, mx, ln, wd, ang, scale)
            if bp > 0 and rng.random() < bp:
                mask |= _boxes(h, w, rng, bt, b0, b1, scale)
        elif kind == "box":
            mask = _boxes(h, w, rng, 3, 30, 120, scale)
        elif kind == "freeform":
            mask = _irregular(h, w, rng, 1, 8, 60, 30, 2 * np.pi, scale)
        else:
            raise ValueError(f"unknown mask kind {kind!r}; expected one of {MASK_KINDS + ('mixed',)}")
        frac = mask.mean()
        if 0.0 < frac < 0.9:
            return mask
    mask = np.zeros((h, w), dtype=bool)
    mask[h // 4 : h // 2, w // 4 : w // 2] = True
    return mask
