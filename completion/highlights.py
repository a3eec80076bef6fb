"""Blown highlights completed in scene-linear light, under their lower bound.

Where every channel of a pixel clipped, the sensor says only that the scene was at least as bright
as white in each channel. The ISP (``isp.ISPConfig(highlights="reconstruct")``) hands over those
pixels as a mask, their lower bounds, and the matrix from white-balanced camera RGB to its output
RGB; :func:`complete_highlights` fills the mask with the completion stage
(:func:`completion.inpaint`, ``space="linear"``) and then enforces the bound, keeping the fill's
chroma: a filled pixel below its floor is scaled up (all channels by one factor) until every
channel reaches it, the least brightness consistent with the sensor and the fill's colour.
Clamping channel by channel instead would give the floor's own colour, the white-balance gains,
which the colour matrix turns into the magenta of blown highlights.

Where the bound lives: a photosite saturates in *camera* RGB (after white balance, the value white
maps to is the channel's gain times any lens-shading gain), so the constraint is a box
``cam >= floor`` in camera RGB. In output RGB (after the colour matrix, which mixes channels with
negative terms) it is no box: clamping output channels would neither guarantee it nor keep the
hue. So the fill is taken back to camera RGB (``inv(camera_to_output)``), scaled there to its
floor, and brought forward again; a pixel the fill already puts above its floor is left exactly as
filled.
"""

from __future__ import annotations

import numpy as np

from .errors import CompletionError, ImageError, MaskError
from .inpaint import METHODS, _hole_groups, inpaint

#: Fills :func:`complete_highlights` accepts: :func:`completion.inpaint`'s methods, plus
#: ``"pullpush"``, a smooth multi-scale normalised-average fill per hole group (no solve, linear
#: time: what the 24 MP budget allows).
HIGHLIGHT_METHODS = (*METHODS, "pullpush")

#: What ``method="auto"`` fills highlights with. A blown area's content is unknown beyond its
#: lower bound; what matters is brightness continuing smoothly from the clip border under the
#: bound, and the 24 MP budget (under 2 s beyond the plain develop). Kodak synthetic highlights,
#: see ``benchmarks/eval_highlights.py`` and the README for the figures that chose it.
HIGHLIGHT_AUTO = "pullpush"

#: Context kept around each all-clipped group for ``"pullpush"``: its own size on every side, at
#: least this many pixels.
PULLPUSH_MARGIN = 16

#: Where the colour of a completed highlight comes from (``complete_highlights(chroma=...)``).
CHROMA_SOURCES = ("input", "fill")

#: A camera channel of the fill is taken as at least this fraction of its floor before the fill is
#: scaled to the floor (a fill with a channel at 0 or below would need an unbounded factor).
MIN_CHROMA = 0.04


def enforce_floor(values: np.ndarray, floor: np.ndarray, camera_to_output: np.ndarray) -> np.ndarray:
    """Raise each pixel to its lower bound in camera RGB.

    Parameters
    ----------
    values : numpy.ndarray
        float (N, 3) pixels in output RGB (``camera_to_output @ camera``).
    floor : numpy.ndarray
        float (N, 3) lower bounds in camera RGB.
    camera_to_output : numpy.ndarray
        float (3, 3), invertible.

    Returns
    -------
    numpy.ndarray
        float32 (N, 3), output RGB: with ``c = max(inv(M) @ v, eps * floor)`` (camera RGB, kept
        positive), ``M @ (c * max(1, max_k floor_k / c_k))``: the fill's chroma, every camera
        channel at least its floor (to float32 rounding, which is then lifted to the floor).
    """
    m = np.asarray(camera_to_output, np.float64)
    bound = np.asarray(floor, np.float64)
    cam = np.asarray(values, np.float64) @ np.linalg.inv(m).T
    cam = np.maximum(cam, MIN_CHROMA * bound)
    factor = np.maximum(1.0, (bound / cam).max(axis=1))
    raised = np.maximum(cam * factor[:, None], bound)
    out = np.asarray(values, np.float32).copy()
    moved = np.any(raised != np.asarray(values, np.float64) @ np.linalg.inv(m).T, axis=1)
    out[moved] = (raised[moved] @ m.T).astype(np.float32)
    return out


def complete_highlights(
    linear: np.ndarray,
    mask: np.ndarray,
    floor: np.ndarray,
    camera_to_output: np.ndarray,
    *,
    method: str = "auto",
    device: str = "auto",
    chroma: str = "input",
) -> np.ndarray:
    """Complete all-clipped highlights in scene-linear light, every channel at least its clip level.

    Parameters
    ----------
    linear : numpy.ndarray
        float32 (H, W, 3) scene-linear image, unclipped (``isp.ISPResult.linear``).
    mask : numpy.ndarray
        bool (H, W): the pixels to complete (``ISPResult.highlight_mask``).
    floor : numpy.ndarray
        float (N, 3), N = ``mask.sum()``: lower bound of each masked pixel (row-major order) in
        white-balanced camera RGB (``ISPResult.highlight_floor``).
    camera_to_output : numpy.ndarray
        float (3, 3) invertible: camera RGB -> ``linear`` (``ISPResult.camera_to_output``).
    method : {"auto", "pullpush", "biharmonic", "gan", "exemplar"}
        How the masked pixels are filled before the bound: ``"auto"`` is :data:`HIGHLIGHT_AUTO`;
        ``"pullpush"`` a smooth fill per hole group (:func:`completion.exemplar.pull_push`); the
        others are :func:`completion.inpaint`'s methods (in linear light).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    chroma : {"input", "fill"}
        ``"input"`` (default): the fill gives the brightness only (camera-RGB sum, never below
        the input's) and each pixel keeps the chroma ``linear`` has there (the ISP's estimate
        from the nearby unclipped colour); ``"fill"``: the fill's own colour.
        See :data:`CHROMA_SOURCES` for the measured difference.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3): unmasked pixels bit-identical to ``linear``; masked pixels the
        completion's fill raised, in camera RGB, to their floor (:func:`enforce_floor`). Where the
        mask covers the whole frame there is no context to complete from and ``linear`` (already
        at least the floor from the ISP) is only checked against the floor.

    Raises
    ------
    ImageError, MaskError
        Wrong shapes, dtypes or values (NaN, a floor that does not match the mask, a singular
        matrix).
    CompletionError
        From :func:`completion.inpaint` (e.g. ``WeightsError`` for ``method="gan"``).
    """
    image = np.asarray(linear)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype.kind != "f":
        raise ImageError(f"linear must be a float (H, W, 3) array; got {image.dtype}, shape {image.shape}")
    hole = np.asarray(mask)
    if hole.dtype != bool or hole.shape != image.shape[:2]:
        raise MaskError(f"mask must be bool of shape {image.shape[:2]}; got {hole.dtype}, shape {hole.shape}")
    n = int(hole.sum())
    bounds = np.asarray(floor, np.float64)
    if bounds.shape != (n, 3) or not np.all(np.isfinite(bounds)):
        raise MaskError(f"floor must be finite, of shape ({n}, 3) (one row per masked pixel); got {bounds.shape}")
    m = np.asarray(camera_to_output, np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)) or abs(np.linalg.det(m)) < 1e-9:
        raise ImageError(f"camera_to_output must be a finite invertible 3 x 3 matrix; got {m.tolist()}")
    if method not in HIGHLIGHT_METHODS:
        raise CompletionError(f"method must be one of {', '.join(map(repr, HIGHLIGHT_METHODS))}; got {method!r}")
    if chroma not in CHROMA_SOURCES:
        raise CompletionError(f"chroma must be one of {', '.join(map(repr, CHROMA_SOURCES))}; got {chroma!r}")
    if n == 0:
        return np.array(image, np.float32)
    if method == "auto":
        method = HIGHLIGHT_AUTO
    if n == hole.size:
        filled = np.array(image, np.float32)
    elif method == "pullpush":
        filled = _pull_push_groups(np.array(image, np.float32), hole)
    else:
        filled = inpaint(np.asarray(image, np.float32), hole, space="linear", device=device, method=method)
    values = filled[hole]
    if chroma == "input":
        inv = np.linalg.inv(m).T
        before = image[hole].astype(np.float64) @ inv  # the hole's pixels only, not the frame
        brightness = np.maximum(values.astype(np.float64) @ inv, 0).sum(axis=1)
        factor = np.maximum(1.0, brightness / np.maximum(before.sum(axis=1), 1e-12))
        values = ((before * factor[:, None]) @ m.T).astype(np.float32)
    filled[hole] = enforce_floor(values, bounds, m)
    return filled


def _pull_push_groups(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``image`` (modified in place and returned) with each 8-connected group of ``hole`` filled
    by :func:`completion.exemplar.pull_push` on its box grown by :data:`PULLPUSH_MARGIN` (or its
    own size); only the group's pixels are written, from the unfilled context."""
    from scipy import ndimage

    from .exemplar import pull_push

    out = image
    labels, _ = _hole_groups(hole)
    h, w = hole.shape
    for i, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        gy = max(PULLPUSH_MARGIN, ys.stop - ys.start)
        gx = max(PULLPUSH_MARGIN, xs.stop - xs.start)
        box = (slice(max(0, ys.start - gy), min(h, ys.stop + gy)), slice(max(0, xs.start - gx), min(w, xs.stop + gx)))
        group = labels[box] == i
        known = ~hole[box]
        if not known.any():  # the box is all holes (other groups around it): widen to the frame
            box, group, known = (slice(0, h), slice(0, w)), labels == i, ~hole
        out[box][group] = pull_push(image[box], known)[group]
    return out


__all__ = ["CHROMA_SOURCES", "HIGHLIGHT_AUTO", "HIGHLIGHT_METHODS", "complete_highlights", "enforce_floor"]
