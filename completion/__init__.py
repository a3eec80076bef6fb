"""Completion stage: fill holes (defects, dust, masked objects) in an RGB image.

``inpaint(image, mask, *, space="display"|"linear", device="auto", method="gan"|"biharmonic")`` is the
whole public surface, plus :func:`load_generator` and the error classes. Arrays in, arrays out; this
package knows nothing of RAW files. torch is imported only when the GAN is used.
"""

from __future__ import annotations

from .errors import CompletionError, ImageError, MaskError, WeightsError
from .inpaint import inpaint, methods_for
from .weights import load_generator

__all__ = ["inpaint", "methods_for", "load_generator", "CompletionError", "ImageError", "MaskError", "WeightsError"]
