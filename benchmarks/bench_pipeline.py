"""Batch throughput of the ``rawcomplete`` command: files per minute at ``--jobs 1`` and ``--jobs 2``.

Makes a folder of synthetic Bayer DNGs (``isp.synthetic.write_dng``), then times, in the same run:

- ``rawcomplete DIR -o OUT --jobs 1`` and ``--jobs 2`` (real subprocesses: worker start-up,
  decode, develop, 16-bit TIFF with ICC, resume sidecars, report all included);
- the reference: LibRaw through rawpy, ``postprocess(demosaic_algorithm=LINEAR, output_bps=16)``
  + ``tifffile.imwrite`` for each file, sequentially in one process (a ``dcraw -4 -T`` style batch).

Prints files/min and ratios, plus the mean seconds per stage from the batch report.

Usage::

    python benchmarks/bench_pipeline.py [--files 16] [--size 1536x2048] [--jobs 1 2] [--mask]
                                        [--compress none zstd deflate]
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_folder(folder: Path, n: int, h: int, w: int, with_masks: bool) -> None:
    from isp.synthetic import mosaic_from_rgb, write_dng
    from runner.png import encode_png

    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin(xx / 40) * np.cos(yy / 60)], axis=2) * 0.8 + 0.05
    base = mosaic_from_rgb(rgb.astype(np.float32), "RGGB") * 15000 + 256
    rng = np.random.default_rng(0)
    for i in range(n):
        mosaic = np.clip(base + rng.normal(0, 30, base.shape), 0, 16383).astype(np.uint16)
        write_dng(folder / f"frame_{i:03d}.dng", mosaic, cfa="RGGB", black_level=256, white_level=16383,
                  as_shot_neutral=(0.55, 1.0, 0.7))
        if with_masks:
            holes = np.zeros((h, w), np.uint8)
            holes[h // 3 : h // 3 + 24, w // 2 : w // 2 + 40] = 255
            (folder / f"frame_{i:03d}.mask.png").write_bytes(encode_png(holes))


def run_cli(src: Path, out: Path, jobs: int, report: Path, extra: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", str(src), "-o", str(out), "--jobs", str(jobs), "--report", str(report),
         "--no-progress", *extra],
        env=env, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"rawcomplete failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed


def folder_mb(folder: Path, n: int) -> float:
    """Mean size of the TIFFs in ``folder``, MB."""
    return sum(p.stat().st_size for p in folder.glob("*.tif")) / n / 1e6


def run_reference(src: Path, out: Path) -> float:
    import rawpy
    import tifffile

    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    for path in sorted(src.glob("*.dng")):
        with rawpy.imread(str(path)) as raw:
            rgb = raw.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, output_bps=16,
                                  use_camera_wb=True, no_auto_bright=True)
        tifffile.imwrite(out / (path.stem + ".tif"), rgb, photometric="rgb")
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--size", default="1536x2048", help="H x W of each synthetic frame")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--mask", action="store_true", help="give every file a sidecar mask (biharmonic completion)")
    parser.add_argument("--compress", nargs="+", default=["none", "zstd", "deflate"],
                        help="TIFF codecs to time at --jobs 1 (the first: also at every --jobs)")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        tmp = Path(tmp)
        src = tmp / "in"
        make_folder(src, args.files, h, w, args.mask)
        extra = ["--method", "biharmonic"] if args.mask else []
        print(f"{args.files} synthetic DNGs of {h} x {w} ({h * w / 1e6:.1f} MP), {os.cpu_count()} CPU(s)"
              + (", each with a mask" if args.mask else ""))
        ref_s = run_reference(src, tmp / "ref")
        ref_rate = args.files / ref_s * 60
        ref_mb = folder_mb(tmp / "ref", args.files)
        rows = [("rawpy LINEAR + tifffile (1 process)", ref_s, ref_rate, ref_mb)]
        stages = {}
        runs = [(jobs, args.compress[0], []) for jobs in args.jobs]
        # --timeout times each file alone, which turns off the worker's develop-ahead overlap (it
        # also warms the worker up first, imports of torch included, so this row pays ~3 s more)
        runs += [(1, args.compress[0], ["--timeout", "3600"])]
        runs += [(args.jobs[0], codec, []) for codec in args.compress[1:]]
        for jobs, codec, more in runs:
            tag = f"{jobs}_{codec}_{len(more)}"
            report = tmp / f"report_{tag}.json"
            out = tmp / f"out_{tag}"
            secs = run_cli(src, out, jobs, report, [*extra, "--compress", codec, *more])
            name = f"rawcomplete --jobs {jobs} --compress {codec}" + (" (no overlap, + warm-up)" if more else "")
            rows.append((name, secs, args.files / secs * 60, folder_mb(out, args.files)))
            recs = json.loads(report.read_text())["records"]
            stages[name.removeprefix("rawcomplete ")] = {k: float(np.mean([r["seconds"].get(k, 0.0) for r in recs]))
                            for k in ("read", "develop", "mask", "complete", "write", "total")}
        base = rows[1][2]
        print(f"{'':44s} {'seconds':>8s} {'files/min':>10s} {'vs rawpy':>9s} {'vs row 2':>9s} {'MB/file':>8s} {'vs rawpy':>8s}")
        for name, secs, rate, mb in rows:
            print(f"{name:44s} {secs:8.2f} {rate:10.1f} {rate / ref_rate:9.2f} {rate / base:9.2f} {mb:8.1f} {mb / ref_mb:8.2f}")
        print("mean seconds per file and stage (inside the workers):")
        for name, st in stages.items():
            print(f"  {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in st.items()))


if __name__ == "__main__":
    main()
