"""The one exception hierarchy shared by every part of rawcomplete.

``isp``, ``completion`` and ``pipeline`` each define their own subclasses (``isp.RawError``,
``completion.CompletionError``, ``pipeline.PipelineError``), all rooted here, so a batch runner or a
photo tool can catch ``RawcompleteError`` once and report by class. This module sits below every
package and imports nothing, so it adds no arrow between ``isp`` and ``completion``.

    RawcompleteError
    ├── isp.RawError
    │   ├── isp.UnsupportedRawError      (X-Trans, Foveon/stacked, linear DNG, no decoder)
    │   ├── isp.CorruptRawError          (truncated, empty, random bytes, malformed opcode list)
    │   └── isp.ISPInputError            (also ValueError: bad array / option given to a stage)
    ├── completion.CompletionError
    │   ├── completion.MaskError         (also ValueError)
    │   ├── completion.ImageError        (also ValueError)
    │   └── completion.WeightsError      (missing file or sha256 mismatch)
    └── pipeline.PipelineError
        ├── pipeline.PipelineInputError  (also ValueError: bad option, preset file or mask array)
        ├── pipeline.MaskFileError       (sidecar mask unreadable or of the wrong size)
        ├── pipeline.OutputError         (cannot write the output, or it would replace an input)
        ├── pipeline.WorkerCrashError    (the worker process died on that file, e.g. native crash)
        └── runner.errors.CheckReferenceError (a rawcomplete check reference is unreadable or corrupt)
"""

from __future__ import annotations


class RawcompleteError(Exception):
    """Root of every error raised on purpose by rawcomplete."""
