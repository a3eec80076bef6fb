"""Highlights: LibRaw's white-balance normalisation, clipping at white, and reconstruction.

A sensor site that saturated holds ``white`` whatever the scene was; after white balance the
three channels of a blown area sit at their own gains (R = 2, G = 1, B = 1.5 for a daylight
Canon), and a colour matrix turns that into a saturated magenta. LibRaw (``scale_colors`` with
``highlight = 0``, dcraw's ``-H 0``) avoids it in two steps, reproduced here:

1. the white-balance gains are normalised so that the *smallest* is 1 (not green), so no
   channel is scaled below the point where the least amplified one saturates;
2. the white-balanced mosaic is clipped at 1 before demosaicing, so a blown site is (1, 1, 1) in
   camera RGB, which every colour matrix maps to white (its rows sum to 1).

``ISPConfig(highlights="clip")`` (the default) does both; ``"keep"`` does step 1 only and leaves
values above white in ``ISPResult.linear`` for scene-linear work (its display output shows the
clipped channels' colour, as before).

``"reconstruct"`` treats a clipped photosite as what it is, a hole with a lower bound: photosites
whose raw value reached white (per channel, before any gain) are rebuilt on the white-balanced,
lens-shaded mosaic from the channels that survive around them and the chroma of the unclipped
pixels at the clip border (:func:`reconstruct_highlights`, kernels in
:mod:`isp._highlight_kernels`), never below their clip level, and demosaiced unclipped. Pixels with
no channel left are reported (``ISPResult.highlight_mask``, ``highlight_floor``) for
:mod:`completion.highlights`, which the pipeline runs on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ISPInputError


def normalize_gains_smallest(gains: Sequence[float]) -> tuple[float, float, float]:
    """White-balance gains scaled so the smallest is 1, as LibRaw scales ``pre_mul``.

    Parameters
    ----------
    gains : sequence of 3 floats
        (R, G, B) gains, > 0, any normalisation.

    Returns
    -------
    tuple of 3 floats
        The same ratios with ``min == 1`` (G stays 1 when green has the smallest gain).

    Examples
    --------
    >>> normalize_gains_smallest((0.8, 1.0, 1.6))
    (1.0, 1.25, 2.0)
    """
    arr = np.asarray(gains, dtype=np.float64).ravel()
    if arr.shape != (3,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ISPInputError(f"gains must be 3 positive finite numbers (R, G, B); got {gains!r}")
    arr = arr / arr.min()
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def clip_highlights(mosaic: np.ndarray) -> np.ndarray:
    """Clip a normalised, white-balanced mosaic at white: ``min(mosaic, 1)``.

    Parameters
    ----------
    mosaic : numpy.ndarray
        H x W float, black 0, white 1, white-balance gains (smallest 1) applied.

    Returns
    -------
    numpy.ndarray
        float32 H x W in ``(-inf, 1]``; a site saturated in every channel becomes exactly 1.
    """
    arr = np.asarray(mosaic)
    if arr.ndim != 2 or arr.dtype.kind not in "fiu" or arr.size == 0:
        raise ISPInputError(
            f"mosaic must be a non-empty 2-D real array; got dtype {arr.dtype}, shape {arr.shape}"
        )
    return np.minimum(arr.astype(np.float32), np.float32(1.0))


def clipped_mosaic(
    src: np.ndarray,
    black: np.ndarray,
    scale: np.ndarray,
    gain_map: np.ndarray,
    shade: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray | None:
    """The mosaic :func:`isp.develop` demosaics in ``highlights="clip"`` mode, or None when no
    site reaches white (then clipping changes nothing and the fused path reads ``src`` as is).

    Parameters
    ----------
    src : numpy.ndarray
        H x W mosaic, uint16 raw or float32 normalised.
    black, scale : numpy.ndarray
        float32[4] per 2x2 site: ``max(src - black, 0) * scale`` is the normalised,
        white-balanced value (``scale`` holds the gains).
    gain_map : numpy.ndarray
        float32 H x W vignetting gains, or an empty (0, 0) array for none.
    shade : callable, optional
        Lens-shading gains (DNG OpcodeList2) applied in place to the normalised mosaic.

    Returns
    -------
    numpy.ndarray or None
        float32 H x W, normalised, shaded, white-balanced, clipped at 1.
    """
    if gain_map.size == 0 and shade is None:
        # cheap test first: the largest value of each site against the value that reaches white
        reach = [
            (float(src[dy::2, dx::2].max()) - float(black[2 * dy + dx])) * float(scale[2 * dy + dx])
            for dy in range(min(2, src.shape[0]))
            for dx in range(min(2, src.shape[1]))
        ]
        if max(reach) < 1.0:
            return None
    out = white_balanced_mosaic(src, black, scale, gain_map, shade)
    np.minimum(out, np.float32(1.0), out=out)
    return out


def white_balanced_mosaic(
    src: np.ndarray,
    black: np.ndarray,
    scale: np.ndarray,
    gain_map: np.ndarray,
    shade: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """The normalised, lens-shaded, white-balanced mosaic, unclipped (parameters as
    :func:`clipped_mosaic`): float32 H x W, ``max(src - black, 0) * scale (* gain_map)``, then
    ``shade``."""
    from . import _kernels

    out = np.empty(src.shape, np.float32)
    _kernels.normalize_mosaic(src, np.asarray(black, np.float32), np.asarray(scale, np.float32),
                              gain_map, out)
    if shade is not None:
        out = shade(out)
    return out


# ------------------------------------------------------------------------------------------------
# highlights="reconstruct"

#: A photosite is clipped when its raw value, before any gain, reaches this fraction of the white
#: level above black (the margin absorbs float rounding), or the saturation below it (next four).
CLIP_THRESHOLD = 1.0 - 1e-6
#: Saturation below the white level is looked for above this fraction of the range (LibRaw's
#: ``adjust_maximum_thr`` default).
SATURATION_SEARCH = 0.75
#: Sites exactly at a site position's largest value that make it an (exact) saturation.
PILEUP_SITES = 16
#: A noisy saturation: this fraction of the sites within SOFT_CLIP_MARGIN of the largest value...
SOFT_PILEUP_FRACTION = 0.005
#: ... and then sites above this fraction of it (above black) are clipped, for an exact pile-up
#: too (darktable's clip factors are 0.987-0.995; the D30's and the Pocket 4K's saturated sites
#: spread over about 2 %).
SOFT_CLIP_MARGIN = 0.98
# The constants below were chosen on 8 Kodak images (benchmarks/eval_highlights.py, clipped-region
# means; LibRaw highlight_mode 5 in the same run: dlogY 0.417, dab 10.52): "dab" figures are with
# the others at their final values.
#: Side (photosites) of the tiles over which the chroma of unclipped surroundings is averaged
#: (8 / 16 / 32: dab 10.35 / 10.30 / 10.34; a Gaussian over the tiles, sigma 1.5 / 3: 10.53 / 10.77).
CHROMA_BLOCK = 16
#: Unclipped neighbourhoods give chroma when their brightest channel is at least this fraction of
#: its clip level (0 / 0.1 / 0.25 / 0.5: dab 10.30 / 10.30 / 10.63 / 11.73).
CHROMA_BRIGHT_MIN = 0.1
#: Chroma is taken from unclipped neighbourhoods at most this many photosites (Chebyshev) from a
#: clipped one: 2 is the ring right at the clip border (2 / 3 / 6 / 12: dab 10.30 / 10.38 / 10.49 /
#: 10.85 before the pair rule below; no chroma at all, neutral: 11.48).
CHROMA_RING = 2
#: Weight of a neutral chromaticity added to every tile that has samples (a sample weighs its
#: brightness squared, 1 at the clip level): 0 / 0.25 / 1 / 4: dab 10.23 / 10.27 / 10.36 / 10.59.
CHROMA_PRIOR = 0.0
#: Where two channels clipped, their chromaticities drawn this far towards their mean (0 / 0.5 / 1:
#: dab 10.30 / 10.23 / 10.44).
CLIPPED_PAIR_EQUALISE = 0.5
#: Where every channel clipped, the chroma of the surroundings mixed this far towards neutral
#: (all-clipped dab, ring 6: 0 / 0.5: 20.7 / 19.4; ring 2: 0.5 / 0.75: 18.1 / 18.7).
ALL_CLIPPED_NEUTRAL = 0.5


@dataclass(frozen=True)
class HighlightReconstruction:
    """What :func:`reconstruct_highlights` returns.

    Attributes
    ----------
    mosaic : numpy.ndarray
        float32 H x W: the normalised, shaded, white-balanced mosaic with every clipped photosite
        rebuilt (never below its clip level); unclipped photosites bit-identical to
        :func:`white_balanced_mosaic`.
    all_clipped : numpy.ndarray
        bool H x W, sensor orientation: photosites whose 3 x 3 neighbourhood holds no unclipped
        site of any channel (only lower bounds are known there; :mod:`completion.highlights`
        completes them).
    counts : dict of str to int
        Photosites rebuilt by each rule (:data:`isp._highlight_kernels.RULES`):
        ``"two_channels"``, ``"one_channel"``, ``"all_clipped"``.
    """

    mosaic: np.ndarray
    all_clipped: np.ndarray
    counts: dict


def pull_push_fill(sums: np.ndarray, weights: np.ndarray, default: Sequence[float]) -> np.ndarray:
    """Weighted means ``sums / weights`` on a grid, holes (weight 0) filled from coarser levels
    (pull-push: each level sums 2 x 2 cells; going back down, a cell of weight w < 1 takes
    ``1 - w`` of its coarse parent's mean).

    Parameters
    ----------
    sums : numpy.ndarray
        float64 (H, W, C) weighted sums.
    weights : numpy.ndarray
        float64 (H, W) weights >= 0.
    default : sequence of C floats
        The value where no cell at all has weight.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, C).
    """
    if weights.sum() <= 0:
        return np.broadcast_to(np.asarray(default, np.float32), sums.shape).copy()
    levels = [(sums, weights)]
    while max(levels[-1][1].shape) > 1:
        s, wt = levels[-1]
        h, w = wt.shape
        ph, pw = h + (h & 1), w + (w & 1)
        s = np.pad(s, ((0, ph - h), (0, pw - w), (0, 0)))
        wt = np.pad(wt, ((0, ph - h), (0, pw - w)))
        s = s.reshape(ph // 2, 2, pw // 2, 2, -1).sum(axis=(1, 3))
        wt = wt.reshape(ph // 2, 2, pw // 2, 2).sum(axis=(1, 3))
        levels.append((s, wt))
    s, wt = levels[-1]
    mean = s / np.maximum(wt, 1e-30)[..., None]
    for s, wt in reversed(levels[:-1]):
        h, w = wt.shape
        coarse = np.repeat(np.repeat(mean, 2, axis=0), 2, axis=1)[:h, :w]
        fine = s / np.maximum(wt, 1e-30)[..., None]
        alpha = np.minimum(wt, 1.0)[..., None]  # a cell with weight >= 1 keeps its own mean
        mean = alpha * fine + (1 - alpha) * coarse
    return mean.astype(np.float32)


def saturation_thresholds(mosaic: np.ndarray, black: np.ndarray, white: float) -> np.ndarray:
    """Raw value from which each 2x2 site counts as clipped: float64[4].

    The white level where some site of that position reached it. Many sensors saturate below the
    declared white level (the Canon EOS D30 near 3860 of 4095, noisily; the Blackmagic Pocket 4K
    at 65472 of 65535): where a site's largest value is above :data:`SATURATION_SEARCH` of the
    range (LibRaw's ``adjust_maximum_thr``) and the values pile up there (at least
    :data:`PILEUP_SITES` sites exactly at it, or :data:`SOFT_PILEUP_FRACTION` of the sites within
    :data:`SOFT_CLIP_MARGIN` of it), that largest value is the saturation, and the threshold is
    :data:`SOFT_CLIP_MARGIN` of it above black: such sensors saturate fuzzily (the Pocket 4K's
    green sites from 64768 to 65472; treated as unclipped, they read as a green deficit, magenta
    speckles in the highlight). Otherwise nothing of that site clipped: the threshold is above
    every value.
    """
    thresholds = np.empty(4, np.float64)
    for dy in range(2):
        for dx in range(2):
            i = 2 * dy + dx
            sub = mosaic[dy::2, dx::2]
            if sub.size == 0:
                thresholds[i] = np.inf
                continue
            top = float(sub.max())
            b = float(black[i])
            if top >= white * CLIP_THRESHOLD:
                thresholds[i] = b + (white - b) * CLIP_THRESHOLD
                continue
            thresholds[i] = np.inf
            if top - b <= SATURATION_SEARCH * (white - b):
                continue
            soft = b + SOFT_CLIP_MARGIN * (top - b)
            if (int(np.count_nonzero(sub == top)) >= PILEUP_SITES
                    or np.count_nonzero(sub >= soft) >= SOFT_PILEUP_FRACTION * sub.size):
                thresholds[i] = soft
    return thresholds


def clip_flags(mosaic: np.ndarray, black: np.ndarray, white: float) -> tuple[np.ndarray, int]:
    """(flags, count): uint8 H x W, 1 where a photosite is clipped: its raw value reached the
    white level, or the sensor's saturation below it (:func:`saturation_thresholds`)."""
    from . import _highlight_kernels as hk

    h = mosaic.shape[0]
    flags = np.empty(mosaic.shape, np.uint8)
    rows = np.empty(h, np.int64)
    hk.clip_flags(mosaic, saturation_thresholds(mosaic, np.asarray(black, np.float64), float(white)), flags, rows)
    return flags, int(rows.sum())


def reconstruct_highlights(
    norm: np.ndarray, flags: np.ndarray, site_ch: np.ndarray, gains: Sequence[float]
) -> HighlightReconstruction:
    """Rebuild the clipped photosites of a white-balanced mosaic from the channels that survive
    and the chroma of nearby unclipped pixels.

    1. chroma: the chromaticity ``(R, G, B) / (R + G + B)`` of every 3 x 3 neighbourhood with no
       clipped site that lies in the ring right at a clip border (:data:`CHROMA_RING`) and is not
       dark (:data:`CHROMA_BRIGHT_MIN`), averaged over 16 x 16 tiles (weight: brightness
       squared), tiles without any filled from coarser ones (:func:`pull_push_fill`; neutral
       where the frame has none), interpolated bilinearly at each site;
    2. each clipped site of channel c becomes ``max(value, k * r_c)``, ``k`` set by the unclipped
       means of the other channels in its 3 x 3 (both: ``"two_channels"``; one:
       ``"one_channel"``, the two clipped channels' chroma drawn halfway together); where none
       survives (``"all_clipped"``, chroma half-way to neutral) by the clip levels alone; and in
       every case at least the brightness at which each clipped channel reaches its clip level.
       The clipped value is the site's clip level, a lower bound, so the result is never below it.

    This is the ratio form of darktable's "inpaint opposed" (which works on differences of cube
    roots with one chroma per frame); measured against it and LibRaw's modes in
    ``benchmarks/eval_highlights.py``.

    Parameters
    ----------
    norm : numpy.ndarray
        float32 H x W (H, W >= 2), normalised, lens-shaded, white-balanced mosaic
        (:func:`white_balanced_mosaic`), unclipped.
    flags : numpy.ndarray
        uint8 H x W from :func:`clip_flags`.
    site_ch : numpy.ndarray
        int64[4], channel of each 2x2 site (:func:`isp.cfa.site_channels`).
    gains : sequence of 3 floats
        White-balance gains applied (R, G, B), the clip levels of an unshaded site.

    Returns
    -------
    HighlightReconstruction
    """
    from . import _highlight_kernels as hk

    norm = np.ascontiguousarray(norm, dtype=np.float32)
    if norm.ndim != 2 or min(norm.shape) < 2 or flags.shape != norm.shape:
        raise ISPInputError(
            f"highlight reconstruction needs a mosaic of at least 2 x 2 and flags of its shape; got "
            f"{norm.shape} and {flags.shape}"
        )
    h, w = norm.shape
    block = CHROMA_BLOCK
    nby, nbx = -(-h // block), -(-w // block)
    sums = np.zeros((nby, nbx, 3), np.float64)
    weights = np.zeros((nby, nbx), np.float64)
    gains = np.asarray(gains, np.float64)
    site_ch = np.asarray(site_ch, np.int64)
    near = np.empty((h, w), np.uint8)
    hk.near_clip(flags, CHROMA_RING, np.empty((h, w), np.uint8), near)
    hk.chroma_blocks(norm, flags, near, site_ch, gains, block, CHROMA_BRIGHT_MIN, sums, weights)
    sampled = weights > 0  # a neutral prior in each sampled tile: a few dark samples say little
    sums[sampled] += CHROMA_PRIOR / 3
    weights[sampled] += CHROMA_PRIOR
    chroma = pull_push_fill(sums, weights, (1 / 3, 1 / 3, 1 / 3)).astype(np.float64)
    out = np.empty_like(norm)
    full = np.empty((h, w), np.uint8)
    counts = np.zeros((h, len(hk.RULES)), np.int64)
    hk.reconstruct_sites(norm, flags, site_ch, chroma, block, ALL_CLIPPED_NEUTRAL, CLIPPED_PAIR_EQUALISE, out, full, counts)
    totals = counts.sum(axis=0)
    return HighlightReconstruction(
        mosaic=out, all_clipped=full.view(bool),
        counts={rule: int(n) for rule, n in zip(hk.RULES, totals)},
    )


def reconstruct_on_mosaic(
    mosaic: np.ndarray,
    black: np.ndarray,
    white: float,
    levels: tuple,
    shade: Callable[[np.ndarray], np.ndarray] | None,
    site_ch: np.ndarray,
    gains: Sequence[float],
) -> HighlightReconstruction | None:
    """:func:`isp.develop`'s ``highlights="reconstruct"`` step: None when no photosite of the raw
    ``mosaic`` reached white (then the mode equals ``"keep"``), else
    :func:`reconstruct_highlights` of the white-balanced mosaic.

    Parameters
    ----------
    mosaic : numpy.ndarray
        H x W raw mosaic (uint16 or float), sensor orientation.
    black : numpy.ndarray
        float[4] black level per 2x2 site, for :func:`clip_flags`.
    white : float
        The frame's white level.
    levels : tuple
        ``(src, black, scale, gain_map)`` of the mosaic the demosaic would read (see
        :func:`clipped_mosaic`), normalised and white-balanced by :func:`white_balanced_mosaic`.
    shade : callable or None
        OpcodeList2 gains still to apply to the normalised mosaic.
    site_ch, gains
        As :func:`reconstruct_highlights`.
    """
    flags, n_clipped = clip_flags(mosaic, black, white)
    if n_clipped == 0 or min(mosaic.shape) < 2:
        return None
    norm = white_balanced_mosaic(*levels, shade)
    return reconstruct_highlights(norm, flags, site_ch, gains)


def highlight_outputs(
    rec: HighlightReconstruction,
    frame,
    crop_mode: str,
    gains: Sequence[float],
    shading,
    gain_map: np.ndarray,
    shape: tuple[int, int],
) -> dict:
    """The ``ISPResult`` fields of a reconstruction: ``highlight_mask`` (bool, output geometry,
    None when empty), ``highlight_floor`` (float32 N x 3 white-balanced camera RGB: the gains
    times the lens-shading gains of each masked pixel: user gain map, OpcodeList2 and
    OpcodeList3) and ``highlights_reconstructed``."""
    from .geometry import final_geometry, mask_to_output
    from .stages import apply_orientation

    fields: dict = {"highlights_reconstructed": dict(rec.counts)}
    if not rec.all_clipped.any():
        return fields
    mask = np.ascontiguousarray(mask_to_output(rec.all_clipped, frame, crop_mode), dtype=bool)
    if mask.shape != tuple(shape):
        raise ISPInputError(
            f"{frame.path or 'frame'}: all-clipped mask is {mask.shape} in output geometry but the "
            f"image is {tuple(shape)}"
        )
    floor = np.broadcast_to(np.asarray(gains, np.float32), (int(mask.sum()), 3)).copy()
    h, w = rec.mosaic.shape
    lens = None
    if gain_map.size:
        lens = gain_map.astype(np.float32)
    if shading is not None and shading.mosaic_ops:
        ones = np.ones((h, w), np.float32) if lens is None else lens.copy()
        lens = shading.apply_to_mosaic(ones, frame.cfa, out=ones)
    lens3 = None if lens is None else np.repeat(lens[..., None], 3, axis=2)
    if shading is not None and shading.rgb_ops:
        lens3 = np.ones((h, w, 3), np.float32) if lens3 is None else lens3
        lens3 = shading.apply_to_rgb(lens3, out=lens3)
    if lens3 is not None:
        lens_out = final_geometry(apply_orientation(lens3, int(frame.flip)), None, frame, crop_mode)[0]
        floor *= lens_out[mask]
    fields["highlight_mask"] = mask
    fields["highlight_floor"] = floor
    return fields


__all__ = [
    "CLIP_THRESHOLD", "HighlightReconstruction", "clip_flags", "clip_highlights", "clipped_mosaic",
    "highlight_outputs", "normalize_gains_smallest", "pull_push_fill", "reconstruct_highlights",
    "reconstruct_on_mosaic", "saturation_thresholds", "white_balanced_mosaic",
]
