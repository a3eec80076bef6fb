"""Regression table over every real file of ``$RAWCOMPLETE_SHARED/raw`` (default ``../shared/raw``).

For each file, measured in this run:

* the outcome: ``developed`` or the typed error class :func:`isp.read_raw` / :func:`isp.develop`
  raise, against the outcome expected for it (``EXPECTED`` below, with the reason);
* for developed files, against LibRaw (rawpy ``postprocess``) with matched settings -- bilinear
  (LibRaw LINEAR), our white-balance gains as ``user_wb``, no auto brightness, levels as declared
  (``adjust_maximum_thr=0``), 16-bit linear output:

  - ``lin dB``: PSNR of our camera-RGB linear output (``color="raw"``, clipped to [0, 1]) against
    LibRaw's ``output_color=raw`` -- levels, white balance, highlight clipping and demosaic; for a
    4-colour CFA (LibRaw fallback, which has no camera RGB) our linear sRGB against LibRaw's;
  - ``disp dB``: PSNR of our display image (sRGB, sRGB curve) against LibRaw's sRGB linear output
    encoded with the same curve -- adds the colour matrix;
  - ``size``: ours vs LibRaw's output size (H x W); where the file has a DefaultCrop (which we
    apply and LibRaw only reports), LibRaw's size cropped to it; the PSNRs and chroma compare
    ``crop="full"``, LibRaw's area;
  - ``chroma``: mean chroma (max - min of the display RGB, 0..1) over the pixels LibRaw clipped:
    ``blown`` = every channel of its camera-RGB output at full scale, ``partly`` = at least one;
    LibRaw's, ours (default ``highlights="clip"``), and what main gave before
    (``highlights="keep"`` with gains normalised to G = 1). Neutral white is 0.

Usage::

    python benchmarks/real_raws.py [--only SUBSTRING]

Prints the table; exits 1 when an outcome differs from the expected one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
try:
    import isp  # noqa: F401
except ImportError:  # a checkout that is not installed
    sys.path.insert(0, str(ROOT))

import isp  # noqa: E402
from isp.stages import encode_gamma  # noqa: E402

D = "developed"
#: file -> (expected outcome, why)
EXPECTED: dict[str, tuple[str, str]] = {
    "Apple_QuickTake100_GILLESCHR.QTK": (D, "QuickTake 100, Bayer"),
    "Apple_QuickTake100_TEST100.QTK": (D, "QuickTake 100, Bayer"),
    "Apple_QuickTake150_TEST150.QTK": (D, "QuickTake 150 (Kodak RADC), Bayer"),
    "Apple_iPhone12Pro_ProRAW_pruned.dng": ("CorruptRawError", "linear DNG, image tiles cut (LibRaw: all zeros)"),
    "Blackmagic_PocketCinema4K.dng": (D, "Bayer DNG, LinearizationTable"),
    "Canon_EOSR6_pruned.CR3": ("CorruptRawError", "image data removed"),
    "Canon_EOS_D30.CRW": (D, "Bayer CRW, camera WB unusable: gray world"),
    "Canon_PowerShotG1_CMYG.CRW": (D, "CMYG four-colour CFA: LibRaw fallback (isp.libraw_fallback)"),
    "Canon_PowerShotG2_CRW_0304.CRW": (D, "Bayer CRW"),
    "Canon_PowerShotG2_CRW_0313.CRW": (D, "Bayer CRW"),
    "Canon_PowerShotS40_CRW_0101.CRW": (D, "Bayer CRW"),
    "Canon_exiftool_stub.cr3": ("CorruptRawError", "metadata stub"),
    "Canon_hachoir_truncated.cr2": ("CorruptRawError", "truncated CR2 (first 100,000 bytes)"),
    "FujiFilm_exiftool_stub.raf": ("CorruptRawError", "metadata stub"),
    "GoPro_HERO7Black_GOPR8508.GPR": ("UnsupportedRawError", "VC-5: LibRaw has no decoder"),
    "GoPro_HERO8_Black.GPR": ("UnsupportedRawError", "VC-5: LibRaw has no decoder"),
    "JPEG_named_as_Nikon_D90.NEF": ("CorruptRawError", "a JPEG, not a RAW"),
    "Kodak_C330_YRGB.raw": (D, "3-colour linear stack (isp.linear)"),
    "Kodak_DC120_P003908.KDC": (D, "Bayer KDC, non-square pixels"),
    "Kodak_DC50.KDC": (D, "Bayer KDC"),
    "Kodak_DC50_DC0008L.KDC": (D, "Bayer KDC"),
    "Kodak_DC50_DC0010S.KDC": (D, "Bayer KDC"),
    "LG_G4_linear_ACR.dng": (D, "LinearRaw DNG, lossy JPEG (isp.linear)"),
    "Minolta_exiftool_stub.mrw": ("CorruptRawError", "metadata stub"),
    "Sigma_DP2_exiftool_stub.x3f": ("UnsupportedRawError", "Foveon X3F (stub)"),
}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def libraw(path: Path, gains, color) -> np.ndarray:
    """rawpy LINEAR, 16-bit linear, our gains (R, G, B; or one per raw colour for a 4-colour
    CFA), levels as declared; float64 in [0, 1]."""
    import rawpy

    user_wb = list(gains) if len(gains) == 4 else [gains[0], gains[1], gains[2], gains[1]]
    with rawpy.imread(str(path)) as raw:
        out = raw.postprocess(
            demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, gamma=(1, 1), no_auto_bright=True,
            output_bps=16, output_color=color, user_wb=user_wb, adjust_maximum_thr=0.0,
        )
    return out.astype(np.float64) / 65535.0


def chroma(rgb: np.ndarray) -> np.ndarray:
    return rgb.max(axis=-1) - rgb.min(axis=-1)


def row(path: Path) -> dict:
    import rawpy

    expected, why = EXPECTED.get(path.name, ("?", "not in EXPECTED"))
    out = {"file": path.name, "expected": expected, "why": why}
    t0 = time.perf_counter()
    try:
        res = isp.develop(path)
    except isp.RawError as exc:
        out["outcome"] = type(exc).__name__
        out["message"] = str(exc)
        return out
    out["outcome"] = D
    out["seconds"] = time.perf_counter() - t0
    gains = res.wb_gains
    out["wb"] = f"{res.wb_method.split(' ')[0]} " + ",".join(f"{g:.2f}" for g in gains)
    frame = res.frame
    four_colour = frame.libraw_fallback is not None and frame.libraw_fallback.colors == 4
    if frame.libraw_fallback is not None:
        out["why"] += f" [{res.demosaic}]"
    # manual gains do not apply to 4-colour CFAs: the same WB method then gives the same gains
    wb = res.config.wb if four_colour else gains
    ref_raw = libraw(path, gains, rawpy.ColorSpace.raw)
    ref_srgb = libraw(path, gains, rawpy.ColorSpace.sRGB)
    out["size"] = f"{res.linear.shape[0]}x{res.linear.shape[1]}"
    ref_size = ref_raw.shape
    if frame.default_crop is not None:  # LibRaw reports DefaultCrop without applying it
        from isp.geometry import crop_oriented

        ref_size = crop_oriented(ref_raw, frame.default_crop, frame.flip).shape
        out["size"] += " (DefaultCrop)"
    out["size_libraw"] = f"{ref_size[0]}x{ref_size[1]}"
    # pixel comparisons on the full visible area, LibRaw's output
    res = isp.develop(frame, crop="full", wb=wb)
    if four_colour:  # no camera RGB: linear sRGB against LibRaw's linear sRGB
        raw_lin, ref_lin = res.linear, ref_srgb
    else:
        raw_lin, ref_lin = isp.develop(frame, color="raw", wb=gains, crop="full").linear, ref_raw
    if ref_lin.shape != raw_lin.shape:
        return out
    out["lin_db"] = psnr(np.clip(raw_lin, 0, 1), ref_lin)
    ref_disp = encode_gamma(ref_srgb.astype(np.float32), "srgb")
    out["disp_db"] = psnr(res.display, ref_disp)
    # blown: every channel of LibRaw's camera RGB at full scale; partly: at least one
    blown = ref_raw.min(axis=2) >= 1.0
    partly = ref_raw.max(axis=2) >= 1.0
    out["clipped_pct"] = 100.0 * partly.mean()
    before = None
    if frame.libraw_fallback is None:  # main before the clip mode: gains normalised to G = 1, no clipping
        keep = isp.develop(frame, highlights="keep", wb=gains, crop="full")
        before = encode_gamma(keep.linear * np.float32(1.0 / gains[1]), "srgb")
    for name, mask in (("blown", blown), ("partly", partly)):
        if mask.any():
            out[f"{name}_libraw"] = float(chroma(ref_disp)[mask].mean())
            out[f"{name}_ours"] = float(chroma(res.display)[mask].mean())
            out[f"{name}_before"] = None if before is None else float(chroma(before)[mask].mean())
    return out


def fmt(v, spec=".1f") -> str:
    return "-" if v is None else format(v, spec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="", help="only files whose name contains this")
    args = ap.parse_args(argv)
    shared = Path(os.environ.get("RAWCOMPLETE_SHARED", ROOT.parent / "shared")) / "raw"
    files = sorted(p for p in shared.glob("*") if p.is_file() and p.suffix != ".md" and args.only in p.name)
    if not files:
        print(f"no RAW files in {shared}")
        return 1
    print(f"{len(files)} files in {shared}; LibRaw {'.'.join(map(str, __import__('rawpy').libraw_version))}")
    head = ("file", "expected", "outcome", "ok", "lin dB", "disp dB", "size ours / LibRaw",
            "clip %", "chroma blown: LibRaw / ours / before", "chroma partly clipped: same", "WB")
    print(" | ".join(head))
    print("|".join("---" for _ in head))
    bad = 0
    for path in files:
        r = row(path)
        ok = r["outcome"] == r["expected"]
        bad += not ok
        size = f"{r['size']} / {r['size_libraw']}" if "size" in r else "-"
        chroma_txt = {}
        for name in ("blown", "partly"):
            chroma_txt[name] = "-"
            if f"{name}_ours" in r:
                chroma_txt[name] = " / ".join(fmt(r[f"{name}_{k}"], ".4f") for k in ("libraw", "ours", "before"))
        print(" | ".join([
            r["file"], r["expected"], r["outcome"], "yes" if ok else "NO",
            fmt(r.get("lin_db")), fmt(r.get("disp_db")), size, fmt(r.get("clipped_pct"), ".2f"),
            chroma_txt["blown"], chroma_txt["partly"], r.get("wb", "-"),
        ]))
        if not ok and "message" in r:
            print(f"    {r['message']}")
    print(f"{len(files) - bad}/{len(files)} outcomes as expected")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
