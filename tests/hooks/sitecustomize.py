"""Test-only fault injection for processes the tests start (never installed, never imported by
production code).

A test that needs a worker to die in native code or to hang puts this folder first on the
``PYTHONPATH`` of the command it runs (see :func:`faults.fault_env`) with
``RAWCOMPLETE_TEST_CRASH`` / ``RAWCOMPLETE_TEST_HANG`` set to a file-name pattern. Python imports
``sitecustomize`` at start-up in every process, the runner's spawned workers and Dask's too, and
this one then wraps ``runner.work.develop_task`` (reading and developing, where LibRaw or a kernel
would crash): a matching file segfaults (a read of address 0 in native code) or sleeps for an hour,
in whichever thread develops it (a worker develops the next file ahead while it writes).
"""

from __future__ import annotations

import fnmatch
import os

CRASH_ENV = "RAWCOMPLETE_TEST_CRASH"
HANG_ENV = "RAWCOMPLETE_TEST_HANG"

if os.environ.get(CRASH_ENV) or os.environ.get(HANG_ENV):
    import runner.work as _work

    _original = _work.develop_task

    def _develop_with_faults(task):  # type: ignore[no-untyped-def]
        name = os.path.basename(task.input)
        pattern = os.environ.get(CRASH_ENV)
        if pattern and fnmatch.fnmatch(name, pattern):
            import ctypes

            ctypes.string_at(0)  # segmentation fault in native code
        pattern = os.environ.get(HANG_ENV)
        if pattern and fnmatch.fnmatch(name, pattern):
            import time

            time.sleep(3600)
        return _original(task)

    _work.develop_task = _develop_with_faults
