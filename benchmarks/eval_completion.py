"""Evaluate hole filling on Kodak (never trained on): in-hole PSNR, SSIM, SWD, texture ratio, chroma
error and seconds per image, per method and mask kind, all in one run.

    python benchmarks/eval_completion.py                            # 24 images, all kinds, all methods
    python benchmarks/eval_completion.py --limit 8 --kinds object,thick --montage-dir benchmarks

Methods (``--methods``):

* ``gan``: the shipped generator (``completion.inpaint(method="gan")``, or ``--weights``);
* ``gan_v2``: the generator shipped before the exemplar fill (commit ``db2ed9d``; pull-push base),
  read from git history (or ``--baseline-weights``) -- "today's model" of issue 10;
* ``exemplar``: the shipped generator's coarse fill alone (``method="exemplar"``);
* ``pullpush``: the smooth pull-push fill; ``biharmonic``: scikit-image (``method="biharmonic"``);
* ``telea``, ``ns``: OpenCV ``cv2.inpaint`` (radius 5); ``fsr``: OpenCV-contrib
  ``cv2.xphoto.inpaint(..., INPAINT_FSR_FAST)``; skipped with a note when OpenCV is not installed
  (``pip install ".[bench]"``);
* ``auto``, ``auto_v2``: ``method="auto"`` with the shipped / the previous weights (dust masks).

Masks: ``completion.masks.random_mask(h, w, kind)`` seeded per (seed, image index, kind), so every
method sees the same holes: thin / medium / thick strokes (LaMa), object (one or two ellipses or
rectangles, 8-20 % of the frame) and dust (10-30 discs of radius 2-8 px). Measures
(:mod:`completion.metrics`): PSNR and SSIM over the hole, SWD (x100, lower = more realistic), texture
ratio (geometric mean over images; 1 = as detailed as the truth), chroma error (CIELAB a*b*, blurred,
lower = truer colour). Results of every method but ``gan`` / ``auto`` can be cached (``--cache``);
``--json`` writes every number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KINDS = ("thin", "medium", "thick", "object", "dust")
METHODS = ("gan", "gan_v2", "exemplar", "pullpush", "biharmonic", "telea", "ns", "fsr")
CV_METHODS = ("telea", "ns", "fsr")
BASELINE_REV = "db2ed9d"  # the last commit with the pull-push-based generator ("today's model")
REPO = Path(__file__).resolve().parents[1]


def default_eval_dir() -> Path:
    env = os.environ.get("RAWCOMPLETE_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    return root / "images" / "eval" / "kodak"


def baseline_weights(rev: str = BASELINE_REV) -> Path:
    """Write the generator of commit ``rev`` (generator.pt/.json/.sha256) to a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix=f"generator-{rev}-"))
    for suffix in (".pt", ".json", ".sha256"):
        blob = subprocess.run(["git", "show", f"{rev}:completion/weights/generator{suffix}"], cwd=REPO,
                              capture_output=True, check=True).stdout
        (folder / f"generator{suffix}").write_bytes(blob)
    return folder / "generator.pt"


def pull_push(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The smooth pull-push fill alone (the previous generator's starting fill)."""
    from completion.exemplar import pull_push as fill

    out = img.copy()
    f = fill(img.astype(np.float32) / 255.0, ~hole)
    out[hole] = np.clip(f[hole] * 255.0 + 0.5, 0, 255).astype(img.dtype)
    return out


def opencv(img: np.ndarray, hole: np.ndarray, method: str) -> np.ndarray:
    import cv2

    bgr = np.ascontiguousarray(img[:, :, ::-1])
    if method == "fsr":
        import cv2.xphoto

        res = np.zeros_like(bgr)
        cv2.xphoto.inpaint(bgr, (~hole).astype(np.uint8) * 255, res, cv2.xphoto.INPAINT_FSR_FAST)
    else:
        flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
        res = cv2.inpaint(bgr, hole.astype(np.uint8) * 255, 5, flag)
    out = img.copy()
    out[hole] = res[:, :, ::-1][hole]
    return out


def _opencv_available(method: str) -> bool:
    try:
        import cv2

        if method == "fsr":
            import cv2.xphoto  # noqa: F401

            return hasattr(cv2.xphoto, "INPAINT_FSR_FAST")
        return True
    except ImportError:
        return False


def measure(out: np.ndarray, img: np.ndarray, hole: np.ndarray) -> dict:
    from completion import metrics as M

    psnr, ssim = M.hole_psnr_ssim(out, img, hole)
    return {"psnr": psnr, "ssim": ssim, "swd": M.hole_swd(out, img, hole), "texture": M.texture_ratio(out, img, hole),
            "chroma": M.chroma_error(out, img, hole)}


def _montage(outs: dict, img: np.ndarray, hole: np.ndarray, order: list[str]) -> tuple[np.ndarray, list[str]]:
    """Half-resolution panels side by side: masked input, the methods in ``order``, the truth."""
    shown = img.copy()
    shown[hole] = (255, 0, 255)
    names = ["masked"] + [m for m in order if m in outs] + ["truth"]
    panels = [shown] + [outs[m] for m in order if m in outs] + [img]
    half = [p[: p.shape[0] // 2 * 2, : p.shape[1] // 2 * 2].reshape(p.shape[0] // 2, 2, p.shape[1] // 2, 2, 3)
            .mean(axis=(1, 3)).round().astype(np.uint8) for p in panels]
    return np.concatenate(half, axis=1), names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=default_eval_dir())
    ap.add_argument("--limit", type=int, default=0, help="first N images only (0 = all 24)")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--dust-methods", default="auto,auto_v2", help="extra methods on dust masks only")
    ap.add_argument("--weights", default=None, help="generator.pt evaluated as 'gan' (default: shipped)")
    ap.add_argument("--baseline-weights", default=None,
                    help=f"generator.pt evaluated as 'gan_v2' (default: the one of commit {BASELINE_REV}, from git)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the GAN (inpaint(threads=...))")
    ap.add_argument("--montage-dir", type=Path, default=None,
                    help="write montage_<kind>.png (object and thick masks) of --montage-images here")
    ap.add_argument("--montage-images", default="kodim01,kodim08,kodim14", help="image stems shown in the montages")
    ap.add_argument("--json", type=Path, default=None, help="write the per-image results and the table here")
    ap.add_argument("--cache", type=Path, default=None, help="json cache of the model-independent methods' results")
    args = ap.parse_args(argv)

    import imageio.v3 as iio

    from completion import inpaint
    from completion.masks import random_mask

    files = sorted(p for p in args.data.iterdir() if p.suffix.lower() == ".png")
    if args.limit:
        files = files[: args.limit]
    if not files:
        raise SystemExit(f"no PNG images in {args.data}")
    kinds = [k for k in args.kinds.split(",") if k]
    methods = [m for m in args.methods.split(",") if m]
    dust_methods = [m for m in args.dust_methods.split(",") if m]
    for m in [m for m in methods if m in CV_METHODS]:
        if not _opencv_available(m):
            print(f"OpenCV{' contrib (xphoto)' if m == 'fsr' else ''} not installed: skipping {m}", file=sys.stderr)
            methods.remove(m)
    old = args.baseline_weights
    if old is None and ({"gan_v2", "auto_v2"} & set(methods + dust_methods)):
        old = str(baseline_weights())
    # never cached: they depend on the weights under test (the cache keys every other method, so
    # delete the cache when the exemplar fill's code changes)
    model_methods = {"gan", "auto"}
    cache = json.loads(args.cache.read_text()) if args.cache and args.cache.exists() else {}
    montage_stems = set(args.montage_images.split(","))

    def run(method, img, hole):
        if method in ("gan", "auto"):
            return inpaint(img, hole, method=method, device="cpu", weights=args.weights, threads=args.threads)
        if method in ("gan_v2", "auto_v2"):
            return inpaint(img, hole, method=method[:-3], device="cpu", weights=old, threads=args.threads)
        if method in ("exemplar", "biharmonic"):
            return inpaint(img, hole, method=method)
        if method in CV_METHODS:
            return opencv(img, hole, method)
        if method == "pullpush":
            return pull_push(img, hole)
        raise SystemExit(f"unknown method {method}")

    # warm-up (model loads, Numba cache) so that timings are per image, not per first call
    im0 = np.full((96, 96, 3), 128, np.uint8)
    im0[::3] = 40
    h0 = np.zeros((96, 96), bool)
    h0[30:60, 30:60] = True
    for m in {"gan", "gan_v2", "exemplar"} & set(methods):
        run(m, im0, h0)

    rows = []
    montages: dict[str, list] = {}
    for i, f in enumerate(files):
        img = np.asarray(iio.imread(f))[:, :, :3]
        for ki, kind in enumerate(KINDS):
            if kind not in kinds:
                continue
            hole = random_mask(img.shape[0], img.shape[1], kind, rng=np.random.default_rng([args.seed, i, ki]))
            want_montage = args.montage_dir is not None and f.stem in montage_stems and kind in ("object", "thick")
            outs = {}
            for method in methods + (dust_methods if kind == "dust" else []):
                key = f"{method}|{f.name}|{kind}|{args.seed}"
                if method not in model_methods and key in cache and not want_montage:
                    rows.append(cache[key])
                    continue
                t = time.perf_counter()
                out = run(method, img, hole)
                dt = time.perf_counter() - t
                assert np.array_equal(out[~hole], img[~hole]), f"{method} changed known pixels"
                row = {"image": f.name, "kind": kind, "method": method, **measure(out, img, hole), "seconds": dt,
                       "hole_fraction": float(hole.mean())}
                if method not in model_methods:
                    row = cache.setdefault(key, row)
                rows.append(row)
                outs[method] = out
            done = [r for r in rows if r["image"] == f.name and r["kind"] == kind]
            print(f"{f.name} {kind:6s} " + " ".join(f"{r['method']}={r['psnr']:.1f}/{r['swd']:.0f}" for r in done),
                  file=sys.stderr, flush=True)
            if args.cache:  # written as it goes, so an interrupted run keeps what it measured
                args.cache.parent.mkdir(parents=True, exist_ok=True)
                args.cache.write_text(json.dumps(cache))
            if want_montage:
                order = ["exemplar", "pullpush", "biharmonic", "telea", "gan_v2", "gan"]
                strip, names = _montage(outs, img, hole, order)
                montages.setdefault(kind, []).append(strip)
                montages[f"{kind}_names"] = names
    if args.montage_dir is not None:
        args.montage_dir.mkdir(parents=True, exist_ok=True)
        for kind in ("object", "thick"):
            if montages.get(kind):
                path = args.montage_dir / f"montage_{kind}.png"
                iio.imwrite(path, np.concatenate(montages[kind], axis=0), compress_level=9)
                print(f"montage {path}: panels " + " | ".join(montages[f"{kind}_names"]), file=sys.stderr)

    # ---- one table per kind
    def agg(rs, key):
        v = np.array([r[key] for r in rs], float)
        v = v[np.isfinite(v)]
        if key == "texture":
            return float(np.exp(np.mean(np.log(np.maximum(v, 1e-6))))) if v.size else float("nan")
        return float(np.mean(v)) if v.size else float("nan")

    lines = [f"Kodak, {len(files)} images, masks seed {args.seed}, GAN on {args.threads} torch thread(s). In the hole: "
             "PSNR (dB), SSIM, SWD (x100, lower = more realistic), texture ratio (geo. mean; 1 = as detailed as "
             "the truth), chroma error (CIELAB a*b*, blurred; lower = truer colour), seconds per image"]
    table = {}
    for kind in kinds:
        rs_k = [r for r in rows if r["kind"] == kind]
        frac = float(np.mean([r["hole_fraction"] for r in rs_k]))
        lines.append(f"\n{kind} (mean hole fraction {frac:.1%})")
        lines.append(f"{'method':12s} {'PSNR':>6s} {'SSIM':>6s} {'SWD':>6s} {'tex':>5s} {'chroma':>6s} {'s/img':>6s}")
        for method in methods + (dust_methods if kind == "dust" else []):
            rs = [r for r in rs_k if r["method"] == method]
            if not rs:
                continue
            cell = {k: agg(rs, k) for k in ("psnr", "ssim", "swd", "texture", "chroma", "seconds")}
            cell["n"] = len(rs)
            table[f"{method}/{kind}"] = cell
            lines.append(f"{method:12s} {cell['psnr']:6.2f} {cell['ssim']:6.3f} {cell['swd']:6.1f} {cell['texture']:5.2f} "
                         f"{cell['chroma']:6.2f} {cell['seconds']:6.2f}")
        if f"gan/{kind}" in table and f"gan_v2/{kind}" in table:
            g, o = table[f"gan/{kind}"], table[f"gan_v2/{kind}"]
            anchors = [m for m in methods if m not in ("gan", "gan_v2") and f"{m}/{kind}" in table]
            best = min(anchors, key=lambda m: table[f"{m}/{kind}"]["swd"]) if anchors else None
            lines.append(f"gan vs gan_v2: SWD {100 * (g['swd'] / o['swd'] - 1):+.0f} %, PSNR {g['psnr'] - o['psnr']:+.2f} dB"
                         + (f"; best anchor on SWD: {best} {table[f'{best}/{kind}']['swd']:.1f}" if best else ""))
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"table": table, "rows": rows, "args": {k: str(v) for k, v in vars(args).items()}},
                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
