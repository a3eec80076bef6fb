"""rawcomplete's front door: develop a RAW with the ISP, complete masked pixels, return or write it.

Library use (what a photo tool calls)::

    from pipeline import Pipeline
    pipe = Pipeline(isp_config={"wb": "camera", "denoise": "median3"}, completion="biharmonic")
    result = pipe.process("IMG_0001.dng", mask=holes)      # holes: bool H x W, output orientation
                                                           # (see examples/complete_with_mask.py)
    result.image      # float32 H x W x 3, display-referred [0, 1] (or scene-linear, output="linear")
    result.timings    # {"read": s, "develop": s, "mask": s, "complete": s, "total": s}
    result.save("IMG_0001.tif")   # 16-bit TIFF with ICC profile and EXIF, written atomically

``process`` takes a path, the file's bytes, a binary file object or an ``isp.RawFrame``; masks
follow one rule (:func:`holes_from_array`), the same the command line applies to mask PNGs.

Command line: ``rawcomplete INPUT... -o OUTDIR [options]`` (also ``python pipeline.py`` and
``python -m pipeline``); see :mod:`runner.cli`. Heavy modules (the ISP's Numba kernels, torch)
are imported only when a file is processed, so ``import pipeline`` and ``--help`` stay fast.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, Mapping, Union, get_args

import numpy as np

from rawcomplete_errors import RawcompleteError
from runner.errors import (
    MaskFileError,
    OutputError,
    PipelineError,
    PipelineInputError,
    WorkerCrashError,
)
from runner.writers import DISPLAY_CODES, FORMAT_EXTENSIONS, check_format

__all__ = [
    "Pipeline",
    "Result",
    "CompletionConfig",
    "holes_from_array",
    "format_for_path",
    "PipelineError",
    "PipelineInputError",
    "MaskFileError",
    "OutputError",
    "WorkerCrashError",
    "main",
]

log = logging.getLogger("rawcomplete")

#: Default of ``auto_mask="defects"``'s threshold, in noise units.
DEFAULT_DEFECT_THRESHOLD = 8.0

Output = Literal["display", "linear"]
Method = Literal["auto", "gan", "biharmonic"]
AutoMask = Literal["none", "defects"]
#: What :meth:`Pipeline.process` reads: a path, the file's bytes, a binary file object or a frame.
Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO, Any]

#: File name suffix -> output format of :meth:`Result.save` when ``format`` is None (a TIFF of a
#: ``output="linear"`` result is float32, ``"tiff32f"``).
SUFFIX_FORMATS: Mapping[str, str] = {
    ".tif": "tiff16", ".tiff": "tiff16", ".png": "png16", ".jpg": "jpeg", ".jpeg": "jpeg",
}

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
        check_device(self.device)


def choices(literal: Any) -> tuple[str, ...]:
    """The valid values of a ``Literal[...]`` type."""
    return tuple(get_args(literal))


def check_choice(name: str, value: Any, literal: Any) -> str:
    """Return ``value`` when it is one of ``literal``'s values, else raise listing them.

    Raises
    ------
    PipelineInputError
        ``"<name> must be one of 'a', 'b'; got 'x'"``.
    """
    valid = choices(literal)
    if value not in valid:
        raise PipelineInputError(f"{name} must be one of {', '.join(map(repr, valid))}; got {value!r}")
    return value


def check_device(value: Any) -> str:
    """``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, else :class:`PipelineInputError`."""
    ok = isinstance(value, str) and (
        value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit())
    )
    if not ok:
        raise PipelineInputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {value!r}")
    return value


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
        What actually ran: ``"biharmonic"``, ``"gan"`` or ``"gan+biharmonic"`` (method "auto"
        with both small and large hole groups) when pixels were completed, else None. Never "auto".
    output : {"display", "linear"}
    defects_found : int
        Number of defective photosites detected (``auto_mask="defects"``), else 0.
    completion_groups : Mapping[str, int]
        Number of 8-connected hole groups completed by each method, e.g. ``{"biharmonic": 12,
        "gan": 1}``; empty when nothing was completed.
    """

    image: np.ndarray
    linear: np.ndarray
    mask: np.ndarray | None
    timings: Mapping[str, float]
    isp: Any
    completion_method: str | None
    output: str
    defects_found: int = 0
    completion_groups: Mapping[str, int] = dataclasses.field(default_factory=dict)

    @property
    def highlights_reconstructed(self) -> Mapping[str, int]:
        """Photosites rebuilt per rule by ``highlights="reconstruct"`` (``ISPResult.highlights_reconstructed``;
        the ``"all_clipped"`` ones completed by :mod:`completion.highlights`); empty otherwise."""
        return self.isp.highlights_reconstructed

    def save(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        *,
        quality: int = 95,
        metadata: Any = True,
        compress: str = "none",
        overwrite: bool = True,
        software: str | None = None,
    ) -> Path:
        """Write :attr:`image` to ``path`` as the command line does: same encoder, ICC profile,
        camera metadata and atomic write (a temporary file beside ``path``, then a rename).

        Parameters
        ----------
        path : str or os.PathLike
            The output file; its folder is created.
        format : {"tiff16", "tiff32f", "png16", "png8", "jpeg"}, optional
            None: from the suffix (``.tif``/``.tiff`` -> tiff16, or tiff32f for an
            ``output="linear"`` result; ``.png`` -> png16; ``.jpg``/``.jpeg`` -> jpeg).
        quality : int
            JPEG quality 1..100.
        metadata : bool or runner.writers.OutputMetadata
            True: the RAW's make, model, lens, capture time, exposure, f-number, ISO, focal
            length (read with exiv2, LibRaw's values where exiv2 has none);
            False: none; or the metadata to write.
        compress : {"none", "deflate", "zstd"}
            TIFF compression (lossless, with a horizontal predictor); ignored for PNG / JPEG.
        overwrite : bool
            False: refuse an existing ``path`` (:class:`OutputError`).
        software : str, optional
            The Software tag (default ``"rawcomplete <version>"``).

        Returns
        -------
        pathlib.Path
            ``path``.

        Raises
        ------
        PipelineInputError
            Unknown format or suffix, or a quality out of range.
        OutputError
            The file cannot be written.
        """
        from runner.icc import icc_kind, profile_for
        from runner.writers import OutputMetadata, check_quality, write_image

        fmt = format_for_path(path, format, linear=self.output == "linear")
        check_quality(quality)
        config = self.isp.config
        kind = icc_kind(color=config.color, linear=self.output == "linear", gamma=config.gamma)
        if metadata is True:
            if software is None:
                from runner.resume import package_version

                software = f"rawcomplete {package_version()}"
            meta = OutputMetadata.from_file(getattr(self.frame, "path", None), self.metadata, software=software)
        elif metadata is False or metadata is None:
            meta = OutputMetadata(software=software)
        elif isinstance(metadata, OutputMetadata):
            meta = metadata
        else:
            raise PipelineInputError(
                f"metadata must be True, False or a runner.writers.OutputMetadata; got {type(metadata).__name__}"
            )
        image = self.image
        codes = getattr(config, "display_codes", "none")
        if self.completion_method is None and self.output == "display" and codes != "none" \
                and _codes_for_format(fmt) == codes:
            image = self.isp.display_as(codes)  # the integer codes the ISP wrote in its own pass
        write_image(path, image, format=fmt, icc=profile_for(kind) if kind is not None else None,
                    metadata=meta, quality=quality, compress=compress, overwrite=overwrite)
        return Path(path)

    @property
    def frame(self) -> Any:
        """The ``isp.RawFrame`` developed."""
        return self.isp.frame

    @property
    def metadata(self) -> Any:
        """The ``isp.RawMetadata`` of the file (make, model, ISO, exposure, ...)."""
        return self.isp.frame.metadata


def format_for_path(path: str | os.PathLike[str], format: str | None = None, *, linear: bool = False) -> str:
    """The output format to write ``path`` in: ``format`` when given (validated), else from the
    suffix (see :data:`SUFFIX_FORMATS`; a TIFF is ``"tiff32f"`` when ``linear``).

    Raises
    ------
    PipelineInputError
        An unknown format, or a suffix that names none.
    """
    if format is not None:
        return check_format(format)
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise PipelineInputError(
            f"cannot tell the format of {str(path)!r} from its suffix; use one of "
            f"{', '.join(SUFFIX_FORMATS)} or pass format= ({', '.join(FORMAT_EXTENSIONS)})"
        )
    fmt = SUFFIX_FORMATS[suffix]
    return "tiff32f" if fmt == "tiff16" and linear else fmt


def _codes_for_format(fmt: str) -> str:
    return DISPLAY_CODES.get(fmt, "none")


def holes_from_array(mask: Any, *, full_scale: float | None = None, name: str = "mask") -> np.ndarray:
    """The one rule that turns a mask into holes (library masks and the CLI's mask PNGs alike).

    A pixel is a hole when its brightest colour channel is at least half of full scale, so the
    anti-aliased edge of a white brush stroke counts from 50 % up.

    - Layout: H x W, or H x W x 1 / 3 / 4 (and 2, grey + alpha); an alpha channel (the 2nd or 4th)
      is ignored, colour channels are combined with their maximum.
    - bool: True = hole.
    - Integers: values only 0 and 1 (and no ``full_scale`` given): 1 = hole. Otherwise full scale
      is ``full_scale``, else 255 for uint8, 65535 for uint16, and for other integer types 255
      when every value is <= 255, else 65535. Negative values, or values above 65535 with no
      ``full_scale``, are refused.
    - Floats: full scale ``full_scale`` or 1.0 (so >= 0.5 is a hole); NaN / infinity refused.

    Parameters
    ----------
    mask : array-like
        The mask, in output orientation (as the developed image is shown).
    full_scale : float, optional
        The value of white (a mask file's bit depth says it: 255, 65535).
    name : str
        What to call the mask in errors (a file name).

    Returns
    -------
    numpy.ndarray
        bool H x W, True = hole.

    Raises
    ------
    PipelineInputError
        Wrong layout, dtype or values.
    """
    arr = np.asarray(mask)
    if arr.ndim == 3 and arr.shape[2] in (1, 2, 3, 4):
        if arr.shape[2] in (2, 4):
            arr = arr[..., :-1]
        arr = arr.max(axis=2) if arr.shape[2] > 1 else arr[..., 0]
    if arr.ndim != 2:
        raise PipelineInputError(f"{name} must be H x W or H x W x 1/3/4; got shape {np.shape(mask)}")
    if arr.dtype == bool:
        return arr.copy()
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size == 0:
            return np.zeros(arr.shape, dtype=bool)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0:
            raise PipelineInputError(f"{name} has negative values (min {lo}); expected 0 = keep, white = hole")
        if full_scale is None:
            if hi <= 1:
                return arr == 1
            if arr.dtype == np.uint8:
                full_scale = 255.0
            elif arr.dtype == np.uint16:
                full_scale = 65535.0
            elif hi <= 255:
                full_scale = 255.0
            elif hi <= 65535:
                full_scale = 65535.0
            else:
                raise PipelineInputError(
                    f"{name} has values up to {hi}; integer masks are 0/1, 8-bit (0..255) or 16-bit (0..65535)"
                )
        return arr.astype(np.float64) >= float(full_scale) / 2
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise PipelineInputError(f"{name} holds NaN or infinite values")
        return arr >= (1.0 if full_scale is None else float(full_scale)) / 2
    raise PipelineInputError(f"{name} must be bool, integer or float; got dtype {arr.dtype}")


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
        neighbourhood (where bilinear demosaicing spread it). Skipped, with a warning, for files
        without a Bayer mosaic (linear RAWs, LibRaw-fallback X-Trans / 4-colour CFAs).
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
        if not 0 < self.defect_threshold < float("inf"):
            raise PipelineInputError(f"defect_threshold must be a positive number; got {defect_threshold!r}")
        if completion is None and auto_mask != "none":
            raise PipelineInputError("auto_mask needs completion; got completion=None")

    def __repr__(self) -> str:
        return (
            f"Pipeline(isp_config={self.isp_config!r}, completion={self.completion!r}, "
            f"output={self.output!r}, auto_mask={self.auto_mask!r}, defect_threshold={self.defect_threshold!r})"
        )

    # ---------------------------------------------------------------------------------------
    def process(self, source: Source, mask: Any = None) -> Result:
        """Develop ``source`` and complete the pixels under ``mask`` (and detected defects).

        Parameters
        ----------
        source : str, os.PathLike, bytes, binary file object or isp.RawFrame
            A RAW file; its bytes (``bytes``, ``bytearray``, ``memoryview``); a file object
            opened in binary mode (read from its current position to the end); or a frame
            already read with :func:`isp.read_raw`. Errors about bytes name ``"<bytes>"``, about
            a file object its ``name`` (else ``"<file object>"``).
        mask : array-like, optional
            H x W (or H x W x 1/3/4), output orientation (as the developed image is shown);
            turned into holes by :func:`holes_from_array` (bool; 0/1; 0/255 or grey thresholded
            at 50 %; float >= 0.5). An empty mask, or None with ``auto_mask="none"``, skips
            completion.

        Returns
        -------
        Result

        Raises
        ------
        isp.UnsupportedRawError, isp.CorruptRawError
            The file cannot be developed.
        PipelineInputError
            ``source`` is of the wrong type, or ``mask`` has the wrong shape or values.
        completion.CompletionError
            Completion failed (e.g. ``completion.WeightsError`` for ``method="gan"``).

        Notes
        -----
        Thread-safe: one ``Pipeline`` may serve several threads. Where Numba's only threading
        layer is ``workqueue`` (no TBB or OpenMP on the machine) concurrent calls run one at a
        time (:func:`isp.is_thread_safe`); elsewhere they run concurrently.
        """
        from isp._threading import serial_section

        with serial_section():
            return self._process(source, mask)

    def _process(self, source: Source, mask: Any) -> Result:
        import isp

        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        t = time.perf_counter()
        frame = source if isinstance(source, isp.RawFrame) else _read_source(source)
        timings["read"] = 0.0 if frame is source else time.perf_counter() - t

        t = time.perf_counter()
        developed = isp.develop(frame, config=self.isp_config)
        timings["develop"] = time.perf_counter() - t
        t = time.perf_counter()
        if developed.highlight_mask is not None and self.completion is not None:  # highlights="reconstruct"
            developed = _complete_highlights(developed, self.completion)
        t_highlights = time.perf_counter() - t
        image = developed.display if self.output == "display" else developed.linear

        t = time.perf_counter()
        holes = self._validate_mask(mask, image.shape[:2], frame)
        defects = 0
        if self.auto_mask == "defects" and frame.cfa is None:  # no 2x2 Bayer mosaic to search
            log.warning("%s: auto_mask='defects' skipped: the detector needs a Bayer mosaic and this is %s",
                        _name(frame), "a linear RAW" if frame.mosaic.ndim == 3 else
                        f"a {frame.libraw_fallback.kind} (demosaiced by LibRaw)")
        elif self.auto_mask == "defects":
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
        groups: dict[str, int] = {}
        if holes is not None and holes.any():
            image, method_used, groups = self._complete(image, holes)
        timings["complete"] = time.perf_counter() - t + t_highlights
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
            completion_groups=groups,
        )

    # ---------------------------------------------------------------------------------------
    def _validate_mask(self, mask: Any, shape: tuple[int, int], frame: Any) -> np.ndarray | None:
        if mask is None:
            return None
        if self.completion is None:
            raise PipelineInputError("a mask was given but completion is disabled (completion=None)")
        holes = holes_from_array(mask, name=f"{_name(frame)}: mask")
        if holes.shape != tuple(shape):
            raise PipelineInputError(
                f"{_name(frame)}: mask must be H x W = {shape[0]} x {shape[1]} in output orientation; "
                f"got shape {np.shape(mask)}"
            )
        return holes

    def _complete(self, image: np.ndarray, holes: np.ndarray) -> tuple[np.ndarray, str, dict[str, int]]:
        global _GAN_UNAVAILABLE
        import completion

        cfg = self.completion
        assert cfg is not None  # internal invariant: _validate_mask / __init__ refuse holes without it
        method = cfg.method
        if method == "auto" and _GAN_UNAVAILABLE is not None:
            method = "biharmonic"
        if method == "auto":
            try:
                out = completion.inpaint(image, holes, space=self.output, device=cfg.device, method="auto")
                return out, *_what_ran(completion.methods_for(holes, "auto"))
            except completion.WeightsError as exc:
                _GAN_UNAVAILABLE = str(exc)
                log.warning("GAN weights unavailable (%s); completing with the biharmonic method", exc)
                method = "biharmonic"
        out = completion.inpaint(image, holes, space=self.output, device=cfg.device, method=method)
        return out, *_what_ran(completion.methods_for(holes, method))


def _complete_highlights(developed: Any, cfg: CompletionConfig) -> Any:
    """``developed`` with its all-clipped highlights completed in linear light under their lower
    bound (:func:`completion.highlights.complete_highlights`, whose ``"auto"`` fill needs no
    weights); display codes recomputed on use."""
    from completion.highlights import complete_highlights

    linear = complete_highlights(developed.linear, developed.highlight_mask, developed.highlight_floor,
                                 developed.camera_to_output, method=cfg.method, device=cfg.device)
    return dataclasses.replace(developed, linear=linear, codes=None)


def _what_ran(groups: dict[str, int]) -> tuple[str, dict[str, int]]:
    """``Result.completion_method`` ("gan+biharmonic", ...) and ``completion_groups`` from
    :func:`completion.methods_for` (completion owns the rule of which method fills which hole)."""
    return "+".join(groups), groups


def _read_source(source: Any) -> Any:
    """Read a path, bytes or a binary file object into an ``isp.RawFrame``."""
    import isp

    if isinstance(source, (str, os.PathLike)):
        return isp.read_raw(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label = bytes(source), "<bytes>"
    elif callable(getattr(source, "read", None)):
        name = getattr(source, "name", None)
        label = str(name) if isinstance(name, (str, os.PathLike)) else "<file object>"
        try:
            data = source.read()
        except (OSError, ValueError) as exc:  # closed, not readable
            raise PipelineInputError(f"{label}: cannot read the file object: {exc}") from None
        if not isinstance(data, (bytes, bytearray)):
            raise PipelineInputError(
                f"{label}: the file object returned {type(data).__name__}; open the file in binary mode ('rb')"
            )
        data = bytes(data)
    else:
        raise PipelineInputError(
            "source must be a path, bytes, a binary file object or an isp.RawFrame; "
            f"got {type(source).__name__}"
        )
    # isp.read_raw reads files (LibRaw and the TIFF scan take a path): a private temporary one
    fd, tmp = tempfile.mkstemp(prefix="rawcomplete-", suffix=".raw")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            frame = isp.read_raw(tmp)
        except RawcompleteError as exc:
            raise _renamed(exc, tmp, label) from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return dataclasses.replace(frame, path=None)


def _renamed(exc: BaseException, tmp: str, label: str) -> BaseException:
    """``exc`` with the temporary file's name replaced by ``label``, of the same class."""
    message = str(exc).replace(tmp, label)
    if label not in message:
        message = f"{label}: {message}"
    try:
        return type(exc)(message)
    except Exception:  # noqa: BLE001 - a class with another signature: keep the hierarchy's root
        return PipelineInputError(message)


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
