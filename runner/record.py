"""What a batch reports about each file: one typed record, the same from every executor.

A :class:`FileRecord` is made once per input (by the worker that processed it, by the planner for
a file it skipped, or by the executor for a file whose worker crashed), travels back to the batch
by pickle, and is written to the JSON report by :meth:`FileRecord.to_json`. The report's layout
(``report_version``) is the JSON form of these classes, field for field; ``error`` is written as
``{"class", "message"[, "traceback"]}``.

:class:`CheckRecord` is the record of ``rawcomplete check``: the same fields plus the comparison
against the reference.
"""

from __future__ import annotations

import dataclasses
import os
import traceback as _traceback
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class ErrorInfo:
    """Why a file failed: the exception's class name and message (plus a traceback for a bug)."""

    cls: str
    message: str
    traceback: str | None = None

    @classmethod
    def of(cls, exc: BaseException, *, message: str | None = None, with_traceback: bool = False) -> "ErrorInfo":
        """The error of ``exc`` (``message`` replaces ``str(exc)``; the traceback is the one being
        handled, so ``with_traceback`` belongs inside an ``except`` block)."""
        return cls(type(exc).__name__, str(exc) if message is None else message,
                   _traceback.format_exc() if with_traceback else None)

    def to_json(self) -> dict[str, str]:
        out = {"class": self.cls, "message": self.message}
        if self.traceback is not None:
            out["traceback"] = self.traceback
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ErrorInfo":
        return cls(data["class"], data["message"], data.get("traceback"))


@dataclass
class MaskInfo:
    """The mask of a file: its sidecar PNG, the defects found (with ``--auto-mask defects``) and
    the pixels completed."""

    file: str | None = None
    defects: int | None = None
    pixels: int = 0


@dataclass
class FileRecord:
    """One input's outcome in a batch.

    Attributes
    ----------
    index : int
        Position of the input in the batch's plan (records are reported in this order).
    input, output : str
        The RAW read and the image written (or that would have been).
    status : {"done", "failed", "skipped", "not_run"}
    reason : str or None
        Why a file was skipped or not run.
    error : ErrorInfo or None
        Why it failed.
    seconds : dict of str to float
        Per stage (``runner.work.STAGES``).
    mask : MaskInfo
    completion : str or None
        The completion method that ran (``pipeline.Result.completion_method``).
    size : list of 2 int or None
        Output [height, width].
    opcodes_applied : list of str
        DNG lens-shading opcodes applied.
    wb_gains : list of 3 float or None
        (R, G, B) white-balance gains applied.
    demosaic : str or None
        Who demosaiced, how (``isp.ISPResult.demosaic``): "bilinear", "rcd", ... for this ISP's
        kernels, "none (linear RAW)", or "libraw:<algorithm>" for the LibRaw fallback.
    color_matrix_source : str or None
        Which camera matrix was used (``isp.RawFrame.color_matrix_source``).
    highlights_reconstructed : dict of str to int
        With ``--highlights reconstruct``: photosites rebuilt per rule (``two_channels``,
        ``one_channel``, ``all_clipped``); empty otherwise.
    warnings : list of str
        Warnings and log messages about this file, captured while it was processed.
    worker_pid : int
        Process that made the record.
    """

    index: int
    input: str
    output: str
    status: str = "failed"
    reason: str | None = None
    error: ErrorInfo | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    mask: MaskInfo = field(default_factory=MaskInfo)
    completion: str | None = None
    size: list[int] | None = None
    opcodes_applied: list[str] = field(default_factory=list)
    wb_gains: list[float] | None = None
    demosaic: str | None = None
    color_matrix_source: str | None = None
    highlights_reconstructed: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    worker_pid: int = field(default_factory=os.getpid)

    @classmethod
    def for_task(cls, task: Any, **fields: Any) -> "FileRecord":
        """The record of ``task`` (a ``runner.work.Task``), status "failed" until someone finishes it."""
        fields.setdefault("mask", MaskInfo(file=task.mask_path))
        return cls(index=task.index, input=task.input, output=task.output, **fields)

    @classmethod
    def failure(cls, task: Any, exc: BaseException, *, reason: str | None = None, **fields: Any) -> "FileRecord":
        """The "failed" record of ``task`` for ``exc``."""
        return cls.for_task(task, error=ErrorInfo.of(exc), reason=reason, **fields)

    def fail(self, exc: BaseException, *, message: str | None = None, with_traceback: bool = False) -> None:
        """Mark this record failed by ``exc`` (see :meth:`ErrorInfo.of`)."""
        self.status = "failed"
        self.error = ErrorInfo.of(exc, message=message, with_traceback=with_traceback)

    def to_json(self) -> dict[str, Any]:
        """The report's JSON form (``error`` as ``{"class", "message"}``)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, ErrorInfo):
                value = value.to_json()
            elif dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = dataclasses.asdict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FileRecord":
        """A record read back from a report (unknown keys are refused by the constructor)."""
        data = dict(data)
        if data.get("error") is not None:
            data["error"] = ErrorInfo.from_json(data["error"])
        if isinstance(data.get("mask"), dict):
            data["mask"] = MaskInfo(**data["mask"])
        return cls(**data)


@dataclass
class CheckRecord(FileRecord):
    """One input's outcome in ``rawcomplete check``: a :class:`FileRecord` plus the comparison.

    Attributes
    ----------
    status : {"pass", "moved", "new", "updated", "failed"}
    key : str
        The reference's name in REFDIR.
    reference_file : str
        ``REFDIR/<key>.json``.
    message : str
        One line for the log and the report.
    problems, causes, notes : list of str
        What moved beyond tolerance, what may explain it, what moved within it.
    figures : dict
        Comparison figures (PSNR, max |diff|, ...).
    now, reference : dict or None
        The summaries compared (this run's and the stored one).
    images : dict of str to bytes
        8-bit PNG previews for the HTML report; not part of the JSON form.
    """

    key: str = ""
    reference_file: str = ""
    message: str = ""
    problems: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    now: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None
    images: dict[str, bytes] = field(default_factory=dict, repr=False)

    #: Its outcomes, in the order the summary counts them.
    STATUSES: ClassVar[tuple[str, ...]] = ("pass", "moved", "new", "updated", "failed")

    @classmethod
    def from_record(cls, rec: FileRecord, **fields: Any) -> "CheckRecord":
        """A batch record (e.g. an executor's crash record) as a check record."""
        base = {f.name: getattr(rec, f.name) for f in dataclasses.fields(FileRecord)}
        return cls(**base, **fields)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out.pop("images")
        return out


__all__ = ["CheckRecord", "ErrorInfo", "FileRecord", "MaskInfo"]
