"""Exemplar fill: multi-scale PatchMatch / expectation-maximisation completion (Wexler et al. 2007,
"Space-time completion of video"; Barnes et al. 2009, "PatchMatch").

The hole is filled with texture copied from the known part of the same image: at each level of an
image pyramid (coarse to fine), every target patch (7 x 7, each one touching the hole) is matched to
its most similar fully-known source patch with PatchMatch, and each hole pixel becomes the
similarity-weighted mean of what the overlapping matches put there (the EM "vote"). The coarsest
level starts from a smooth pull-push fill, so that large structure is settled where the hole is only
a few pixels wide; each finer level starts from the coarser level's field of matches (upscaled), so
texture is copied at full resolution rather than interpolated. Optionally (``exemplar_fill(...,
texture_weight=, sharp=)``) patches are also compared on two texture features, so that smooth
sources are not copied into textured holes, and the finest level ends with a direct copy of each
pixel's match (no averaging, so the texture keeps its sharpness).

This is the generator's coarse fill (its input and the base its output is added to, see
:class:`completion.model.FFCGenerator`) and available alone as ``inpaint(..., method="exemplar")``.
Kernels are in :mod:`completion._exemplar_kernels`. numpy / scipy / Numba only, no torch.
"""

from __future__ import annotations

import numpy as np

from . import _exemplar_kernels as K

PATCH_RADIUS = 3  # 7 x 7 patches
#: The pyramid is made deep enough that the widest hole half-width at its coarsest level is at most
#: this many pixels (there the hole is settled from the pull-push start), as long as the coarsest
#: level keeps at least ``MIN_SIDE`` px on its shorter side.
COARSE_HOLE_RADIUS = 4.0
MIN_SIDE = 24
#: EM iterations (match + vote) per level and PatchMatch sweeps per EM iteration, finest level last.
EM_COARSE, EM_FINE = 5, 2
PM_SWEEPS = 2
#: Vote weights ``exp(-d / (2 sigma^2))`` with sigma^2 this percentile of the level's patch distances.
SIGMA_PERCENTILE = 75
#: Sources are searched within ``max(WINDOW_MIN, WINDOW_FACTOR x hole half-width)`` px of each
#: target (half-width of the target's connected hole group at that level): the texture that belongs
#: in a hole is mostly near it, and a global search lets one dominant texture flood thin holes
#: across unrelated regions (seen: a red hat's mesh drawn into hair and skin) and duplicates distant
#: objects into large ones.
WINDOW_FACTOR = 3.0
#: Low frequencies (Gaussian sigma, px) of the copied texture replaced by the pull-push fill's (0 = off).
HARMONISE_SIGMA = 4.0
HARMONISE_DEPTH = 24.0
WINDOW_MIN = 12


def pull_push(img: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Smooth multi-scale normalised-average fill (the same scheme as :func:`completion.model.pull_push_fill`;
    odd-sized levels are padded differently, so the two differ in detail).

    Parameters
    ----------
    img : ndarray, (H, W, C) float32
    known : ndarray, (H, W) bool, True = known pixel (at least one).

    Returns
    -------
    ndarray, (H, W, C) float32: ``img`` where known, a smooth fill elsewhere.
    """
    w0 = known.astype(np.float32)
    xs, ws = [img * w0[..., None]], [w0]
    while min(xs[-1].shape[:2]) > 1:
        x, w = xs[-1], ws[-1]
        h2, w2 = -(-x.shape[0] // 2) * 2, -(-x.shape[1] // 2) * 2
        xp = np.zeros((h2, w2, x.shape[2]), np.float32)
        wp = np.zeros((h2, w2), np.float32)
        xp[: x.shape[0], : x.shape[1]], wp[: w.shape[0], : w.shape[1]] = x, w
        xs.append(xp.reshape(h2 // 2, 2, w2 // 2, 2, -1).mean(axis=(1, 3)))
        ws.append(wp.reshape(h2 // 2, 2, w2 // 2, 2).mean(axis=(1, 3)))
    fill = xs[-1] / np.maximum(ws[-1], 1e-8)[..., None]
    for lvl in range(len(xs) - 2, -1, -1):
        x, w = xs[lvl], ws[lvl]
        up = _upsample2(fill, x.shape[:2])
        conf = np.clip(w * 4.0, 0.0, 1.0) if lvl > 0 else np.clip(w, 0.0, 1.0)
        fill = conf[..., None] * (x / np.maximum(w, 1e-8)[..., None]) + (1.0 - conf[..., None]) * up
    out = img.copy()
    out[~known] = fill[~known]
    return out.astype(np.float32)


def _upsample2(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of (h, w, C) to ``shape`` (at most twice the size; half-pixel centres, edge
    clamped), as ``torch.nn.functional.interpolate(..., mode="bilinear", align_corners=False)``."""
    out = x
    for axis, n in ((0, shape[0]), (1, shape[1])):
        m = out.shape[axis]
        pos = np.clip((np.arange(n) + 0.5) * (m / n) - 0.5, 0.0, m - 1)
        i0 = np.floor(pos).astype(np.int64)
        i1 = np.minimum(i0 + 1, m - 1)
        f = (pos - i0).astype(np.float32)
        f = f.reshape((-1, 1, 1) if axis == 0 else (1, -1, 1))
        out = np.take(out, i0, axis=axis) * (1 - f) + np.take(out, i1, axis=axis) * f
    return out.astype(np.float32)


def _downscale(img: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x box downscale of the known pixels; a coarse pixel is a hole if any of its children is."""
    h, w = hole.shape
    h2, w2 = -(-h // 2) * 2, -(-w // 2) * 2
    known = np.zeros((h2, w2), np.float32)
    known[:h, :w] = ~hole
    x = np.zeros((h2, w2, img.shape[2]), np.float32)
    x[:h, :w] = img * known[:h, :w, None]
    if h2 > h:  # odd size: the extra row / column repeats the last one
        x[h], known[h] = x[h - 1], known[h - 1]
    if w2 > w:
        x[:, w], known[:, w] = x[:, w - 1], known[:, w - 1]
    ks = known.reshape(h2 // 2, 2, w2 // 2, 2).sum(axis=(1, 3))
    xs = x.reshape(h2 // 2, 2, w2 // 2, 2, -1).sum(axis=(1, 3))
    coarse = (xs / np.maximum(ks, 1.0)[..., None]).astype(np.float32)
    return coarse, ks < 4


def _sources(hole: np.ndarray, r: int) -> np.ndarray:
    """Centres whose (2r+1)^2 patch is inside the image and holds no hole pixel."""
    from scipy import ndimage

    h, w = hole.shape
    valid = np.zeros((h, w), bool)
    if h <= 2 * r or w <= 2 * r:
        return valid
    near_hole = ndimage.maximum_filter(hole, size=2 * r + 1, mode="constant", cval=False)
    valid[r : h - r, r : w - r] = ~near_hole[r : h - r, r : w - r]
    return valid


def _windows(target: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """int32 (H, W): the search half-window of every target centre, from the largest hole half-width
    of its connected group of targets."""
    from scipy import ndimage

    labels, n = ndimage.label(target, structure=np.ones((3, 3), bool))
    edt = ndimage.distance_transform_edt(hole)
    radius = np.asarray(ndimage.maximum(edt, labels, np.arange(1, n + 1)), np.float64).reshape(-1)
    per_group = np.maximum(WINDOW_MIN, np.ceil(WINDOW_FACTOR * radius)).astype(np.int32)
    return np.concatenate([[0], per_group]).astype(np.int32)[labels]


def _levels(hole: np.ndarray) -> int:
    from scipy import ndimage

    radius = float(ndimage.distance_transform_edt(hole).max())
    n, side = 0, min(hole.shape)
    while radius / 2**n > COARSE_HOLE_RADIUS and side / 2 ** (n + 1) >= MIN_SIDE:
        n += 1
    return n


def exemplar_fill(image: np.ndarray, hole: np.ndarray, *, seed: int = 0, sharp: bool = False,
                  texture_weight: float = 0.0) -> np.ndarray:
    """Fill the holes of ``image`` with texture copied from its known part (multi-scale PatchMatch EM).

    Parameters
    ----------
    image : ndarray, (H, W, 3) float32
        Display-referred values (any range; patch distances are plain squared differences).
    hole : ndarray, (H, W) bool
        True = to be filled; at least one pixel must be known.
    seed : int
        Seed of the random initialisation and search (the result is a pure function of the inputs).
    sharp : bool
        End the finest level with every hole pixel copying the centre pixel of its own patch's match
        instead of the vote's weighted mean of the overlapping matches (which blurs the texture).
    texture_weight : float >= 0
        Weight of two texture features (mean absolute luminance gradients over the patch window,
        Newson et al. 2014) appended to RGB in the patch distance; 0 = colour only.

    Both are off for the shipped model, which was trained on the default fill. Kodak, first 4
    images, in-hole SWD / texture ratio of this fill alone: default: object 26.0 / 0.43, thick 17.0 /
    0.42, thin 16.3; ``sharp``: 26.1 / 0.50, 16.4 / 0.47, 13.8; ``sharp`` and ``texture_weight`` 5:
    24.9 / 0.60, 14.8 / 0.55, 12.4 (2: 25.0 / 0.62, 15.7 / 0.50; 10: 26.9 / 0.61, 14.9 / 0.56). As the
    generator's start (shipped weights, not retrained) they lowered its output's SWD (object 28.1
    -> 26.1, thick 17.3 -> 15.4) and raised its texture ratio to 0.57-0.60, but the output then no
    longer beat this sharper fill on SWD, and dust holes lost PSNR (kodim01 21.6 -> 20.3 dB).

    Returns
    -------
    ndarray, (H, W, 3) float32: known pixels equal to ``image`` bit for bit; holes filled. When no
    7 x 7 patch of the image is entirely known (tiny or almost fully masked images), the smooth
    :func:`pull_push` fill is returned.

    Raises
    ------
    CompletionError
        A negative ``texture_weight``.
    """
    from scipy import ndimage

    rgb = np.ascontiguousarray(image, dtype=np.float32)
    hole = np.ascontiguousarray(hole, dtype=bool)
    r = PATCH_RADIUS
    if not hole.any():
        return rgb.copy()
    if not texture_weight >= 0:
        from .errors import CompletionError

        raise CompletionError(f"exemplar_fill: texture_weight must be >= 0; got {texture_weight}")
    img = _with_texture_features(rgb, hole, r, texture_weight) if texture_weight > 0 else rgb
    # pyramid, finest first; drop coarse levels that have no complete source patch
    pyr = [(img, hole)]
    for _ in range(_levels(hole)):
        nxt = _downscale(*pyr[-1])
        if not _sources(nxt[1], r).any() or nxt[1].all():
            break
        pyr.append(nxt)
    if not _sources(hole, r).any():
        return pull_push(rgb, ~hole)

    square = np.ones((2 * r + 1, 2 * r + 1), bool)
    cur = None
    prev_field = None
    n_levels = len(pyr)
    for li in range(n_levels - 1, -1, -1):
        limg, lhole = pyr[li]
        valid = _sources(lhole, r)
        vys, vxs = (a.astype(np.int32) for a in np.nonzero(valid))
        target = ndimage.binary_dilation(lhole, structure=square)
        tys, txs = (a.astype(np.int32) for a in np.nonzero(target))
        win = _windows(target, lhole)
        h, w = lhole.shape
        est = limg.copy()
        ones = np.ones((h, w), np.float32)
        wt = ones
        if cur is None:
            # coarsest level: the first matches see only the known pixels of each patch (a smooth
            # start would draw every match to the smoothest source region: a flat, foggy fill)
            est[lhole] = pull_push(limg, ~lhole)[lhole]
            wt = (~lhole).astype(np.float32)
        else:
            up = np.repeat(np.repeat(cur, 2, axis=0), 2, axis=1)[:h, :w]
            est[lhole] = up[lhole]
        nn_y = np.zeros((h, w), np.int32)
        nn_x = np.zeros((h, w), np.int32)
        nn_d = np.zeros((h, w), np.float32)
        lseed = seed * 7919 + li
        if prev_field is None:
            K.init_field(est, wt, tys, txs, win, valid, vys, vxs, nn_y, nn_x, nn_d, r, lseed, False)
        else:
            # the upscaled field votes first, so that texture is copied at this level's resolution
            # before any matching (matching against the upscaled, blurred estimate favours smooth
            # sources); its distances are then taken against that sharper estimate
            K.upsample_field(prev_field[0], prev_field[1], tys, txs, win, valid, vys, vxs, nn_y, nn_x, lseed)
            K.init_field(est, wt, tys, txs, win, valid, vys, vxs, nn_y, nn_x, nn_d, r, lseed, True)
            sigma2 = float(np.percentile(nn_d[tys, txs], SIGMA_PERCENTILE)) + 1e-6
            K.vote(est, lhole, tys, txs, nn_y, nn_x, nn_d, r, sigma2, est)
            K.init_field(est, wt, tys, txs, win, valid, vys, vxs, nn_y, nn_x, nn_d, r, lseed, True)
        n_em = EM_FINE if li == 0 else max(EM_FINE, EM_COARSE - (n_levels - 1 - li))
        for it in range(n_em):
            K.patchmatch(est, wt, target, tys, txs, win, valid, nn_y, nn_x, nn_d, r, PM_SWEEPS, lseed * 31 + it)
            sigma2 = float(np.percentile(nn_d[tys, txs], SIGMA_PERCENTILE)) + 1e-6
            K.vote(est, lhole, tys, txs, nn_y, nn_x, nn_d, r, sigma2, est)
            wt = ones
            if it + 1 < n_em:  # distances of the field under the new estimate
                K.init_field(est, wt, tys, txs, win, valid, vys, vxs, nn_y, nn_x, nn_d, r, lseed, True)
        if li == 0 and sharp:
            K.copy_centres(est, lhole, nn_y, nn_x, est)
        cur, prev_field = est, (nn_y, nn_x)
    out = rgb.copy()
    out[hole] = cur[hole][:, :3]
    if HARMONISE_SIGMA > 0:
        out = _harmonise(out, rgb, hole, HARMONISE_SIGMA)
    return out


def _with_texture_features(rgb: np.ndarray, hole: np.ndarray, r: int, weight: float) -> np.ndarray:
    """(H, W, 5) float32: RGB followed by the mean absolute horizontal and vertical luminance
    gradients over each pixel's (2r+1)^2 window of known gradients, times ``weight``
    (Newson et al. 2014, "Video inpainting of complex scenes"). Hole pixels get theirs from the fill
    (the vote), like their colour; known pixels beside the hole average only their known gradients.
    In the pyramid they are averaged like colour, so a coarse level still sees how textured each
    source is at full resolution: matching on colour alone copies smooth sources into textured
    holes (a blurry estimate is nearest to smooth patches)."""
    from scipy import ndimage

    grey = rgb.mean(axis=2)
    known = ~hole
    feats = []
    for axis in (1, 0):
        g = np.abs(np.diff(grey, axis=axis))
        ok = known[:, 1:] & known[:, :-1] if axis == 1 else known[1:] & known[:-1]
        pad = ((0, 0), (0, 1)) if axis == 1 else ((0, 1), (0, 0))
        g, ok = np.pad(g * ok, pad), np.pad(ok, pad).astype(np.float32)
        num = ndimage.uniform_filter(g, 2 * r + 1, mode="reflect")
        den = ndimage.uniform_filter(ok, 2 * r + 1, mode="reflect")
        feats.append(np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0.0) * weight)
    return np.concatenate([rgb, np.stack(feats, axis=-1).astype(np.float32)], axis=-1)


def _harmonise(fill: np.ndarray, img: np.ndarray, hole: np.ndarray, sigma: float) -> np.ndarray:
    """Replace the fill's low frequencies (Gaussian of ``sigma`` px) by the smooth pull-push fill's near
    the hole's border, fading out over :data:`HARMONISE_DEPTH` px: colour and shading there come
    from the border (a copied patch of the right texture but the wrong colour was the main colour
    error, and the main seam), deeper inside the copied patches keep their own colour (the pull-push
    average of a blue sky and yellow foliage is grey)."""
    from scipy import ndimage

    smooth = pull_push(img, ~hole)

    def low(x):
        return np.stack([ndimage.gaussian_filter(x[..., c], sigma, mode="reflect") for c in range(3)], axis=-1)

    depth = ndimage.distance_transform_edt(hole)
    weight = np.clip(1.0 - (depth - 1.0) / HARMONISE_DEPTH, 0.0, 1.0).astype(np.float32)[..., None]
    out = fill.copy()
    out[hole] = (fill + weight * (low(smooth) - low(fill)))[hole]
    return out
