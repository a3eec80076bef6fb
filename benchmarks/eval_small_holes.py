"""Small holes (dust, defects, blemishes): GAN vs exemplar fill vs biharmonic by hole size, on Kodak crops.

    python benchmarks/eval_small_holes.py [--images 8] [--radii 3,6,10,20,35] [--weights PATH]

Each of the first ``--images`` Kodak images is cropped to 384 x 512 and gets 6 discs of one radius at
seeded positions; PSNR is measured over the disc pixels. This is the measurement behind
``completion.inpaint.AUTO_SMALL_GROUP_PIXELS`` (the size up to which ``method="auto"`` uses biharmonic).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def discs(h: int, w: int, radius: int, rng: np.random.Generator, n: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    hole = np.zeros((h, w), bool)
    for _ in range(n):
        cy = int(rng.integers(radius + 2, h - radius - 2))
        cx = int(rng.integers(radius + 2, w - radius - 2))
        hole |= (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    return hole


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--radii", default="3,6,10,20,35")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the GAN")
    args = ap.parse_args(argv)

    import imageio.v3 as iio
    from completion import inpaint
    from completion.inpaint import AUTO_SMALL_GROUP_PIXELS
    from eval_completion import default_eval_dir

    files = sorted(default_eval_dir().glob("*.png"))[: args.images]
    if not files:
        raise SystemExit(f"no Kodak PNGs in {default_eval_dir()}")
    print(f"{len(files)} Kodak crops (384 x 512), 6 discs each; in-hole PSNR (dB)")
    print(f"{'radius':>6s} {'px/disc':>8s} {'gan':>7s} {'exempl':>7s} {'biharm':>7s} {'gan-bih':>8s}")
    for r in (int(x) for x in args.radii.split(",")):
        res = {"gan": [], "exemplar": [], "biharmonic": []}
        for i, f in enumerate(files):
            img = np.asarray(iio.imread(f))[:384, :512, :3]
            hole = discs(img.shape[0], img.shape[1], r, np.random.default_rng([r, i]))
            for method in res:
                out = inpaint(img, hole, method=method, device="cpu", weights=args.weights, threads=args.threads)
                mse = np.mean((out[hole].astype(float) - img[hole].astype(float)) ** 2)
                res[method].append(10 * np.log10(255.0**2 / max(mse, 1e-9)))
        g, e, b = (float(np.mean(res[m])) for m in ("gan", "exemplar", "biharmonic"))
        px = int(np.count_nonzero(discs(2 * r + 5, 2 * r + 5, r, np.random.default_rng(0), n=1)))
        print(f"{r:6d} {px:8d} {g:7.2f} {e:7.2f} {b:7.2f} {g - b:+8.2f}")
    print(f"method='auto' uses biharmonic for hole groups of <= {AUTO_SMALL_GROUP_PIXELS} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
