"""The executor seam: something that runs ``fn(task) -> record`` for many tasks and yields the
records as they complete, whatever runs them.

Only the local process pool exists today (``--executor local``); a Dask executor plugs in by
subclassing :class:`Executor` and registering itself in :data:`EXECUTORS`. The batch runner only
ever calls :meth:`Executor.run`, so report records, atomic writes, resume and exit codes stay the
same whichever executor runs the files.

Crash isolation in :class:`LocalExecutor`: workers are started with the ``spawn`` method (rawpy's
OpenMP deadlocks in a forked child). At most ``jobs`` tasks are in flight. When a worker dies
(segfault in native code, abort, killed for memory) the pool breaks and every in-flight task
fails with ``BrokenProcessPool``; the pool is rebuilt, and if one task was in flight it is the
culprit and gets a :class:`~runner.errors.WorkerCrashError` record, otherwise each suspect is
re-run alone so the culprit is found and the innocent files complete.

Overlap: with one worker, each task carries the next one (:func:`runner.work.with_prefetch`),
which the worker reads and develops in a background thread while it writes the current output.
A crash then has two suspects (the file being written, the file developed ahead), and both are
re-run alone, without prefetch, before anything else.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import multiprocessing
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, Sequence

from runner.errors import WorkerCrashError
from runner.record import FileRecord
from runner.work import Task, error_record, with_prefetch

log = logging.getLogger("rawcomplete")

#: What ``fn(task)`` returns: a batch record, or a subclass of it (``rawcomplete check``'s).
Record = FileRecord


class Executor(abc.ABC):
    """Runs a picklable top-level ``fn(task) -> record`` over tasks."""

    name: str = "abstract"

    @abc.abstractmethod
    def run(self, fn: Callable[[Task], Record], tasks: Sequence[Task]) -> Iterator[Record]:
        """Yield one record per task, in completion order (each record carries its ``index``)."""

    def close(self) -> None:
        """Release workers; the default does nothing."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def crash_record(task: Task, detail: str = "") -> Record:
    timeout = getattr(task.settings, "timeout", None)
    if timeout and not detail:
        detail = f", or it ran longer than --timeout {timeout:g} s"
    exc = WorkerCrashError(
        f"the worker process died while processing {task.input!r} (a crash in native code such as a "
        f"segmentation fault or abort, or the process was killed, e.g. for memory{detail}); "
        "the other files were not affected"
    )
    return error_record(task, exc)


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when ``parent_pid`` (the runner) does, even when the runner
    is killed with SIGKILL and cannot shut its pool down: on Linux the kernel sends SIGKILL at
    the parent's death (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon thread checks once a
    second that the parent is still the parent. With the workers gone, multiprocessing's
    resource tracker (whose pipe the workers hold open) sees end-of-file and exits too."""
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)

    def watch() -> None:
        import time

        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="rawcomplete-parent-watch", daemon=True).start()


def _init_worker(threads: int | None, parent_pid: int | None = None) -> None:
    """Runs first in every spawned worker: end with the runner, share the cores between workers."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    if threads:
        for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, str(threads))


class LocalExecutor(Executor):
    """A ``spawn`` process pool on this machine, with crash isolation.

    Parameters
    ----------
    jobs : int
        Number of worker processes (>= 1). Each gets ``cpu_count // jobs`` threads for Numba
        and torch unless the environment already says otherwise.
    """

    name = "local"

    def __init__(self, jobs: int = 1) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        cpus = os.cpu_count() or 1
        self._threads = max(1, cpus // jobs) if jobs > 1 else None
        self._pool: ProcessPoolExecutor | None = None
        self.crashes = 0

    def _new_pool(self) -> ProcessPoolExecutor:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._threads, os.getpid()),
        )
        return self._pool

    def close(self) -> None:
        # wait: a file already running (e.g. when the run is interrupted) finishes and renames its
        # output before the batch sweeps temporaries and reports; queued files are cancelled
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, fn: Callable[[Task], Record], tasks: Iterable[Task]) -> Iterator[Record]:
        pending: deque[Task] = deque(tasks)
        if not pending:
            return
        suspects: deque[Task] = deque()
        pool = self._new_pool()
        inflight: dict[Future, Task] = {}
        try:
            while pending or suspects or inflight:
                # Suspects of a crash run one at a time, before anything new is started.
                limit = 1 if suspects else self.jobs
                source = suspects if suspects else pending
                while source and len(inflight) < limit:
                    task = source.popleft()
                    if self.jobs == 1 and not suspects:
                        # the worker develops the next file while it writes this one
                        task = with_prefetch(task, pending[0] if pending else None)
                    inflight[pool.submit(fn, task)] = task
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                broken: list[Task] = []
                for fut in done:
                    task = inflight.pop(fut)
                    record = self._outcome(fut, task, broken)
                    if record is not None:
                        yield record
                if not broken:
                    continue
                # The pool is broken: every other in-flight task fails too (or finished first).
                if inflight:
                    wait(inflight)
                    for fut, task in list(inflight.items()):
                        record = self._outcome(fut, task, broken)
                        if record is not None:
                            yield record
                    inflight.clear()
                self.crashes += 1
                pool = self._new_pool()
                # a file developed ahead is as much a suspect as the one being written
                for task in list(broken):
                    ahead = task.prefetch
                    if ahead is not None and pending and pending[0].index == ahead.index:
                        broken.append(pending.popleft())
                broken = [dataclasses.replace(t, prefetch=None) for t in broken]
                if len(broken) == 1:  # one file in flight and none ahead: the culprit
                    for task in broken:
                        log.error("worker crashed on %s", task.input)
                        yield crash_record(task)
                else:
                    log.warning("a worker crashed with %d files in flight; re-running them one by one", len(broken))
                    suspects.extend(sorted(broken, key=lambda t: t.index))
        finally:
            for fut in inflight:
                fut.cancel()
            self.close()

    @staticmethod
    def _outcome(fut: Future, task: Task, broken: list[Task]) -> Record | None:
        try:
            return fut.result()
        except BrokenProcessPool:
            broken.append(task)
            return None
        except Exception as exc:  # noqa: BLE001 - e.g. a task or record that does not pickle
            return error_record(task, exc)


def _dask_executor(**options: Any) -> Executor:
    """The Dask executor (:mod:`runner.dask_executor`), imported only when chosen."""
    from runner.dask_executor import DaskExecutor

    return DaskExecutor(**options)


#: Executors by ``--executor`` name.
EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor, "dask": _dask_executor}


def make_executor(name: str, *, jobs: int = 1, **options: Any) -> Executor:
    """Build the executor called ``name`` (see :data:`EXECUTORS`)."""
    try:
        factory = EXECUTORS[name]
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; valid: {', '.join(sorted(EXECUTORS))}") from None
    return factory(jobs=jobs, **options)
