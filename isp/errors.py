"""Errors raised by the ISP: all rooted in :class:`RawError` (itself a ``RawcompleteError``)."""

from __future__ import annotations

from rawcomplete_errors import RawcompleteError


class RawError(RawcompleteError):
    """Base class of every ISP error. Messages name the file (when there is one) and the problem."""


class UnsupportedRawError(RawError):
    """The file is a valid RAW this ISP cannot develop: Foveon / stacked data other than 3
    colours, or a format/compression LibRaw has no decoder for. (X-Trans and 4-colour CFAs go
    through the LibRaw fallback, linear DNGs through isp.linear.)"""


class CorruptRawError(RawError):
    """The file is truncated, empty, not a RAW at all, or carries malformed metadata
    (for example a DNG opcode list that does not parse)."""


class ISPInputError(RawError, ValueError):
    """An array or option handed to a public stage function is invalid (shape, dtype, value)."""


class RawFileError(RawError, OSError):
    """The file does not exist or cannot be opened (permissions, a directory, I/O failure)."""


class RawLimitError(RawError):
    """The file claims more pixels than the reader's ``max_pixels`` limit allows (a resource
    policy, checked before any large allocation); raise the limit to read it anyway."""
