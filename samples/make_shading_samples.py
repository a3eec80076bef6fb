"""Write the synthetic lens-shading DNGs ``samples/shading_*.dng`` (small, deterministic).

Each file is a scene with a known falloff baked into the raw data and the DNG opcodes that undo it,
so ``isp.develop(path)`` (``vignetting="auto"``) must give the scene back and
``vignetting="off"`` must leave the falloff in place:

* ``shading_gainmap_1plane.dng`` -- flat grey field, luminance falloff, one GainMap in OpcodeList2
  (plane 0, pitch 1, 13 x 17 points).
* ``shading_gainmap_4plane.dng`` -- flat grey field, a different falloff per colour (red falls off
  most: the cyan-cornered tint of phone lenses), four per-Bayer-site GainMaps in OpcodeList2
  (area offset by the site, RowPitch = ColPitch = 2), as phones and drones write them.
* ``shading_vignette_radial.dng`` -- flat grey field, radial falloff ``1 / g(r)`` in the scene,
  a FixVignetteRadial in OpcodeList3 with ``g(r) = 1 + k0 r^2 + ... + k4 r^10``.
* ``shading_scene_4plane.dng`` -- a natural photograph (scikit-image's bundled "astronaut",
  linearised) with the four-plane falloff and its GainMaps.

Usage::

    python samples/make_shading_samples.py [OUT_DIR]     # default: the folder of this script

The functions are importable (tests and ``benchmarks/bench_shading.py`` use them) and every
falloff is an analytic function of the relative position ``((y + 0.5) / H, (x + 0.5) / W)``, the
coordinates the DNG GainMap opcode uses, so ground truth is known exactly.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

try:
    import isp  # noqa: F401
except ImportError:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from isp.opcodes import FixVignetteRadial, GainMap, encode_opcode_list  # noqa: E402
from isp.synthetic import cfa_channels, mosaic_from_rgb, write_dng  # noqa: E402

#: Raw levels of the synthetic camera (14-bit, black 512).
BLACK = 512
WHITE = 16383
#: Camera response to the scene white (R, G, B): white-balance gains are its reciprocal.
AS_SHOT_NEUTRAL = (0.55, 1.0, 0.72)
#: Falloff strength per channel (R, G, B) of the tinted lens: the corner keeps 1 / (1 + s)^2.
TINT_STRENGTH = (0.95, 0.6, 0.5)
#: Falloff strength of the neutral lens (all channels).
NEUTRAL_STRENGTH = 0.7
#: FixVignetteRadial coefficients used by the radial sample (a gain of 2.0 in the far corner).
RADIAL_K = (0.6, 0.25, 0.1, 0.05, 0.0)
#: Optical centre (cx, cy) of the radial sample, off-centre on purpose.
RADIAL_CENTRE = (0.47, 0.53)

SAMPLE_NAMES = (
    "shading_gainmap_1plane.dng",
    "shading_gainmap_4plane.dng",
    "shading_vignette_radial.dng",
    "shading_scene_4plane.dng",
)


def relative_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative coordinates of the pixel centres, ``v = (y + 0.5) / H`` and ``u = (x + 0.5) / W``."""
    v = (np.arange(height, dtype=np.float64) + 0.5) / height
    u = (np.arange(width, dtype=np.float64) + 0.5) / width
    return np.meshgrid(v, u, indexing="ij")


def lens_falloff(v: np.ndarray, u: np.ndarray, strength: float, *, aspect: float) -> np.ndarray:
    """Smooth lens falloff ``1 / (1 + s r^2)^2`` at relative positions (v, u).

    ``r`` is the distance from the image centre in pixel units divided by the half diagonal, so
    it is 1 in the corners; ``aspect`` is ``W / H``.
    """
    dy = v - 0.5
    dx = (u - 0.5) * aspect
    r2 = (dy * dy + dx * dx) / (0.25 * (1.0 + aspect * aspect))
    return 1.0 / (1.0 + strength * r2) ** 2


def gain_map_for(
    strength: float,
    height: int,
    width: int,
    *,
    points: tuple[int, int],
    top: int = 0,
    left: int = 0,
    pitch: int = 1,
) -> GainMap:
    """A GainMap over the whole image whose grid (origin 0, spacing 1/(N-1)) samples ``1 / falloff``."""
    nv, nh = points
    gv = np.linspace(0.0, 1.0, nv)
    gh = np.linspace(0.0, 1.0, nh)
    vv, uu = np.meshgrid(gv, gh, indexing="ij")
    gains = (1.0 / lens_falloff(vv, uu, strength, aspect=width / height)).astype(np.float32)
    return GainMap(
        top, left, height, width, 0, 1, pitch, pitch,
        1.0 / (nv - 1), 1.0 / (nh - 1), 0.0, 0.0, gains,
    )  # fmt: skip


def per_site_gain_maps(cfa: str, height: int, width: int, strengths: Sequence[float], *, points=(13, 17)):
    """Four GainMaps, one per Bayer site (Top/Left = site offset, pitch 2), with the channel's strength."""
    chan = cfa_channels(cfa)
    return [
        gain_map_for(strengths[chan[dy, dx]], height, width, points=points, top=dy, left=dx, pitch=2)
        for dy in (0, 1)
        for dx in (0, 1)
    ]


def radial_falloff(height: int, width: int, op: FixVignetteRadial) -> np.ndarray:
    """``1 / g(r)`` of a FixVignetteRadial on an H x W image (r as the DNG spec defines it)."""
    cy, cx = op.cy * height, op.cx * width
    max_r = np.hypot(max(cy, height - cy), max(cx, width - cx))
    y, x = np.mgrid[0:height, 0:width] + 0.5
    return 1.0 / op.gain(np.hypot(y - cy, x - cx) / max_r)


def raw_from_camera_rgb(cam_rgb: np.ndarray, cfa: str) -> np.ndarray:
    """uint16 mosaic from linear camera RGB in [0, 1] (black and white levels applied, rounded)."""
    mosaic = mosaic_from_rgb(cam_rgb, cfa)
    return np.clip(np.round(BLACK + mosaic * (WHITE - BLACK)), 0, WHITE).astype(np.uint16)


def flat_scene(height: int, width: int, level: float = 0.5) -> np.ndarray:
    """Camera RGB of a grey card at ``level`` (scene-linear) seen through AS_SHOT_NEUTRAL."""
    return np.broadcast_to(level * np.asarray(AS_SHOT_NEUTRAL), (height, width, 3)).astype(np.float64)


def natural_scene(height: int, width: int) -> np.ndarray:
    """Camera RGB of a natural photograph (skimage's bundled astronaut, sRGB decoded to linear)."""
    from skimage import data, transform

    img = data.astronaut().astype(np.float64) / 255.0
    img = transform.resize(img, (height, width), order=1, anti_aliasing=True)
    linear = np.where(img <= 0.04045, img / 12.92, ((img + 0.055) / 1.055) ** 2.4)
    return 0.8 * linear * np.asarray(AS_SHOT_NEUTRAL)


def write_sample(path, cam_rgb: np.ndarray, cfa: str, *, opcode_list2=None, opcode_list3=None) -> Path:
    """Write camera RGB (falloff already applied) as a CFA DNG with the given opcode lists."""
    write_dng(
        path,
        raw_from_camera_rgb(cam_rgb, cfa),
        cfa=cfa,
        black_level=BLACK,
        white_level=WHITE,
        as_shot_neutral=AS_SHOT_NEUTRAL,
        make="rawcomplete",
        model="shading sample",
        opcode_list2=None if opcode_list2 is None else encode_opcode_list(opcode_list2),
        opcode_list3=None if opcode_list3 is None else encode_opcode_list(opcode_list3),
    )
    return Path(path)


def make_gainmap_1plane(path, *, height=240, width=360, cfa="RGGB", scene=None) -> Path:
    scene = flat_scene(height, width) if scene is None else scene
    v, u = relative_grid(height, width)
    fall = lens_falloff(v, u, NEUTRAL_STRENGTH, aspect=width / height)
    op = gain_map_for(NEUTRAL_STRENGTH, height, width, points=(13, 17))
    return write_sample(path, scene * fall[:, :, None], cfa, opcode_list2=[op])


def make_gainmap_4plane(path, *, height=240, width=360, cfa="RGGB", scene=None) -> Path:
    scene = flat_scene(height, width) if scene is None else scene
    v, u = relative_grid(height, width)
    fall = np.stack([lens_falloff(v, u, s, aspect=width / height) for s in TINT_STRENGTH], axis=-1)
    ops = per_site_gain_maps(cfa, height, width, TINT_STRENGTH)
    return write_sample(path, scene * fall, cfa, opcode_list2=ops)


def make_vignette_radial(path, *, height=240, width=360, cfa="RGGB", scene=None) -> Path:
    scene = flat_scene(height, width) if scene is None else scene
    op = FixVignetteRadial(k=RADIAL_K, cx=RADIAL_CENTRE[0], cy=RADIAL_CENTRE[1])
    fall = radial_falloff(height, width, op)
    return write_sample(path, scene * fall[:, :, None], cfa, opcode_list3=[op])


def make_samples(out_dir) -> list[Path]:
    """Write every ``shading_*.dng`` sample into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [
        make_gainmap_1plane(out / SAMPLE_NAMES[0]),
        make_gainmap_4plane(out / SAMPLE_NAMES[1]),
        make_vignette_radial(out / SAMPLE_NAMES[2]),
        make_gainmap_4plane(out / SAMPLE_NAMES[3], height=256, width=256, scene=natural_scene(256, 256)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    out_dir = Path(argv[0]) if argv else Path(__file__).resolve().parent
    for path in make_samples(out_dir):
        sys.stdout.write(f"wrote {path} ({path.stat().st_size // 1024} KiB)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
