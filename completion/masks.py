"""Random hole masks: LaMa-style thin / medium / thick strokes and boxes, and DeepFill-style free-form strokes.

All generators take ``(h, w, rng)`` and return an ``(h, w)`` bool array (True = hole). Sizes follow
LaMa's ``random_{thin,medium,thick}_256`` settings, scaled by ``min(h, w) / 256`` so that a mask kind
covers about the same fraction of any image.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

MaskKind = Literal["thin", "medium", "thick", "box", "freeform", "object", "dust", "mixed"]
MASK_KINDS = ("thin", "medium", "thick", "box", "freeform", "object", "dust")

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


def _objects(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """One or two filled ellipses or rectangles covering 8-20 % of the frame in all (a masked-out object)."""
    yy, xx = np.mgrid[0:h, 0:w]
    target = rng.uniform(0.08, 0.20)
    n = int(rng.integers(1, 3))
    mask = np.zeros((h, w), dtype=bool)
    for k in range(n):
        area = target * h * w * (rng.uniform(0.5, 0.8) if (n == 2 and k == 0) else 1.0)
        if n == 2 and k == 1:
            area = max(0.0, target * h * w - mask.sum())
        aspect = rng.uniform(0.5, 2.0)
        ellipse = rng.random() < 0.5
        # semi-axes (ellipse: area = pi a b; rectangle: area = 4 a b)
        ab = area / (np.pi if ellipse else 4.0)
        a = min(0.45 * h, np.sqrt(ab * aspect))
        b = min(0.45 * w, ab / max(a, 1.0))
        cy = rng.uniform(a + 1, h - a - 1) if h > 2 * a + 2 else h / 2
        cx = rng.uniform(b + 1, w - b - 1) if w > 2 * b + 2 else w / 2
        if ellipse:
            mask |= ((yy - cy) / max(a, 1.0)) ** 2 + ((xx - cx) / max(b, 1.0)) ** 2 <= 1.0
        else:
            mask |= (np.abs(yy - cy) <= a) & (np.abs(xx - cx) <= b)
    return mask


def _dust(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """10-30 discs of radius 2-8 px (sensor dust), at any image size."""
    yy, xx = np.ogrid[0:h, 0:w]
    mask = np.zeros((h, w), dtype=bool)
    for _ in range(int(rng.integers(10, 31))):
        rad = rng.uniform(2.0, 8.0)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= rad * rad
    return mask


def random_mask(h: int, w: int, kind: MaskKind = "mixed", *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Draw one random hole mask.

    Parameters
    ----------
    h, w : int
        Mask size in pixels.
    kind : {"thin", "medium", "thick", "box", "freeform", "object", "dust", "mixed"}
        LaMa-style stroke families (``thick`` and ``medium`` also add boxes with probability 0.3),
        axis-aligned boxes, DeepFill-style free-form strokes, ``object``: one or two filled ellipses or
        rectangles covering 8-20 % of the frame, ``dust``: 10-30 discs of radius 2-8 px (absolute, not
        scaled), or ``mixed``: a random choice among the first five.
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
        elif kind == "object":
            mask = _objects(h, w, rng)
        elif kind == "dust":
            mask = _dust(h, w, rng)
        else:
            raise ValueError(f"unknown mask kind {kind!r}; expected one of {MASK_KINDS + ('mixed',)}")
        frac = mask.mean()
        if 0.0 < frac < 0.9:
            return mask
    mask = np.zeros((h, w), dtype=bool)
    mask[h // 4 : h // 2, w // 4 : w // 2] = True
    return mask
