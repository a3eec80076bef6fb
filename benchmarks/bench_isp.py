#!/usr/bin/env python3
"""ISP quality and speed against LibRaw (rawpy), measured in the same run.

    nice -n 10 python benchmarks/bench_isp.py [--quick] [--skip-quality] [--skip-speed]
        [--width 6000 --height 4000 --repeat 3] [--skip-numpy]

1. Demosaic quality: CPSNR (dB, 8 px border excluded, outputs clipped to [0, 1] as LibRaw's are)
   against ground truth on synthetic mosaics (all four CFA orders) of the samples' scenes
   (``samples/scene_*_truth.npz``, scene-linear) and of the Kodak images
   (``$RAWCOMPLETE_SHARED/images/eval/kodak``, as stored, sRGB-encoded: the usual protocol), for
   each of ``isp.DEMOSAIC_ALGORITHMS`` and rawpy's LINEAR, VNG, PPG, AHD, DCB, DHT, AAHD (the
   mosaic written as a 16-bit DNG, developed with unit white balance in camera RGB), plus
   colour-demosaicing's Malvar 2004 and Menon 2007 where that package is installed
   (``pip install "rawcomplete[bench]"``). ``--quick``: 6 Kodak images, centre crops 256 x 256.
2. Demosaic speed at 24 MP (decode excluded on both sides: ``isp.develop`` on a frame already
   read, rawpy ``postprocess`` on a file already opened and unpacked), as ratios to rawpy AHD,
   ours and AHD in interleaved rounds (median of the per-round ratios); and the display path: develop with ``display_codes="uint16"`` (sRGB codes written in the
   develop pass) and develop + ``display_as("uint16")`` (one extra pass) against develop to
   linear alone.
3. ``isp.develop`` from file against rawpy LINEAR and a plain numpy/scipy ISP on a synthetic 24 MP
   DNG (6000 x 4000, RGGB, 14 bit): median of ``--repeat`` runs after a warm-up; then the first
   call in a fresh process with a warm Numba cache.

Speed is a property of the machine and its load: only the ratios carry over.
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

ROOT = Path(__file__).resolve().parents[1]
LIBRAW_ALGORITHMS = ("LINEAR", "VNG", "PPG", "AHD", "DCB", "DHT", "AAHD")
BORDER = 8


def cpsnr(out: np.ndarray, truth: np.ndarray) -> float:
    """Colour PSNR (peak 1) over all three channels, ``BORDER`` pixels excluded."""
    b = BORDER
    d = np.clip(out[b:-b, b:-b], 0, 1).astype(np.float64) - truth[b:-b, b:-b]
    return float(10 * np.log10(1.0 / max(np.mean(d * d), 1e-20)))


def eval_images(quick: bool) -> list[tuple[str, np.ndarray]]:
    """(name, float32 H x W x 3 in [0, 1]) for the samples' scenes and the Kodak images."""
    import json

    import imageio.v3 as iio

    manifest = json.loads((ROOT / "samples" / "samples.json").read_text())
    out = []
    for name in ("scene_rggb", "scene_bggr", "scene_grbg", "scene_gbrg"):
        truth = np.load(ROOT / "samples" / manifest[name]["truth"])["linear"]
        out.append((name, np.clip(truth.astype(np.float32), 0, 1)))
    shared = Path(os.environ.get("RAWCOMPLETE_SHARED", ROOT.parent / "shared"))
    kodak = sorted((shared / "images" / "eval" / "kodak").glob("*.png"))
    if not kodak:
        print(f"# no Kodak images under {shared}: samples only")
    for path in kodak[:6] if quick else kodak:
        img = iio.imread(path)[..., :3].astype(np.float32) / 255.0
        if quick:
            h, w = img.shape[:2]
            img = img[(h - 256) // 2 : (h + 256) // 2, (w - 256) // 2 : (w + 256) // 2]
        out.append((path.stem, np.ascontiguousarray(img)))
    return out


def libraw_postprocess(raw, algorithm: str) -> np.ndarray:
    """rawpy postprocess of an opened file: camera RGB, unit white balance, linear, 16 bit."""
    import rawpy

    out = raw.postprocess(
        demosaic_algorithm=getattr(rawpy.DemosaicAlgorithm, algorithm), gamma=(1, 1),
        no_auto_bright=True, output_bps=16, output_color=rawpy.ColorSpace.raw,
        user_wb=[1.0, 1.0, 1.0, 1.0], adjust_maximum_thr=0.0, user_flip=0,
    )
    return out.astype(np.float32) / 65535.0


def colour_references() -> dict:
    """colour-demosaicing's algorithms (an independent implementation), if installed."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import colour_demosaicing as cd
    except ImportError:
        print("# colour-demosaicing not installed (pip install 'rawcomplete[bench]'): skipped")
        return {}
    return {
        "colour Malvar2004": lambda m, cfa: cd.demosaicing_CFA_Bayer_Malvar2004(m, cfa),
        "colour Menon2007": lambda m, cfa: cd.demosaicing_CFA_Bayer_Menon2007(m, cfa),
    }


def quality(quick: bool) -> None:
    import rawpy

    images = eval_images(quick)
    refs = colour_references()
    names = [f"isp {a}" for a in isp.DEMOSAIC_ALGORITHMS] + [f"rawpy {a}" for a in LIBRAW_ALGORITHMS]
    names += list(refs)
    scores: dict[str, dict[str, list[float]]] = {n: {"samples": [], "kodak": []} for n in names}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, img in images:
            group = "samples" if name.startswith("scene_") else "kodak"
            for cfa in isp.CFA_ORDERS:
                mosaic = mosaic_from_rgb(img, cfa)
                for a in isp.DEMOSAIC_ALGORITHMS:
                    scores[f"isp {a}"][group].append(cpsnr(isp.demosaic(mosaic, cfa, algorithm=a), img))
                for ref, fn in refs.items():
                    scores[ref][group].append(cpsnr(np.asarray(fn(mosaic.astype(np.float64), cfa)), img))
                path = Path(tmp) / f"{name}_{cfa}.dng"
                raw16 = np.round(np.clip(mosaic, 0, 1) * 65535).astype(np.uint16)
                write_dng(path, raw16, cfa=cfa, black_level=0, white_level=65535,
                          as_shot_neutral=(1.0, 1.0, 1.0))
                with rawpy.imread(str(path)) as raw:
                    for a in LIBRAW_ALGORITHMS:
                        scores[f"rawpy {a}"][group].append(cpsnr(libraw_postprocess(raw, a), img))
    n_s = sum(1 for n, _ in images if n.startswith("scene_"))
    n_k = len(images) - n_s
    print(f"\n## demosaic quality: CPSNR (dB) vs ground truth, 4 CFA orders each; {n_s} sample scenes, "
          f"{n_k} Kodak images{' (256 px crops)' if quick else ''}; {time.perf_counter() - t0:.0f} s")
    aahd = np.mean(scores["rawpy AAHD"]["samples"] + scores["rawpy AAHD"]["kodak"])
    print(f"{'algorithm':24s} {'samples':>8s} {'kodak':>8s} {'all':>8s} {'vs AAHD':>8s}")
    for n in names:
        s, k = scores[n]["samples"], scores[n]["kodak"]
        allv = np.mean(s + k)
        print(f"{n:24s} {np.mean(s) if s else float('nan'):8.2f} {np.mean(k) if k else float('nan'):8.2f} "
              f"{allv:8.2f} {allv - aahd:+8.2f}")


def demosaic_speed(h: int, w: int, repeat: int) -> None:
    """develop(frame, demosaic=...) against rawpy postprocess (file opened once), 24 MP."""
    import rawpy

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speed.dng"
        make_dng(path, h, w)
        frame = isp.read_raw(path)
        with rawpy.imread(str(path)) as raw:
            def postprocess(a):
                return raw.postprocess(demosaic_algorithm=getattr(rawpy.DemosaicAlgorithm, a),
                                       output_bps=16, use_camera_wb=True)

            # ours against rawpy AHD in interleaved rounds (machine load hits them alike)
            fns = {"rawpy postprocess AHD": lambda: postprocess("AHD")}
            for a in isp.DEMOSAIC_ALGORITHMS:
                fns[f"isp.develop demosaic={a}"] = lambda a=a: isp.develop(frame, demosaic=a)
            demosaic_times = interleaved(fns, max(repeat, 5))
            others = {f"rawpy postprocess {a}": timed(lambda a=a: postprocess(a), 1, warm=False)
                      for a in LIBRAW_ALGORITHMS if a != "AHD"}
        display = interleaved({
            "develop (linear)": lambda: isp.develop(frame),
            "develop display_codes=uint16 (fused)": lambda: isp.develop(
                frame, display_codes="uint16").display_as("uint16"),
            "develop + display_as uint16 (extra pass)": lambda: isp.develop(frame).display_as("uint16"),
            "develop + display_as uint8": lambda: isp.develop(frame).display_as("uint8"),
            "develop + .display (float32)": lambda: isp.develop(frame).display,
            "unfused: .display, then clip/scale/round": lambda: quantize_like_writers(
                isp.develop(frame).display, 65535),
        }, max(repeat, 5))
    ref = demosaic_times["rawpy postprocess AHD"][0]
    print(f"\n## demosaic speed, {w} x {h} ({w * h / 1e6:.1f} MP), decode excluded; ours and rawpy AHD "
          f"in {max(repeat, 5)} interleaved rounds (median seconds; speed-up: median of the per-round "
          f"AHD / ours), other rawpy algorithms 1 run; {os.cpu_count()} CPUs")
    print(f"{'variant':36s} {'seconds':>8s} {'vs AHD':>8s}")
    for name, (t, ratio) in demosaic_times.items():
        print(f"{name:36s} {t:8.3f} {1 / ratio:7.2f}x")
    for name, t in others.items():
        print(f"{name:36s} {t:8.3f} {ref / t:7.2f}x")
    print("\n## display path (sRGB), same frame: variants run in turn, each round against the "
          "develop-to-linear run of the same round (median of the per-round ratios)")
    print(f"{'variant':42s} {'seconds':>8s} {'vs linear':>9s}")
    for name, (t, ratio) in display.items():
        print(f"{name:42s} {t:8.3f} {ratio:8.2f}x")


def interleaved(fns: dict, rounds: int) -> dict:
    """{name: (median seconds, median ratio to the first entry's run of the same round)}: the
    variants run one after the other in each round, so machine load hits them alike."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    base = times[next(iter(fns))]
    return {name: (statistics.median(t), statistics.median([a / b for a, b in zip(t, base)]))
            for name, t in times.items()}


def quantize_like_writers(image: np.ndarray, full: int) -> np.ndarray:
    """What the writers did with a float display image: clip, scale, round half up (numpy)."""
    out = np.clip(image, 0.0, 1.0, dtype=np.float32) * np.float32(full) + np.float32(0.5)
    return out.astype(np.uint16 if full > 255 else np.uint8)


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


def timed(fn, repeat: int, warm: bool = True) -> float:
    if warm:
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
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-numpy", action="store_true", help="skip the slow numpy/scipy variants")
    ap.add_argument("--quick", action="store_true", help="quality on 6 Kodak crops of 256 px")
    ap.add_argument("--skip-quality", action="store_true", help="skip the CPSNR table")
    ap.add_argument("--skip-speed", action="store_true", help="skip the 24 MP timings")
    args = ap.parse_args(argv)
    mp = args.width * args.height / 1e6
    if not args.skip_quality:
        quality(args.quick)
    if args.skip_speed:
        return 0
    demosaic_speed(args.height, args.width, args.repeat)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_24mp.dng"
        make_dng(path, args.height, args.width)
        print(f"\n## develop from file: {args.width} x {args.height} ({mp:.1f} MP) synthetic RGGB DNG, "
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
