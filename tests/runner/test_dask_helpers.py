"""Importable helpers for the Dask executor tests (workers import them by module name).

No tests here on purpose: pytest collects this file and finds none.
"""

from __future__ import annotations

import os
import time

from runner.work import process_file

#: Seconds a ``slow*`` input waits in its worker before it is processed.
SLOW_SECONDS = 4.0


def slow_process_file(task):
    """``runner.work.process_file``, but an input named ``slow*`` first leaves a marker
    ``<input>.started-<pid>`` (so a test knows which worker holds it), plus the temporary file a
    writer killed mid-write leaves behind, and waits :data:`SLOW_SECONDS`: time to kill that worker."""
    if os.path.basename(task.input).startswith("slow"):
        from runner.writers import partial_name
        from pathlib import Path

        Path(partial_name(Path(task.output))).parent.mkdir(parents=True, exist_ok=True)
        partial_name(Path(task.output)).write_bytes(b"half an image")
        Path(f"{task.input}.started-{os.getpid()}").touch()
        time.sleep(SLOW_SECONDS)
    return process_file(task)


def worker_caches():
    """Runs on a worker: how many Pipelines and GAN generators this process holds."""
    import sys

    from runner import work

    weights = sys.modules.get("completion.weights")
    return {"pipelines": len(work._PIPELINES), "generators": len(getattr(weights, "_CACHE", {}) or {}),
            "pid": os.getpid()}
