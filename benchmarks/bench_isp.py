#!/usr/bin/env python3
"""ISP speed: ``isp.develop`` from file against rawpy (LibRaw LINEAR) and a plain numpy/scipy ISP,
measured in the same run on a synthetic 24 MP DNG (6000 x 4000, RGGB, 14 bit).

    python benchmarks/bench_isp.py [--width 6000 --height 4000 --repeat 5]

Prints, per variant, the median wall time of ``--repeat`` runs (2 for the slow numpy/scipy ISP)
after one warm-up run, megapixels per
second, and the ratio to rawpy's LINEAR postprocess (> 1: faster than rawpy). Then the first call in
a fresh Python process with a warm Numba cache (import + read + develop), against the same call
warm in this process. Speed is a property of the machine and its load: only the ratios carry over.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import isp  # noqa: E402
from isp.synthetic import mosaic_from_rgb, write_dng  # noqa: E402


def make_dng(path: Path, h: int, w: int) -> None:
    """A natural-ish linear scene (gradients, edges, texture) through an RGGB CFA, 14 bit."""
    rng = np.random.default_rng(0)
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    rgb = np.empty((h, w, 3), np.float32)
    rgb[..., 0] = 0.3 + 0.25 * np.sin(9 * xx + 3 * yy)
    rgb[..., 1] = 0.35 + 0.2 * np.cos(7 * yy - 2 * xx)
    rgb[..., 2] = 0.25 + 0.2 * (xx * yy)
    rgb *= 1 + 0.1 * rng.standard_normal((h, w, 1), dtype=np.float32)
    rgb[h // 3 : h // 2, w // 4 : w // 2] *= np.array([1.5, 0.6, 0.8], np.float32)
    mosaic = mosaic_from_rgb(np.clip(rgb, 0, 1), "RGGB")
    raw = np.clip(np.round(512 + mosaic * (16383 - 512)), 0, 16383).astype(np.uint16)
    cm1 = np.array([[0.8139, -0.2171, -0.0663], [-0.8747, 1.6541, 0.2295], [-0.1925, 0.2008, 0.8093]])
    write_dng(path, raw, cfa="RGGB", black_level=512, white_level=16383,
              as_shot_neutral=(0.48, 1.0, 0.71), color_matrix1=cm1)


def rawpy_linear(path: Path) -> np.ndarray:
    import rawpy

    with rawpy.imread(str(path)) as raw:
        return raw.postprocess(
            demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, gamma=(1, 1), no_auto_bright=True,
            output_bps=16, use_camera_wb=True,
        )


def numpy_scipy_develop(path: Path, *, median: bool = False) -> np.ndarray:
    """The same ISP written plainly with numpy + scipy.ndimage (rawpy only to read the mosaic)."""
    from scipy.ndimage import convolve, median_filter

    frame = isp.read_raw(path)
    m = frame.mosaic.astype(np.float32)
    h, w = m.shape
    black = np.asarray(frame.black_levels, np.float32).reshape(2, 2)
    site_black = np.tile(black, (h // 2 + 1, w // 2 + 1))[:h, :w]
    m = np.maximum(m - site_black, 0) / (frame.white_level - site_black)
    gains = np.asarray(frame.camera_wb, np.float32)
    chan = {"R": 0, "G": 1, "B": 2}
    planes = np.zeros((3, h, w), np.float32)
    for i, c in enumerate(frame.cfa):
        dy, dx = divmod(i, 2)
        planes[chan[c], dy::2, dx::2] = m[dy::2, dx::2] * gains[chan[c]]
    k_g = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], np.float32) / 4
    k_rb = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 4
    rgb = np.stack([convolve(planes[c], k_g if c == 1 else k_rb, mode="mirror") for c in range(3)], -1)
    if median:
        rgb = np.stack([median_filter(rgb[..., c], size=3) for c in range(3)], -1)
    rgb = rgb @ frame.color_matrix.T
    return isp.apply_orientation(rgb, frame.flip)


def timed(fn, repeat: int) -> float:
    fn()  # warm-up (compilation, file cache)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=6000)
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-numpy", action="store_true", help="skip the slow numpy/scipy variants")
    args = ap.parse_args(argv)
    mp = args.width * args.height / 1e6

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_24mp.dng"
        make_dng(path, args.height, args.width)
        print(f"# {args.width} x {args.height} ({mp:.1f} MP) synthetic RGGB DNG, "
              f"{path.stat().st_size / 1e6:.0f} MB; {os.cpu_count()} CPUs; median of {args.repeat}")

        variants = [
            ("rawpy postprocess LINEAR (reference)", lambda: rawpy_linear(path)),
            ("isp.develop", lambda: isp.develop(path)),
            ("isp.develop + .display", lambda: isp.develop(path).display),
            ("isp.develop denoise=median3", lambda: isp.develop(path, denoise="median3")),
            ("isp.develop denoise=median5", lambda: isp.develop(path, denoise="median5")),
        ]
        if not args.skip_numpy:
            variants += [
                ("numpy/scipy ISP", lambda: numpy_scipy_develop(path)),
                ("numpy/scipy ISP + median3", lambda: numpy_scipy_develop(path, median=True)),
            ]
        results = {}
        for name, fn in variants:  # the plain numpy/scipy ISP is slow: fewer runs
            results[name] = timed(fn, args.repeat if name.startswith(("rawpy", "isp")) else 2)
        ref = results["rawpy postprocess LINEAR (reference)"]
        print(f"{'variant':40s} {'seconds':>8s} {'MP/s':>8s} {'vs rawpy':>9s}")
        for name, t in results.items():
            print(f"{name:40s} {t:8.3f} {mp / t:8.1f} {ref / t:8.2f}x")

        # first call in a fresh process, Numba cache warm (populated by the runs above)
        code = (
            "import time; t0 = time.perf_counter(); import isp; "
            f"isp.develop({str(path)!r}); print(time.perf_counter() - t0)"
        )
        fresh = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                      check=True).stdout.split()[-1]) for _ in range(3)]
        warm = results["isp.develop"]
        print(f"first call, fresh process, warm cache (import + develop): "
              f"{statistics.median(fresh):.3f} s vs {warm:.3f} s warm in-process "
              f"(overhead {statistics.median(fresh) - warm:+.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
