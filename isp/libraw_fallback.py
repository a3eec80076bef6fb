"""The LibRaw fallback: colour filter arrays our demosaic kernels do not cover (Fujifilm X-Trans
6x6, CMYG and other 4-colour CFAs, Bayer-like patterns longer than 2x2) are demosaiced by LibRaw
(rawpy ``postprocess``) and then continue through our own stages: vignetting, median denoise,
colour matrix to linear sRGB, orientation, DefaultCrop, display codes (:func:`isp.linear.finish_rgb`,
the path linear RAWs take), and after that the pipeline's output space, completion and writers.

:func:`isp.read_raw` returns such a file as a :class:`RawFrame` with ``cfa`` None, the visible
mosaic (uint16 H x W, for the decode-sanity checks and ``output_shape``) and a
:class:`LibRawFallback` holding the file's bytes; :func:`isp.develop` hands it to
:func:`develop_libraw`, which runs LibRaw with these settings (one decode per develop):

=====================  =========================================================================
LibRaw parameter       value and why
=====================  =========================================================================
demosaic_algorithm     ``ISPConfig.demosaic="bilinear"``: LINEAR (LibRaw's ``lin_interpolate``);
                       ``"rcd"`` / ``"rcd_refined"``: AHD, which LibRaw runs as 3-pass Markesteijn
                       on X-Trans and as VNG on 4-colour CFAs. ``ISPResult.demosaic`` names what
                       ran ("libraw:linear", "libraw:markesteijn-3pass", "libraw:vng").
user_wb                the white balance we chose (see below), one multiplier per raw colour
highlight_mode         ``highlights="clip"``: 0 (clip): multipliers normalised smallest = 1, values
                       clipped at white before demosaic, as our Bayer path does; ``"keep"``: 1
                       (unclip): largest = 1, nothing clipped, and we scale the output back by
                       max / min multiplier, so data above white survive up to that ratio;
                       ``"reconstruct"``: as ``"keep"`` (our rebuild needs a Bayer mosaic).
output_color           raw: LibRaw's demosaiced, white-balanced camera colours, 3 channels for
                       X-Trans, 4 for CMYG. X-Trans then takes our colour pass with the camera
                       matrix LibRaw would use (as Bayer files do; ``color="raw"`` keeps camera
                       RGB). A 4-colour image is converted to linear sRGB in float with LibRaw's
                       3x4 ``rgb_cam`` (``LibRawFallback.rgb_cam``, built as LibRaw's
                       ``cam_xyz_coeff`` does: pseudo-inverse of the white-balanced rgb_xyz_matrix),
                       so nothing is clipped at 0 or 1 (LibRaw's own 16-bit sRGB/ProPhoto outputs
                       are); ``color="raw"`` is refused (ISPInputError): no 3-channel camera RGB.
gamma, no_auto_bright  (1, 1), True: linear data, no exposure change; output_bps 16
adjust_maximum_thr     0: the declared white level, as our Bayer path uses
user_flip, half_size   0, False: sensor orientation at full size; our pass orients once
median_filter_passes   0: ``ISPConfig.denoise`` runs in our pass instead
=====================  =========================================================================

White balance keeps its meaning per raw colour, since every CFA's multipliers are defined so
that a white-balanced neutral has all channels equal: ``"camera"`` is the file's as-shot
multipliers (else gray world, logged); ``"gray_world"`` / ``"white_world"`` are the means /
99.5th percentiles of each raw colour's unclipped photosites; a manual ``(R, G, B)`` applies to
R/G/B CFAs (X-Trans) and is refused (ISPInputError) for CMYG and other colours, which have no
R, G, B channels. ``ISPResult.wb_gains`` has one gain per raw colour (``LibRawFallback.color_desc``
order), smallest = 1.

Limits: vignetting and OpcodeList3 gains multiply LibRaw's output (after its demosaic; for 4 colours its sRGB), and
OpcodeList2 is not applied; files with non-square pixels are refused (LibRaw stretches them
inside ``postprocess``, which our geometry would repeat).
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, field

import numpy as np

from .config import ISPConfig
from .errors import CorruptRawError, ISPInputError, UnsupportedRawError

log = logging.getLogger("isp")

#: ISPConfig.highlights -> LibRaw highlight_mode.
#: Our highlight modes as LibRaw's ``highlight_mode``. ``reconstruct`` rebuilds clipped photosites
#: on a Bayer mosaic; on a file LibRaw demosaics it is ``keep`` (as on a linear RAW), so a batch
#: with ``--highlights reconstruct`` still develops these files.
_LIBRAW_HIGHLIGHTS = {"clip": 0, "keep": 1, "reconstruct": 1}


@dataclass(frozen=True)
class LibRawFallback:
    """What :func:`develop_libraw` needs of a file whose CFA LibRaw demosaics.

    Attributes
    ----------
    kind : str
        e.g. "X-Trans 6x6 RGB CFA", "4-colour GMCY 2x2 CFA".
    color_desc : str
        LibRaw's colour letter per raw colour index, e.g. "GMCY", "RGBG".
    colors : int
        Raw colours used (3 or 4).
    pattern : tuple of tuple of int
        Raw colour index of each photosite of the repeating pattern, anchored at the visible
        area's top-left.
    camera_multipliers : tuple of 4 floats or None
        As-shot white-balance multipliers per raw colour index (LibRaw ``cam_mul``); None when
        absent or unusable.
    rgb_cam : numpy.ndarray or None
        float32 3 x 4, white-balanced 4-colour camera -> linear sRGB (LibRaw's rgb_cam); None
        for 3-colour CFAs (``RawFrame.color_matrix`` applies).
    file_bytes : bytes
        The RAW file, decoded again by LibRaw at develop time (so frames read from bytes or sent
        to worker processes develop without the path).
    """

    kind: str
    color_desc: str
    colors: int
    pattern: tuple[tuple[int, ...], ...]
    camera_multipliers: tuple[float, float, float, float] | None
    rgb_cam: np.ndarray | None
    file_bytes: bytes = field(repr=False)


def fallback_fields(p: str, raw, sizes):
    """The :func:`isp.raw._read_libraw` field tuple of a non-Bayer CFA file (``cfa`` None,
    ``color_matrix`` the camera matrix (identity for 4 colours, see ``rgb_cam``), ``libraw_fallback`` in the metadata dict), or a RawError
    to raise."""
    from .raw import _libraw_geometry, _libraw_metadata

    desc = raw.color_desc.decode("ascii", "replace")
    colors = int(raw.num_colors)
    ph, pw = raw.raw_pattern.shape
    visible = raw.raw_colors_visible
    if visible.shape[0] < ph or visible.shape[1] < pw:
        return CorruptRawError(f"{p}: visible area {visible.shape} is smaller than its CFA pattern")
    pattern = tuple(tuple(int(c) for c in row) for row in visible[:ph, :pw])
    used = sorted({c for row in pattern for c in row})
    if colors not in (3, 4) or used[-1] >= min(len(desc), 4) or len(used) < 3:
        return UnsupportedRawError(
            f"{p}: CFA of {colors} colours {desc!r} (pattern {ph}x{pw}) that neither this ISP nor "
            "its LibRaw fallback develops")
    letters = "".join(sorted({desc[c] for c in used}))
    if (ph, pw) == (6, 6) and letters == "BGR":
        kind = "X-Trans 6x6 RGB CFA"
    else:
        kind = f"{len(used)}-colour {''.join(desc[c] for c in used)} {ph}x{pw} CFA"
    if float(sizes.pixel_aspect) != 1.0:
        return UnsupportedRawError(
            f"{p}: a {kind} with non-square pixels (aspect {float(sizes.pixel_aspect):g}); the LibRaw "
            "fallback cannot stretch them without LibRaw doing so too")
    mosaic = np.array(raw.raw_image_visible, dtype=np.uint16, copy=True)
    if mosaic.ndim != 2 or mosaic.size == 0:
        return CorruptRawError(f"{p}: decoded an empty or malformed mosaic (shape {mosaic.shape})")
    blpc = [float(v) for v in raw.black_level_per_channel]
    black = tuple(blpc[:4])
    white = float(raw.white_level)
    if not white > max(black[c] for c in used):
        return CorruptRawError(f"{p}: white level {white} is not above the black levels {list(black)}")
    multipliers = _camera_multipliers(raw, colors)
    camera_wb = None
    if multipliers is not None and set(desc[:colors]) <= set("RGB"):
        by_letter = {desc[c]: multipliers[c] for c in used}
        camera_wb = (by_letter["R"] / by_letter["G"], 1.0, by_letter["B"] / by_letter["G"])
    from .raw import _libraw_matrix_or_measured

    rgb_cam = None
    if colors == 3:
        matrix, source = _libraw_matrix_or_measured(raw)
    else:
        found = _rgb_cam4(raw)
        if found is None:
            return UnsupportedRawError(f"{p}: a {kind} for which LibRaw knows no colour matrix")
        rgb_cam, origin = found
        rgb_cam.setflags(write=False)
        matrix = np.eye(3, dtype=np.float32)
        source = f"{origin}: 3x4 rgb_cam applied to LibRaw's 4-colour output"
    flip = int(sizes.flip) if int(sizes.flip) in range(8) else 0
    with open(p, "rb") as fh:
        file_bytes = fh.read()
    fallback = LibRawFallback(kind=kind, color_desc=desc, colors=colors, pattern=pattern,
                              camera_multipliers=multipliers, rgb_cam=rgb_cam,
                              file_bytes=file_bytes)
    meta = {**_libraw_metadata(raw), "color_matrix_source": source,
            **_libraw_geometry(sizes, mosaic.shape), "libraw_fallback": fallback}
    log.info("%s: %s: demosaiced by LibRaw (fallback)", p, kind)
    return (mosaic, None, black, white, camera_wb, matrix, flip,
            (int(sizes.top_margin), int(sizes.left_margin)), meta)


def _rgb_cam4(raw) -> tuple[np.ndarray, str] | None:
    """(3 x 4 rgb_cam, origin) of a 4-colour camera as LibRaw's cam_xyz_coeff builds it from
    rgb_xyz_matrix (camera rows normalised to sum 1, then the pseudo-inverse), else fitted from
    LibRaw's own outputs; None when neither is available."""
    from .raw import _measured_rgb_cam, rgb_cam_from_cam_xyz

    rgb_cam = rgb_cam_from_cam_xyz(np.asarray(raw.rgb_xyz_matrix, dtype=np.float64)[:4, :3])
    if rgb_cam is not None:
        return rgb_cam, "LibRaw rgb_xyz_matrix (4 colours)"
    measured = _measured_rgb_cam(raw)
    if measured is not None and measured.shape == (3, 4):
        return measured, "LibRaw rgb_cam (measured, 4 colours)"
    return None


def _camera_multipliers(raw, colors: int) -> tuple[float, float, float, float] | None:
    cam = [float(v) for v in raw.camera_whitebalance[:4]]
    if colors == 3 and cam[3] == 0:
        cam[3] = cam[1]  # LibRaw: pre_mul[3] = pre_mul[1] for 3 colours
    if not all(math.isfinite(v) and v > 0 for v in cam[:colors]) or all(v == 1.0 for v in cam):
        return None
    return (cam[0], cam[1], cam[2], cam[3])


def _channel_statistic(frame, fallback: LibRawFallback, method: str) -> np.ndarray:
    """Gray-world means or white-world 99.5th percentiles of each raw colour over its
    photosites strictly between black and :data:`isp.stages.SATURATION` (normalised)."""
    from .stages import SATURATION, WHITE_WORLD_PERCENTILE

    mosaic = np.asarray(frame.mosaic)
    white = float(frame.white_level)
    values: dict[int, list[np.ndarray]] = {}
    ph, pw = len(fallback.pattern), len(fallback.pattern[0])
    for dy in range(ph):
        for dx in range(pw):
            c = fallback.pattern[dy][dx]
            black = float(frame.black_levels[c])
            site = (mosaic[dy::ph, dx::pw].astype(np.float32) - black) / np.float32(white - black)
            values.setdefault(c, []).append(site[(site > 0) & (site < SATURATION)])
    stats = np.zeros(4)
    for c, parts in values.items():
        v = np.concatenate(parts)
        if v.size == 0:
            raise ISPInputError(
                f"{frame.path or 'frame'}: cannot estimate {method} white balance: raw colour "
                f"{fallback.color_desc[c]!r} has no unclipped non-black photosite")
        stats[c] = v.mean() if method == "gray_world" else np.percentile(v, WHITE_WORLD_PERCENTILE)
    return stats


def _multipliers(frame, cfg: ISPConfig) -> tuple[np.ndarray, str]:
    """(4 multipliers per raw colour index for LibRaw's user_wb, wb_method)."""
    fb = frame.libraw_fallback
    name = frame.path or "frame"
    wb = cfg.wb
    wb_method = wb if isinstance(wb, str) else "user"
    if wb == "camera":
        if fb.camera_multipliers is not None:
            return np.asarray(fb.camera_multipliers, np.float64), wb_method
        log.warning("%s: no usable camera white balance in the file; falling back to gray-world", name)
        wb, wb_method = "gray_world", "gray_world (camera WB unavailable)"
    used = sorted({c for row in fb.pattern for c in row})
    if isinstance(wb, str):
        stats = _channel_statistic(frame, fb, wb)
        mult = np.ones(4)
        mult[used] = 1.0 / stats[used]
    else:
        if not set(fb.color_desc[c] for c in used) <= set("RGB"):
            raise ISPInputError(
                f"{name}: manual white balance gains (R, G, B) do not apply to a {fb.kind}, whose "
                f"raw colours are {fb.color_desc!r}; use wb 'camera', 'gray_world' or 'white_world'")
        gain = dict(zip("RGB", (float(g) for g in wb)))
        mult = np.array([gain.get(letter, 1.0) for letter in fb.color_desc[:4].ljust(4, "G")])
    if fb.colors == 3:
        mult[3] = mult[1]
    return mult, wb_method


def _algorithm(cfg: ISPConfig, fallback: LibRawFallback) -> tuple[int, str]:
    """(LibRaw user_qual, name of what LibRaw runs) for ``cfg.demosaic``."""
    if cfg.demosaic == "bilinear":
        return 0, "libraw:linear"
    if fallback.colors > 3:
        return 3, "libraw:vng"  # LibRaw runs VNG for every quality above 0 when colors > 3
    if fallback.kind.startswith("X-Trans"):
        return 3, "libraw:markesteijn-3pass"
    return 3, "libraw:ahd"


def develop_libraw(frame, cfg: ISPConfig):
    """Develop a :class:`RawFrame` carrying a :class:`LibRawFallback` (see the module notes).

    Returns
    -------
    ISPResult
        ``.linear`` float32 H x W x 3 linear sRGB (or X-Trans camera RGB for ``color="raw"``),
        output orientation; ``.demosaic`` "libraw:<algorithm>"; ``.wb_gains`` one gain per raw
        colour, smallest 1.

    Raises
    ------
    ISPInputError
        ``color="raw"`` or manual (R, G, B) gains for a 4-colour CFA, a highlight mode LibRaw has
        no equivalent for, an automatic white balance with no usable photosites.
    CorruptRawError
        LibRaw fails to decode the file's bytes again, or returns another size than it read.
    """
    import rawpy

    from .linear import apply_vignetting, finish_rgb

    fb = frame.libraw_fallback
    name = frame.path or "frame"
    if cfg.color == "raw" and fb.colors != 3:
        raise ISPInputError(
            f"{name}: color='raw' is not available for a {fb.kind}: a 4-colour camera has no "
            "3-channel camera RGB (use color='srgb')")
    if cfg.highlights not in _LIBRAW_HIGHLIGHTS:
        raise ISPInputError(
            f"{name}: highlights={cfg.highlights!r} is not available for a {fb.kind} (demosaiced "
            f"by LibRaw); use one of {', '.join(map(repr, _LIBRAW_HIGHLIGHTS))}")
    mult, wb_method = _multipliers(frame, cfg)
    used = sorted({c for row in fb.pattern for c in row} | ({1, 3} if fb.colors == 3 else set()))
    quality, algorithm = _algorithm(cfg, fb)
    try:
        with rawpy.imread(io.BytesIO(fb.file_bytes)) as raw:
            out = raw.postprocess(
                demosaic_algorithm=rawpy.DemosaicAlgorithm(quality), half_size=False,
                four_color_rgb=False, median_filter_passes=0, user_wb=[float(m) for m in mult],
                output_color=rawpy.ColorSpace.raw, output_bps=16, user_flip=0, no_auto_bright=True,
                adjust_maximum_thr=0.0, bright=1.0, gamma=(1, 1),
                highlight_mode=_LIBRAW_HIGHLIGHTS[cfg.highlights])
    except rawpy.LibRawError as exc:
        raise CorruptRawError(f"{name}: LibRaw could not demosaic the {fb.kind} "
                              f"({type(exc).__name__}: {exc})") from exc
    if out.shape[:2] != frame.mosaic.shape or out.ndim != 3 or out.shape[2] != fb.colors:
        raise CorruptRawError(f"{name}: LibRaw's demosaic gave {out.shape}; the file read as "
                              f"{frame.mosaic.shape}")
    m_used = mult[used]
    scale = 1.0 if cfg.highlights == "clip" else float(m_used.max() / m_used.min())
    if fb.rgb_cam is not None:  # 4 colours -> linear sRGB in float: nothing clipped
        rgb = np.einsum("hwc,rc->hwr", out, fb.rgb_cam * np.float32(scale / 65535.0), dtype=np.float32)
    else:
        rgb = out.astype(np.float32)
        rgb *= np.float32(scale / 65535.0)
    del out
    applied = apply_vignetting(rgb, frame, cfg, list2=False)
    colours = sorted({c for row in fb.pattern for c in row})
    gains = mult[colours] / mult[colours].min()
    return finish_rgb(frame, rgb, cfg, gains=tuple(gains), wb_method=wb_method, applied=applied,
                      demosaic=algorithm)


__all__ = ["LibRawFallback", "develop_libraw", "fallback_fields"]
