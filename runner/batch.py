"""A batch: discover inputs, decide per file (run / skip / refuse), run, report, exit status.

Per input, in order:

1. its output is ``OUTDIR/<relative folder>/<stem>.<ext>``; an output that would be an input
   file, or that a second input would also produce (``x.dng`` and ``x.nef`` side by side), is a
   failure of that input (:class:`~runner.errors.OutputError`);
2. an existing output is kept (``skipped``) unless ``--overwrite``; with ``--resume`` it is
   kept only when its resume sidecar vouches for the same input bytes, mask and settings, and
   re-made when the sidecar shows it came from other settings or another version of the input;
   an output without a sidecar (not ours) is never replaced without ``--overwrite``;
3. an output path the file system cannot take, or an output folder that cannot be created or
   written (test-written once per folder), fails that input before anything is developed;
4. the rest go to the executor, which yields one record each.

The JSON report (``--report``) holds the settings, a summary and one record per input.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from runner.discover import discover, require_inputs, output_path
from runner.errors import OutputError, PipelineInputError
from runner.executors import Executor, make_executor
from runner.masks import check_mask_dir, sidecar_path
from runner.resume import fingerprint, has_sidecar, is_complete, known_input_digest, package_version
from runner.settings import Settings
from runner.record import FileRecord
from runner.work import Task, error_record, process_file
from runner.writers import atomic_write_bytes, sweep_partials

log = logging.getLogger("rawcomplete")

REPORT_VERSION = 1


@dataclass
class BatchResult:
    records: list[FileRecord]
    passed_over: list[str]
    summary: dict[str, int]
    exit_code: int
    interrupted: bool = False
    seconds: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)
    report_error: str | None = None


def check_outdir(inputs: Sequence[str | os.PathLike[str]], outdir: Path) -> None:
    """Refuse an output folder that is an input folder or an input file, or a path that cannot
    be a folder (a name too long for the file system, ...): usage errors."""
    try:
        out = outdir.resolve()
        for item in inputs:
            p = Path(item)
            if p.exists() and p.resolve() == out:
                raise PipelineInputError(
                    f"the output folder {str(outdir)!r} is also an input; choose an OUTDIR that is not an input"
                )
        if outdir.exists() and not outdir.is_dir():
            raise PipelineInputError(f"the output path {str(outdir)!r} exists and is not a folder")
    except OSError as exc:
        raise PipelineInputError(f"the output folder {str(outdir)!r} cannot be used: {exc.strerror or exc}") from None


def probe_writable(folder: Path) -> str | None:
    """Create ``folder`` if needed and create and remove a file in it; the reason it cannot be
    written to, or None. Run before anything is developed, so a read-only OUTDIR costs nothing."""
    from runner.writers import PARTIAL_SUFFIX

    probe = folder / f".write-probe.{os.getpid()}{PARTIAL_SUFFIX}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"{exc.strerror or exc}"
    return None


def check_report_path(report: str | None) -> None:
    """Refuse, before anything runs, a ``--report`` that is a folder or in a folder that cannot be
    written (the report would otherwise fail after all the work is done)."""
    if not report:
        return
    path = Path(report)
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        raise PipelineInputError(f"--report {report!r} cannot be used: {exc.strerror or exc}") from None
    if is_dir:
        raise PipelineInputError(f"--report {report!r} is a folder; give a file name such as report.json")
    problem = probe_writable(path.parent if str(path.parent) else Path("."))
    if problem:
        raise PipelineInputError(f"--report {report!r} cannot be written in {str(path.parent)!r}: {problem}")


def plan(
    inputs: Sequence[str | os.PathLike[str]], outdir: Path, settings: Settings
) -> tuple[list[Task], list[FileRecord], list[str], dict[str, str]]:
    """Split the inputs into tasks to run and records already decided (skipped / refused).

    Returns ``(tasks, decided records, passed-over paths, {passed-over path: reason})``. Output
    paths the file system cannot take and output folders that cannot be written fail their
    files here, before anything is developed.
    """
    check_outdir(inputs, outdir)
    found = discover(inputs, exclude=[outdir.resolve()])
    require_inputs(found)
    check_mask_dir(settings)
    inputs_resolved = {f.path.resolve() for f in found.raws}
    claimed: dict[Path, str] = {}
    tasks: list[Task] = []
    decided: list[FileRecord] = []
    processing = settings.processing()
    for index, item in enumerate(found.raws):
        out = output_path(item, outdir, settings.extension)
        mask = None
        if settings.masks:
            mask_file = sidecar_path(item.path, rel_dir=item.rel_dir, mask_dir=settings.mask_dir)
            mask = str(mask_file) if mask_file else None
        task = Task(index=index, input=str(item.path), output=str(out), settings=settings, mask_path=mask)
        try:
            key = out.resolve()
            exists = out.exists()
        except OSError as exc:  # e.g. a name or path too long for the file system: this file only
            decided.append(error_record(task, OutputError(f"output path {str(out)!r} cannot be used: {exc.strerror or exc}")))
            continue
        if key in inputs_resolved:
            decided.append(error_record(task, OutputError(f"output {str(out)!r} would overwrite an input file")))
            continue
        if key in claimed:
            decided.append(error_record(task, OutputError(
                f"output {str(out)!r} is also the output of {claimed[key]!r}; "
                "rename one of the inputs or process them separately"
            )))
            continue
        claimed[key] = str(item.path)
        if exists and not settings.overwrite:
            reason = "output exists (use --overwrite to replace it, --resume to re-make stale outputs)"
            if settings.resume:
                try:
                    fp = fingerprint(item.path, processing, mask_path=mask,
                                     input_digest=known_input_digest(out, item.path))["fingerprint"]
                except OSError as exc:
                    decided.append(error_record(task, OutputError(f"cannot read {str(item.path)!r}: {exc}")))
                    continue
                if is_complete(out, fp):
                    reason = "complete (same input, mask and settings)"
                elif has_sidecar(out):
                    tasks.append(task)  # our own output, made from other settings or input: re-make
                    continue
                else:
                    reason = "output exists and was not written by rawcomplete (use --overwrite to replace it)"
            decided.append(FileRecord.for_task(task, status="skipped", reason=reason))
            continue
        tasks.append(task)
    tasks = _writable_tasks(tasks, decided)
    return tasks, decided, [str(p) for p in found.passed_over], found.reasons


def _writable_tasks(tasks: list[Task], decided: list[FileRecord]) -> list[Task]:
    """The tasks whose output folder can be written; the others get a failure record now."""
    problems: dict[Path, str | None] = {}
    keep: list[Task] = []
    for task in tasks:
        folder = Path(task.output).parent
        if folder not in problems:
            problems[folder] = probe_writable(folder)
        if problems[folder] is None:
            keep.append(task)
        else:
            decided.append(error_record(task, OutputError(
                f"output folder {str(folder)!r} cannot be written: {problems[folder]} (nothing was developed)"
            )))
    return keep


def run_batch(
    inputs: Sequence[str | os.PathLike[str]],
    outdir: str | os.PathLike[str],
    settings: Settings,
    *,
    executor: Executor | None = None,
    argv: Sequence[str] | None = None,
) -> BatchResult:
    """Run a whole batch and write the report; never raises for a per-file problem.

    Raises
    ------
    PipelineInputError
        Usage problems found before anything runs (missing input, OUTDIR is an input).
    """
    started = time.time()
    t0 = time.perf_counter()
    outdir = Path(outdir)
    check_report_path(settings.report)
    tasks, records, passed_over, passed_over_reasons = plan(inputs, outdir, settings)
    removed = sweep_partials(outdir)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run", len(removed))
    total = len(tasks) + len(records)
    counts = {"done": 0, "failed": 0, "skipped": 0}
    for rec in records:
        counts[rec.status] += 1
        if rec.status == "failed":
            _log_failure(rec)
        elif rec.status == "skipped":
            log.info("skipped %s: %s", rec.input, rec.reason)

    if tasks:
        from isp._numba_cache import kernels_cached

        if not kernels_cached():
            log.warning("first run on this installation: compiling the ISP's Numba kernels, which adds "
                        "15-60 s to the first file (they are cached for every later run)")

    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    bar = tqdm(
        total=total,
        unit="file",
        disable=(not settings.progress) or None,  # None: only on a terminal
        file=sys.stderr,
        dynamic_ncols=True,
    )
    bar.set_postfix_str(_bar_text(counts, None), refresh=False)
    bar.update(len(records))
    interrupted = False
    own_executor = executor is None
    if executor is None:
        executor = make_executor(settings.executor, jobs=min(settings.jobs, max(1, len(tasks))))
    finished: set[int] = set()
    # log lines go through the bar (printed above it), not onto its line
    redirect = logging_redirect_tqdm(loggers=[log, logging.getLogger()])
    redirect.__enter__()
    try:
        for rec in executor.run(process_file, tasks):
            records.append(rec)
            finished.add(rec.index)
            counts[rec.status] = counts.get(rec.status, 0) + 1
            if rec.status == "failed":
                _log_failure(rec)
            for message in rec.warnings:
                log.warning("%s", message if rec.input in message else f"{rec.input}: {message}")
            # postfix first: update() refreshes the line, so the counts shown include this file
            bar.set_postfix_str(_bar_text(counts, rec.input), refresh=False)
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
        log.error("interrupted: %d file(s) not processed", len(tasks) - len(finished))
        for task in tasks:
            if task.index not in finished:
                records.append(FileRecord.for_task(task, status="not_run", reason="interrupted"))
    finally:
        redirect.__exit__(None, None, None)
        bar.close()
        if own_executor:
            executor.close()
        # a worker lost mid-write (a crash elsewhere breaks the whole pool) leaves its temporary:
        # its file was re-run, so whatever is left by a process no longer alive goes now
        if sweep_partials(outdir):
            log.info("removed temporary file(s) left by workers lost during this run")

    records.sort(key=lambda r: r.index)
    summary = {
        "inputs": total,
        "done": counts.get("done", 0),
        "failed": counts.get("failed", 0),
        "skipped": counts.get("skipped", 0),
        "not_run": sum(1 for r in records if r.status == "not_run"),
        "passed_over": len(passed_over),
    }
    if interrupted:
        exit_code = 130
    else:
        exit_code = 1 if summary["failed"] else 0
    report = {
        "report_version": REPORT_VERSION,
        "rawcomplete": package_version(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.perf_counter() - t0, 3),
        "argv": list(argv) if argv is not None else None,
        "inputs": [str(i) for i in inputs],
        "outdir": str(outdir),
        "settings": settings.to_json(),
        "summary": summary,
        "exit_code": exit_code,
        "interrupted": interrupted,
        "passed_over": passed_over,
        "passed_over_reasons": passed_over_reasons,
        "records": [r.to_json() for r in records],
    }
    report_error = None
    if settings.report:
        try:
            atomic_write_bytes(settings.report, (json.dumps(report, indent=1) + "\n").encode())
        except OutputError as exc:  # e.g. the disk filled up during the run
            report_error = str(exc)
            log.error("the report could not be written: %s", exc)
            if exit_code == 0:
                exit_code = 1
            report["exit_code"] = exit_code
    return BatchResult(
        records=records,
        passed_over=passed_over,
        summary=summary,
        exit_code=exit_code,
        interrupted=interrupted,
        seconds=report["seconds"],
        report=report,
        report_error=report_error,
    )


def _bar_text(counts: dict[str, int], last: str | None) -> str:
    """The progress bar's postfix: the counts and the file that finished last."""
    text = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("done", "failed", "skipped"))
    return text if last is None else f"{text} | {Path(last).name}"


def _log_failure(rec: FileRecord) -> None:
    err = rec.error
    log.error("FAILED %s: %s: %s", rec.input, err.cls if err else None, err.message if err else None)
