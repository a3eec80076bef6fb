"""Batch throughput on Dask against the local pool: files per minute, same folder, same run.

Makes a folder of synthetic Bayer DNGs (``isp.synthetic.write_dng``), then times the real
``rawcomplete`` command (subprocesses: start-up, decode, develop, 16-bit TIFF with ICC, resume
sidecars and report all included):

- ``--jobs 2``: the local spawn pool (the reference);
- ``--executor dask --jobs 2``: the command starts its own two-worker ``LocalCluster``;
- ``--scheduler tcp://127.0.0.1:PORT``: a two-worker ``LocalCluster`` started beforehand by this
  script (as a cluster would be), first with cold workers, then again with warm ones (modules
  imported, Numba kernels loaded: the steady state of a long-running cluster).

One file is processed first (not timed) so that a stale on-disk Numba cache is recompiled before
the clock starts. Prints seconds (best of ``--repeat``), files/min and the ratio to ``--jobs 2``;
every output is checked to be byte-equal to the local pool's.

Usage::

    python benchmarks/bench_dask.py [--files 16] [--size 1536x2048] [--workers 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def run_cli(src: Path, out: Path, extra: list[str], env: dict[str, str]) -> float:
    env = {**env, "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipeline", str(src), "-o", str(out), "--no-progress", *extra],
                          env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"rawcomplete {' '.join(extra)} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed


def differing_outputs(a: Path, b: Path) -> list[str]:
    """Outputs under ``a`` missing from ``b`` or with other bytes there."""
    names = sorted(p.relative_to(a) for p in a.rglob("*.tif"))
    return [str(n) for n in names if not (b / n).is_file() or (a / n).read_bytes() != (b / n).read_bytes()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--size", default="1536x2048", help="H x W of each synthetic frame")
    parser.add_argument("--workers", type=int, default=2, help="local --jobs and Dask workers")
    parser.add_argument("--repeat", type=int, default=1, help="run each case this many times; report the best")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.lower().split("x"))
    n = args.workers

    import dask
    from distributed import LocalCluster

    from bench_pipeline import make_folder

    env = dict(os.environ)  # before the cluster's nanny edits this process's environment
    with tempfile.TemporaryDirectory(prefix="bench_dask_") as tmp:
        tmp = Path(tmp)
        src = tmp / "in"
        make_folder(src, args.files, h, w, with_masks=False)
        print(f"{args.files} synthetic DNGs of {h} x {w} ({h * w / 1e6:.1f} MP), {os.cpu_count()} CPU(s), "
              f"{n} workers; dask {dask.__version__}")
        # Warm-up: one file, so a stale on-disk Numba cache is recompiled before anything is timed.
        run_cli(next(src.glob("*.dng")), tmp / "warmup", [], env)

        def best(out: str, extra: list[str]) -> float:
            times = []
            for i in range(args.repeat):
                folder = tmp / out if i == 0 else tmp / f"{out}_{i}"
                times.append(run_cli(src, folder, extra, env))
            return min(times)

        rows = []
        rows.append((f"local pool --jobs {n}", best("local", ["--jobs", str(n)])))
        rows.append((f"--executor dask --jobs {n} (own LocalCluster)",
                     best("dask_own", ["--executor", "dask", "--jobs", str(n)])))

        threads = str(max(1, (os.cpu_count() or 1) // n))
        with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
            t = time.perf_counter()
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, memory_limit=0,
                                   scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   env={"NUMBA_NUM_THREADS": threads, "OMP_NUM_THREADS": threads})
            start_s = time.perf_counter() - t
        try:
            address = cluster.scheduler_address
            secs = run_cli(src, tmp / "dask_cold", ["--scheduler", address], env)
            rows.append(("--scheduler (running cluster, cold workers)", secs))
            rows.append(("--scheduler (running cluster, warm workers)", best("dask_warm", ["--scheduler", address])))
        finally:
            cluster.close()
        differ = {d: differing_outputs(tmp / "local", tmp / d) for d in ("dask_own", "dask_cold", "dask_warm")}
        differ = {d: names for d, names in differ.items() if names}

    base = args.files / rows[0][1] * 60
    print(f"{'':50s} {'seconds':>8s} {'files/min':>10s} {'vs local':>9s}")
    for name, secs in rows:
        rate = args.files / secs * 60
        print(f"{name:50s} {secs:8.2f} {rate:10.1f} {rate / base:9.2f}")
    print(f"(starting the {n}-worker LocalCluster beforehand took {start_s:.2f} s; "
          f"outputs byte-equal to the local pool's: {'yes' if not differ else 'NO: ' + repr(differ)})")


if __name__ == "__main__":
    main()
