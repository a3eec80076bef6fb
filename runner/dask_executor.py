"""Run a batch on a Dask cluster: ``--executor dask [--scheduler tcp://HOST:8786]``.

The same per-file function (:func:`runner.work.process_file`), the same records, the same atomic
writes, resume sidecars and exit codes as the local process pool: only *where* a file is
processed changes. Nothing here is imported unless the dask executor is chosen, and Dask itself
is imported only when an executor is built, so ``rawcomplete --help`` stays fast and the package
works without the ``dask`` extra.

Where the work runs
    ``scheduler`` (or ``$DASK_SCHEDULER_ADDRESS``): a running cluster, e.g. one started with
    ``dask scheduler`` and ``dask worker tcp://HOST:8786 --nthreads 1`` on each machine. Without
    an address, a :class:`distributed.LocalCluster` on this machine: ``jobs`` worker processes
    (default one per core), one file at a time each, started with the ``spawn`` method (rawpy's
    OpenMP deadlocks under fork).

Shared file system
    Every worker opens the inputs and writes the outputs itself, under the same paths as the
    machine that runs ``rawcomplete`` (a shared or network file system mounted at the same place
    everywhere). Relative paths are made absolute against the current folder before they are
    sent, and turned back in the records, so reports read as with the local executor. Before
    anything is submitted every worker checks that it sees a sample of the inputs (every input
    folder, up to :data:`PATH_SAMPLE` files), the sidecar masks, and can write to the output
    folder, and that it runs the same rawcomplete version (the resume fingerprint depends on it);
    otherwise :class:`ClusterError` names the worker and the path.

Failures
    Per-file errors (decode, mask, completion, output) are records made inside the task, so
    Dask never retries them. A worker that dies (killed, out of memory, a crash in native code)
    loses its file; the scheduler runs it again on another worker, up to the scheduler's
    ``allowed-failures`` (0 for the local cluster made here; Dask's default of 3 for a cluster
    of your own), and then this executor submits it once more (``second_chances``), because the
    scheduler also blames files that were merely queued on the dying worker. On the local
    cluster a file that crashes its worker therefore kills two workers, as with the local pool. A file that still
    kills its workers is reported as :class:`~runner.errors.WorkerCrashError`, exactly as with
    the local pool, and the batch goes on. The local cluster sends each worker only as many
    files as it has threads (``worker-saturation`` 1.0) so that, in large batches, only the file
    in flight is blamed; set the same on your own scheduler. Temporary files of a killed attempt
    are removed when the batch ends, so nothing half-written survives.

Models
    A worker process keeps its :class:`pipeline.Pipeline` and the loaded GAN between files
    (:func:`runner.work.pipeline_for` and ``completion``'s weights cache are per process): the
    model is loaded once per worker, not once per file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
import uuid
from typing import Any, Callable, Iterator, Sequence

from runner.errors import PipelineInputError
from runner.executors import Executor, Record, crash_record
from runner.work import Task, error_record

log = logging.getLogger("rawcomplete")

#: Environment variable Dask reads for the scheduler address (``dask.config`` "scheduler-address").
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"

#: How many input files (beyond one per input folder) every worker checks before the run.
PATH_SAMPLE = 16

#: Thread-count variables set in each local worker (the same as the local pool sets).
_THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

_INSTALL_HINT = "install the optional extra: pip install 'rawcomplete[dask]' (dask[distributed] >= 2024.1)"


class ClusterError(PipelineInputError):
    """The Dask executor cannot run the batch: Dask is not installed, the scheduler cannot be
    reached or has no workers, or a worker cannot see an input or write the output folder.

    Raised before any file is submitted; the command line reports it as a usage error (exit 2).
    """


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to use: ``scheduler``, else ``$DASK_SCHEDULER_ADDRESS``, else None (local)."""
    address = scheduler if scheduler is not None else os.environ.get(SCHEDULER_ENV)
    address = (address or "").strip()
    return address or None


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError(f"--executor dask needs Dask's distributed scheduler: {_INSTALL_HINT}; got {exc}") from None
    return distributed


class DaskExecutor(Executor):
    """Runs ``fn(task) -> record`` on a Dask cluster and yields records as futures complete.

    Parameters
    ----------
    jobs : int or None
        Worker processes of the local cluster made when there is no scheduler address;
        None: one per core. Ignored with a scheduler (the cluster's workers decide).
    scheduler : str or None
        Address of a running scheduler (``tcp://HOST:8786``); None: ``$DASK_SCHEDULER_ADDRESS``,
        else a local cluster.
    client : distributed.Client, optional
        An existing client to use instead (it is not closed by :meth:`close`).
    retries : int
        Dask retries for a task that *raises* (process_file turns every per-file error into a
        record, so this only covers what escapes it, such as a record that cannot be sent).
        Lost workers are governed by the scheduler's ``allowed-failures``.
    second_chances : int
        How many times a file the scheduler gave up on (``KilledWorker``) is submitted again.
        The scheduler blames every file held by a dying worker, including one merely queued
        beside the culprit; a new submission lets such a file complete, and a file that really
        kills its workers fails again and is reported as ``WorkerCrashError``.
    check_paths : bool
        Check on every worker that inputs, masks and the output folder are reachable first.
    timeout : float
        Seconds to wait for the scheduler to answer and for a first worker to join.

    Raises
    ------
    ClusterError
        Dask's distributed package is not installed (``pip install 'rawcomplete[dask]'``).
    """

    name = "dask"

    def __init__(
        self,
        jobs: int | None = None,
        *,
        scheduler: str | None = None,
        client: Any = None,
        retries: int = 1,
        second_chances: int = 1,
        check_paths: bool = True,
        timeout: float = 60.0,
    ) -> None:
        _import_distributed()
        if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
            raise ValueError(f"jobs must be None or an integer >= 1, got {jobs!r}")
        self.jobs = jobs
        self.address = scheduler_address(scheduler)
        self.retries = int(retries)
        self.second_chances = int(second_chances)
        self.check_paths = check_paths
        self.timeout = float(timeout)
        self._client = client
        self._own_client = client is None
        self._cluster: Any = None
        self._saved_env: dict[str, str | None] | None = None
        #: Files whose worker was lost for good (reported as WorkerCrashError), last run.
        self.crashes = 0

    # ------------------------------------------------------------------------------ cluster
    @property
    def client(self) -> Any:
        """The :class:`distributed.Client`, connected (or the local cluster started) on first use."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        distributed = _import_distributed()
        if self.address is not None:
            try:
                return distributed.Client(self.address, timeout=self.timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ClusterError(
                    f"cannot reach the Dask scheduler at {self.address!r} within {self.timeout:g} s: {exc}"
                ) from None
        import dask

        n = self.jobs or os.cpu_count() or 1
        threads = max(1, (os.cpu_count() or 1) // n)
        env = {var: os.environ.get(var, str(threads)) for var in _THREAD_VARS}
        # The nanny writes its pre-spawn variables (OMP_NUM_THREADS=1, ...) into this process's
        # environment; put them back on close.
        pre = dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}
        self._saved_env = {k: os.environ.get(k) for k in [*pre, "PYTHONHASHSEED"]}
        with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
            self._cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                memory_limit=0,  # no spilling / memory-based restarts: as the local pool
                # no dashboard; the scheduler's HTTP endpoints on a free loopback port (it would
                # otherwise take :8787 and warn when another cluster holds it)
                scheduler_kwargs={"allowed_failures": 0, "dashboard_address": "127.0.0.1:0"},
                env=env,
            )
        log.info("started a local Dask cluster: %d worker(s), scheduler %s", n, self._cluster.scheduler_address)
        return distributed.Client(self._cluster, set_as_default=False)

    def close(self) -> None:
        if self._client is not None and self._own_client:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()
            self._cluster = None
        if self._saved_env is not None:
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._saved_env = None

    # ------------------------------------------------------------------------------ checks
    def _wait_for_workers(self) -> None:
        client = self.client
        try:
            client.wait_for_workers(1, timeout=self.timeout)
        except TimeoutError:
            raise ClusterError(
                f"the Dask scheduler at {client.scheduler.address} has no workers "
                f"(waited {self.timeout:g} s); start some with: dask worker {client.scheduler.address} --nthreads 1"
            ) from None

    def check_workers(self, tasks: Sequence[Task]) -> None:
        """Fail early unless every worker sees the inputs and masks and can write the outputs.

        Raises
        ------
        ClusterError
            Naming the worker, its host and the path (or the version mismatch).
        """
        from runner.resume import package_version

        inputs, writable = _paths_to_check(tasks)
        try:
            answers = self.client.run(_check_worker, inputs, writable)
        except Exception as exc:  # noqa: BLE001 - e.g. rawcomplete is not importable on a worker
            raise ClusterError(
                f"the Dask workers cannot run rawcomplete's check ({type(exc).__name__}: {exc}); "
                "install the same rawcomplete version on every worker"
            ) from None
        ours = package_version()
        problems = []
        for worker, answer in sorted(answers.items()):
            where = f"worker {worker} (host {answer['host']})"
            if answer["version"] != ours:
                problems.append(f"{where} runs rawcomplete {answer['version']}, this machine {ours}")
            problems.extend(f"{where} {p}" for p in answer["problems"])
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise ClusterError(
                "; ".join(problems[:5]) + more + ". Inputs and outputs must be on a file system that every "
                "worker reaches under the same path (a shared or network file system)"
            )

    # ------------------------------------------------------------------------------ run
    def run(self, fn: Callable[[Task], Record], tasks: Sequence[Task]) -> Iterator[Record]:
        tasks = list(tasks)
        if not tasks:
            return
        distributed = _import_distributed()
        self._wait_for_workers()
        sent = [_absolute(t) for t in tasks]
        if self.check_paths:
            self.check_workers(sent)
        client = self.client
        threaded = sorted(w for w, n in client.nthreads().items() if n > 1)
        if threaded:
            # Two files at once in one process share its warnings filters and log handlers, so a
            # record may list a neighbour's warnings; Numba and torch have the cores anyway.
            log.warning("Dask worker(s) %s run several threads; start workers with --nthreads 1 "
                        "(and --nworkers N for more processes) so each file's warnings stay its own",
                        ", ".join(threaded[:3]) + (" ..." if len(threaded) > 3 else ""))
        run_id = uuid.uuid4().hex[:8]

        def submit(remote: Task, attempt: int) -> Any:
            key = f"rawcomplete-{run_id}-{remote.index}" + (f"-again{attempt}" if attempt else "")
            return client.submit(fn, remote, key=key, pure=False, retries=self.retries)

        futures = {submit(remote, 0): (task, remote, 0) for task, remote in zip(tasks, sent)}
        self.crashes = 0
        finished: list[Task] = []
        try:
            # Results are fetched in the client's event loop as futures finish, not one round trip each.
            pending = distributed.as_completed(list(futures), loop=client.loop, with_results=True, raise_errors=False)
            for fut, result in self._completed(pending, client):
                if fut is None:  # no worker left for `timeout` seconds: fail what is left, keep the report
                    for fut, (task, remote, _) in list(futures.items()):
                        futures.pop(fut)
                        fut.release()
                        finished.append(remote)  # its workers are gone: clean up after them too
                        yield error_record(task, ClusterError(
                            f"{task.input}: not processed: the Dask cluster had no workers for "
                            f"{self.timeout:g} s (run again with --resume once it has)"))
                    return
                task, remote, attempt = futures.pop(fut)
                if fut.status == "error":
                    result = _task_exception(result)
                if attempt < self.second_chances and isinstance(result, distributed.KilledWorker):
                    # A file queued on a dying worker is blamed with the one that killed it (the
                    # scheduler cannot tell them apart): give it another full run.
                    log.warning("Dask workers died while %s was on them; submitting it again", task.input)
                    fut.release()
                    again = submit(remote, attempt + 1)
                    futures[again] = (task, remote, attempt + 1)
                    pending.add(again)
                    continue
                record = self._outcome(fut, result, task, distributed)
                fut.release()
                finished.append(remote)
                yield _restore_paths(record, task, remote)
        finally:
            if futures:
                with contextlib.suppress(Exception):
                    client.cancel(list(futures))
            _remove_partials(finished)

    def _completed(self, pending: Any, client: Any) -> Iterator[tuple[Any, Any]]:
        """``(future, result)`` as they complete; ``(None, None)`` once the cluster has had no
        worker for :attr:`timeout` seconds (a nanny can fail to bring a crashed worker back)."""
        last_worker = last_check = time.monotonic()
        while not pending.is_empty():
            batch = pending.next_batch(block=False)
            if batch:
                yield from batch
                continue
            now = time.monotonic()
            if now - last_check < 2.0:
                time.sleep(0.05)
                continue
            last_check = now
            if _has_workers(client):
                last_worker = now
            elif now - last_worker > self.timeout:
                log.error("the Dask cluster has had no workers for %g s; giving up on the files left", self.timeout)
                yield None, None
                return
            time.sleep(0.05)

    def _outcome(self, fut: Any, result: Any, task: Task, distributed: Any) -> Record:
        """The record of a finished future; ``result`` is its value, or its exception."""
        if isinstance(result, Record):  # a record (the future may read "lost" by now: its worker
            return result               # died after the result was fetched)
        exc = result if isinstance(result, BaseException) else RuntimeError(
            f"the Dask task of {task.input!r} ended {fut.status!r} with {result!r}")
        if isinstance(exc, distributed.KilledWorker):
            self.crashes += 1
            log.error("Dask workers kept dying on %s (%d per submission); giving up on it",
                      task.input, exc.allowed_failures + 1)
            return crash_record(task)  # the same record as the local pool's
        return error_record(task, exc if isinstance(exc, BaseException) else RuntimeError(str(exc)))


# ---------------------------------------------------------------------------------- helpers

def _has_workers(client: Any) -> bool:
    try:
        info = client.scheduler_info(n_workers=1)
    except TypeError:  # distributed before n_workers=
        info = client.scheduler_info()
    return bool(info.get("workers"))


def _task_exception(result: Any) -> Any:
    """The exception of an erred future from ``as_completed(with_results=True, raise_errors=False)``,
    which hands over ``(type, exception, traceback)``."""
    if isinstance(result, tuple) and len(result) == 3 and isinstance(result[1], BaseException):
        return result[1]
    return result



def _absolute(task: Task) -> Task:
    """``task`` with absolute paths (workers do not share our current folder)."""
    mask = os.path.abspath(task.mask_path) if task.mask_path is not None else None
    return dataclasses.replace(task, input=os.path.abspath(task.input), output=os.path.abspath(task.output),
                               mask_path=mask)


def _restore_paths(record: Record, task: Task, sent: Task) -> Record:
    """Put the paths as given back into a record made from the absolute ones."""
    pairs = [(s, t) for s, t in ((sent.input, task.input), (sent.output, task.output),
                                 (sent.mask_path, task.mask_path)) if s is not None and s != t]
    if not pairs:
        return record
    pairs.sort(key=lambda p: len(p[0]), reverse=True)

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            for absolute, given in pairs:
                value = value.replace(absolute, given)
            return value
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):  # the record, its parts
            return dataclasses.replace(value, **{f.name: fix(getattr(value, f.name))
                                                 for f in dataclasses.fields(value) if f.init})
        return value

    return fix(record)


def _paths_to_check(tasks: Sequence[Task]) -> tuple[list[str], list[str]]:
    """Inputs to look for (one per input folder up to 64 folders, plus a sample of files, and
    masks) and the folders that must be writable (nearest existing ancestor of the outputs' root)."""
    inputs: list[str] = []
    seen_dirs: set[str] = set()
    for t in tasks:
        d = os.path.dirname(t.input)
        if d not in seen_dirs and len(seen_dirs) < 64:
            seen_dirs.add(d)
            inputs.append(t.input)
    step = max(1, len(tasks) // PATH_SAMPLE)
    inputs.extend(t.input for t in tasks[::step][:PATH_SAMPLE])
    inputs.extend(t.mask_path for t in tasks if t.mask_path is not None)
    inputs = list(dict.fromkeys(inputs))[: 64 + PATH_SAMPLE + 64]
    root = os.path.commonpath([os.path.dirname(t.output) for t in tasks])
    while root and not os.path.isdir(root) and os.path.dirname(root) != root:
        root = os.path.dirname(root)
    return inputs, [root]


def _check_worker(inputs: Sequence[str], writable: Sequence[str]) -> dict[str, Any]:
    """Runs on every worker: which paths it cannot see, its host and its rawcomplete version."""
    import socket

    from runner.resume import package_version

    problems = [f"cannot see {p!r}" for p in inputs if not os.path.exists(p)]
    for d in writable:
        if not os.path.isdir(d):
            problems.append(f"cannot see the output folder {d!r}")
        elif not os.access(d, os.W_OK | os.X_OK):
            problems.append(f"cannot write to the output folder {d!r}")
    return {"problems": problems, "host": socket.gethostname(), "version": package_version()}


def _remove_partials(tasks: Sequence[Task]) -> None:
    """Remove temporaries of finished files' outputs: any still there is from a killed attempt."""
    from runner.resume import sidecar_for
    from runner.writers import PARTIAL_SUFFIX

    by_dir: dict[str, set[str]] = {}
    for t in tasks:
        by_dir.setdefault(os.path.dirname(t.output), set()).update(
            (os.path.basename(t.output), sidecar_for(t.output).name))
    for folder, names in by_dir.items():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            if not (entry.startswith(".") and entry.endswith(PARTIAL_SUFFIX)):
                continue
            stem = entry[1: -len(PARTIAL_SUFFIX)].rsplit(".", 1)[0]  # ".<name>.<pid><suffix>"
            if stem in names:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, entry))
                    log.info("removed %s left by a lost worker", os.path.join(folder, entry))


__all__ = ["ClusterError", "DaskExecutor", "SCHEDULER_ENV", "scheduler_address"]
