"""The inference API: ``inpaint(image, mask, *, space, device, method, weights, threads)``.

How a frame is processed (memory stays bounded by the crops, never a full float copy of the frame):

1. validate once (shape, dtype, NaN/inf, mask shape and values, empty / full mask);
2. find the connected groups of holes (``scipy.ndimage.label``, 8-connected), give each bounding box
   a context margin (half its size, at least ``MIN_CONTEXT`` px), and merge boxes that overlap;
3. for each box: convert the crop to display-referred float in [0, 1] (``space="linear"``: divide by a
   per-crop exposure ``s = max(1, 99th percentile of the known context)``, clip, sRGB-encode);
   choose a working scale so that the widest hole is no thicker than the holes seen in training and
   the crop no larger than ``WORK_MAX`` px; downscale (antialiased; a pixel is a hole if any of its
   sources is), pad (reflect) to a multiple of 16;
4. fill the crop's holes at full resolution with the exemplar fill (texture copied from the known
   part, :mod:`completion.exemplar`); run the generator on batches of equally-sized (downscaled)
   crops of that fill; when the crop was downscaled, upscale only what the network added to its
   starting fill and add it to the full-resolution exemplar fill (which keeps its texture and
   continues the full-resolution border, so there is no seam); give the fill the low-frequency
   colour of the crop's pull-push fill (:mod:`completion.harmonise`; in narrow holes that reference
   also carries what the network adds to a pull-push start, :data:`SMOOTH_REFERENCE_RADII`); decode
   (``linear``: sRGB-decode, times ``s``);
5. write the hole pixels only: the known pixels of the result are the input's, bit for bit.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from .errors import CompletionError, ImageError, MaskError

log = logging.getLogger(__name__)

MIN_CONTEXT = 48  # px of context around each group of holes, at least
#: Widest hole half-width (px) the network works at; larger holes are downscaled to it. Measured on
#: 6 Kodak images (medium / thick masks, in-hole PSNR): 24 px 18.65 / 15.99 dB, 48 px 18.71 / 16.36,
#: 64 px 18.86 / 16.24; 48 is also well inside the GAN-vs-biharmonic time budget.
TARGET_RADIUS = 48.0
WORK_MAX = 768  # largest side of a working crop (px); larger crops are downscaled
PAD_MULTIPLE = 16
MAX_BATCH = 8
MAX_GROUPS = 256  # above this many hole groups, group them on a coarse grid first

Space = Literal["display", "linear"]
Method = Literal["gan", "exemplar", "biharmonic", "auto"]
METHODS = ("gan", "exemplar", "biharmonic", "auto")
#: Largest side (px) of a crop the exemplar fill works on at full resolution; larger crops are
#: filled at a reduced scale (the fill's cost grows with the hole area).
EXEMPLAR_MAX = 1024
#: Colour harmonisation of the GAN's fill (``completion.harmonise``): variations of its chroma coarser
#: than this Gaussian sigma (px), and of its luminance coarser than the second, are the pull-push
#: fill's. Kodak, first 4 images, shipped weights, thick / object masks (in-hole PSNR, SWD, chroma
#: error): off 20.84 / 16.5 / 10.17 and 18.11 / 27.8 / 11.93; chroma sigma 2 / 3 / 4 / 6 with luma 16:
#: thick SWD 18.1 / 17.6 / 17.3 / 16.9, chroma 6.82-6.84; object PSNR 19.42-19.45, chroma 8.31-8.36
#: (pull-push: 6.83, 8.30); luma left alone: object PSNR 19.0.
HARMONISE_CHROMA_SIGMA = 4.0
HARMONISE_LUMA_SIGMA = 16.0
#: Structure reference for narrow holes: the colour reference of the harmonisation is the pull-push
#: fill plus what the same network adds to a pull-push start (which continues edges into the hole),
#: with weight 1 in hole groups of half-width (largest distance to their border) up to the first
#: figure (px), fading linearly to 0 at the second. Kodak, first 4 images, in-hole PSNR (measured with
#: the sharper exemplar variant of ``exemplar_fill``): thin / medium / thick, chroma error thick:
#: pull-push reference 21.18 / 18.59 / 21.30, 6.79; radii 32-96: 18.64 / 21.27, 6.76; 48-128: 18.70 /
#: 21.25, 6.73; everywhere: 18.73 / 21.16, 6.97 (pull-push alone 6.83). With the default fill, the
#: reference everywhere: thin 21.26 -> 21.39, medium 18.60 -> 18.77 dB.
SMOOTH_REFERENCE_RADII = (48.0, 128.0)


def _narrow_weight(hole: np.ndarray) -> np.ndarray:
    """float32 (H, W): 1 in hole groups of half-width <= SMOOTH_REFERENCE_RADII[0], 0 from [1] on."""
    from scipy import ndimage

    lo, hi = SMOOTH_REFERENCE_RADII
    labels, n = ndimage.label(hole, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.zeros(hole.shape, np.float32)
    radius = np.asarray(ndimage.maximum(ndimage.distance_transform_edt(hole), labels, np.arange(1, n + 1)))
    weight = np.clip((hi - np.concatenate([[hi], np.reshape(radius, -1)])) / (hi - lo), 0.0, 1.0)
    return weight.astype(np.float32)[labels]


#: Default torch intra-op threads of the GAN (see ``inpaint(threads=...)``).
DEFAULT_THREADS = 1

#: Under ``method="auto"``, 8-connected hole groups of at most this many pixels (dust, hot pixels,
#: small blemishes) are filled with the biharmonic method and larger ones with the GAN. Measured with
#: ``benchmarks/eval_small_holes.py`` (8 Kodak crops of 384 x 512, 6 discs each, in-hole PSNR, shipped
#: GAN vs biharmonic): radius 2 px (13 px) 24.5 vs 28.2 dB, 3 px (29) 25.4 vs 26.0, 4 px (49) 24.2 vs
#: 25.6, 5 px (81) 25.7 vs 25.8, 6 px (113) 23.8 vs 22.2, 10 px (317) 24.4 vs 22.4, 20 px 21.0 vs
#: 18.3, 35 px 19.4 vs 17.3.
AUTO_SMALL_GROUP_PIXELS = 100


# --------------------------------------------------------------------------------------------- validation
def _validate(image: object, mask: object) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(image, np.ndarray):
        raise ImageError(f"image must be a numpy array of shape (H, W, 3); got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f"image must have shape (H, W, 3); got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageError(f"image is empty: shape {image.shape}")
    if image.dtype not in (np.uint8, np.uint16, np.float16, np.float32, np.float64):
        raise ImageError(f"image dtype must be float32 (or float16/64), uint8 or uint16; got {image.dtype}")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise ImageError("image holds NaN or infinite values; expected finite floats")
    if not isinstance(mask, np.ndarray):
        raise MaskError(f"mask must be a numpy array of shape (H, W); got {type(mask).__name__}")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.shape != image.shape[:2]:
        raise MaskError(f"mask must have the image's height and width {image.shape[:2]}; got shape {mask.shape}")
    if mask.dtype == bool:
        hole = mask
    elif mask.dtype.kind in "uif":
        if mask.dtype.kind == "f" and not np.isfinite(mask).all():
            raise MaskError("mask holds NaN or infinite values; expected bool or 0/255")
        bad = (mask != 0) & (mask != 255) & (mask != 1)
        if bad.any():
            vals = np.unique(mask[bad])
            raise MaskError(f"mask must be bool or hold only 0 and 255 (or 0 and 1); got values such as {vals[:8].tolist()}")
        hole = mask > 0
    else:
        raise MaskError(f"mask dtype must be bool or an integer 0/255 array; got {mask.dtype}")
    return image, np.ascontiguousarray(hole)


# --------------------------------------------------------------------------------------------- crops
def _hole_boxes(hole: np.ndarray, min_context: int) -> list[tuple[int, int, int, int]]:
    """Boxes (y0, y1, x0, x1) around each connected group of holes plus context, overlaps merged."""
    from scipy import ndimage

    h, w = hole.shape
    eight = np.ones((3, 3), dtype=bool)
    labels, n = ndimage.label(hole, structure=eight)
    f = 1
    if n > MAX_GROUPS:
        # very many specks: group them on an 8x coarser grid first (any hole in a block), with the
        # context margin as a dilation, so that the box merging below stays cheap
        f = 8
        ph, pw = -(-h // f) * f, -(-w // f) * f
        coarse = np.zeros((ph, pw), dtype=bool)
        coarse[:h, :w] = hole
        coarse = coarse.reshape(ph // f, f, pw // f, f).any(axis=(1, 3))
        coarse = ndimage.binary_dilation(coarse, iterations=max(1, min_context // f))
        labels, n = ndimage.label(coarse, structure=eight)
    boxes = []
    for sl in ndimage.find_objects(labels):
        if sl is None:
            continue
        y0, y1, x0, x1 = sl[0].start * f, min(h, sl[0].stop * f), sl[1].start * f, min(w, sl[1].stop * f)
        m = max(min_context, (max(y1 - y0, x1 - x0) + 1) // 2)
        boxes.append([max(0, y0 - m), min(h, y1 + m), max(0, x0 - m), min(w, x1 + m)])
    # merge overlapping boxes until stable
    changed = True
    while changed and len(boxes) > 1:
        changed = False
        boxes.sort()
        out: list[list[int]] = []
        for b in boxes:
            for o in out:
                if b[0] < o[1] and o[0] < b[1] and b[2] < o[3] and o[2] < b[3]:
                    o[0], o[1], o[2], o[3] = min(o[0], b[0]), max(o[1], b[1]), min(o[2], b[2]), max(o[3], b[3])
                    changed = True
                    break
            else:
                out.append(b)
        boxes = out
    return [tuple(b) for b in boxes]


def _to_unit(crop: np.ndarray) -> np.ndarray:
    """Any supported dtype -> float32 (integers scaled to [0, 1])."""
    if crop.dtype == np.uint8:
        return crop.astype(np.float32) / 255.0
    if crop.dtype == np.uint16:
        return crop.astype(np.float32) / 65535.0
    return crop.astype(np.float32)


def _from_unit(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint8:
        return (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if dtype == np.uint16:
        return (np.clip(values, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    return values.astype(dtype)


class _Crop:
    __slots__ = ("box", "hole", "disp", "scale", "exposure", "work_img", "work_hole", "result", "base_full",
                 "reference", "smooth_residual", "narrow")

    def __init__(self, box, hole, disp, exposure):
        self.box, self.hole, self.disp, self.exposure = box, hole, disp, exposure
        self.scale = 1.0
        self.work_img = self.work_hole = self.result = self.base_full = self.reference = None
        self.smooth_residual = self.narrow = None


def _prepare(image: np.ndarray, hole: np.ndarray, box, space: str) -> _Crop:
    from .colour import srgb_encode

    y0, y1, x0, x1 = box
    crop = _to_unit(image[y0:y1, x0:x1])
    ch = hole[y0:y1, x0:x1]
    exposure = 1.0
    if space == "linear":
        known = crop[~ch]
        if known.size:
            exposure = float(max(1.0, np.quantile(known.max(axis=1), 0.99)))
        disp = srgb_encode(crop / exposure)
    else:
        disp = np.clip(crop, 0.0, 1.0)
    return _Crop(box, ch, disp, exposure)


def _working_scale(hole: np.ndarray) -> float:
    from scipy import ndimage

    h, w = hole.shape
    step = max(1, int(max(h, w) // 1024))  # estimate the hole thickness on a subsampled mask for huge crops
    sub = hole[::step, ::step]
    radius = float(ndimage.distance_transform_edt(sub).max()) * step
    s = 1.0
    if radius > TARGET_RADIUS:
        s = TARGET_RADIUS / radius
    s = min(s, WORK_MAX / max(h, w))
    return min(1.0, s)


def _downscale_crop(t, hole_t, size):
    """Antialiased downscale of a (1, C, H, W) image and its (1, 1, H, W) hole mask to ``size``; a
    working pixel is a hole if any of its sources is."""
    import torch.nn.functional as F

    h, w = t.shape[-2:]
    wh, ww = size
    img = F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False)
    m = (F.adaptive_max_pool2d(hole_t, size) > 0).float() if (h % wh == 0 and w % ww == 0) else (
        F.interpolate(hole_t, size=size, mode="bilinear", antialias=True, align_corners=False) > 1e-3).float()
    return img, m


def _exemplar_crop(disp: np.ndarray, hole: np.ndarray, **options) -> np.ndarray:
    """Exemplar fill of a crop, (H, W, 3) float32; crops larger than :data:`EXEMPLAR_MAX` are filled
    at a reduced scale and the fill upscaled (bilinear) into the holes. ``options``: those of
    :func:`completion.exemplar.exemplar_fill` (a generator's ``EXEMPLAR_OPTIONS``)."""
    from .exemplar import exemplar_fill

    h, w = hole.shape
    if max(h, w) <= EXEMPLAR_MAX:
        return exemplar_fill(disp, hole, **options)
    import torch
    import torch.nn.functional as F

    s = EXEMPLAR_MAX / max(h, w)
    size = (max(4, round(h * s)), max(4, round(w * s)))
    t, m = _downscale_crop(torch.from_numpy(np.ascontiguousarray(disp.transpose(2, 0, 1)))[None],
                           torch.from_numpy(hole.astype(np.float32))[None, None], size)
    small = exemplar_fill(t[0].numpy().transpose(1, 2, 0), m[0, 0].numpy() > 0, **options)
    up = F.interpolate(torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1)))[None], size=(h, w),
                       mode="bilinear", align_corners=False)[0].numpy().transpose(1, 2, 0)
    out = disp.copy()
    out[hole] = up[hole]
    return out


def _run_exemplar(crops: list[_Crop]) -> None:
    for c in crops:
        c.result = np.clip(_exemplar_crop(c.disp, c.hole), 0.0, 1.0)


def _run_gan(crops: list[_Crop], device: str, weights, threads: int) -> None:
    import torch

    previous = torch.get_num_threads()
    # a fixed intra-op thread count: float reductions (and so the last bit of the output) depend on
    # it, so the result must not depend on how many threads the calling process happens to have
    torch.set_num_threads(threads)
    try:
        _run_gan_threads(crops, device, weights)
    finally:
        torch.set_num_threads(previous)


def _run_gan_threads(crops: list[_Crop], device: str, weights) -> None:
    import torch
    import torch.nn.functional as F

    from .model import pull_push_fill
    from .weights import load_generator

    model = load_generator(weights, device=device)
    from .model import EXEMPLAR_OPTIONS

    options = EXEMPLAR_OPTIONS.get(str(model.config.get("base_fill")))
    exemplar = options is not None  # the generator refines an exemplar fill (made here, per crop)
    dev = torch.device(device)
    groups: dict[tuple[int, int], list[tuple[_Crop, int, int]]] = {}
    for c in crops:
        h, w = c.hole.shape
        s = _working_scale(c.hole)
        wh, ww = max(4, round(h * s)), max(4, round(w * s))
        c.scale = s
        if exemplar:
            narrow = _narrow_weight(c.hole)
            c.narrow = narrow if narrow[c.hole].max() > 0 else None
        # the full-resolution coarse fill: its known pixels are the crop's
        full = _exemplar_crop(c.disp, c.hole, **options) if options is not None else c.disp
        c.base_full = torch.from_numpy(np.ascontiguousarray(full.transpose(2, 0, 1)))[None]
        img = c.base_full
        m = torch.from_numpy(c.hole.astype(np.float32))[None, None]
        if (wh, ww) != (h, w):
            img, m = _downscale_crop(img, m, (wh, ww))
        if float(m.mean()) >= 1.0:  # downscaling swallowed every known pixel: work at full size
            img = c.base_full
            m = torch.from_numpy(c.hole.astype(np.float32))[None, None]
            wh, ww, c.scale = h, w, 1.0
        c.work_img, c.work_hole = img, m
        ph, pw = -(-wh // PAD_MULTIPLE) * PAD_MULTIPLE, -(-ww // PAD_MULTIPLE) * PAD_MULTIPLE
        groups.setdefault((ph, pw), []).append((c, wh, ww))

    with torch.inference_mode():
        for (ph, pw), items in groups.items():
            for i in range(0, len(items), MAX_BATCH):
                chunk = items[i : i + MAX_BATCH]
                imgs, masks, bases = [], [], []
                for c, wh, ww in chunk:
                    pad = (0, pw - ww, 0, ph - wh)
                    # reflect where the crop is big enough, else replicate; the mask is padded the same
                    # way so that reflected holes stay holes
                    mode = "reflect" if (pw - ww < ww and ph - wh < wh) else "replicate"
                    imgs.append(F.pad(c.work_img * (1 - c.work_hole), pad, mode=mode))
                    masks.append(F.pad(c.work_hole, pad, mode=mode))
                    bases.append(F.pad(c.work_img, pad, mode=mode))
                x = torch.cat(imgs).to(dev)
                m = torch.cat(masks).to(dev)
                # an exemplar generator refines the fill made above (at full resolution, then scaled
                # like the crop); a pull-push one computes its own at the working scale
                base, residual = model.fill_and_residual(x, m, base=torch.cat(bases).to(dev) if exemplar else None)
                residual = residual.float().cpu()
                out = base.float().cpu() + residual
                smooth_residual = None
                if exemplar and any(c.narrow is not None for c, _, _ in chunk):
                    # the same network on the smooth pull-push start: its residual continues edges
                    # into narrow holes and is added to their colour reference (SMOOTH_REFERENCE_RADII)
                    _, smooth_residual = model.fill_and_residual(x, m, base=pull_push_fill(x, 1.0 - m))
                    smooth_residual = smooth_residual.float().cpu()
                for j, (c, wh, ww) in enumerate(chunk):
                    # a downscaled crop keeps only what the network added to its coarse fill
                    c.result = (out if c.scale == 1.0 and not exemplar else residual)[j : j + 1, :, :wh, :ww]
                    if smooth_residual is not None and c.narrow is not None:
                        c.smooth_residual = smooth_residual[j : j + 1, :, :wh, :ww]

    for c in crops:
        h, w = c.hole.shape
        res = c.result
        if exemplar:
            # the network's residual (upscaled when the crop was downscaled) is added to the
            # full-resolution exemplar fill, whose copied texture is never resampled
            if c.scale != 1.0:
                res = F.interpolate(res, size=(h, w), mode="bilinear", align_corners=False)
            res = c.base_full + res
        elif c.scale != 1.0:
            # downscaled crop: the network's upscaled residual is added to the pull-push fill at full
            # resolution (which continues the full-resolution border exactly)
            known = torch.from_numpy((~c.hole).astype(np.float32))[None, None]
            res = pull_push_fill(c.base_full, known) + F.interpolate(res, size=(h, w), mode="bilinear",
                                                                     align_corners=False)
        if c.reference is None:
            from .exemplar import pull_push

            c.reference = pull_push(c.disp, ~c.hole)
        reference = c.reference
        if c.smooth_residual is not None:
            sr = c.smooth_residual
            if c.scale != 1.0:
                sr = F.interpolate(sr, size=(h, w), mode="bilinear", align_corners=False)
            reference = np.clip(reference + c.narrow[..., None] * sr[0].numpy().transpose(1, 2, 0), 0.0, 1.0)
        c.result = _harmonise_colour(res.clamp(0.0, 1.0)[0].numpy().transpose(1, 2, 0), reference, c.hole)
        c.base_full = c.reference = c.smooth_residual = c.narrow = None


def _reference_fill(image: np.ndarray, hole: np.ndarray, crop: _Crop, space: str) -> np.ndarray:
    """The pull-push fill of ``crop``'s holes, computed on the crop grown by its own size on every side
    (within the frame) and cut back to the crop, in the crop's display encoding: (h, w, 3) float32.
    The wider context matters: a crop's margin can end right below a large hole, and the pull-push
    average of the crop alone then loses the colour beyond it (Kodak kodim03, object mask: in-hole
    chroma error 12.1 with the crop alone, 9.5 with the grown crop)."""
    from .colour import srgb_encode
    from .exemplar import pull_push

    y0, y1, x0, x1 = crop.box
    h, w = hole.shape
    gy0, gy1, gx0, gx1 = max(0, 2 * y0 - y1), min(h, 2 * y1 - y0), max(0, 2 * x0 - x1), min(w, 2 * x1 - x0)
    big = _to_unit(image[gy0:gy1, gx0:gx1])
    big = srgb_encode(big / crop.exposure) if space == "linear" else np.clip(big, 0.0, 1.0)
    filled = pull_push(big, ~hole[gy0:gy1, gx0:gx1])
    return filled[y0 - gy0 : y1 - gy0, x0 - gx0 : x1 - gx0]


def _harmonise_colour(fill: np.ndarray, reference: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The GAN's fill with the low-frequency chroma and luminance of a smooth pull-push fill
    (:func:`completion.harmonise.harmonise_low_frequencies`, sigmas :data:`HARMONISE_CHROMA_SIGMA` /
    :data:`HARMONISE_LUMA_SIGMA`) ``reference`` (H, W, 3) float32, clipped to [0, 1]."""
    from .harmonise import harmonise_low_frequencies

    out = harmonise_low_frequencies(fill, reference, hole, sigma=HARMONISE_CHROMA_SIGMA,
                                    luma_sigma=HARMONISE_LUMA_SIGMA, chroma_weight=1.0, luma_weight=1.0)
    return np.clip(out, 0.0, 1.0)


def _run_biharmonic(crops: list[_Crop], space: str, image: np.ndarray) -> None:
    from skimage.restoration import inpaint_biharmonic

    for c in crops:
        y0, y1, x0, x1 = c.box
        if space == "linear":
            src = _to_unit(image[y0:y1, x0:x1])
            c.exposure = 1.0
            c.result = inpaint_biharmonic(src, c.hole, channel_axis=-1).astype(np.float32)
            c.disp = None
        else:
            c.result = np.clip(inpaint_biharmonic(c.disp, c.hole, channel_axis=-1), 0.0, 1.0).astype(np.float32)


def _hole_groups(hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels of the 8-connected hole groups (0 = known) and each label's pixel count."""
    from scipy import ndimage

    labels, n = ndimage.label(hole, structure=np.ones((3, 3), bool))
    return labels, np.bincount(labels.ravel(), minlength=n + 1)


def _small_groups(hole: np.ndarray, max_pixels: int) -> np.ndarray:
    """Bool mask of the 8-connected hole groups of at most ``max_pixels`` pixels."""
    labels, sizes = _hole_groups(hole)
    small = sizes <= max_pixels
    small[0] = False
    return small[labels]


def methods_for(mask: np.ndarray, method: Method = "gan") -> dict[str, int]:
    """Which method :func:`inpaint` fills the hole groups of ``mask`` with, given ``method``.

    The rule of ``method="auto"`` lives here and in :func:`inpaint` only: 8-connected groups of at
    most :data:`AUTO_SMALL_GROUP_PIXELS` pixels go to ``"biharmonic"``, larger ones to ``"gan"``.

    Parameters
    ----------
    mask : ndarray, (H, W)
        bool (True = hole), as for :func:`inpaint`.
    method : {"gan", "exemplar", "biharmonic", "auto"}

    Returns
    -------
    dict of str to int
        Number of 8-connected hole groups per method that runs (methods with none left out);
        empty for an empty mask.
    """
    if method not in METHODS:
        raise CompletionError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    _, sizes = _hole_groups(np.asarray(mask).astype(bool, copy=False))
    n = sizes.size - 1
    if method != "auto":
        return {method: n} if n else {}
    small = int(np.count_nonzero(sizes[1:] <= AUTO_SMALL_GROUP_PIXELS))
    return {name: k for name, k in (("gan", n - small), ("biharmonic", small)) if k}


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise CompletionError(f"device={device!r} was asked for but CUDA is not available; use device='auto' or 'cpu'")
    if device != "cpu" and not device.startswith("cuda"):
        raise CompletionError(f"device must be 'auto', 'cpu' or 'cuda[:N]'; got {device!r}")
    return device


def inpaint(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    space: Space = "display",
    device: str = "auto",
    method: Method = "gan",
    weights: str | None = None,
    threads: int = DEFAULT_THREADS,
) -> np.ndarray:
    """Fill the holes of an image.

    Parameters
    ----------
    image : ndarray, (H, W, 3)
        float32 display-referred in [0, 1] (``space="display"``), or scene-linear float32, unclipped
        (``space="linear"``); or uint8 / uint16 (full range). float16/float64 are accepted too.
    mask : ndarray, (H, W)
        bool, or integers holding only 0 and 255 (or 0 and 1); True / nonzero = hole.
    space : {"display", "linear"}
        ``"linear"``: the network sees an sRGB-encoded, per-crop exposure-normalised version and its
        output is decoded back, so values above 1 survive outside the holes and the fill keeps the
        brightness of its surroundings.
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    method : {"gan", "exemplar", "biharmonic", "auto"}
        The shipped FFC-GAN generator (which refines the exemplar fill), the exemplar fill alone
        (multi-scale PatchMatch, :mod:`completion.exemplar`), scikit-image's biharmonic inpainting,
        or ``"auto"``: biharmonic for hole groups of at most :data:`AUTO_SMALL_GROUP_PIXELS` pixels
        (where it measures better), the GAN for larger ones.
    weights : path-like, optional
        Another ``generator.pt`` exported by ``completion.train`` (default: the shipped weights).
    threads : int
        torch intra-op threads for the GAN while this call runs (the caller's setting is restored
        afterwards). The output is a pure function of the inputs and this number: it does not depend
        on the process's own thread settings (``--jobs``). Default 1: fast enough for the targets and
        no collapse when other processes load the CPU (OpenMP threads spinning on busy cores).

    Returns
    -------
    ndarray, same shape and dtype as ``image``: known pixels bit-identical, holes filled.
    An empty mask returns a copy of the input.

    Raises
    ------
    ImageError
        Wrong shape or dtype, NaN / infinite values.
    MaskError
        Wrong shape or values, or a mask that covers the whole image.
    WeightsError
        Missing weights or a sha256 mismatch.
    CompletionError
        Unknown ``space`` / ``method`` / ``device``.
    """
    if space not in ("display", "linear"):
        raise CompletionError(f"space must be 'display' or 'linear'; got {space!r}")
    if method not in METHODS:
        raise CompletionError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise CompletionError(f"threads must be a positive integer; got {threads!r}")
    if not isinstance(device, str):
        raise CompletionError(f"device must be a string ('auto', 'cpu', 'cuda'); got {type(device).__name__}")
    image, hole = _validate(image, mask)
    n_hole = int(np.count_nonzero(hole))
    if n_hole == 0:
        log.info("empty mask: returning the input unchanged")
        return image.copy()
    if n_hole == hole.size:
        raise MaskError(f"mask covers the whole {hole.shape[0]}x{hole.shape[1]} image; at least one known pixel is needed")

    if method == "auto":
        small = _small_groups(hole, AUTO_SMALL_GROUP_PIXELS)
        if not np.any(hole & ~small):
            return inpaint(image, hole, space=space, device=device, method="biharmonic")
        # the GAN fills the large groups together with the small ones that share their crops (so that
        # a small hole next to a large one is context, not a known pixel, for the network); then every
        # small group is (re)filled with the biharmonic method from that context. Small groups far
        # from any large one never cost a GAN crop (a 12 MP frame with dust is mostly those).
        near_large = np.zeros_like(hole)
        for y0, y1, x0, x1 in _hole_boxes(hole & ~small, MIN_CONTEXT):
            near_large[y0:y1, x0:x1] = True
        out = inpaint(image, hole & near_large, space=space, device=device, method="gan", weights=weights,
                      threads=threads)
        if small.any():
            out = inpaint(out, small, space=space, device=device, method="biharmonic")
        return out

    boxes = _hole_boxes(hole, MIN_CONTEXT if method in ("gan", "exemplar") else 4)
    crops = [_prepare(image, hole, b, space) for b in boxes]
    log.debug("inpaint: %d hole pixels in %d crop(s), method %s", n_hole, len(crops), method)
    if method == "gan":
        for c in crops:
            c.reference = _reference_fill(image, hole, c, space)
        _run_gan(crops, _resolve_device(device), weights, int(threads))
    elif method == "exemplar":
        _run_exemplar(crops)
    else:
        _run_biharmonic(crops, space, image)

    from .colour import srgb_decode

    out = image.copy()
    for c in crops:
        y0, y1, x0, x1 = c.box
        vals = c.result[c.hole]
        if space == "linear" and c.disp is not None:
            vals = srgb_decode(vals) * c.exposure
        if image.dtype.kind == "f":
            if space == "display":
                vals = np.clip(vals, 0.0, 1.0)
            out[y0:y1, x0:x1][c.hole] = vals.astype(image.dtype)
        else:
            out[y0:y1, x0:x1][c.hole] = _from_unit(vals, image.dtype)
    return out
