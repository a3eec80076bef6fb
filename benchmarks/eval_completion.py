"""Evaluate hole filling on Kodak (never trained on): PSNR and SSIM inside the holes, seconds per image.

    python benchmarks/eval_completion.py                     # all 24 images, thin/medium/thick masks
    python benchmarks/eval_completion.py --limit 6 --save-examples /tmp/examples

Methods: the shipped GAN (``completion.inpaint(method="gan")``), scikit-image biharmonic
(``method="biharmonic"``), the generator's own pull-push base fill alone, OpenCV Telea (only if ``cv2`` imports) and mean fill (per-channel mean of the
known pixels). Masks: ``completion.masks.random_mask(h, w, kind)`` seeded per (seed, image index, kind),
so every method sees the same holes. One table is printed; ``--json`` writes the numbers. Baseline
results can be cached (``--cache``) since they do not depend on the model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KINDS = ("thin", "medium", "thick")


def default_eval_dir() -> Path:
    env = os.environ.get("RAWCOMPLETE_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    return root / "images" / "eval" / "kodak"


def pull_push(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The generator's own parameter-free starting fill, alone: what the trained network must beat."""
    import torch

    from completion.model import pull_push_fill

    t = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    known = torch.from_numpy((~hole).astype(np.float32))[None, None]
    fill = pull_push_fill(t, known)[0].permute(1, 2, 0).numpy()
    out = img.copy()
    out[hole] = np.clip(fill[hole] * 255.0 + 0.5, 0, 255).astype(img.dtype)
    return out


def mean_fill(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    out = img.copy()
    out[hole] = img[~hole].reshape(-1, 3).mean(axis=0).round().astype(img.dtype)
    return out


def telea(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    import cv2

    res = cv2.inpaint(np.ascontiguousarray(img[:, :, ::-1]), hole.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)[:, :, ::-1]
    out = img.copy()
    out[hole] = res[hole]
    return out


def _grad_mag(img: np.ndarray) -> np.ndarray:
    g = img.astype(np.float32).mean(axis=2) / 255.0
    gy = np.zeros_like(g)
    gx = np.zeros_like(g)
    gy[1:-1] = (g[2:] - g[:-2]) / 2
    gx[:, 1:-1] = (g[:, 2:] - g[:, :-2]) / 2
    return np.hypot(gx, gy)


def hole_metrics(pred: np.ndarray, gt: np.ndarray, hole: np.ndarray) -> tuple[float, float, float]:
    """In-hole PSNR, in-hole mean SSIM, and a texture measure: the mean gradient magnitude inside the
    holes (2 px in from their border) relative to the real image's there -- 1 means as much local
    detail as the truth, a smooth fill gives about 0.1."""
    from scipy import ndimage
    from skimage.metrics import structural_similarity

    p = pred.astype(np.float64) / 255.0
    g = gt.astype(np.float64) / 255.0
    mse = float(np.mean((p[hole] - g[hole]) ** 2))
    psnr = 10 * np.log10(1.0 / max(mse, 1e-12))
    _, smap = structural_similarity(g, p, channel_axis=-1, data_range=1.0, full=True)
    inner = ndimage.binary_erosion(hole, iterations=2)
    if not inner.any():
        inner = hole
    texture = float(_grad_mag(pred)[inner].mean() / max(_grad_mag(gt)[inner].mean(), 1e-8))
    return psnr, float(smap[hole].mean()), texture


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=default_eval_dir())
    ap.add_argument("--limit", type=int, default=0, help="first N images only (0 = all)")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--methods", default="gan,pullpush,biharmonic,telea,mean")
    ap.add_argument("--weights", default=None, help="generator.pt to evaluate (default: shipped)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-examples", type=Path, default=None, help="write before/after PNGs for the first 3 images")
    ap.add_argument("--json", type=Path, default=None, help="write the per-image results and the table here")
    ap.add_argument("--cache", type=Path, default=None, help="json cache of baseline (non-GAN) results")
    args = ap.parse_args(argv)

    import imageio.v3 as iio
    import torch

    from completion import inpaint
    from completion.masks import random_mask

    torch.set_num_threads(args.threads)
    files = sorted(p for p in args.data.iterdir() if p.suffix.lower() == ".png")
    if args.limit:
        files = files[: args.limit]
    if not files:
        raise SystemExit(f"no PNG images in {args.data}")
    kinds = [k for k in args.kinds.split(",") if k]
    methods = [m for m in args.methods.split(",") if m]
    if "telea" in methods:
        try:
            import cv2  # noqa: F401
        except ImportError:
            print("OpenCV (cv2) not installed: skipping Telea", file=sys.stderr)
            methods.remove("telea")
    cache = json.loads(args.cache.read_text()) if args.cache and args.cache.exists() else {}

    def run(method, img, hole):
        if method == "gan":
            return inpaint(img, hole, method="gan", device="cpu", weights=args.weights)
        if method == "biharmonic":
            return inpaint(img, hole, method="biharmonic")
        if method == "telea":
            return telea(img, hole)
        if method == "mean":
            return mean_fill(img, hole)
        if method == "pullpush":
            return pull_push(img, hole)
        raise SystemExit(f"unknown method {method}")

    # warm-up (model load) so that timings are per image, not per first call
    if "gan" in methods:
        im0 = np.zeros((64, 64, 3), np.uint8)
        h0 = np.zeros((64, 64), bool)
        h0[20:30, 20:30] = True
        run("gan", im0, h0)

    rows = []
    for i, f in enumerate(files):
        img = np.asarray(iio.imread(f))[:, :, :3]
        for ki, kind in enumerate(kinds):
            hole = random_mask(img.shape[0], img.shape[1], kind, rng=np.random.default_rng([args.seed, i, ki]))
            outs = {}
            for method in methods:
                key = f"{method}|{f.name}|{kind}|{args.seed}"
                need_out = args.save_examples is not None and i < 3
                if method != "gan" and key in cache and "texture" in cache[key] and not need_out:
                    rows.append(cache[key])
                    continue
                t = time.perf_counter()
                out = run(method, img, hole)
                dt = time.perf_counter() - t
                psnr, ssim, texture = hole_metrics(out, img, hole)
                row = {"image": f.name, "kind": kind, "method": method, "psnr": psnr, "ssim": ssim, "texture": texture,
                       "seconds": dt,
                       "hole_fraction": float(hole.mean())}
                if method != "gan" and key in cache and "texture" in cache[key]:
                    row = cache[key]
                rows.append(row)
                if method != "gan":
                    cache[key] = row
                outs[method] = out
            print(f"{f.name} {kind:6s} " + " ".join(f"{r['method']}={r['psnr']:.2f}" for r in rows[-len(methods):]),
                  file=sys.stderr, flush=True)
            if args.save_examples is not None and i < 3:
                args.save_examples.mkdir(parents=True, exist_ok=True)
                shown = img.copy()
                shown[hole] = (255, 0, 255)
                # masked input | biharmonic | pull-push | GAN | truth
                panels = [shown] + [outs[m] for m in ("biharmonic", "pullpush", "gan") if m in outs] + [img]
                iio.imwrite(args.save_examples / f"{f.stem}_{kind}.png", np.concatenate(panels, axis=1))
    if args.cache:
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        args.cache.write_text(json.dumps(cache))

    # ---- one table
    lines = []
    header = f"{'method':12s}" + "".join(f" | {k + ' PSNR':>11s} {'SSIM':>5s} {'tex':>5s} {'s/img':>6s}" for k in kinds)
    lines.append(f"Kodak, {len(files)} images, masks seed {args.seed}; PSNR (dB) and SSIM inside the holes, texture "
                 "(in-hole gradient energy / the truth's; 1 = as detailed as the real image), CPU seconds per image")
    lines.append(header)
    lines.append("-" * len(header))
    table = {}
    for method in methods:
        cells = []
        for kind in kinds:
            rs = [r for r in rows if r["method"] == method and r["kind"] == kind]
            p, s, x, t = (float(np.mean([r[k] for r in rs])) for k in ("psnr", "ssim", "texture", "seconds"))
            table[f"{method}/{kind}"] = {"psnr": p, "ssim": s, "texture": x, "seconds": t, "n": len(rs)}
            cells.append(f" | {p:11.2f} {s:5.3f} {x:5.2f} {t:6.2f}")
        lines.append(f"{method:12s}" + "".join(cells))
    frac = {k: float(np.mean([r["hole_fraction"] for r in rows if r["kind"] == k])) for k in kinds}
    lines.append("mean hole fraction: " + ", ".join(f"{k} {v:.1%}" for k, v in frac.items()))
    if "gan" in methods and "pullpush" in methods:
        lines.append("GAN - its pull-push base fill PSNR: " + ", ".join(
            f"{k} {table[f'gan/{k}']['psnr'] - table[f'pullpush/{k}']['psnr']:+.2f} dB" for k in kinds))
    if "gan" in methods and "biharmonic" in methods:
        lines.append("GAN - biharmonic PSNR: " + ", ".join(
            f"{k} {table[f'gan/{k}']['psnr'] - table[f'biharmonic/{k}']['psnr']:+.2f} dB" for k in kinds))
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"table": table, "rows": rows, "args": {k: str(v) for k, v in vars(args).items()}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
