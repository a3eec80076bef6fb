"""``develop``: RAW file or :class:`RawFrame` in, :class:`ISPResult` out.

The stages of :mod:`isp.stages` run in this order (sensor orientation until the end)::

    black level per site, clip negatives, normalise to white
    -> lens-shading GainMap (DNG OpcodeList2, vignetting="auto") or user vignetting
    -> white-balance gains (on the mosaic) -> demosaic (ISPConfig.demosaic, see isp.demosaic)
    -> FixVignetteRadial (DNG OpcodeList3, vignetting="auto") -> median denoise (per channel)
    -> colour matrix -> orientation (-> DefaultCrop, pixel-aspect stretch) = ISPResult.linear
    (highlights="clip": the white-balanced mosaic clipped at white before the demosaic)
    ISPResult.display = clip to [0, 1] + gamma of .linear (computed on first access)
    ISPResult.display_as("uint8" | "uint16") = its codes (written in the pass itself when
    ISPConfig.display_codes asks for them)

How the stages are fused is decided per call:

* ``demosaic="bilinear"``: one parallel banded pass (``_kernels.demosaic_banded``) reads the
  uint16 mosaic and writes the oriented, colour-converted linear image (and the display codes);
  with a median, each thread filters a ring of freshly demosaiced rows. Lens-shading opcodes are
  evaluated inside that pass, row by row, from their small gain grids
  (``LensShading.fused_gain_tables``): OpcodeList2 gains multiply each normalised mosaic row,
  OpcodeList3 gains each demosaiced row before the median ring reads it.
* ``demosaic="rcd" | "rcd_refined"``: the tiled RCD kernel normalises (black level, gains) as its
  tiles load (OpcodeList2 gains applied to a normalised mosaic first), OpcodeList3 gains multiply
  its camera RGB, then one pass does median (if any), colour, orientation and display codes;
  with neither, the RCD kernel stores each tile colour converted and oriented itself.
* An automatic white balance ("gray_world", "white_world") measures the shaded mosaic, so with
  OpcodeList2 gains that mosaic is normalised and shaded once (``LensShading.apply_to_mosaic``)
  and the demosaic reads it instead.

Every path equals the composition of the public stages (tested, to float rounding).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from .config import ISPConfig, RadialVignetting
from .highlights import clipped_mosaic, normalize_gains_smallest
from .errors import ISPInputError
from .raw import RawFrame, read_raw
from ._threading import serialised
from .cfa import CFA_ORDERS, site_channels

log = logging.getLogger("isp")

_EMPTY_MAP = np.zeros((0, 0), np.float32)
#: Median window of each ``ISPConfig.denoise`` (0: none).
MEDIAN_SIZE = {"off": 0, "median3": 3, "median5": 5}


@dataclass(frozen=True)
class ISPResult:
    """What :func:`develop` returns.

    Attributes
    ----------
    linear : numpy.ndarray
        float32 H x W x 3 (output orientation, visible area), scene-linear:
        ``(raw - black) / (white - black)`` times the white-balance gains, converted to linear sRGB
        when ``config.color == "srgb"``; unclipped (above 1 where the scene is).
    frame : RawFrame
        The frame developed.
    wb_gains : tuple of 3 floats
        (R, G, B) gains applied, the smallest = 1 (LibRaw's normalisation, see isp.highlights);
        for a 4-colour CFA (LibRaw fallback) 4 gains, one per raw colour.
    opcodes_applied : tuple of str
        DNG lens-shading opcodes applied, e.g. ``("GainMap x4 (OpcodeList2)",)``; () when none.
    config : ISPConfig
        The effective configuration.
    wb_method : str
        Where the gains came from: "camera", "gray_world", "white_world", "user", or
        "gray_world (camera WB unavailable)" after a fallback.
    codes : numpy.ndarray or None
        uint8 / uint16 H x W x 3 display codes written in the develop pass when
        ``config.display_codes`` asks for them (see :meth:`display_as`), else None.
    highlight_mask : numpy.ndarray or None
        ``highlights="reconstruct"`` only: bool H x W (geometry of ``linear``), the pixels where
        every channel was clipped (no measurement, only lower bounds; ``linear`` holds the least
        bright value consistent with them and the nearby chroma). None when there are none.
    highlight_floor : numpy.ndarray or None
        float32 N x 3, with ``highlight_mask``: the lower bound of each of its N pixels (row-major
        order), in white-balanced camera RGB (before :attr:`camera_to_output`): the value white
        maps to, i.e. the white-balance gain times any lens-shading gain, per channel.
    highlights_reconstructed : dict of str to int
        Photosites rebuilt per rule (``"two_channels"``, ``"one_channel"``, ``"all_clipped"``,
        see :func:`isp.highlights.reconstruct_highlights`); empty unless ``highlights="reconstruct"``
        found clipped photosites.
    demosaic : str
        Who demosaiced, how: this ISP's ``config.demosaic`` ("bilinear", "rcd", ...), "none
        (linear RAW)", or "libraw:<algorithm>" for the LibRaw fallback (X-Trans, 4-colour CFAs;
        see :mod:`isp.libraw_fallback`).
    """

    linear: np.ndarray
    frame: RawFrame
    wb_gains: tuple[float, float, float]
    opcodes_applied: tuple[str, ...]
    config: ISPConfig
    wb_method: str = "camera"
    codes: np.ndarray | None = None
    highlight_mask: np.ndarray | None = None
    highlight_floor: np.ndarray | None = None
    highlights_reconstructed: dict = dataclasses.field(default_factory=dict)

    @property
    def camera_to_output(self) -> np.ndarray:
        """float64 3 x 3: white-balanced camera RGB -> ``linear`` (the frame's colour matrix,
        identity for ``color="raw"``)."""
        if self.config.color == "srgb":
            return np.asarray(self.frame.color_matrix, np.float64)
        return np.eye(3)
    demosaic: str = "bilinear"

    @property
    def display(self) -> np.ndarray:
        """float32 H x W x 3 in [0, 1]: ``.linear`` clipped and gamma encoded (``config.gamma``).

        Computed once, on first access, in one parallel pass. (Not a ``functools.cached_property``:
        its class-wide lock, taken before the kernel lock, could deadlock two threads.)
        """
        cached = self.__dict__.get("_display")
        if cached is None:
            cached = self._encode_display()
            self.__dict__["_display"] = cached  # two racing threads compute the same array
        return cached

    @serialised
    def _encode_display(self) -> np.ndarray:
        from .stages import encode_gamma

        return encode_gamma(self.linear, self.config.gamma)

    @serialised
    def display_as(self, dtype: str = "float32") -> np.ndarray:
        """The display image as ``dtype``: ``"float32"`` is :attr:`display`; ``"uint8"`` /
        ``"uint16"`` are its codes (round half up), clipped, encoded (``config.gamma``) and
        quantised from ``.linear`` in one parallel pass (:func:`isp.encode_display`), equal code
        for code to quantising :attr:`display`. H x W x 3.
        """
        if dtype == "float32":
            return self.display
        if self.codes is not None and self.codes.dtype == np.dtype(dtype):
            return self.codes
        from .stages import encode_display

        return encode_display(self.linear, self.config.gamma, dtype=dtype)


def _check_frame(frame: RawFrame) -> None:
    m = frame.mosaic
    linear = isinstance(m, np.ndarray) and m.ndim == 3 and m.shape[2] == 3 and frame.cfa is None
    if not isinstance(m, np.ndarray) or (m.ndim != 2 and not linear) or m.dtype.kind not in "fiu" or m.size == 0:
        raise ISPInputError(
            f"RawFrame.mosaic must be a non-empty 2-D real array (or H x W x 3 with cfa None, a "
            f"linear RAW); got {getattr(m, 'dtype', type(m))}, shape {getattr(m, 'shape', None)}"
        )
    if not linear and frame.cfa not in CFA_ORDERS:
        raise ISPInputError(f"RawFrame.cfa must be one of {', '.join(CFA_ORDERS)}; got {frame.cfa!r}")
    black = np.asarray(frame.black_levels, dtype=np.float64)
    if black.shape != (4,) or not np.all(np.isfinite(black)):
        raise ISPInputError(f"RawFrame.black_levels must be 4 finite numbers; got {frame.black_levels!r}")
    if not float(frame.white_level) > black.max():
        raise ISPInputError(
            f"RawFrame.white_level {frame.white_level} must exceed the black levels {black.tolist()}"
        )
    cm = np.asarray(frame.color_matrix)
    if cm.shape != (3, 3) or not np.all(np.isfinite(cm)):
        raise ISPInputError(f"RawFrame.color_matrix must be a finite 3x3 array; got shape {cm.shape}")
    if int(frame.flip) not in range(8):
        raise ISPInputError(f"RawFrame.flip must be in 0..7; got {frame.flip!r}")
    if not (math.isfinite(float(frame.pixel_aspect)) and 0.1 <= float(frame.pixel_aspect) <= 10):
        raise ISPInputError(f"RawFrame.pixel_aspect must be in [0.1, 10]; got {frame.pixel_aspect!r}")


def _resolve_config(config: ISPConfig | None, fields: dict[str, Any]) -> ISPConfig:
    if config is None:
        config = ISPConfig()
    elif not isinstance(config, ISPConfig):
        raise ISPInputError(f"config must be an ISPConfig or None; got {type(config).__name__}")
    return config.replace(**fields) if fields else config


def _demosaic_camera_rgb(src, black, scale, gain_map, site_ch, algorithm, store=None):
    """float32 H x W x 3 camera RGB of a raw or normalised mosaic by a non-bilinear algorithm,
    the levels ``max(v - black, 0) * scale (* gain_map)`` applied as the tiles load; or, given
    ``store`` = (use_matrix, matrix, flip, out, display) from :func:`_output_buffers`, written
    there colour converted and oriented, with its display codes, in the same pass."""
    from . import _kernels
    from ._rcd_kernels import demosaic_rcd
    from .demosaic import RCD_PASSES

    h, w = src.shape
    if store is None:
        store = (False, np.eye(3, dtype=np.float32), 0, np.empty((h, w, 3), np.float32),
                 _kernels.NO_DISPLAY)
    use_matrix, matrix, flip, out, display = store
    if min(h, w) < 2:  # no CFA phase to mirror: bilinear (LibRaw's border rule) instead
        _kernels.demosaic_banded(src, black, scale, gain_map, site_ch, matrix, use_matrix, flip, out,
                                 display=display)
        return out
    demosaic_rcd(src, black, scale, gain_map, site_ch, RCD_PASSES[algorithm], matrix, use_matrix,
                 flip, out, display)
    return out


def _output_buffers(frame: RawFrame, cfg: ISPConfig):
    """(use_matrix, matrix, flip, out, display) for the last pass: the float32 linear output
    (output orientation) and, when ``cfg.display_codes`` asks, the display-code buffer."""
    from . import _kernels

    h, w = frame.mosaic.shape[:2]
    flip = int(frame.flip)
    oh, ow = (w, h) if flip & 4 else (h, w)
    out = np.empty((oh, ow, 3), np.float32)
    display = _kernels.NO_DISPLAY
    if cfg.display_codes != "none":
        from .color import transfer_code, transfer_exponent
        from .stages import DISPLAY_DTYPES

        mode, g = transfer_code(cfg.gamma)
        display = _kernels.DisplayCodes(np.empty((oh, ow, 3), np.dtype(cfg.display_codes)), mode,
                                        transfer_exponent(mode, g), DISPLAY_DTYPES[cfg.display_codes])
    matrix = np.ascontiguousarray(frame.color_matrix, dtype=np.float32)
    return cfg.color == "srgb", matrix, flip, out, display


def _color_pass(rgb, cfg: ISPConfig, use_matrix, matrix, flip, out, display) -> None:
    """One parallel pass over camera RGB: median (``cfg.denoise``), colour, orientation and
    display codes, into ``out`` / ``display``."""
    from . import _kernels

    if cfg.denoise == "off":
        _kernels.color_orient(rgb, matrix, use_matrix, flip, out, display)
    else:
        median = _kernels.median3_color if cfg.denoise == "median3" else _kernels.median5_color
        median(rgb, matrix, use_matrix, flip, out, display)


def _final_geometry(frame: RawFrame, out, display, cfg: ISPConfig):
    """(linear, codes or None) after DefaultCrop and the pixel-aspect stretch (isp.geometry)."""
    codes = None if display.codes.size == 0 else display.codes
    if frame.pixel_aspect == 1 and (frame.default_crop is None or cfg.crop == "full"):
        return out, codes
    from .geometry import final_geometry

    return final_geometry(out, codes, frame, cfg.crop)


@serialised  # thread-safe under any Numba threading layer (see isp._threading)
def develop(
    source: Union[str, os.PathLike, RawFrame], config: ISPConfig | None = None, **fields: Any
) -> ISPResult:
    """Develop a Bayer RAW into scene-linear and display RGB.

    Parameters
    ----------
    source : str, os.PathLike or RawFrame
        A RAW file (read with :func:`isp.read_raw`) or a frame already read.
    config : ISPConfig, optional
        Defaults to ``ISPConfig()``.
    **fields
        Override config fields, e.g. ``develop(path, denoise="median3", wb="gray_world")``.

    Returns
    -------
    ISPResult
        ``.linear`` float32 H x W x 3 (output orientation); ``.display`` on first access.

    Raises
    ------
    UnsupportedRawError, CorruptRawError
        From reading the file.
    ISPInputError
        Invalid config values (the message lists the valid ones), a malformed RawFrame, a
        flat-field gain map whose shape differs from the mosaic's, or an automatic white balance
        with no usable pixels.

    Examples
    --------
    >>> res = develop("photo.dng", denoise="median3")           # doctest: +SKIP
    >>> res.linear.shape, res.display.max() <= 1                 # doctest: +SKIP
    ((4000, 6000, 3), True)
    """
    from . import _kernels
    from .stages import WHITE_WORLD_PERCENTILE, SATURATION, white_balance_gains

    cfg = _resolve_config(config, fields)
    if isinstance(source, RawFrame):
        frame = source
    elif isinstance(source, (str, os.PathLike)):
        frame = read_raw(source)
    else:
        raise ISPInputError(
            f"source must be a path or an isp.RawFrame; got {type(source).__name__}"
        )
    if frame.libraw_fallback is not None:  # a CFA our kernels do not cover: LibRaw demosaics
        from .libraw_fallback import develop_libraw

        return develop_libraw(frame, cfg)
    _check_frame(frame)
    if frame.mosaic.ndim == 3:  # a linear RAW: the same stages minus the demosaic
        from .linear import develop_linear

        return develop_linear(frame, cfg)

    mosaic = frame.mosaic
    if mosaic.dtype != np.uint16:
        mosaic = mosaic.astype(np.float32)
    mosaic = np.ascontiguousarray(mosaic)
    h, w = mosaic.shape
    cfa = frame.cfa
    site_ch = site_channels(cfa)
    black = np.asarray(frame.black_levels, dtype=np.float64)
    inv_range = 1.0 / (float(frame.white_level) - black)
    black32 = black.astype(np.float32)

    # user vignetting as a gain map on the normalised mosaic
    vig = cfg.vignetting
    gain_map = _EMPTY_MAP
    if isinstance(vig, RadialVignetting):
        gain_map = np.empty((h, w), np.float32)
        _kernels.vignetting_gain_map(h, w, vig.k1, vig.k2, vig.k3, gain_map)
    elif isinstance(vig, np.ndarray):
        if vig.shape != (h, w):
            raise ISPInputError(
                f"{frame.path or 'frame'}: flat-field gain map has shape {vig.shape}; expected the "
                f"mosaic's {(h, w)} (sensor orientation)"
            )
        gain_map = np.ascontiguousarray(vig, dtype=np.float32)

    # DNG lens-shading opcodes
    shading = None
    if isinstance(vig, str) and vig == "auto":
        from .opcodes import lens_shading_from_frame

        shading = lens_shading_from_frame(frame)
        if shading.is_empty:
            shading = None

    # white balance: where the camera's is missing, decide the fallback now (it decides below
    # whether the statistics need the shaded mosaic)
    wb = cfg.wb
    wb_method = wb if isinstance(wb, str) else "user"
    if wb == "camera":
        if frame.camera_wb is not None:
            gains = tuple(float(g) for g in frame.camera_wb)
            gains = (gains[0] / gains[1], 1.0, gains[2] / gains[1])
        else:
            log.warning(
                "%s: no usable camera white balance in the file; falling back to gray-world",
                frame.path or "frame",
            )
            wb, wb_method = "gray_world", "gray_world (camera WB unavailable)"

    # The mosaic the demosaic reads: raw uint16 with levels (and the gains) applied on the fly.
    # Lens-shading opcodes are evaluated row by row inside the fused kernels (OpcodeList2 on the
    # normalised rows, OpcodeList3 on the demosaiced rows, before the median ring reads them),
    # except that an automatic white balance measures the shaded mosaic: then OpcodeList2 is
    # applied once to a normalised float mosaic, which the statistics and the demosaic both read.
    src, src_black, src_scale, src_map = mosaic, black32, inv_range, gain_map
    mosaic_gains = rgb_gains = _kernels.NO_GAINS
    applied: tuple[str, ...] = ()
    if shading is not None:
        mosaic_gains, rgb_gains = shading.fused_gain_tables((h, w))
        applied = tuple(shading.applied)
        if shading.mosaic_ops and wb in ("gray_world", "white_world"):
            norm = np.empty((h, w), np.float32)
            _kernels.normalize_mosaic(mosaic, black32, inv_range.astype(np.float32), gain_map, norm)
            norm = shading.apply_to_mosaic(norm, cfa, out=norm)
            src, src_black, src_scale, src_map = (
                norm, np.zeros(4, np.float32), np.ones(4), _EMPTY_MAP
            )
            mosaic_gains = _kernels.NO_GAINS

    if wb == "gray_world":
        sums, counts = _kernels.channel_means(
            src, src_black, src_scale.astype(np.float32), src_map, site_ch, SATURATION
        )
        stat = sums / np.maximum(counts, 1)
        if not np.all(stat > 0):
            raise ISPInputError(
                f"{frame.path or 'frame'}: cannot estimate gray-world white balance: a channel has "
                f"no unclipped non-black pixel (means R, G, B = {np.round(stat, 6).tolist()})"
            )
        gains = (float(stat[1] / stat[0]), 1.0, float(stat[1] / stat[2]))
    elif wb == "white_world":
        norm_wb = np.empty((h, w), np.float32)
        _kernels.normalize_mosaic(src, src_black, src_scale.astype(np.float32), src_map, norm_wb)
        try:
            gains = white_balance_gains(
                norm_wb, cfa, method="white_world", percentile=WHITE_WORLD_PERCENTILE
            )
        except ISPInputError as exc:
            raise ISPInputError(f"{frame.path or 'frame'}: {exc}") from None
        del norm_wb
    elif not isinstance(wb, str):
        gains = tuple(float(g) for g in wb)
    gains = normalize_gains_smallest(gains)  # LibRaw's pre_mul normalisation (isp.highlights)
    site_gain = np.asarray(gains, dtype=np.float64)[site_ch]
    scale = (src_scale * site_gain).astype(np.float32)
    shade = None  # OpcodeList2 gains still to apply to a normalised mosaic (highlight modes)
    if shading is not None and shading.mosaic_ops and mosaic_gains is not _kernels.NO_GAINS:
        def shade(norm):
            return shading.apply_to_mosaic(norm, cfa, out=norm)
    if cfg.highlights == "clip":  # clip the white-balanced mosaic at white (isp.highlights)
        clipped = clipped_mosaic(src, src_black, scale, src_map, shade)
        if clipped is not None:
            src, src_black, scale, src_map = clipped, np.zeros(4, np.float32), np.ones(4, np.float32), _EMPTY_MAP
            mosaic_gains = _kernels.NO_GAINS
    highlight = None
    if cfg.highlights == "reconstruct":  # rebuild photosites that reached white (isp.highlights)
        from .highlights import reconstruct_on_mosaic

        highlight = reconstruct_on_mosaic(mosaic, black, float(frame.white_level), (src, src_black, scale, src_map),
                                          shade, site_ch, gains)
        if highlight is not None:
            src, src_black, scale, src_map = highlight.mosaic, np.zeros(4, np.float32), np.ones(4, np.float32), _EMPTY_MAP
            mosaic_gains = _kernels.NO_GAINS

    use_matrix, matrix, flip, out, display = _output_buffers(frame, cfg)
    if cfg.demosaic == "bilinear":
        # one fused pass: levels, gains (, lens shading), demosaic (, median), colour, orientation
        _kernels.demosaic_banded(src, src_black, scale, src_map, site_ch, matrix, use_matrix, flip,
                                 out, median=MEDIAN_SIZE[cfg.denoise], mosaic_gains=mosaic_gains,
                                 rgb_gains=rgb_gains, display=display)
    else:
        # edge-aware demosaic: levels and gains fused into its tile loader (OpcodeList2 gains
        # applied to the normalised mosaic first), then OpcodeList3 gains on camera RGB, then
        # one pass of median (if any), colour and orientation
        if shading is not None and shading.mosaic_ops and mosaic_gains is not _kernels.NO_GAINS:
            norm = np.empty((h, w), np.float32)
            _kernels.normalize_mosaic(mosaic, black32, inv_range.astype(np.float32), gain_map, norm)
            src = shading.apply_to_mosaic(norm, cfa, out=norm)
            src_map = _EMPTY_MAP
            scale = site_gain.astype(np.float32)
            src_black = np.zeros(4, np.float32)
        if cfg.denoise == "off" and not (shading is not None and shading.rgb_ops):
            _demosaic_camera_rgb(src, src_black, scale, src_map, site_ch, cfg.demosaic,
                                 (use_matrix, matrix, flip, out, display))  # colour in the same pass
        else:
            rgb = _demosaic_camera_rgb(src, src_black, scale, src_map, site_ch, cfg.demosaic)
            if shading is not None and shading.rgb_ops:
                shading.apply_to_rgb(rgb, out=rgb)
            _color_pass(rgb, cfg, use_matrix, matrix, flip, out, display)
    out, codes = _final_geometry(frame, out, display, cfg)
    extra = {}
    if highlight is not None:
        from .highlights import highlight_outputs

        extra = highlight_outputs(highlight, frame, cfg.crop, gains, shading, gain_map, out.shape[:2])
    return ISPResult(
        linear=out,
        frame=frame,
        wb_gains=(float(gains[0]), float(gains[1]), float(gains[2])),
        opcodes_applied=applied,
        config=cfg,
        wb_method=wb_method,
        codes=codes,
        **extra,
        demosaic=cfg.demosaic,
    )
