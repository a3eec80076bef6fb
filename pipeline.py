"""rawcomplete's front door: develop a RAW with the ISP, complete masked pixels, return or write it.

Library use (what a photo tool calls)::

    from pipeline import Pipeline
    pipe = Pipeline(isp_config={"wb": "camera", "denoise": "median3"}, completion="biharmonic")
    result = pipe.process("IMG_0001.dng", mask=holes)      # holes: bool H x W, output orientation
                                                           # (see examples/complete_with_mask.py)
    result.image      # float32 H x W x 3, display-referred [0, 1] (or scene-linear, output="linear")
    result.timings    # {"read": s, "develop": s, "mask": s, "complete": s, "total": s}

Command line: ``rawcomplete INPUT... -o OUTDIR [options]`` (also ``python pipeline.py`` and
``python -m pipeline``); see :mod:`runner.cli`. Heavy modules (the ISP's Numba kernels, torch)
are imported only when a file is processed, so ``import pipeline`` and ``--help`` stay fast.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np

from runner.errors import (
    MaskFileError,
    OutputError,
    PipelineError,
    PipelineInputError,
    WorkerCrashError,
)
from runner.settings import DEFAULT_DEFECT_THRESHOLD, check_choice

__all__ = [
    "Pipeline",
    "Result",
    "CompletionConfig",
    "PipelineError",
    "PipelineInputError",
    "MaskFileError",
    "OutputError",
    "WorkerCrashError",
    "main",
]

log = logging.getLogger("rawcomplete")

Output = Literal["display", "linear"]
Method = Literal["auto", "gan", "biharmonic"]
AutoMask = Literal["none", "defects"]

# Per process: set once the GAN weights turned out to be unavailable, so "auto" stops trying.
_GAN_UNAVAILABLE: str | None = None


@dataclass(frozen=True)
class CompletionConfig:
    """How masked pixels are completed.

    Parameters
    ----------
    method : {"auto", "gan", "biharmonic"}
        ``"gan"``: the shipped inpainting model (raises ``completion.WeightsError`` when its
        weights are missing). ``"biharmonic"``: classical smooth fill, no model. ``"auto"``:
        ``completion.inpaint(method="auto")`` (biharmonic for small hole groups such as dust and
        defects, the GAN for larger ones) when the GAN weights load, else biharmonic with a logged
        warning (the method actually used is in :attr:`Result.completion_method`).
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """

    method: str = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        check_choice("method", self.method, Method)
        from runner.settings import _check_device

        _check_device(self.device)


@dataclass(frozen=True, eq=False)
class Result:
    """What :meth:`Pipeline.process` returns.

    Attributes
    ----------
    image : numpy.ndarray
        float32 H x W x 3, output orientation, completed where :attr:`mask` is True.
        ``output="display"``: gamma-encoded in [0, 1]; ``output="linear"``: scene-linear,
        unclipped.
    linear : numpy.ndarray
        float32 H x W x 3 scene-linear image from the ISP (``ISPResult.linear``). It is the
        completed image when ``output="linear"`` (then ``image is linear``); with
        ``output="display"`` it is the ISP's output before completion.
    mask : numpy.ndarray or None
        bool H x W, the holes that were completed (given mask OR detected defects grown to
        their 3 x 3 neighbourhood); None when there was nothing to complete.
    timings : Mapping[str, float]
        Seconds per stage: ``read`` (0 for a RawFrame), ``develop``, ``mask``, ``complete``, ``total``.
    isp : isp.ISPResult
        The ISP's result (frame, white-balance gains, opcodes applied, effective config).
    completion_method : str or None
        ``"gan"`` or ``"biharmonic"`` when pixels were completed, else None.
    output : {"display", "linear"}
    defects_found : int
        Number of defective photosites detected (``auto_mask="defects"``), else 0.
    """

    image: np.ndarray
    linear: np.ndarray
    mask: np.ndarray | None
    timings: Mapping[str, float]
    isp: Any
    completion_method: str | None
    output: str
    defects_found: int = 0

    @property
    def frame(self) -> Any:
        """The ``isp.RawFrame`` developed."""
        return self.isp.frame

    @property
    def metadata(self) -> Any:
        """The ``isp.RawMetadata`` of the file (make, model, ISO, exposure, ...)."""
        return self.isp.frame.metadata


class Pipeline:
    """Develop RAW files and complete their holes; one object, reused for many files.

    Parameters
    ----------
    isp_config : isp.ISPConfig or mapping, optional
        ISP settings; a mapping is passed to ``isp.ISPConfig(**mapping)``. None: ISP defaults.
    completion : CompletionConfig, {"auto", "gan", "biharmonic"} or None
        How holes are completed; None disables completion (then ``mask`` must be None and
        ``auto_mask`` "none").
    output : {"display", "linear"}
        What :attr:`Result.image` holds, and the space completion runs in.
    auto_mask : {"none", "defects"}
        ``"defects"``: also complete hot and dead photosites found on the mosaic
        (:func:`isp.defects.detect_defective_pixels`), each with its 3 x 3 output
        neighbourhood (where bilinear demosaicing spread it).
    defect_threshold : float
        Threshold for ``auto_mask="defects"``, in noise units.

    Raises
    ------
    PipelineInputError
        An invalid choice (the message lists the valid values).
    isp.ISPInputError
        An invalid ISP setting.

    Examples
    --------
    >>> from pipeline import Pipeline
    >>> pipe = Pipeline(isp_config={"denoise": "median3"}, completion="biharmonic")  # doctest: +SKIP
    >>> res = pipe.process("samples/scene_rggb.dng")                                  # doctest: +SKIP
    >>> res.image.shape, res.image.dtype                                              # doctest: +SKIP
    ((256, 384, 3), dtype('float32'))
    """

    def __init__(
        self,
        isp_config: Any = None,
        *,
        completion: CompletionConfig | str | None = "auto",
        output: str = "display",
        auto_mask: str = "none",
        defect_threshold: float = DEFAULT_DEFECT_THRESHOLD,
    ) -> None:
        import isp

        if isp_config is None:
            self.isp_config = isp.ISPConfig()
        elif isinstance(isp_config, Mapping):
            self.isp_config = isp.ISPConfig(**dict(isp_config))
        elif isinstance(isp_config, isp.ISPConfig):
            self.isp_config = isp_config
        else:
            raise PipelineInputError(
                f"isp_config must be an isp.ISPConfig, a mapping of its fields or None; got {type(isp_config).__name__}"
            )
        if isinstance(completion, str):
            completion = CompletionConfig(method=completion)
        elif completion is not None and not isinstance(completion, CompletionConfig):
            raise PipelineInputError(
                f"completion must be a CompletionConfig, one of 'auto', 'gan', 'biharmonic', or None; got {completion!r}"
            )
        self.completion = completion
        self.output = check_choice("output", output, Output)
        self.auto_mask = check_choice("auto_mask", auto_mask, AutoMask)
        try:
            self.defect_threshold = float(defect_threshold)
        except (TypeError, ValueError):
            raise PipelineInputError(f"defect_threshold must be a positive number; got {defect_threshold!r}") from None
        if not self.defect_threshold > 0:
            raise PipelineInputError(f"defect_threshold must be a positive number; got {defect_threshold!r}")
        if completion is None and auto_mask != "none":
            raise PipelineInputError("auto_mask needs completion; got completion=None")

    def __repr__(self) -> str:
        return (
            f"Pipeline(isp_config={self.isp_config!r}, completion={self.completion!r}, "
            f"output={self.output!r}, auto_mask={self.auto_mask!r}, defect_threshold={self.defect_threshold!r})"
        )

    # ---------------------------------------------------------------------------------------
    def process(self, source: Any, mask: np.ndarray | None = None) -> Result:
        """Develop ``source`` and complete the pixels under ``mask`` (and detected defects).

        Parameters
        ----------
        source : str, os.PathLike or isp.RawFrame
            A RAW file, or a frame already read with :func:`isp.read_raw`.
        mask : numpy.ndarray, optional
            H x W, output orientation (as the developed image is shown), True / non-zero = hole.
            bool, integer (0 / 255 or 0 / 1) or float (>= 0.5 = hole). An empty mask, or None
            with ``auto_mask="none"``, skips completion.

        Returns
        -------
        Result

        Raises
        ------
        isp.UnsupportedRawError, isp.CorruptRawError
            The file cannot be developed.
        PipelineInputError
            ``source`` is of the wrong type, or ``mask`` has the wrong shape.
        completion.CompletionError
            Completion failed (e.g. ``completion.WeightsError`` for ``method="gan"``).
        """
        import isp

        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        if isinstance(source, (str, os.PathLike)):
            t = time.perf_counter()
            frame = isp.read_raw(source)
            timings["read"] = time.perf_counter() - t
        elif isinstance(source, isp.RawFrame):
            frame = source
            timings["read"] = 0.0
        else:
            raise PipelineInputError(
                f"source must be a path or an isp.RawFrame; got {type(source).__name__}"
            )

        t = time.perf_counter()
        developed = isp.develop(frame, config=self.isp_config)
        image = developed.display if self.output == "display" else developed.linear
        timings["develop"] = time.perf_counter() - t

        t = time.perf_counter()
        holes = self._validate_mask(mask, image.shape[:2], frame)
        defects = 0
        if self.auto_mask == "defects":
            from isp.defects import detect_defective_pixels

            found = detect_defective_pixels(frame.mosaic, frame.cfa, threshold=self.defect_threshold)
            from isp.geometry import mask_to_output

            found = np.asarray(mask_to_output(found, frame, self.isp_config.crop), dtype=bool)
            if found.shape != image.shape[:2]:
                raise PipelineError(
                    f"{_name(frame)}: defect map is {found.shape} after orientation but the developed "
                    f"image is {image.shape[:2]}"
                )
            defects = int(found.sum())
            # Bilinear demosaicing spreads a photosite into its 3 x 3 output neighbourhood.
            found = _dilate3(found)
            holes = found if holes is None else (holes | found)
        timings["mask"] = time.perf_counter() - t

        t = time.perf_counter()
        method_used = None
        if holes is not None and holes.any():
            image, method_used = self._complete(image, holes)
        timings["complete"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t_start
        linear = image if self.output == "linear" else developed.linear
        return Result(
            image=image,
            linear=linear,
            mask=holes,
            timings=timings,
            isp=developed,
            completion_method=method_used,
            output=self.output,
            defects_found=defects,
        )

    # ---------------------------------------------------------------------------------------
    def _validate_mask(self, mask: Any, shape: tuple[int, int], frame: Any) -> np.ndarray | None:
        if mask is None:
            return None
        if self.completion is None:
            raise PipelineInputError("a mask was given but completion is disabled (completion=None)")
        arr = np.asarray(mask)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        if arr.ndim != 2 or arr.shape != tuple(shape):
            raise PipelineInputError(
                f"{_name(frame)}: mask must be H x W = {shape[0]} x {shape[1]} in output orientation; "
                f"got shape {arr.shape}"
            )
        if arr.dtype == bool:
            return arr.copy()
        if np.issubdtype(arr.dtype, np.integer):
            return arr != 0
        if np.issubdtype(arr.dtype, np.floating):
            return arr >= 0.5
        raise PipelineInputError(f"mask must be bool, integer or float; got dtype {arr.dtype}")

    def _complete(self, image: np.ndarray, holes: np.ndarray) -> tuple[np.ndarray, str]:
        global _GAN_UNAVAILABLE
        import completion

        cfg = self.completion
        method = cfg.method
        if method == "auto" and _GAN_UNAVAILABLE is not None:
            method = "biharmonic"
        if method == "auto":
            try:
                out = completion.inpaint(image, holes, space=self.output, device=cfg.device, method="auto")
                return out, "auto"
            except completion.WeightsError as exc:
                _GAN_UNAVAILABLE = str(exc)
                log.warning("GAN weights unavailable (%s); completing with the biharmonic method", exc)
                method = "biharmonic"
        out = completion.inpaint(image, holes, space=self.output, device=cfg.device, method=method)
        return out, method


def _dilate3(mask: np.ndarray) -> np.ndarray:
    """bool H x W -> the same, grown by one pixel in all 8 directions."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    rows = out.copy()
    out[:, 1:] |= rows[:, :-1]
    out[:, :-1] |= rows[:, 1:]
    return out


def _name(frame: Any) -> str:
    path = getattr(frame, "path", None)
    return repr(str(path)) if path else "<frame>"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rawcomplete`` command; returns the exit status (0, 1 or 2)."""
    from runner.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
