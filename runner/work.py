"""The per-file unit of work: ``process_file(task) -> record``.

Top-level, picklable and self-contained, so any executor (the local spawn pool, a Dask cluster)
can run it: it reads the RAW, reads the sidecar mask, develops, completes, writes the output
atomically and its resume sidecar, and returns a record. Errors that belong to one
file (decode, mask, completion, output) are caught here and come back as a ``"failed"`` record;
only a crash of the process itself escapes, and the executor turns that into a record.

The :class:`pipeline.Pipeline` (and with it the loaded GAN) is cached per process and per
settings, so a worker loads the model once however many files it handles.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from rawcomplete_errors import RawcompleteError
from runner.record import FileRecord, MaskInfo
from runner.settings import Settings

#: Stage names of ``FileRecord.seconds``, in pipeline order.
STAGES = ("read", "develop", "mask", "complete", "write", "total")

# Per-process cache of Pipelines, keyed by the settings that build one.
_PIPELINES: dict[str, Any] = {}


@dataclass(frozen=True)
class Task:
    """One input to process. Plain data: picklable and cheap to ship to a worker."""

    index: int
    input: str
    output: str
    settings: Settings
    mask_path: str | None = None
    #: The task this worker will be handed next, if the executor knows (one local worker): it is
    #: read and developed in a background thread while this task's output is written.
    prefetch: "Task | None" = None


def with_prefetch(task: Task, following: Task | None) -> Task:
    """``task``, telling its worker to develop ``following`` while it writes ``task``'s output.

    Not with ``--timeout`` (the watchdog times one file at a time)."""
    if following is None or task.settings.timeout:
        return task
    return dataclasses.replace(task, prefetch=dataclasses.replace(following, prefetch=None))


class _Ahead:
    """A file being developed in a background thread of this worker, for its own call later."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.value: tuple[Any, Any, dict[str, float]] | None = None
        self.error: BaseException | None = None
        self.messages: list[str] = []
        self.thread = threading.Thread(target=self._run, name=f"rawcomplete-ahead-{task.index}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from runner.capture import FileMessages

        try:
            with FileMessages() as messages:
                self.value = develop_task(self.task)
        except BaseException as exc:  # noqa: BLE001 - handed to the file's own call, which reports it
            self.error = exc
        self.messages = messages

    def take(self) -> tuple[Any, Any, dict[str, float]]:
        """Wait for the thread; the file's messages join the caller's capture; its error is raised."""
        from runner.capture import record_messages

        self.thread.join()
        record_messages(self.messages)
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value


#: At most one file developed ahead per worker process.
_ahead: dict[str, _Ahead] = {}


def _developed(task: Task) -> tuple[Any, Any, dict[str, float]]:
    """``develop_task(task)``, or the result the previous call developed ahead for it."""
    ahead = _ahead.pop("next", None)
    if ahead is not None:
        same = dataclasses.replace(task, prefetch=None) == ahead.task
        if same:
            return ahead.take()
        ahead.thread.join()  # another file: never two developing at once; its result is dropped
    return develop_task(task)


def _develop_ahead(task: Task) -> None:
    if task.prefetch is not None:
        _ahead["next"] = _Ahead(task.prefetch)


def new_record(task: Task) -> FileRecord:
    """The record of ``task``, "failed" until whoever finishes it says otherwise."""
    return FileRecord.for_task(task)


def error_record(task: Task, exc: BaseException, *, reason: str | None = None) -> FileRecord:
    """The "failed" record of ``task`` for ``exc``."""
    return FileRecord.failure(task, exc, reason=reason)


def _pipeline_key(settings: Settings) -> str:
    import json

    return json.dumps({**settings.processing(), "device": settings.device}, sort_keys=True)


def pipeline_for(settings: Settings) -> Any:
    """The cached :class:`pipeline.Pipeline` for ``settings`` in this process."""
    key = _pipeline_key(settings)
    pipe = _PIPELINES.get(key)
    if pipe is None:
        from pipeline import CompletionConfig, Pipeline

        pipe = Pipeline(
            isp_config=settings.isp_fields(),
            completion=CompletionConfig(method=settings.method, device=settings.device),
            output=settings.output_space,
            auto_mask=settings.auto_mask,
            defect_threshold=settings.defect_threshold,
        )
        _PIPELINES[key] = pipe
    return pipe


def process_file(task: Task) -> FileRecord:
    """Process one RAW file end to end; never raises for a per-file problem.

    Returns
    -------
    FileRecord
        Status "done" or "failed" (with its error), seconds per stage, mask, completion method,
        size, opcodes and white-balance gains, and the file's warnings.
    """
    return run_guarded(task, _process)


def run_guarded(task: Task, body: Callable[[Task, Any, float], None],
                record: Callable[[Task], FileRecord] = new_record) -> Any:
    """Run ``body(task, record, t0)`` under the per-file guards of :func:`process_file`: the
    ``--timeout`` watchdog and the collection of the file's warnings into ``record["warnings"]``.

    ``body`` fills in the record (``record(task)``, by default :func:`new_record`) and catches
    per-file errors itself; :mod:`runner.check` runs its per-file comparison through this too,
    with its own record type.
    """
    settings = task.settings
    if settings.timeout:
        warm_up(settings)  # once per process: the file's --timeout starts after it
    from runner.capture import FileMessages

    t0 = time.perf_counter()
    rec = record(task)
    if settings.timeout:
        import faulthandler

        # A watchdog thread in C: dumps the stack to stderr and ends this process after
        # ``timeout`` seconds, even inside native code; the executor reports the file as a crash.
        faulthandler.dump_traceback_later(settings.timeout, exit=True)
    try:
        # warnings and log records about this file (e.g. no usable camera WB), from this thread
        with FileMessages() as messages:
            body(task, rec, t0)
    finally:
        if settings.timeout:
            import faulthandler

            faulthandler.cancel_dump_traceback_later()
    rec.warnings = list(messages)
    if rec.status != "done":
        rec.seconds["total"] = round(time.perf_counter() - t0, 4)
    return rec


_WARM: set[str] = set()


def warm_up(settings: Settings) -> None:
    """Load what a worker loads once (the Pipeline, the GAN weights, the Numba kernels' cache)
    by developing and completing a small synthetic frame, so that ``--timeout`` measures each
    file's own work. Failures are left for the real file to report."""
    key = _pipeline_key(settings)
    if key in _WARM:
        return
    _WARM.add(key)
    try:
        import numpy as np

        import isp

        rng = np.random.default_rng(0)
        frame = isp.RawFrame(
            path=None, mosaic=rng.integers(64, 4000, (64, 64)).astype(np.uint16), cfa="RGGB",
            black_levels=(64.0,) * 4, white_level=4095.0, camera_wb=None,
            color_matrix=np.eye(3, dtype=np.float32),
        )
        holes = np.zeros((64, 64), dtype=bool)
        holes[16:40, 16:40] = True  # large enough for the GAN under method "auto"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline_for(settings).process(frame, holes if settings.method != "biharmonic" else None)
    except Exception as exc:  # noqa: BLE001 - the real file reports its own failure
        logging.getLogger("rawcomplete").debug("warm-up failed: %s", exc)


def develop_task(task: Task) -> tuple[Any, Any, dict[str, float]]:
    """Read ``task.input`` and its sidecar mask, develop and complete it with ``task.settings``.

    Returns
    -------
    (isp.RawFrame, pipeline.Result, dict)
        The frame, the pipeline's result and its seconds per stage (``read`` and the mask file's
        reading included in ``mask``).

    Raises
    ------
    RawcompleteError
        Any per-file problem (decode, mask file, completion).
    """
    import isp
    from runner.masks import read_mask_png

    pipe = pipeline_for(task.settings)
    t = time.perf_counter()
    frame = isp.read_raw(task.input, max_pixels=task.settings.max_pixels)
    t_read = time.perf_counter() - t

    mask = None
    t = time.perf_counter()
    if task.mask_path is not None:
        shape = frame.output_shape  # oriented, and stretched for non-square pixels
        mask = read_mask_png(task.mask_path, shape=shape)
    t_maskfile = time.perf_counter() - t

    result = pipe.process(frame, mask)
    seconds = dict(result.timings)
    seconds["read"] = t_read
    seconds["mask"] = seconds.get("mask", 0.0) + t_maskfile
    return frame, result, seconds


def _process(task: Task, rec: FileRecord, t0: float) -> None:
    settings = task.settings
    try:
        from runner.resume import fingerprint, write_sidecar
        from runner.writers import OutputMetadata

        frame, result, seconds = _developed(task)
        _develop_ahead(task)  # the next file develops while this one is written

        t = time.perf_counter()
        from runner.resume import package_version

        # the library's own save: same encoder, ICC profile, metadata and atomic write
        result.save(
            task.output,
            settings.format,
            quality=settings.quality,
            compress=settings.compress,
            metadata=OutputMetadata.from_file(task.input, frame.metadata, software=f"rawcomplete {package_version()}"),
            overwrite=True,
        )
        fp = fingerprint(task.input, settings.processing(), mask_path=task.mask_path)
        try:
            write_sidecar(task.output, fp, input_path=task.input)
        except (OSError, RawcompleteError) as exc:
            # an output no sidecar vouches for would be skipped by --resume as "not ours": it goes
            try:
                os.unlink(task.output)
            except OSError:
                pass
            from runner.errors import OutputError

            raise OutputError(
                f"the resume sidecar of {task.output!r} could not be written ({exc}); the output was "
                "removed so that no file is left that --resume cannot vouch for"
            ) from None
        seconds["write"] = time.perf_counter() - t
        seconds["total"] = time.perf_counter() - t0

        rec.status = "done"
        rec.seconds = {k: round(seconds[k], 4) for k in STAGES if k in seconds}
        rec.completion = result.completion_method
        rec.size = list(result.image.shape[:2])
        rec.opcodes_applied = list(getattr(result.isp, "opcodes_applied", ()) or ())
        rec.wb_gains = [float(g) for g in result.isp.wb_gains] if getattr(result.isp, "wb_gains", None) else None
        rec.demosaic = getattr(result.isp, "demosaic", None)
        rec.color_matrix_source = getattr(result.isp.frame, "color_matrix_source", None)
        rec.highlights_reconstructed = dict(getattr(result, "highlights_reconstructed", {}) or {})
        rec.mask = MaskInfo(
            file=task.mask_path,
            defects=result.defects_found if settings.auto_mask == "defects" else None,
            pixels=int(result.mask.sum()) if result.mask is not None else 0,
        )
    except RawcompleteError as exc:
        message = str(exc)
        if task.input not in message:  # errors raised below the runner may not know the file
            message = f"{task.input}: {message}"
        rec.fail(exc, message=message)
    except Exception as exc:  # noqa: BLE001 - one file's unexpected failure must not stop a batch
        rec.fail(exc, with_traceback=True)
