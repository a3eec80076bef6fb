"""Training data: every image of a folder (recursively) held in memory, random scaled crops and flips."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .errors import CompletionError

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


def default_train_dir() -> Path:
    """``$RAWCOMPLETE_SHARED/images/train`` or ``../shared/images/train`` beside the repository."""
    env = os.environ.get("RAWCOMPLETE_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    return root / "images" / "train"


def _to_rgb_u8(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = img[:, :, :3]
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = (np.clip(img.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(img)


class ImageFolder:
    """All images under ``root`` (recursive), loaded once as uint8 RGB.

    ``sample(rng, crop, scale_range)`` returns one float32 (3, crop, crop) array in [0, 1]: a random
    square region of side ``crop / s`` (``s`` drawn from ``scale_range``), resized to ``crop`` with
    antialiasing, randomly flipped left-right.
    """

    def __init__(self, root: str | os.PathLike, *, min_side: int = 64) -> None:
        import imageio.v3 as iio

        self.root = Path(root)
        files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        self.images: list[np.ndarray] = []
        for p in files:
            try:
                img = _to_rgb_u8(np.asarray(iio.imread(p)))
            except Exception as exc:  # unreadable file: skip it, say so
                log.warning("skipping %s: %s", p, exc)
                continue
            if min(img.shape[:2]) >= min_side:
                self.images.append(img)
        if not self.images:
            raise CompletionError(f"no usable images (>= {min_side} px) found under {self.root}")
        log.info("loaded %d images from %s", len(self.images), self.root)

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, rng: np.random.Generator, crop: int, scale_range: tuple[float, float] = (0.5, 1.0)) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        img = self.images[int(rng.integers(len(self.images)))]
        h, w = img.shape[:2]
        s = rng.uniform(*scale_range)
        side = int(min(h, w, max(crop, round(crop / s))))
        y = int(rng.integers(0, h - side + 1))
        x = int(rng.integers(0, w - side + 1))
        patch = img[y : y + side, x : x + side]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        t = torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1).float().div_(255.0)
        if side != crop:
            t = F.interpolate(t[None], size=(crop, crop), mode="bilinear", antialias=True, align_corners=False)[0]
        return t.clamp_(0.0, 1.0).numpy()
