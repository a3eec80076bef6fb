"""Batch settings: one frozen dataclass, validated once, loadable from a TOML preset.

Precedence is built-in defaults < preset file (``--config``) < command-line flags. Every string
choice is checked here with an error that lists the valid values, so the rest of the runner can
trust a :class:`Settings`.

Preset files are flat TOML tables whose keys are the long option names with ``_`` for ``-``::

    # portrait.toml
    wb = "camera"              # or "gray_world", "white_world", or [2.0, 1.0, 1.5]
    denoise = "median3"
    gamma = "srgb"
    format = "jpeg"
    quality = 92
    jobs = 2
    auto_mask = "defects"
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, get_args

from isp.raw import DEFAULT_MAX_PIXELS
from runner.errors import PipelineInputError

WB = Literal["camera", "gray_world", "white_world"]
Denoise = Literal["off", "median3", "median5"]
Color = Literal["srgb", "raw"]
GammaName = Literal["srgb", "bt709", "linear"]
LensShading = Literal["auto", "off"]
Format = Literal["tiff16", "tiff32f", "png16", "png8", "jpeg"]
Method = Literal["auto", "gan", "biharmonic"]
AutoMask = Literal["none", "defects"]
ExecutorName = Literal["local", "dask"]

#: Output formats and the file extension each writes.
FORMAT_EXTENSIONS: Mapping[str, str] = {
    "tiff16": ".tif",
    "tiff32f": ".tif",
    "png16": ".png",
    "png8": ".png",
    "jpeg": ".jpg",
}

DEFAULT_DEFECT_THRESHOLD = 8.0
#: Longest ``--timeout`` accepted: one week (the watchdog's clock overflows far beyond it).
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0

#: Integer dtype of each display format's samples (``isp.ISPConfig.display_codes``).
DISPLAY_CODES: Mapping[str, str] = {"tiff16": "uint16", "png16": "uint16", "png8": "uint8", "jpeg": "uint8"}


def choices(literal: Any) -> tuple[str, ...]:
    """The valid values of a ``Literal[...]`` type."""
    return tuple(get_args(literal))


def check_choice(name: str, value: Any, literal: Any) -> str:
    """Return ``value`` when it is one of ``literal``'s values, else raise listing them."""
    valid = choices(literal)
    if value not in valid:
        raise PipelineInputError(f"{name} must be one of {', '.join(map(repr, valid))}; got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything that decides how a batch runs and what it writes.

    Fields that change the pixels or the file written (``PROCESSING_FIELDS``) enter the resume
    fingerprint; the others (jobs, executor, report, ...) do not.
    """

    # ISP
    wb: str | tuple[float, float, float] = "camera"
    denoise: str = "off"
    demosaic: str = "bilinear"
    highlights: str = "clip"
    color: str = "srgb"
    gamma: str | float = "srgb"
    lens_shading: str = "auto"
    # output
    linear: bool = False
    format: str = "tiff16"
    quality: int = 95
    # completion
    method: str = "auto"
    device: str = "auto"
    masks: bool = True
    mask_dir: str | None = None
    auto_mask: str = "none"
    defect_threshold: float = DEFAULT_DEFECT_THRESHOLD
    # batch
    jobs: int = 1
    executor: str = "local"
    overwrite: bool = False
    resume: bool = False
    report: str | None = None
    progress: bool = True
    timeout: float | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    PROCESSING_FIELDS = (
        "wb", "denoise", "color", "gamma", "lens_shading", "linear", "format", "quality",
        "method", "auto_mask", "defect_threshold", "demosaic", "highlights",
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "wb", _check_wb(self.wb))
        check_choice("denoise", self.denoise, Denoise)
        _check_demosaic(self.demosaic)
        _check_highlights(self.highlights)
        check_choice("color", self.color, Color)
        object.__setattr__(self, "gamma", _check_gamma(self.gamma))
        check_choice("lens_shading", self.lens_shading, LensShading)
        check_choice("format", self.format, Format)
        check_choice("method", self.method, Method)
        check_choice("auto_mask", self.auto_mask, AutoMask)
        check_choice("executor", self.executor, ExecutorName)
        _check_device(self.device)
        for name in ("linear", "masks", "overwrite", "resume", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise PipelineInputError(f"{name} must be true or false; got {getattr(self, name)!r}")
        if not isinstance(self.quality, int) or isinstance(self.quality, bool) or not 1 <= self.quality <= 100:
            raise PipelineInputError(f"quality must be an integer in 1..100; got {self.quality!r}")
        if not isinstance(self.jobs, int) or isinstance(self.jobs, bool) or self.jobs < 1:
            raise PipelineInputError(f"jobs must be an integer >= 1; got {self.jobs!r}")
        object.__setattr__(self, "defect_threshold",
                           _positive_float("defect_threshold", self.defect_threshold, "a positive number"))
        if self.timeout is not None:
            timeout = _positive_float("timeout", self.timeout, "a positive number of seconds")
            if timeout > MAX_TIMEOUT_SECONDS:
                raise PipelineInputError(
                    f"timeout must be at most {MAX_TIMEOUT_SECONDS:g} seconds (one week); got {self.timeout!r}"
                )
            object.__setattr__(self, "timeout", timeout)
        if self.max_pixels is not None:
            if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) or self.max_pixels < 0:
                raise PipelineInputError(
                    f"max_pixels must be a whole number >= 0 (0: no limit); got {self.max_pixels!r}"
                )
            if self.max_pixels == 0:
                object.__setattr__(self, "max_pixels", None)
        for name in ("mask_dir", "report"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise PipelineInputError(f"{name} must be a path (a non-empty string); got {value!r}")
        if self.format == "tiff32f" and not self.linear:
            # A float TIFF only makes sense for scene-linear data: it is the linear output.
            object.__setattr__(self, "linear", True)

    @property
    def extension(self) -> str:
        """File extension of the outputs, with the dot."""
        return FORMAT_EXTENSIONS[self.format]

    @property
    def output_space(self) -> Literal["display", "linear"]:
        return "linear" if self.linear else "display"

    def isp_fields(self) -> dict[str, Any]:
        """Keyword arguments for ``isp.ISPConfig``."""
        return {
            "wb": self.wb,
            "denoise": self.denoise,
            "demosaic": self.demosaic,
            "highlights": self.highlights,
            "color": self.color,
            "gamma": self.gamma,
            "vignetting": self.lens_shading,
            # integer outputs: the ISP writes their codes in its own pass (ISPResult.display_as)
            "display_codes": "none" if self.linear else DISPLAY_CODES.get(self.format, "none"),
        }

    def processing(self) -> dict[str, Any]:
        """The settings that decide the output's content, JSON-ready (for fingerprints and reports)."""
        out = {}
        for name in self.PROCESSING_FIELDS:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Settings))


def _check_wb(value: Any) -> str | tuple[float, float, float]:
    if isinstance(value, str):
        if value in choices(WB):
            return value
        parts = value.replace(" ", "").split(",")
        if len(parts) == 3:
            try:
                value = tuple(float(p) for p in parts)
            except ValueError:
                pass
    if isinstance(value, (list, tuple)) and len(value) == 3:
        try:
            gains = tuple(float(v) for v in value)
        except (TypeError, ValueError):
            gains = ()
        if len(gains) == 3 and all(g > 0 and g != float("inf") for g in gains):
            return gains  # type: ignore[return-value]
    raise PipelineInputError(
        f"wb must be one of {', '.join(map(repr, choices(WB)))} or three positive gains 'R,G,B'; got {value!r}"
    )


def _check_demosaic(value: Any) -> None:
    """The algorithm is ISPConfig's option: its list of valid names is isp's."""
    from isp import DEMOSAIC_ALGORITHMS

    if value not in DEMOSAIC_ALGORITHMS:
        raise PipelineInputError(
            f"demosaic must be one of {', '.join(map(repr, DEMOSAIC_ALGORITHMS))}; got {value!r}"
        )


def _check_highlights(value: Any) -> None:
    """The highlight mode is ISPConfig's option: its list of valid names is isp's."""
    from isp.config import HIGHLIGHT_MODES

    if value not in HIGHLIGHT_MODES:
        raise PipelineInputError(
            f"highlights must be one of {', '.join(map(repr, HIGHLIGHT_MODES))}; got {value!r}"
        )


def _check_gamma(value: Any) -> str | float:
    if isinstance(value, str):
        if value in choices(GammaName):
            return value
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < float(value) < 100:
        return float(value)
    raise PipelineInputError(
        f"gamma must be one of {', '.join(map(repr, choices(GammaName)))} or a positive number; got {value!r}"
    )


def _positive_float(name: str, value: Any, expected: str) -> float:
    """``value`` as a finite float > 0, else a ``PipelineInputError`` saying ``name must be expected``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise PipelineInputError(f"{name} must be {expected}; got {value!r}")
    return number


def _check_device(value: Any) -> None:
    ok = isinstance(value, str) and (
        value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit())
    )
    if not ok:
        raise PipelineInputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {value!r}")


def load_preset(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML preset file into a dict of setting overrides (not yet validated as a whole).

    Raises
    ------
    PipelineInputError
        The file is missing, is not valid TOML, or holds a key that is not a setting.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise PipelineInputError(f"preset file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise PipelineInputError(f"preset file {str(path)!r} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PipelineInputError(f"preset file {str(path)!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise PipelineInputError(f"preset file {str(path)!r} is not UTF-8 text (TOML must be): {exc}") from None
    allowed = [n for n in SETTING_NAMES if n not in ("progress",)]
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in allowed:
            raise PipelineInputError(
                f"preset file {str(path)!r}: unknown key {key!r}; valid keys are {', '.join(allowed)}"
            )
        if name == "mask_dir" and isinstance(value, str) and not os.path.isabs(value):
            value = str((path.parent / value))
        out[name] = value
    return out


def build_settings(preset: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Defaults, then ``preset``, then ``overrides`` (the flags given on the command line)."""
    merged: dict[str, Any] = {}
    merged.update(preset or {})
    merged.update(overrides or {})
    if "wb" in merged and isinstance(merged["wb"], list):
        merged["wb"] = tuple(merged["wb"])
    return Settings(**merged)


__all__ = [
    "FORMAT_EXTENSIONS",
    "DEFAULT_DEFECT_THRESHOLD",
    "Settings",
    "SETTING_NAMES",
    "build_settings",
    "check_choice",
    "choices",
    "load_preset",
]
