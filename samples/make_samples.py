#!/usr/bin/env python3
"""Generate the synthetic sample DNGs in ``samples/`` and their ground truth.

Run from anywhere: ``python samples/make_samples.py [--out DIR]`` (default: this folder). The output is
deterministic (fixed seeds, no timestamps), so re-running reproduces the committed files byte for byte.

How a sample is made
--------------------
1. **Scene**: a 256 x 384 crop of an image that ships with scikit-image (``skimage.data``:
   astronaut, coffee, chelsea, rocket, immunohistochemistry; sRGB, 8 bit), decoded to linear sRGB
   with the IEC 61966-2-1 curve, or a procedural scene (colour patches, grey ramp, gradients, edges).
2. **Camera**: a DNG ``ColorMatrix1`` (XYZ D65 -> camera, Adobe-style coefficients of two real
   cameras) gives ``cam_rgb = ColorMatrix1 @ sRGB_to_XYZ``. LibRaw (and ``isp``) normalise its rows
   to sum 1 (``cam_norm``) and use ``rgb_cam = inv(cam_norm)`` as the colour matrix.
3. **Illuminant cast**: camera values are ``cast * rowsum(cam_rgb) * (cam_norm @ scene)``, scaled
   so that green's factor is 1; the file's ``AsShotNeutral`` is ``cast * rowsum`` (normalised to
   G = 1), so white balancing by ``1 / AsShotNeutral`` gives back ``cam_norm @ scene``.
4. **Exposure**: the scene is scaled so the brightest camera value is 0.9 of the white level;
   camera values are clipped at 0 (out-of-gamut colours) and the **ground truth** is recomputed
   from the clipped values: ``truth = rgb_cam @ clip(cam_norm @ scene, 0)``, i.e. exactly what an
   ideal ISP (perfect demosaic) returns as ``ISPResult.linear`` with the default config
   (``wb="camera"``, ``color="srgb"``), in output orientation.
5. **Optional degradations** on the normalised mosaic: radial vignetting (lensfun ``pa`` model,
   ``RadialVignetting(k1, k2, k3)``; develop with that model to undo it) and noise (Gaussian
   read + shot noise, plus 0.3 % impulse pixels: hot = white, dead = black).
6. **Mosaic**: ``isp.synthetic.mosaic_from_rgb`` samples the camera RGB through the CFA, levels
   are applied (``raw = black + value * (white - black)``, rounded, clipped to [0, white]) and
   ``isp.synthetic.write_dng`` writes the DNG.

Files, per sample ``NAME``: ``NAME.dng`` and ``NAME_truth.npz`` (``linear``: float16 H x W x 3, the
ground truth above). ``samples.json`` lists every sample with its parameters.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from isp.stages import apply_orientation  # noqa: E402
from isp.synthetic import SRGB_TO_XYZ, mosaic_from_rgb, write_dng  # noqa: E402

H, W = 256, 384

# Adobe DNG-converter style ColorMatrix1 (XYZ -> camera) of two real cameras (dcraw's adobe_coeff)
CAMERAS = {
    "canon_d30": np.array([9900, -2771, -1324, -7072, 14229, 3140, -2790, 3344, 8861]) / 10000.0,
    "nikon_d700": np.array([8139, -2171, -663, -8747, 16541, 2295, -1925, 2008, 8093]) / 10000.0,
}

TIFF_TO_FLIP = {1: 0, 3: 3, 6: 6, 8: 5}

SAMPLES = [
    # name, scene, crop (y, x), cfa, black, white, camera, cast (R, G, B), orientation, extras
    dict(name="scene_rggb", scene="astronaut", crop=(60, 64), cfa="RGGB", black=256,
         white=4095, camera="canon_d30", cast=(1.0, 1.0, 1.0), orientation=1),
    dict(name="scene_bggr", scene="coffee", crop=(72, 108), cfa="BGGR", black=(60, 62, 64, 66),
         white=16383, camera="nikon_d700", cast=(1.0, 1.0, 1.0), orientation=1),
    dict(name="scene_grbg", scene="chelsea", crop=(22, 33), cfa="GRBG", black=0,
         white=1023, camera="canon_d30", cast=(1.0, 1.0, 1.0), orientation=6),
    dict(name="scene_gbrg", scene="rocket", crop=(100, 128), cfa="GBRG", black=512,
         white=65535, camera="nikon_d700", cast=(1.0, 1.0, 1.0), orientation=3),
    dict(name="wb_cast", scene="patches", crop=(0, 0), cfa="RGGB", black=128,
         white=16383, camera="nikon_d700", cast=(1.9, 1.0, 0.45), orientation=1),
    dict(name="vignetted", scene="immunohistochemistry", crop=(128, 64), cfa="GRBG", black=64,
         white=4095, camera="canon_d30", cast=(1.0, 1.0, 1.0), orientation=1,
         vignetting=(-0.45, 0.08, -0.03)),
    dict(name="noisy", scene="astronaut", crop=(200, 100), cfa="BGGR", black=256,
         white=16383, camera="canon_d30", cast=(1.0, 1.0, 1.0), orientation=8,
         noise=dict(read_sigma=0.004, shot_gain=0.0004, impulse_fraction=0.003)),
]


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 decoding, float64 in [0, 1]."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def procedural_patches(h: int, w: int) -> np.ndarray:
    """A colour-checker-like scene: 4 x 6 patches on a graded background, a grey ramp, edges."""
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    bg = np.stack([0.35 + 0.25 * xx, 0.3 + 0.2 * yy, 0.25 + 0.2 * (1 - xx)], axis=-1)
    img = bg.copy()
    # sRGB values of the 24 ColorChecker patches (BabelColor averages), 8 bit
    cc = np.array([
        [115, 82, 68], [194, 150, 130], [98, 122, 157], [87, 108, 67], [133, 128, 177], [103, 189, 170],
        [214, 126, 44], [80, 91, 166], [193, 90, 99], [94, 60, 108], [157, 188, 64], [224, 163, 46],
        [56, 61, 150], [70, 148, 73], [175, 54, 60], [231, 199, 31], [187, 86, 149], [8, 133, 161],
        [243, 243, 242], [200, 200, 200], [160, 160, 160], [122, 122, 121], [85, 85, 85], [52, 52, 52],
    ]) / 255.0
    ph, pw = (h - 64) // 4, w // 6
    for i, col in enumerate(cc):
        r, c = divmod(i, 6)
        y0, x0 = 8 + r * ph, 4 + c * pw
        img[y0 + 4 : y0 + ph - 4, x0 + 4 : x0 + pw - 4] = col
    ramp = np.linspace(0.02, 0.98, w)
    img[h - 48 : h - 24] = ramp[None, :, None]
    stripes = ((np.arange(w) // 3) % 2).astype(float) * 0.6 + 0.2
    img[h - 20 : h - 8] = stripes[None, :, None]
    return img


def load_scene(name: str, crop: tuple[int, int]) -> np.ndarray:
    """Linear sRGB float64 H x W x 3."""
    if name == "patches":
        return srgb_to_linear(procedural_patches(H, W))
    import skimage.data

    img = getattr(skimage.data, name)()[..., :3].astype(np.float64) / 255.0
    y, x = crop
    img = img[y : y + H, x : x + W]
    assert img.shape == (H, W, 3), (name, img.shape)
    return srgb_to_linear(img)


def radial_falloff(h: int, w: int, k: tuple[float, float, float]) -> np.ndarray:
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / (cy**2 + cx**2)
    return 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3


def make_sample(spec: dict, out_dir: Path, rng: np.random.Generator) -> dict:
    scene = load_scene(spec["scene"], spec["crop"])
    cm1 = CAMERAS[spec["camera"]].reshape(3, 3)
    cam_rgb = cm1 @ SRGB_TO_XYZ
    rowsum = cam_rgb.sum(axis=1)
    cam_norm = cam_rgb / rowsum[:, None]
    rgb_cam = np.linalg.inv(cam_norm)
    cast = np.asarray(spec["cast"], dtype=np.float64)
    channel_factor = cast * rowsum / (cast[1] * rowsum[1])  # camera response to white, G = 1
    neutral = channel_factor  # AsShotNeutral

    cam_wb = np.einsum("ij,hwj->hwi", cam_norm, scene)  # white-balanced camera RGB
    cam = cam_wb * channel_factor
    exposure = 0.9 / cam.max()
    cam_wb = np.clip(cam_wb * exposure, 0.0, None)
    cam = cam_wb * channel_factor
    truth = np.einsum("ij,hwj->hwi", rgb_cam, cam_wb)

    mosaic = mosaic_from_rgb(cam, spec["cfa"])
    if "vignetting" in spec:
        mosaic = mosaic * radial_falloff(H, W, spec["vignetting"])
    if "noise" in spec:
        nz = spec["noise"]
        sigma = np.sqrt(nz["read_sigma"] ** 2 + nz["shot_gain"] * np.clip(mosaic, 0, None))
        mosaic = mosaic + rng.normal(size=mosaic.shape) * sigma
        n_imp = int(nz["impulse_fraction"] * mosaic.size)
        idx = rng.choice(mosaic.size, size=n_imp, replace=False)
        mosaic.flat[idx] = np.where(rng.random(n_imp) < 0.5, 1.0, 0.0)

    black = np.broadcast_to(np.asarray(spec["black"], dtype=np.float64), (4,)) if np.ndim(
        spec["black"]
    ) == 0 else np.asarray(spec["black"], dtype=np.float64)
    white = float(spec["white"])
    site_black = np.empty((H, W))
    for dy in range(2):
        for dx in range(2):
            site_black[dy::2, dx::2] = black[2 * dy + dx]
    raw = np.clip(np.round(site_black + mosaic * (white - site_black)), 0, white).astype(np.uint16)

    name = spec["name"]
    write_dng(
        out_dir / f"{name}.dng",
        raw,
        cfa=spec["cfa"],
        black_level=tuple(black) if np.ndim(spec["black"]) else float(spec["black"]),
        white_level=white,
        as_shot_neutral=tuple(neutral),
        color_matrix1=cm1,
        orientation=spec["orientation"],
        make="rawcomplete",
        model=f"synthetic {spec['camera']}",
    )
    flip = TIFF_TO_FLIP[spec["orientation"]]
    truth_out = apply_orientation(truth, flip).astype(np.float16)
    np.savez_compressed(out_dir / f"{name}_truth.npz", linear=truth_out)
    entry = {
        "file": f"{name}.dng",
        "truth": f"{name}_truth.npz",
        "scene": spec["scene"] if spec["scene"] == "patches" else f"skimage.data.{spec['scene']}()",
        "crop_yx": list(spec["crop"]),
        "cfa": spec["cfa"],
        "black_level": list(map(float, black)),
        "white_level": white,
        "camera_color_matrix1": cm1.round(4).tolist(),
        "cast": list(map(float, cast)),
        "as_shot_neutral": [round(float(v), 6) for v in neutral],
        "wb_gains": [round(float(1 / v), 6) for v in neutral],
        "orientation": spec["orientation"],
        "flip": flip,
        "exposure": round(float(exposure), 6),
        "shape_sensor": [H, W],
    }
    if "vignetting" in spec:
        entry["vignetting_k"] = list(spec["vignetting"])
    if "noise" in spec:
        entry["noise"] = spec["noise"]
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: samples/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for i, spec in enumerate(SAMPLES):
        rng = np.random.default_rng(1000 + i)
        manifest[spec["name"]] = make_sample(spec, args.out, rng)
    (args.out / "samples.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
