"""ISP configuration: :class:`ISPConfig` and the :class:`RadialVignetting` lens model.

Every option is validated once, here, when a config is built (directly, through
:meth:`ISPConfig.replace`, or through ``develop(..., **fields)``); the stages downstream trust it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, Union

import numpy as np

from .errors import ISPInputError

WBMethod = Literal["camera", "gray_world", "white_world"]
VignettingMode = Literal["auto", "off"]
DenoiseMode = Literal["off", "median3", "median5"]
ColorMode = Literal["srgb", "raw"]
GammaMode = Literal["srgb", "bt709", "linear"]
DemosaicAlgorithm = Literal["bilinear", "rcd", "rcd_refined"]
DisplayCodes = Literal["none", "uint8", "uint16"]
HighlightMode = Literal["clip", "keep", "reconstruct"]
CropMode = Literal["default", "full"]

WB_METHODS: tuple[str, ...] = ("camera", "gray_world", "white_world")
VIGNETTING_MODES: tuple[str, ...] = ("auto", "off")
DENOISE_MODES: tuple[str, ...] = ("off", "median3", "median5")
COLOR_MODES: tuple[str, ...] = ("srgb", "raw")
GAMMA_MODES: tuple[str, ...] = ("srgb", "bt709", "linear")
#: The demosaic algorithms of :func:`isp.demosaic` and ``ISPConfig(demosaic=...)``.
DEMOSAIC_ALGORITHMS: tuple[str, ...] = ("bilinear", "rcd", "rcd_refined")
DISPLAY_CODES: tuple[str, ...] = ("none", "uint8", "uint16")
#: ``ISPConfig(highlights=...)``: what happens to sensor values above white (see isp.highlights).
HIGHLIGHT_MODES: tuple[str, ...] = ("clip", "keep", "reconstruct")
#: ``ISPConfig(crop=...)``: DefaultCrop applied, or the full visible area (see isp.geometry).
CROP_MODES: tuple[str, ...] = ("default", "full")


@dataclass(frozen=True)
class RadialVignetting:
    """Radial lens fall-off in lensfun's ``pa`` convention.

    The lens darkens the true image by ``v(r) = 1 + k1 r^2 + k2 r^4 + k3 r^6``, where ``r`` is the
    distance from the image centre divided by the half-diagonal (``r = 1`` in the corners).
    Correction divides by ``v(r)``. Coordinates are pixel centres of the sensor-oriented mosaic;
    the centre is ``((H - 1) / 2, (W - 1) / 2)``.

    Parameters
    ----------
    k1, k2, k3 : float
        Polynomial coefficients (lensfun ``pa`` model); typically negative. ``v(r)`` must stay
        positive on ``0 <= r <= 1``.

    Examples
    --------
    >>> RadialVignetting(-0.3, 0.05, 0.0).falloff(1.0)
    0.75
    """

    k1: float = 0.0
    k2: float = 0.0
    k3: float = 0.0

    def __post_init__(self) -> None:
        for name in ("k1", "k2", "k3"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise ISPInputError(f"RadialVignetting.{name} must be a real number; got {value!r}")
            if not math.isfinite(float(value)):
                raise ISPInputError(f"RadialVignetting.{name} must be finite; got {value!r}")
            object.__setattr__(self, name, float(value))
        r = np.linspace(0.0, 1.0, 1001)
        if np.min(self.falloff(r)) <= 0:
            raise ISPInputError(
                f"RadialVignetting{(self.k1, self.k2, self.k3)} gives a fall-off <= 0 inside the "
                "image (r <= 1); expected 1 + k1 r^2 + k2 r^4 + k3 r^6 > 0"
            )

    def falloff(self, r):
        """``1 + k1 r^2 + k2 r^4 + k3 r^6`` for a normalised radius (scalar or array)."""
        r2 = np.asarray(r, dtype=np.float64) ** 2
        out = 1.0 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3))
        return float(out) if np.ndim(out) == 0 else out


def _as_gain_map(value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.dtype.kind not in "fiu" or arr.size == 0:
        raise ISPInputError(
            "vignetting flat-field gains must be a non-empty 2-D real array (H x W, sensor "
            f"orientation); got dtype {arr.dtype}, shape {arr.shape}"
        )
    gains = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(gains)) or np.any(gains <= 0):
        raise ISPInputError("vignetting flat-field gains must be finite and > 0 everywhere")
    gains = gains.copy() if gains is arr else gains
    gains.setflags(write=False)
    return gains


def _choices(name: str, value: Any, valid: tuple[str, ...], extra: str = "") -> str:
    if isinstance(value, str) and value in valid:
        return value
    listing = ", ".join(repr(v) for v in valid)
    raise ISPInputError(f"{name} must be one of {listing}{extra}; got {value!r}")


@dataclass(frozen=True)
class ISPConfig:
    """How :func:`isp.develop` turns a RAW into RGB. Frozen; build variants with :meth:`replace`.

    Parameters
    ----------
    wb : {"camera", "gray_world", "white_world"} or tuple of 3 floats
        White balance. ``"camera"`` uses the file's as-shot multipliers and falls back to
        gray-world (logged as a warning on the ``isp`` logger, recorded in ``ISPResult.wb_method``)
        where the file has none usable. ``"gray_world"``: equal channel means;
        ``"white_world"``: equal channel 99.5th percentiles (see
        :func:`isp.white_balance_gains`). Both ignore clipped pixels. A tuple gives (R, G, B) gains
        directly (any scale). :func:`isp.develop` applies them normalised as LibRaw does, the
        smallest gain = 1 (``ISPResult.wb_gains``).
    vignetting : {"auto", "off"}, RadialVignetting or numpy.ndarray
        ``"auto"`` applies the lens-shading opcodes found in the file (DNG GainMap in OpcodeList2,
        FixVignetteRadial in OpcodeList3); ``"off"`` applies nothing; a :class:`RadialVignetting`
        divides by the lens fall-off; an H x W float array (sensor orientation, same size as the
        mosaic) multiplies the normalised mosaic by these gains (a flat-field calibration, see
        :func:`isp.flat_field_gains`).
    demosaic : {"bilinear", "rcd", "rcd_refined"}
        Demosaic algorithm (see :data:`isp.DEMOSAIC_ALGORITHMS` and :mod:`isp.demosaic`).
        ``"bilinear"``: LibRaw's LINEAR, fused with every other stage into one pass; ``"rcd"``:
        Ratio Corrected Demosaicing (Sanz Rodriguez 2017), edge-aware; ``"rcd_refined"``: RCD
        followed by two passes of Menon et al. 2007's refining step, the sharpest (CPSNR figures
        in ``benchmarks/bench_isp.py``). All unclipped.
    denoise : {"off", "median3", "median5"}
        Median filter per channel on camera RGB after demosaic (3x3 or 5x5 window).
    color : {"srgb", "raw"}
        ``"srgb"``: linear sRGB through the file's colour matrix; ``"raw"``: white-balanced camera
        RGB, no matrix.
    gamma : {"srgb", "bt709", "linear"} or float
        Transfer function of ``ISPResult.display`` only (``.linear`` is never gamma encoded). A
        float ``g > 0`` encodes ``x ** (1 / g)``.
    display_codes : {"none", "uint8", "uint16"}
        Also write the display image as integer codes (clipped, encoded with ``gamma``, rounded
        half up) in the same pass as ``.linear``: ``ISPResult.display_as(display_codes)`` then
        returns them without another pass (what a writer of 8- or 16-bit files wants).
    highlights : {"clip", "keep", "reconstruct"}
        ``"clip"`` (LibRaw's and dcraw's default): the white-balanced mosaic is clipped at white
        before demosaicing, so blown areas come out neutral white in every output;
        ``"keep"``: values above white stay in ``ISPResult.linear`` (scene-linear work; the
        display clips each channel after the colour matrix, so blown areas may take a tint);
        ``"reconstruct"``: photosites whose raw value reached white are rebuilt from the
        channels that survive and the chroma of nearby unclipped pixels, never below their clip
        level, unclipped in ``.linear``; pixels with no channel left are listed in
        ``ISPResult.highlight_mask`` (with their lower bounds) for :mod:`completion.highlights`
        (a linear RAW, which has no mosaic, is developed as with ``"keep"``).
        See :mod:`isp.highlights`.
    crop : {"default", "full"}
        ``"default"``: apply the file's DefaultCrop (DNG DefaultCropOrigin/Size, LibRaw
        ``sizes.crop_*``), which LibRaw reports but does not apply; ``"full"``: the whole visible
        area, LibRaw's output size.

    Examples
    --------
    >>> cfg = ISPConfig(denoise="median3")
    >>> cfg.replace(wb=(2.0, 1.0, 1.5)).wb
    (2.0, 1.0, 1.5)
    """

    wb: Union[WBMethod, tuple[float, float, float]] = "camera"
    vignetting: Union[VignettingMode, RadialVignetting, np.ndarray] = "auto"
    denoise: DenoiseMode = "off"
    color: ColorMode = "srgb"
    gamma: Union[GammaMode, float] = "srgb"
    demosaic: DemosaicAlgorithm = "bilinear"
    display_codes: DisplayCodes = "none"
    highlights: HighlightMode = "clip"
    crop: CropMode = "default"

    def __post_init__(self) -> None:
        # white balance
        wb = self.wb
        if isinstance(wb, str):
            _choices("wb", wb, WB_METHODS, " or a tuple of 3 positive gains (R, G, B)")
        else:
            try:
                gains = tuple(float(g) for g in wb)
            except (TypeError, ValueError):
                gains = ()
            if len(gains) != 3 or not all(math.isfinite(g) and g > 0 for g in gains):
                raise ISPInputError(
                    "wb must be one of 'camera', 'gray_world', 'white_world' or a tuple of 3 "
                    f"positive finite gains (R, G, B); got {wb!r}"
                )
            object.__setattr__(self, "wb", (gains[0] / gains[1], 1.0, gains[2] / gains[1]))
        # vignetting
        vig = self.vignetting
        if isinstance(vig, str):
            _choices(
                "vignetting", vig, VIGNETTING_MODES, ", a RadialVignetting or an H x W gain array"
            )
        elif isinstance(vig, RadialVignetting):
            pass
        elif isinstance(vig, (np.ndarray, list, tuple)):
            object.__setattr__(self, "vignetting", _as_gain_map(vig))
        else:
            raise ISPInputError(
                "vignetting must be one of 'auto', 'off', a RadialVignetting or an H x W gain "
                f"array; got {type(vig).__name__} {vig!r}"
            )
        _choices("demosaic", self.demosaic, DEMOSAIC_ALGORITHMS)
        _choices("display_codes", self.display_codes, DISPLAY_CODES)
        _choices("highlights", self.highlights, HIGHLIGHT_MODES)
        _choices("crop", self.crop, CROP_MODES)
        _choices("denoise", self.denoise, DENOISE_MODES)
        _choices("color", self.color, COLOR_MODES)
        gamma = self.gamma
        if isinstance(gamma, str):
            _choices("gamma", gamma, GAMMA_MODES, " or a positive float")
        elif isinstance(gamma, (int, float, np.floating, np.integer)) and not isinstance(gamma, bool):
            if not (math.isfinite(float(gamma)) and float(gamma) > 0):
                raise ISPInputError(
                    f"gamma must be one of 'srgb', 'bt709', 'linear' or a positive float; got {gamma!r}"
                )
            object.__setattr__(self, "gamma", float(gamma))
        else:
            raise ISPInputError(
                f"gamma must be one of 'srgb', 'bt709', 'linear' or a positive float; got {gamma!r}"
            )

    # arrays make the generated __eq__/__hash__ unusable: compare them by value instead
    def _key(self) -> tuple:
        vig = self.vignetting
        if isinstance(vig, np.ndarray):
            vig = ("gain_map", vig.shape, vig.tobytes())
        return (self.wb, vig, self.denoise, self.color, self.gamma, self.demosaic, self.display_codes,
                self.highlights, self.crop)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ISPConfig):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def replace(self, **fields: Any) -> "ISPConfig":
        """A copy with some fields changed (validated like the constructor).

        Raises
        ------
        ISPInputError
            For an unknown field name (the message lists the valid ones) or an invalid value.
        """
        valid = tuple(f.name for f in dataclasses.fields(self))
        unknown = sorted(set(fields) - set(valid))
        if unknown:
            raise ISPInputError(
                f"unknown ISPConfig field(s) {', '.join(unknown)}; valid fields: {', '.join(valid)}"
            )
        return dataclasses.replace(self, **fields)
