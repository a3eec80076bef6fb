"""Importable helpers for the runner tests (spawned workers must import them by module name).

No tests here on purpose: pytest collects this file and finds none.
"""

from __future__ import annotations

import ctypes
import os
import time


def fake_work(task):
    """A stand-in for ``runner.work.process_file``: segfaults on inputs named ``*crash*``."""
    if "crash" in os.path.basename(task.input):
        time.sleep(0.2)  # let the innocent neighbour be in flight when the pool breaks
        ctypes.string_at(0)
    time.sleep(0.05)
    from runner.record import FileRecord

    return FileRecord.for_task(task, status="done")
