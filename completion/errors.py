"""Errors raised by the completion stage, rooted in :class:`CompletionError`."""

from __future__ import annotations

from rawcomplete_errors import RawcompleteError


class CompletionError(RawcompleteError):
    """Base class of every completion error."""


class MaskError(CompletionError, ValueError):
    """The mask is of the wrong shape or dtype, or covers the whole image."""


class ImageError(CompletionError, ValueError):
    """The image has the wrong shape or dtype, or holds NaN / infinite values."""


class WeightsError(CompletionError):
    """Shipped or user weights are missing, fail their sha256 check, or do not fit the model."""
