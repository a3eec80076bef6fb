"""Cost of the DNG lens-shading correction (GainMap x4 + FixVignetteRadial) on a 24 MP frame.

Prints, measured in the same run:

1. the array stages -- ``LensShading.apply_to_mosaic`` (four per-Bayer-site GainMaps, OpcodeList2)
   and ``LensShading.apply_to_rgb`` (FixVignetteRadial, OpcodeList3) -- against a vectorised NumPy
   implementation of the same maths (separable bilinear map upsampling, the radial polynomial),
   as milliseconds and as the ratio NumPy / ours;
2. ``isp.develop`` of a synthetic 24 MP DNG carrying those opcodes with ``vignetting="auto"``
   against ``vignetting="off"``: the correction's cost as milliseconds and as a fraction of a full
   develop (develop evaluates the opcodes inside its fused demosaic pass, so the array stages of
   1. are not on its path); the alternative of feeding the GainMaps to develop as a precomputed
   flat-field array; and rawpy's ``postprocess`` (LibRaw, bilinear, which applies no opcodes) for
   scale.

Usage::

    python benchmarks/bench_shading.py [--height 4000] [--width 6000] [--repeat 5] [--no-develop]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
try:
    import isp  # noqa: F401
except ImportError:  # a checkout that is not installed
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "samples"))

from isp.opcodes import FixVignetteRadial, GainMap, LensShading, encode_opcode_list  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median wall time in ms over ``repeat`` runs (after one warm-up run) and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), result


# ------------------------------------------------------------------ NumPy reference (same maths)


def _axis(n: int, origin: float, spacing: float, points: int):
    f = np.clip(((np.arange(n) + 0.5) / n - origin) / spacing, 0, points - 1)
    i0 = np.minimum(np.floor(f).astype(np.int64), points - 1)
    i1 = np.minimum(i0 + 1, points - 1)
    return i0, i1, (f - i0).astype(np.float32)


def numpy_gain_maps(mosaic: np.ndarray, ops: list[GainMap]) -> np.ndarray:
    out = mosaic.copy()
    h, w = mosaic.shape
    for op in ops:
        r0, r1, rw = _axis(h, op.map_origin_v, op.map_spacing_v, op.map_points_v)
        c0, c1, cw = _axis(w, op.map_origin_h, op.map_spacing_h, op.map_points_h)
        rows = np.arange(op.top, min(op.bottom, h), op.row_pitch)
        cols = np.arange(op.left, min(op.right, w), op.col_pitch)
        g = op.gains[:, :, 0]
        vert = g[r0[rows]] * (1 - rw[rows, None]) + g[r1[rows]] * rw[rows, None]  # rows x Nh
        full = vert[:, c0[cols]] * (1 - cw[cols]) + vert[:, c1[cols]] * cw[cols]
        out[np.ix_(rows, cols)] *= full
    return out


def numpy_vignette(rgb: np.ndarray, op: FixVignetteRadial) -> np.ndarray:
    h, w, _ = rgb.shape
    cy, cx = op.cy * h, op.cx * w
    max_r = np.hypot(max(cy, h - cy), max(cx, w - cx))
    dy2 = ((np.arange(h) + 0.5 - cy) / max_r) ** 2
    dx2 = ((np.arange(w) + 0.5 - cx) / max_r) ** 2
    r2 = dy2[:, None] + dx2[None, :]
    k0, k1, k2, k3, k4 = op.k
    gain = 1 + r2 * (k0 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4))))
    return rgb * gain.astype(np.float32)[:, :, None]


# ------------------------------------------------------------------------------------ benchmark


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-develop", action="store_true", help="array stages only")
    args = parser.parse_args(argv)

    import make_shading_samples as samples

    h, w = args.height, args.width
    mp = h * w / 1e6
    gain_maps = samples.per_site_gain_maps("RGGB", h, w, samples.TINT_STRENGTH)
    vignette = FixVignetteRadial(k=samples.RADIAL_K, cx=samples.RADIAL_CENTRE[0], cy=samples.RADIAL_CENTRE[1])
    shading = LensShading.from_opcode_lists(
        {2: encode_opcode_list(gain_maps), 3: encode_opcode_list([vignette])}
    )
    rng = np.random.default_rng(0)
    mosaic = rng.uniform(0.0, 1.0, (h, w)).astype(np.float32)
    rgb = rng.uniform(0.0, 1.0, (h, w, 3)).astype(np.float32)

    out = sys.stdout.write
    out(f"lens shading on a {h} x {w} frame ({mp:.1f} MP), median of {args.repeat} runs\n\n")
    out(f"{'stage':44s} {'ours ms':>9s} {'numpy ms':>9s} {'numpy/ours':>10s} {'max rel diff':>12s}\n")
    for label, ours_fn, ref_fn in (
        ("GainMap x4 on the mosaic (OpcodeList2)", lambda: shading.apply_to_mosaic(mosaic, "RGGB"),
         lambda: numpy_gain_maps(mosaic, gain_maps)),
        ("FixVignetteRadial on RGB (OpcodeList3)", lambda: shading.apply_to_rgb(rgb),
         lambda: numpy_vignette(rgb, vignette)),
    ):  # fmt: skip
        t_ours, a = timed(ours_fn, args.repeat)
        t_ref, b = timed(ref_fn, max(1, args.repeat // 2))
        diff = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-6)))
        out(f"{label:44s} {t_ours:9.1f} {t_ref:9.1f} {t_ref / t_ours:10.2f} {diff:12.2e}\n")
        del a, b

    if args.no_develop:
        return 0
    import isp
    import rawpy

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shading_24mp.dng"
        v, u = samples.relative_grid(h, w)
        fall = np.stack([samples.lens_falloff(v, u, s, aspect=w / h) for s in samples.TINT_STRENGTH], -1)
        fall *= samples.radial_falloff(h, w, vignette)[:, :, None]
        del v, u
        scene = samples.flat_scene(h, w) * fall
        del fall
        samples.write_dng(
            path, samples.raw_from_camera_rgb(scene, "RGGB"), cfa="RGGB", black_level=samples.BLACK,
            white_level=samples.WHITE, as_shot_neutral=samples.AS_SHOT_NEUTRAL,
            opcode_list2=encode_opcode_list(gain_maps), opcode_list3=encode_opcode_list([vignette]),
        )  # fmt: skip
        del scene
        frame = isp.read_raw(path)
        t_off, _ = timed(lambda: isp.develop(frame, vignetting="off"), args.repeat)
        t_auto, res = timed(lambda: isp.develop(frame, vignetting="auto"), args.repeat)
        flat = np.abs(res.linear / res.linear.reshape(-1, 3).mean(0, dtype=np.float64) - 1).max(axis=(0, 1))
        del res

        def libraw():
            with rawpy.imread(str(path)) as raw:
                return raw.postprocess(
                    demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, output_bps=16,
                    no_auto_bright=True, gamma=(1, 1), use_camera_wb=True,
                )  # fmt: skip

        # The alternative to evaluating the GainMaps inside develop's fused kernel (what "auto"
        # does): a precomputed H x W flat-field gain array (vignetting=<array>), one extra
        # full-frame write and read.
        t_field, field = timed(lambda: shading.mosaic_gain((h, w)), args.repeat)
        t_fused, _ = timed(lambda: isp.develop(frame, vignetting=field), args.repeat)
        del field
        t_libraw, _ = timed(libraw, max(1, args.repeat // 2))
        frame_read, _ = timed(lambda: isp.read_raw(path), max(1, args.repeat // 2))

    extra = t_auto - t_off
    out("\n")
    out(f"{'develop (from a RawFrame)':44s} {'ms':>9s}\n")
    out(f"{'vignetting=off':44s} {t_off:9.1f}\n")
    out(f"{'vignetting=auto (GainMap x4 + FixVignetteRadial)':44s} {t_auto:9.1f}\n")
    out(f"{'  cost of the correction':44s} {extra:9.1f}   = {extra / t_auto:.0%} of the full develop, "
        f"{extra / mp:.1f} ms/MP\n")  # fmt: skip
    out(f"{'  flatness after correction (max |dev|, R G B)':44s} {' '.join(f'{x:.2%}' for x in flat)}\n")
    out(f"{'GainMap x4 as a flat-field array instead:':44s}\n")
    out(f"{'  LensShading.mosaic_gain (H x W field)':44s} {t_field:9.1f}\n")
    out(f"{'  develop(vignetting=field), fused path':44s} {t_fused:9.1f}   "
        f"= off + {t_fused - t_off:.1f} ms (+ the field)\n")  # fmt: skip
    out(f"{'read_raw (for scale)':44s} {frame_read:9.1f}\n")
    out(f"{'rawpy postprocess LINEAR (no opcodes applied)':44s} {t_libraw:9.1f}   "
        f"ours with correction / rawpy = {t_auto / t_libraw:.2f}\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
