"""Write the sidecar mask that ships with the samples: ``samples/scene_grbg.mask.png``.

``scene_grbg.dng`` is stored rotated (EXIF orientation 6), so its mask, drawn in OUTPUT
orientation (as the developed image is shown), also shows that masks follow the developed image
and not the sensor. The mask marks a round blob and a thin diagonal scratch (white = hole); with
it, ``rawcomplete samples/ -o out/`` completes those pixels in ``out/scene_grbg.tif`` and leaves
every other pixel as the ISP developed it.

Usage::

    python samples/make_sample_masks.py [OUT_DIR]     # default: the folder of this script
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

try:
    import isp
except ImportError:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import isp

SAMPLE = "scene_grbg.dng"


def sample_mask(shape: tuple[int, int]) -> np.ndarray:
    """bool H x W: a disc of radius 6 % of the short side and a 3-pixel diagonal scratch."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    r = 0.06 * min(h, w)
    disc = (yy - 0.35 * h) ** 2 + (xx - 0.62 * w) ** 2 <= r * r
    # scratch from (0.70 h, 0.15 w) to (0.85 h, 0.55 w), 3 px wide
    y0, x0, y1, x1 = 0.70 * h, 0.15 * w, 0.85 * h, 0.55 * w
    t = np.clip(((yy - y0) * (y1 - y0) + (xx - x0) * (x1 - x0)) / ((y1 - y0) ** 2 + (x1 - x0) ** 2), 0, 1)
    dist = np.hypot(yy - (y0 + t * (y1 - y0)), xx - (x0 + t * (x1 - x0)))
    return disc | (dist <= 1.5)


def main(out_dir: str | None = None) -> Path:
    from runner.png import encode_png

    here = Path(__file__).resolve().parent
    folder = Path(out_dir) if out_dir else here
    frame = isp.read_raw(here / SAMPLE)
    shape = isp.apply_orientation(np.zeros(frame.mosaic.shape, dtype=bool), frame.flip).shape[:2]
    holes = sample_mask(shape)
    path = folder / (Path(SAMPLE).stem + ".mask.png")
    path.write_bytes(encode_png(np.where(holes, 255, 0).astype(np.uint8)))
    return path


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else None))
