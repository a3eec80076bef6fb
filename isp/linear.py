"""Linear (demosaiced) RAWs: LinearRaw DNGs (iPhone ProRAW, Adobe DNG Converter's linear output,
phone HDR DNGs) and LibRaw's other 3-colour stacks, through the same ISP minus the demosaic.

:func:`isp.read_raw` returns such files as a :class:`RawFrame` whose ``mosaic`` is uint16
H x W x 3 (camera R, G, B as LibRaw decodes them: linearisation table and lossy-JPEG tiles
applied) and whose ``cfa`` is None. :func:`develop_linear` (called by :func:`isp.develop`) runs
black level and white per channel -> user vignetting / OpcodeList2 (per pixel, on the planes each
opcode names) and OpcodeList3 lens shading -> white balance
(smallest gain 1) -> highlight clipping -> median denoise -> colour matrix -> orientation ->
DefaultCrop -> pixel-aspect stretch, which is what LibRaw's ``dcraw_process`` does with ``filters == 0``.
"""

from __future__ import annotations

import logging

import numpy as np

from .config import ISPConfig, RadialVignetting
from .errors import ISPInputError
from .highlights import normalize_gains_smallest

log = logging.getLogger("isp")


def _wb_statistic(rgb: np.ndarray, method: str, name: str) -> tuple[float, float, float]:
    """Gray-world (means) or white-world (99.5th percentiles) gains, G = 1, over the pixels with
    no clipped channel."""
    from .stages import SATURATION, WHITE_WORLD_PERCENTILE

    flat = rgb.reshape(-1, 3)
    usable = flat[(flat.max(axis=1) < SATURATION) & (flat.min(axis=1) > 0)]
    if usable.shape[0] == 0:
        raise ISPInputError(f"{name}: cannot estimate {method} white balance: no unclipped non-black pixel")
    stat = usable.mean(axis=0) if method == "gray_world" else np.percentile(usable, WHITE_WORLD_PERCENTILE, axis=0)
    if not np.all(stat > 0):
        raise ISPInputError(f"{name}: cannot estimate {method} white balance (R, G, B = {stat.tolist()})")
    return (float(stat[1] / stat[0]), 1.0, float(stat[1] / stat[2]))


def develop_linear(frame, cfg: ISPConfig):
    """Develop a linear (H x W x 3) :class:`RawFrame`; same result type and fields as
    :func:`isp.develop` (``opcodes_applied`` lists the OpcodeList3 lens shading applied).

    Returns
    -------
    ISPResult
        ``.linear`` float32 H x W x 3, output orientation, scene-linear.
    """
    name = frame.path or "frame"
    src = np.asarray(frame.mosaic)
    black = np.asarray(frame.black_levels[:3], np.float32)
    scale = (1.0 / (float(frame.white_level) - black.astype(np.float64))).astype(np.float32)
    rgb = np.maximum(src.astype(np.float32) - black, np.float32(0)) * scale

    applied = apply_vignetting(rgb, frame, cfg, list2=True)

    wb = cfg.wb
    wb_method = wb if isinstance(wb, str) else "user"
    if wb == "camera":
        if frame.camera_wb is not None:
            gains = tuple(float(g) for g in frame.camera_wb)
        else:
            log.warning("%s: no usable camera white balance in the file; falling back to gray-world", name)
            wb, wb_method = "gray_world", "gray_world (camera WB unavailable)"
    if wb in ("gray_world", "white_world"):
        gains = _wb_statistic(rgb, wb, name)
    elif not isinstance(wb, str):
        gains = tuple(float(g) for g in wb)
    gains = normalize_gains_smallest(gains)
    rgb *= np.asarray(gains, np.float32)
    if cfg.highlights == "clip":
        np.minimum(rgb, np.float32(1.0), out=rgb)

    return finish_rgb(frame, rgb, cfg, gains=gains, wb_method=wb_method, applied=applied,
                      demosaic="none (linear RAW)")


def apply_vignetting(rgb: np.ndarray, frame, cfg: ISPConfig, *, list2: bool) -> tuple[str, ...]:
    """Multiply demosaiced camera RGB (float32 H x W x 3, sensor orientation) in place by the
    user vignetting (``RadialVignetting`` or an H x W flat-field map) or, with
    ``vignetting="auto"``, by the file's lens shading: OpcodeList2 per pixel on the planes each
    opcode names when ``list2`` (a linear DNG, whose stage image is already RGB; else it is
    warned about, not applied), then OpcodeList3. Returns the opcodes applied."""
    from . import _kernels

    name = frame.path or "frame"
    h, w = rgb.shape[:2]
    vig = cfg.vignetting
    applied: tuple[str, ...] = ()
    if isinstance(vig, RadialVignetting):
        gain = np.empty((h, w), np.float32)
        _kernels.vignetting_gain_map(h, w, vig.k1, vig.k2, vig.k3, gain)
        rgb *= gain[:, :, None]
    elif isinstance(vig, np.ndarray):
        if vig.shape != (h, w):
            raise ISPInputError(f"{name}: flat-field gain map has shape {vig.shape}; expected {(h, w)}")
        rgb *= vig[:, :, None]
    elif vig == "auto" and frame.opcodes:
        from .opcodes import lens_shading_from_frame

        shading = lens_shading_from_frame(frame)
        if shading.mosaic_ops and list2:
            shading.apply_list2_to_linear(rgb, out=rgb)
        elif shading.mosaic_ops:
            log.warning("%s: OpcodeList2 lens shading is not applied (the mosaic is demosaiced by "
                        "LibRaw)", name)
        if shading.rgb_ops:
            shading.apply_to_rgb(rgb, out=rgb)
        applied = tuple(a for a in shading.applied if "OpcodeList3" in a or list2)

    return applied


def finish_rgb(frame, rgb: np.ndarray, cfg: ISPConfig, *, gains: tuple[float, ...], wb_method: str,
               applied: tuple[str, ...], demosaic: str):
    """The stages after the demosaic, shared by linear RAWs and the LibRaw fallback
    (:mod:`isp.libraw_fallback`): median denoise, colour matrix (``cfg.color``), orientation and
    display codes in one pass, then DefaultCrop and the pixel-aspect stretch.

    Parameters
    ----------
    rgb : numpy.ndarray
        float32 H x W x 3, sensor orientation, white-balanced camera RGB normalised to white = 1.

    Returns
    -------
    ISPResult
    """
    from .develop import ISPResult, _color_pass, _final_geometry, _output_buffers

    use_matrix, matrix, flip, out, display = _output_buffers(frame, cfg)
    _color_pass(rgb, cfg, use_matrix, matrix, flip, out, display)
    out, codes = _final_geometry(frame, out, display, cfg)
    return ISPResult(linear=out, frame=frame, wb_gains=tuple(float(g) for g in gains),
                     opcodes_applied=applied, config=cfg, wb_method=wb_method, codes=codes,
                     demosaic=demosaic)


__all__ = ["apply_vignetting", "develop_linear", "finish_rgb"]
