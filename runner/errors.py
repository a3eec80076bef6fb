"""Errors raised by the pipeline runner, rooted in :class:`PipelineError`.

``pipeline`` re-exports these, so user code writes ``pipeline.MaskFileError``. They live here so
the runner's modules can raise them without importing ``pipeline`` itself.
"""

from __future__ import annotations

from rawcomplete_errors import RawcompleteError


class PipelineError(RawcompleteError):
    """Base class of every error raised by the pipeline and its batch runner."""


class PipelineInputError(PipelineError, ValueError):
    """An option, preset file or array handed to the pipeline is invalid (message lists valid values)."""


class MaskFileError(PipelineError):
    """A sidecar mask file cannot be read, or its size does not match the developed image."""


class OutputError(PipelineError):
    """An output cannot be written (permissions, disk full, or it would overwrite an input)."""


class WorkerCrashError(PipelineError):
    """The worker process died while processing a file (a crash in native code, or killed)."""


class CheckReferenceError(PipelineError):
    """A reference of ``rawcomplete check`` (in REFDIR) is unreadable, incomplete or corrupt
    (its image does not match the sha256 its JSON records); the message names the file."""
