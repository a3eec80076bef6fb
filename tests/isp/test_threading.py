"""Thread safety: isp.develop, ISPResult.display / display_as and Pipeline.process may be called
from several threads at once under every Numba threading layer; under ``workqueue`` (the only
layer on a machine without TBB or OpenMP) Numba itself aborts the process on a concurrent launch,
so the ISP serialises those calls there."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys, threading
    import numpy as np
    import isp, pipeline

    rng = np.random.default_rng(0)
    frame = isp.RawFrame(path=None, mosaic=rng.integers(64, 4000, (256, 384)).astype(np.uint16), cfa="RGGB",
                         black_levels=(64.0,) * 4, white_level=4095.0, camera_wb=(2.0, 1.0, 1.5),
                         color_matrix=np.eye(3, dtype=np.float32))
    ref = isp.develop(frame, demosaic="rcd")
    ref_display, ref_codes = ref.display, ref.display_as("uint16")
    pipe = pipeline.Pipeline(completion=None)
    ref_pipe = pipe.process(frame).image
    results = []

    def work():
        r = isp.develop(frame, demosaic="rcd")
        results.append(np.array_equal(r.display, ref_display) and np.array_equal(r.display_as("uint16"), ref_codes))
        results.append(np.array_equal(pipe.process(frame).image, ref_pipe))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(isp.threading_layer(), isp.is_thread_safe(), len(results), all(results))
    """
)


@pytest.mark.parametrize("layer", ["workqueue", None])
def test_concurrent_develop_is_safe_under_every_layer(tmp_path, layer):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("NUMBA_THREADING_LAYER", None)
    if layer is not None:
        env["NUMBA_THREADING_LAYER"] = layer
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]  # workqueue without the lock: SIGABRT (-6)
    name, safe, n, same = proc.stdout.split()
    assert n == "12" and same == "True", proc.stdout
    if layer == "workqueue":
        assert (name, safe) == ("workqueue", "False")
    else:  # chosen explicitly: tbb, else omp, else workqueue
        assert name in ("tbb", "omp", "workqueue") and safe == str(name != "workqueue")
