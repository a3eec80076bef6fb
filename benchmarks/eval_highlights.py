"""Blown highlights against the truth: ours (``clip``, ``reconstruct``, ``reconstruct`` + the
completion of all-clipped areas) and LibRaw ``highlight_mode`` 0, 1, 2, 5, 8 (rawpy), same files,
same white balance, same run.

    python benchmarks/eval_highlights.py                       # 8 Kodak images, crops in benchmarks/
    python benchmarks/eval_highlights.py --limit 24 --timing   # + seconds at 24 MP, 5 % clipped
    python benchmarks/eval_highlights.py --real                # + real files of ../shared/raw

Synthetic truth (Kodak, evaluation only): each image sRGB-decoded to linear, its highlights
expanded (``lin * (1 + 3 lin^4)``: up to 2 stops above the 8-bit white, smoothly), then seen by
a camera with white-balance multipliers (2.0, 1.0, 1.5) (raw = scene / gain; camera RGB = linear
sRGB, the DNG's default ColorMatrix1), exposed so that 2, 5 or 10 % of the photosites (cycled
over the images) exceed white, mosaicked in the four CFA orders (cycled), 14-bit, black 512,
clipped at white and written as a DNG (:func:`isp.synthetic.write_dng`). Every method develops
that DNG with bilinear demosaicing, the camera gains, linear sRGB out. Each output is scaled to
the truth by the median ratio of luminances over pixels far from any clipped site (LibRaw's
modes 1-9 scale data differently; ours comes out at 1.000), then measured over the clipped region
(every pixel whose 3 x 3 photosites hold a clipped one):

* ``dlogY``: mean |log2 Y - log2 Y_true| (Y: Rec. 709 luminance, floored at 1e-4);
* ``dab``: mean CIELAB a*b* distance after normalising both pixels to Y = 0.18 (chroma and hue,
  not brightness; ``skimage.color.rgb2lab`` of the sRGB encoding);
* ``coloured``: fraction of clipped-region pixels with ``dab > 10`` (visibly off-colour);
* the same two over the all-clipped pixels only (``ISPResult.highlight_mask``), ``dlogY_all``,
  ``dab_all``; ``dab_border``: a*b* error within 2 px of the clip border (coloured fringes).

Crops (``--crops``, default ``benchmarks/``): ``highlights_crops.png``: for the first 6 images one 128 px crop
around its largest clipped area: truth | clip | reconstruct | reconstruct+completion | LibRaw 2
| 5 | 8, at the exposure of the file and 2 stops darker (second row) to show what is above white.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CFA = ("RGGB", "BGGR", "GRBG", "GBRG")
FRACTIONS = (0.02, 0.05, 0.10)
GAINS = (2.0, 1.0, 1.5)
BLACK, WHITE = 512, 16383
LIBRAW_MODES = (0, 1, 2, 5, 8)
LUMA = np.array([0.2126, 0.7152, 0.0722])
CROP = 128


def shared_root() -> Path:
    env = os.environ.get("RAWCOMPLETE_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def srgb_decode(v):
    v = np.asarray(v, np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v):
    v = np.clip(np.asarray(v, np.float64), 0, 1)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def scene_from_kodak(path: Path) -> np.ndarray:
    """float64 H x W x 3 scene-linear truth with highlights up to ~4x the 8-bit white."""
    import imageio.v3 as iio

    lin = srgb_decode(iio.imread(path)[..., :3] / 255.0)
    return lin * (1 + 3 * lin**4)


def mosaic_of(scene: np.ndarray, cfa: str, fraction: float):
    """(uint16 raw mosaic, clipped flags, exposure) with ``fraction`` of the photosites above white."""
    from isp.cfa import site_channels

    h, w = scene.shape[:2]
    h, w = h - h % 2, w - w % 2
    scene = scene[:h, :w]
    ch = site_channels(cfa)[(np.arange(h)[:, None] % 2) * 2 + np.arange(w)[None, :] % 2]
    cam = np.take_along_axis(scene, ch[..., None], 2)[..., 0] / np.asarray(GAINS)[ch]
    exposure = 1.0 / np.quantile(cam, 1 - fraction)
    cam = cam * exposure
    raw = np.clip(np.round(BLACK + cam * (WHITE - BLACK)), 0, WHITE).astype(np.uint16)
    return raw, raw >= WHITE, exposure, scene


def write(path: Path, raw: np.ndarray, cfa: str) -> None:
    from isp.synthetic import write_dng

    write_dng(path, raw, cfa=cfa, black_level=BLACK, white_level=WHITE,
              as_shot_neutral=[1 / g for g in GAINS])


def libraw(path: Path, mode: int) -> np.ndarray:
    import rawpy

    with rawpy.imread(str(path)) as raw:
        out = raw.postprocess(
            demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, gamma=(1, 1), no_auto_bright=True,
            output_bps=16, output_color=rawpy.ColorSpace.sRGB, user_wb=[GAINS[0], GAINS[1], GAINS[2], GAINS[1]],
            highlight_mode=mode, adjust_maximum_thr=0.0,
        )
    return out.astype(np.float64) / 65535.0


def dilate3(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, structure=np.ones((3, 3), bool))


def lab_ab(rgb: np.ndarray) -> np.ndarray:
    """a*b* of linear RGB normalised to Y = 0.18 (N x 3 -> N x 2)."""
    from skimage.color import rgb2lab

    y = np.maximum(rgb @ LUMA, 1e-6)
    norm = np.clip(rgb / y[:, None] * 0.18, 0, 1)
    return rgb2lab(srgb_encode(norm)[None])[0][:, 1:]


def measure(out: np.ndarray, truth: np.ndarray, region: np.ndarray, far: np.ndarray) -> dict:
    y_out, y_true = out @ LUMA, truth @ LUMA
    scale = float(np.median(y_true[far] / np.maximum(y_out[far], 1e-9)))
    out = out * scale
    res = {"scale": scale}
    for name, sel in (("", region[0]), ("_all", region[1]), ("_border", region[2])):
        if not sel.any():
            res["dlogY" + name], res["dab" + name] = float("nan"), float("nan")
            if not name:
                res["coloured"] = float("nan")
            continue
        o, t = out[sel], truth[sel]
        res["dlogY" + name] = float(np.mean(np.abs(np.log2(np.maximum(o @ LUMA, 1e-4)) - np.log2(np.maximum(t @ LUMA, 1e-4)))))
        d = np.linalg.norm(lab_ab(o) - lab_ab(t), axis=1)
        res["dab" + name] = float(d.mean())
        if not name:
            res["coloured"] = float((d > 10).mean())
    return res


def develop_all(path: Path, completion_method: str) -> dict:
    import isp
    from pipeline import Pipeline

    outs = {}
    outs["clip"] = isp.develop(path, highlights="clip").linear.astype(np.float64)
    rec = isp.develop(path, highlights="reconstruct")
    outs["reconstruct"] = rec.linear.astype(np.float64)
    res = Pipeline({"highlights": "reconstruct"}, completion=completion_method, output="linear").process(path)
    outs["reconstruct+completion"] = res.linear.astype(np.float64)
    if rec.highlight_mask is not None:  # the fill's own colour instead of the ISP's (the default)
        from completion.highlights import complete_highlights

        outs["  (fill's chroma)"] = complete_highlights(
            rec.linear, rec.highlight_mask, rec.highlight_floor, rec.camera_to_output,
            method=completion_method, chroma="fill").astype(np.float64)
    else:
        outs["  (fill's chroma)"] = outs["reconstruct+completion"]
    for m in LIBRAW_MODES:
        outs[f"libraw_{m}"] = libraw(path, m)
    return outs, rec


def crop_box(region: np.ndarray) -> tuple[int, int]:
    from scipy import ndimage

    lab, n = ndimage.label(region)
    if n == 0:
        return region.shape[0] // 2, region.shape[1] // 2
    big = int(np.argmax(np.bincount(lab.ravel())[1:])) + 1
    ys, xs = np.nonzero(lab == big)
    return int(ys.mean()), int(xs.mean())


def tile(img: np.ndarray, cy: int, cx: int, exposure: float) -> np.ndarray:
    h, w = img.shape[:2]
    y0 = min(max(cy - CROP // 2, 0), h - CROP)
    x0 = min(max(cx - CROP // 2, 0), w - CROP)
    return (srgb_encode(img[y0 : y0 + CROP, x0 : x0 + CROP] * exposure) * 255 + 0.5).astype(np.uint8)


def timing_24mp(kodak: Path, repeats: int = 3) -> None:
    """Seconds of develop(clip) vs develop(reconstruct) on a 6000 x 4000 DNG with 5 % clipped."""
    import isp
    from skimage.transform import resize

    scene = resize(scene_from_kodak(kodak), (4000, 6000), order=1)
    raw, flags, _, _ = mosaic_of(scene, "RGGB", 0.05)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "24mp.dng"
        write(path, raw, "RGGB")
        frame = isp.read_raw(path)
        from pipeline import Pipeline

        isp.develop(frame, highlights="reconstruct")  # compile / warm up
        # the whole stage as a user runs it: develop, then the all-clipped fill under its floor
        # (completion "auto": completion.highlights.HIGHLIGHT_AUTO), scene-linear output
        complete = Pipeline({"highlights": "reconstruct"}, completion="auto", output="linear")
        complete.process(frame)
        runs = {"clip": lambda: isp.develop(frame, highlights="clip"),
                "reconstruct": lambda: isp.develop(frame, highlights="reconstruct"),
                "reconstruct+completion": lambda: complete.process(frame).isp}
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(repeats):  # interleaved rounds: the machine's load hits every mode alike
            for mode, run in runs.items():
                t = time.perf_counter()
                out = run()
                times[mode].append(time.perf_counter() - t)
                if mode == "reconstruct":
                    res = out
        best = {k: min(v) for k, v in times.items()}
        n_all = 0 if res.highlight_mask is None else int(res.highlight_mask.sum())
    print(f"\n24 MP (6000 x 4000), {flags.mean() * 100:.1f} % photosites clipped, {n_all} all-clipped pixels, "
          f"threads {isp.get_num_threads() if hasattr(isp, 'get_num_threads') else 'default'}:")
    print(f"  develop clip        {best['clip']:.2f} s")
    print(f"  develop reconstruct {best['reconstruct']:.2f} s  (+{best['reconstruct'] - best['clip']:.2f} s, "
          f"x{best['reconstruct'] / best['clip']:.2f})  counts {res.highlights_reconstructed}")
    print(f"  + all-clipped fill  {best['reconstruct+completion']:.2f} s  "
          f"(+{best['reconstruct+completion'] - best['clip']:.2f} s over clip: the issue's budget is 2 s)")


def real_files(out_dir: Path) -> None:
    """Real files with clipped areas: reconstruct vs clip vs LibRaw 2/5 crops (no truth)."""
    import imageio.v3 as iio
    import isp
    from pipeline import Pipeline

    names = ("Canon_EOS_D30.CRW", "Blackmagic_PocketCinema4K.dng", "Canon_PowerShotG2_CRW_0304.CRW",
             "Canon_PowerShotG2_CRW_0313.CRW")
    rows = []
    for name in names:
        path = shared_root() / "raw" / name
        if not path.exists():
            print(f"  {name}: absent, skipped")
            continue
        res = isp.develop(path, highlights="reconstruct")
        clip = isp.develop(path, highlights="clip")
        done = Pipeline({"highlights": "reconstruct"}, completion="auto", output="linear").process(path)
        n_all = 0 if res.highlight_mask is None else int(res.highlight_mask.sum())
        print(f"  {name}: {res.highlights_reconstructed} photosites rebuilt, {n_all} all-clipped pixels, "
              f"max linear {res.linear.max():.2f}")
        region = res.linear.max(axis=2) > 0.98 * min(res.wb_gains)
        cy, cx = crop_box(region)
        panels = [clip.linear, res.linear, done.linear]
        rows.append(np.concatenate([np.concatenate([tile(p, cy, cx, e) for p in panels], axis=1)
                                    for e in (1.0, 0.25)], axis=0))
    if rows:
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows]
        iio.imwrite(out_dir / "highlights_real.png", np.concatenate(rows, axis=0))
        print(f"  crops (clip | reconstruct | reconstruct+completion; rows: as is, -2 EV): {out_dir / 'highlights_real.png'}")


def main(argv: list[str] | None = None) -> int:
    import imageio.v3 as iio
    import isp

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kodak", type=Path, default=shared_root() / "images" / "eval" / "kodak")
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--completion", default="auto", help="completion method of the all-clipped fill (auto: completion.highlights.HIGHLIGHT_AUTO, what the CLI uses)")
    ap.add_argument("--crops", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--crop-images", type=int, default=6, help="images shown in the crops PNG")
    ap.add_argument("--timing", action="store_true", help="also time develop at 24 MP")
    ap.add_argument("--real", action="store_true", help="also develop the real files with clipped areas")
    args = ap.parse_args(argv)
    files = sorted(args.kodak.glob("*.png"))[: args.limit]
    if not files:
        print(f"no Kodak images in {args.kodak}")
        return 1
    per_method: dict[str, list[dict]] = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(files):
            cfa, frac = CFA[i % 4], FRACTIONS[i % 3]
            raw, flags, exposure, scene = mosaic_of(scene_from_kodak(f), cfa, frac)
            path = Path(tmp) / f"{f.stem}_{cfa}.dng"
            write(path, raw, cfa)
            truth = scene * exposure  # scene-linear in units of the white of the least gain
            outs, rec = develop_all(path, args.completion)
            region = dilate3(flags)
            all_mask = rec.highlight_mask if rec.highlight_mask is not None else np.zeros_like(region)
            far = ~dilate3(dilate3(region)) & (truth @ LUMA > 1e-3)
            border = region & dilate3(dilate3(~region))  # within 2 px of the clip border: fringes
            print(f"{f.name} {cfa}: {flags.mean() * 100:.1f} % clipped, all-clipped {all_mask.mean() * 100:.1f} % of pixels, "
                  f"peak {np.log2(truth.max()):.1f} stops over white, counts {rec.highlights_reconstructed}")
            for name, out in outs.items():
                per_method.setdefault(name, []).append(measure(out, truth, (region, all_mask & region, border), far))
            if i >= args.crop_images:
                continue
            cy, cx = crop_box(region)
            show = [truth, outs["clip"], outs["reconstruct"], outs["reconstruct+completion"], outs["libraw_2"],
                    outs["libraw_5"], outs["libraw_8"]]
            scales = [1.0] + [per_method[n][-1]["scale"] for n in
                              ("clip", "reconstruct", "reconstruct+completion", "libraw_2", "libraw_5", "libraw_8")]
            rows.append(np.concatenate([np.concatenate([tile(p * s, cy, cx, e) for p, s in zip(show, scales)], axis=1)
                                        for e in (1.0, 0.25)], axis=0))
    print(f"\n{len(files)} Kodak images, LibRaw {'.'.join(map(str, __import__('rawpy').libraw_version))}; "
          "means over images (clipped region; _all: all-clipped pixels only)")
    print(f"{'method':24s} {'dlogY':>7s} {'dab':>7s} {'coloured':>9s} {'dlogY_all':>10s} {'dab_all':>8s} "
          f"{'dab_border':>10s} {'scale':>6s}")
    ref = {}
    for name, vals in per_method.items():
        mean = {k: float(np.nanmean([v[k] for v in vals])) for k in vals[0]}
        ref[name] = mean
        print(f"{name:24s} {mean['dlogY']:7.3f} {mean['dab']:7.2f} {mean['coloured'] * 100:8.1f}% "
              f"{mean['dlogY_all']:10.3f} {mean['dab_all']:8.2f} {mean['dab_border']:10.2f} {mean['scale']:6.3f}")
    best_libraw = min((ref[f"libraw_{m}"]["dlogY"], m) for m in LIBRAW_MODES)
    best_ab = min((ref[f"libraw_{m}"]["dab"], m) for m in LIBRAW_MODES)
    r = ref["reconstruct+completion"]
    print(f"reconstruct+completion vs best LibRaw: dlogY {r['dlogY']:.3f} / {best_libraw[0]:.3f} (mode {best_libraw[1]}) "
          f"= x{r['dlogY'] / best_libraw[0]:.2f}; dab {r['dab']:.2f} / {best_ab[0]:.2f} (mode {best_ab[1]}) "
          f"= x{r['dab'] / best_ab[0]:.2f}")
    args.crops.mkdir(parents=True, exist_ok=True)
    crops = args.crops / "highlights_crops.png"
    iio.imwrite(crops, np.concatenate([np.pad(r, ((0, 4), (0, 0), (0, 0))) for r in rows], axis=0))
    print(f"crops (truth | clip | reconstruct | +completion | LibRaw 2 | 5 | 8; second row -2 EV): {crops}")
    if args.timing:
        timing_24mp(files[0])
    if args.real:
        print("\nreal files:")
        real_files(args.crops)
    del isp
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
