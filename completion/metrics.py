"""In-hole quality measures of a completion against the truth (evaluation and tests; numpy / scipy /
scikit-image only).

* :func:`hole_swd`: sliced Wasserstein distance between 7 x 7 patch descriptors of Laplacian pyramid
  levels 0-2 of the completion and of the truth, patches centred in the hole (Karras et al. 2018,
  "Progressive growing of GANs"); lower = more realistic texture;
* :func:`texture_ratio`: mean squared gradient inside the hole (eroded 1 px), completion / truth;
  1 = as detailed as reality, 0 = flat (aggregate over images with a geometric mean);
* :func:`chroma_error`: mean CIELAB a*b* distance in the hole after a Gaussian blur of both images
  (colour shift, e.g. a grey fill between blue and yellow, not texture placement);
* :func:`hole_psnr_ssim`: PSNR and mean SSIM over the hole pixels.

Images are (H, W, 3) uint8 or floats in [0, 1]; holes (H, W) bool.
"""

from __future__ import annotations

import numpy as np

SWD_LEVELS = 3
SWD_PATCH = 7
SWD_PROJECTIONS = 128
SWD_MAX_PATCHES = 4096
#: Floor of the per-channel standard deviation the descriptors are normalised by (a flat truth, such
#: as clear sky, would otherwise blow one code value of difference up without bound).
SWD_MIN_STD = 0.01
CHROMA_SIGMA = 3.0


from .inpaint import _to_unit as _float  # uint8 / uint16 / float -> float32 in image units


def _blur_down(x: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    k = np.array([1, 4, 6, 4, 1], np.float32) / 16.0
    x = ndimage.correlate1d(ndimage.correlate1d(x, k, axis=0, mode="reflect"), k, axis=1, mode="reflect")
    return x[::2, ::2]


def _up(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from scipy import ndimage

    up = np.zeros((shape[0], shape[1], x.shape[2]), np.float32)
    up[::2, ::2] = x[: (shape[0] + 1) // 2, : (shape[1] + 1) // 2]
    k = np.array([1, 4, 6, 4, 1], np.float32) / 8.0
    return ndimage.correlate1d(ndimage.correlate1d(up, k, axis=0, mode="reflect"), k, axis=1, mode="reflect")


def laplacian_pyramid(img: np.ndarray, levels: int = SWD_LEVELS) -> list[np.ndarray]:
    """Laplacian pyramid levels 0..levels-1 of an (H, W, 3) float image (5-tap binomial kernel)."""
    out, g = [], img
    for _ in range(levels):
        g2 = _blur_down(g)
        out.append(g - _up(g2, g.shape[:2]))
        g = g2
    return out


def _patches(x: np.ndarray, ys: np.ndarray, xs: np.ndarray, r: int) -> np.ndarray:
    offs = np.arange(-r, r + 1)
    yy = ys[:, None, None] + offs[None, :, None]
    xx = xs[:, None, None] + offs[None, None, :]
    return x[yy, xx].reshape(len(ys), -1)


def hole_swd(pred: np.ndarray, truth: np.ndarray, hole: np.ndarray, *, seed: int = 0) -> float:
    """Sliced Wasserstein distance x 100 between the 7 x 7 patches of Laplacian levels 0-2 centred in
    the hole (the hole max-pooled to each level), mean over levels.

    Descriptors are normalised per channel and level with the truth's mean and standard deviation
    (at least :data:`SWD_MIN_STD`);
    at most :data:`SWD_MAX_PATCHES` patch centres per level (seeded draw, the same for both images),
    :data:`SWD_PROJECTIONS` random unit directions. Returns NaN if the hole has no patch centre at
    least 3 px inside the image.
    """
    rng = np.random.default_rng(seed)
    r = SWD_PATCH // 2
    lp, lt = laplacian_pyramid(_float(pred)), laplacian_pyramid(_float(truth))
    h = hole
    dists = []
    for lvl in range(SWD_LEVELS):
        if lvl:
            hh, ww = lp[lvl].shape[:2]
            pad = np.zeros((hh * 2, ww * 2), bool)
            pad[: h.shape[0], : h.shape[1]] = h
            h = pad.reshape(hh, 2, ww, 2).any(axis=(1, 3))
        inner = np.zeros_like(h)
        inner[r:-r, r:-r] = h[r:-r, r:-r]
        ys, xs = np.nonzero(inner)
        if len(ys) == 0:
            continue
        if len(ys) > SWD_MAX_PATCHES:
            pick = rng.choice(len(ys), SWD_MAX_PATCHES, replace=False)
            ys, xs = ys[pick], xs[pick]
        dp, dt = _patches(lp[lvl], ys, xs, r), _patches(lt[lvl], ys, xs, r)
        dp, dt = dp.reshape(len(ys), -1, 3), dt.reshape(len(ys), -1, 3)
        mu, sd = dt.mean(axis=(0, 1)), np.maximum(dt.std(axis=(0, 1)), SWD_MIN_STD)
        dp, dt = ((dp - mu) / sd).reshape(len(ys), -1), ((dt - mu) / sd).reshape(len(ys), -1)
        dirs = rng.standard_normal((dp.shape[1], SWD_PROJECTIONS)).astype(np.float32)
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        pp, pt = np.sort(dp @ dirs, axis=0), np.sort(dt @ dirs, axis=0)
        dists.append(float(np.abs(pp - pt).mean()))
    return float(np.mean(dists) * 100.0) if dists else float("nan")


def texture_ratio(pred: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    """Mean squared gradient (forward differences, mean over RGB) inside the hole eroded by 1 px,
    completion / truth (NaN when the eroded hole is empty or the truth is flat there)."""
    from scipy import ndimage

    inner = ndimage.binary_erosion(hole, iterations=1)[:-1, :-1]

    def energy(img):
        x = _float(img)
        gy, gx = x[1:, :-1] - x[:-1, :-1], x[:-1, 1:] - x[:-1, :-1]
        return (gy**2 + gx**2).mean(axis=2)[inner].mean() if inner.any() else np.nan

    t = energy(truth)
    return float(energy(pred) / t) if t > 0 else float("nan")


def chroma_error(pred: np.ndarray, truth: np.ndarray, hole: np.ndarray, sigma: float = CHROMA_SIGMA) -> float:
    """Mean CIELAB a*b* distance over the hole between the completion and the truth, both blurred
    with a Gaussian of ``sigma`` px first (so it measures colour, not texture alignment)."""
    from scipy import ndimage
    from skimage.color import rgb2lab

    def ab(img):
        lab = rgb2lab(np.clip(_float(img), 0.0, 1.0))[..., 1:]
        return np.stack([ndimage.gaussian_filter(lab[..., c], sigma) for c in range(2)], axis=-1)

    d = np.linalg.norm(ab(pred) - ab(truth), axis=-1)
    return float(d[hole].mean())


def hole_psnr_ssim(pred: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> tuple[float, float]:
    """PSNR (dB) over the hole pixels and the mean of the SSIM map over them."""
    from skimage.metrics import structural_similarity

    p, g = _float(pred).astype(np.float64), _float(truth).astype(np.float64)
    mse = float(np.mean((p[hole] - g[hole]) ** 2))
    _, smap = structural_similarity(g, p, channel_axis=-1, data_range=1.0, full=True)
    return float(10 * np.log10(1.0 / max(mse, 1e-12))), float(smap[hole].mean())
