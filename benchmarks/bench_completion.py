"""Timing of ``completion.inpaint`` on CPU.

1. 512 x 512 crops of Kodak images with thin / medium / thick masks: GAN vs biharmonic seconds and
   their ratio (the done-criterion: GAN <= 2x biharmonic);
2. a 12 MP frame (4000 x 3000, an upscaled Kodak image) with a few small dust-like holes: GAN seconds
   and peak memory growth.

    python benchmarks/bench_completion.py [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-12mp", action="store_true")
    args = ap.parse_args(argv)

    import imageio.v3 as iio
    import torch

    from completion import inpaint, load_generator
    from completion.masks import random_mask

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from eval_completion import default_eval_dir

    torch.set_num_threads(args.threads)
    load_generator(device="cpu")
    files = sorted(default_eval_dir().glob("*.png"))[: args.images]

    def best(fn):
        ts = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return min(ts)

    print(f"512x512 crops of {len(files)} Kodak images, best of {args.repeats}, {args.threads} threads")
    print(f"{'kind':8s} {'gan s':>8s} {'biharm s':>9s} {'ratio':>6s}")
    ratios = []
    for ki, kind in enumerate(("thin", "medium", "thick")):
        tg = tb = 0.0
        for i, f in enumerate(files):
            img = np.asarray(iio.imread(f))[:512, :512, :3]
            img = np.pad(img, ((0, 512 - img.shape[0]), (0, 512 - img.shape[1]), (0, 0)), mode="reflect")
            hole = random_mask(512, 512, kind, rng=np.random.default_rng([0, i, ki]))
            inpaint(img, hole, method="gan", device="cpu")
            tg += best(lambda: inpaint(img, hole, method="gan", device="cpu"))
            tb += best(lambda: inpaint(img, hole, method="biharmonic"))
        ratios.append(tg / tb)
        print(f"{kind:8s} {tg / len(files):8.3f} {tb / len(files):9.3f} {tg / tb:6.2f}")
    print(f"overall GAN / biharmonic time ratio: {np.mean(ratios):.2f}")

    if not args.skip_12mp:
        import torch.nn.functional as F

        small = torch.from_numpy(np.asarray(iio.imread(files[0]))[:, :, :3].copy()).permute(2, 0, 1)[None].float()
        big = F.interpolate(small, size=(3000, 4000), mode="bilinear").clamp(0, 255)[0].permute(1, 2, 0).numpy().astype(np.uint8)
        hole = np.zeros(big.shape[:2], bool)
        rng = np.random.default_rng(1)
        for _ in range(6):
            y, x, r = rng.integers(100, 2900), rng.integers(100, 3900), rng.integers(8, 40)
            yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
            hole[y - r : y + r + 1, x - r : x + r + 1] |= yy**2 + xx**2 <= r * r
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        out = inpaint(big, hole, method="gan", device="cpu")
        dt = time.perf_counter() - t
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert np.array_equal(out[~hole], big[~hole])
        print(f"12 MP frame (4000x3000 uint8), 6 dust holes ({hole.sum()} px): GAN {dt:.2f} s, "
              f"peak RSS growth {(rss1 - rss0) / 1024:.0f} MiB (the frame itself is {big.nbytes / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
