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
from typing import Any, Literal, Mapping

from isp.config import GAMMA_MODES, VignettingMode, WB_METHODS
from isp.errors import ISPInputError
from isp.raw import DEFAULT_MAX_PIXELS
from pipeline import DEFAULT_DEFECT_THRESHOLD, check_choice
from runner.errors import PipelineInputError
from runner.writers import DISPLAY_CODES, FORMAT_EXTENSIONS, TIFF_COMPRESSIONS, check_format, check_quality

# Each option is validated by the package that owns it: the ISP's by ``isp.ISPConfig``, the
# completion's and the pipeline's by ``pipeline.Pipeline`` / ``CompletionConfig``, the output
# format's by ``runner.writers``; this module parses text (presets, flags) into their values and
# validates only the batch's own options.
ExecutorName = Literal["local", "dask"]

#: Longest ``--timeout`` accepted: one week (the watchdog's clock overflows far beyond it).
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0

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
    crop: str = "default"
    color: str = "srgb"
    gamma: str | float = "srgb"
    lens_shading: str = "auto"
    # output
    linear: bool = False
    format: str = "tiff16"
    quality: int = 95
    compress: str = "none"
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
        "compress", "method", "auto_mask", "defect_threshold", "demosaic", "highlights", "crop",
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "wb", _parse_wb(self.wb))
        object.__setattr__(self, "gamma", _parse_gamma(self.gamma))
        check_choice("lens_shading", self.lens_shading, VignettingMode)  # the string modes of ISPConfig.vignetting
        check_format(self.format)
        check_choice("executor", self.executor, ExecutorName)
        for name in ("linear", "masks", "overwrite", "resume", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise PipelineInputError(f"{name} must be true or false; got {getattr(self, name)!r}")
        check_quality(self.quality)
        if self.compress not in TIFF_COMPRESSIONS:
            raise PipelineInputError(
                f"compress must be one of {', '.join(map(repr, TIFF_COMPRESSIONS))}; got {self.compress!r}"
            )
        if self.compress != "none" and not self.format.startswith("tiff"):
            raise PipelineInputError(
                f"compress {self.compress!r} applies to TIFF output only; format is {self.format!r} "
                "(PNG is always deflate-compressed, JPEG lossy)"
            )
        if not isinstance(self.jobs, int) or isinstance(self.jobs, bool) or self.jobs < 1:
            raise PipelineInputError(f"jobs must be an integer >= 1; got {self.jobs!r}")
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
        # the ISP's, the completion's and the pipeline's options: checked by their owners
        try:
            pipe = self.pipeline()
        except ISPInputError as exc:
            raise PipelineInputError(str(exc)) from None
        object.__setattr__(self, "defect_threshold", pipe.defect_threshold)

    def pipeline(self) -> Any:
        """A :class:`pipeline.Pipeline` configured by these settings (cheap: nothing loads until
        a file is processed).

        Raises
        ------
        PipelineInputError, isp.ISPInputError
            An option its owner refuses.
        """
        from pipeline import CompletionConfig, Pipeline

        return Pipeline(
            isp_config=self.isp_fields(),
            completion=CompletionConfig(method=self.method, device=self.device),
            output=self.output_space,
            auto_mask=self.auto_mask,
            defect_threshold=self.defect_threshold,
        )

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
            "crop": self.crop,
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


def _parse_wb(value: Any) -> Any:
    """Text from a flag or preset (``"2,1,1.5"``) into gains; ``isp.ISPConfig`` validates."""
    if isinstance(value, str) and value not in WB_METHODS:
        parts = value.replace(" ", "").split(",")
        if len(parts) == 3:
            try:
                return tuple(float(p) for p in parts)
            except ValueError:
                pass
    if isinstance(value, list):
        return tuple(value)
    return value


def _parse_gamma(value: Any) -> Any:
    """Text from a flag or preset (``"2.2"``) into a number; ``isp.ISPConfig`` validates."""
    if isinstance(value, str) and value not in GAMMA_MODES:
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _positive_float(name: str, value: Any, expected: str) -> float:
    """``value`` as a finite float > 0, else a ``PipelineInputError`` saying ``name must be expected``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise PipelineInputError(f"{name} must be {expected}; got {value!r}")
    return number


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


__all__ = ["Settings", "SETTING_NAMES", "build_settings", "load_preset"]
