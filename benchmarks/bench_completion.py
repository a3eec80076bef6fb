"""Timing of ``completion.inpaint`` on CPU, beside biharmonic and OpenCV Telea measured in the same run.

1. 512 x 512 crops of Kodak images with thin / medium / thick / object masks: seconds per image of the
   GAN (exemplar fill + generator) on ``--threads`` torch threads, of the exemplar fill alone, of
   scikit-image biharmonic and of OpenCV Telea (if installed), and GAN / reference ratios; the
   issue-10 target: an object hole in <= 1.5 s on one thread;
2. a 12 MP frame (4000 x 3000, an upscaled Kodak image) with dust (10-30 discs of radius 2-8 px):
   ``method="auto"`` and ``"gan"`` seconds and peak memory growth (target < 3 s);
3. thread count under load: the GAN on an object hole at 1 and 2 torch threads, on an idle machine
   and while ``--load`` busy processes spin on the cores (``inpaint(threads=...)``'s default is 1).

    python benchmarks/bench_completion.py [--repeats 2] [--threads 1] [--skip-12mp] [--skip-load]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _spin(stop) -> None:  # a CPU hog for the load test
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the GAN (inpaint(threads=...))")
    ap.add_argument("--weights", default=None, help="generator.pt (default: shipped)")
    ap.add_argument("--skip-12mp", action="store_true")
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--load", type=int, default=2, help="busy processes during the load test")
    args = ap.parse_args(argv)

    import imageio.v3 as iio

    from completion import inpaint, load_generator
    from completion.masks import random_mask
    from eval_completion import _opencv_available, default_eval_dir, opencv

    load_generator(args.weights, device="cpu")
    files = sorted(default_eval_dir().glob("*.png"))[: args.images]
    if not files:
        raise SystemExit(f"no Kodak PNGs in {default_eval_dir()}")
    has_cv = _opencv_available("telea")

    def best(fn):
        ts = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return min(ts)

    def gan(img, hole, threads=args.threads):
        return inpaint(img, hole, method="gan", device="cpu", weights=args.weights, threads=threads)

    crops = []
    for f in files:
        img = np.asarray(iio.imread(f))[:512, :512, :3]
        crops.append(np.pad(img, ((0, 512 - img.shape[0]), (0, 512 - img.shape[1]), (0, 0)), mode="reflect"))
    print(f"512x512 crops of {len(files)} Kodak images, best of {args.repeats}; GAN on {args.threads} torch thread(s), "
          "seconds per image")
    print(f"{'kind':8s} {'gan':>7s} {'exempl':>7s} {'biharm':>7s} {'telea':>7s} {'gan/bih':>8s} {'gan/tel':>8s}")
    for ki, kind in enumerate(("thin", "medium", "thick", "object")):
        tg = te = tb = tt = 0.0
        for i, img in enumerate(crops):
            hole = random_mask(512, 512, kind, rng=np.random.default_rng([0, i, ki]))
            gan(img, hole)  # warm (Numba cache, model)
            tg += best(lambda: gan(img, hole))
            te += best(lambda: inpaint(img, hole, method="exemplar"))
            tb += best(lambda: inpaint(img, hole, method="biharmonic"))
            if has_cv:
                tt += best(lambda: opencv(img, hole, "telea"))
        n = len(crops)
        tel = f"{tt / n:7.3f}" if has_cv else f"{'-':>7s}"
        ratio_t = f"{tg / tt:8.2f}" if has_cv else f"{'-':>8s}"
        print(f"{kind:8s} {tg / n:7.3f} {te / n:7.3f} {tb / n:7.3f} {tel} {tg / tb:8.2f} {ratio_t}")

    if not args.skip_12mp:
        import torch
        import torch.nn.functional as F

        small = torch.from_numpy(np.asarray(iio.imread(files[0]))[:, :, :3].copy()).permute(2, 0, 1)[None].float()
        big = F.interpolate(small, size=(3000, 4000), mode="bilinear").clamp(0, 255)[0].permute(1, 2, 0).numpy().astype(np.uint8)
        hole = random_mask(3000, 4000, "dust", rng=np.random.default_rng(1))
        for method in ("auto", "gan"):
            inpaint(big[:600, :800], hole[:600, :800], method=method, device="cpu", threads=args.threads)
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t = time.perf_counter()
            out = inpaint(big, hole, method=method, device="cpu", weights=args.weights, threads=args.threads)
            dt = time.perf_counter() - t
            rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            assert np.array_equal(out[~hole], big[~hole])
            tb = best(lambda: inpaint(big, hole, method="biharmonic"))
            print(f"12 MP frame (4000x3000 uint8), dust ({hole.sum()} px in discs of radius 2-8): {method} {dt:.2f} s "
                  f"(biharmonic {tb:.2f} s), peak RSS growth {(rss1 - rss0) / 1024:.0f} MiB (frame {big.nbytes / 2**20:.0f} MiB)")

    if not args.skip_load:
        img = crops[0]
        hole = random_mask(512, 512, "object", rng=np.random.default_rng([0, 0, 3]))
        rows = {}
        for loaded in (False, True):
            stop = mp.Event()
            hogs = [mp.Process(target=_spin, args=(stop,)) for _ in range(args.load if loaded else 0)]
            for p in hogs:
                p.start()
            try:
                time.sleep(0.5 if loaded else 0)
                for threads in (1, 2):
                    gan(img, hole, threads)
                    rows[(loaded, threads)] = best(lambda: gan(img, hole, threads))
            finally:
                stop.set()
                for p in hogs:
                    p.join()
        print(f"object hole, 512x512, GAN seconds by torch threads: idle 1 thr {rows[(False, 1)]:.2f}, 2 thr "
              f"{rows[(False, 2)]:.2f}; with {args.load} busy processes 1 thr {rows[(True, 1)]:.2f}, 2 thr {rows[(True, 2)]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
