"""Regression checks on a user's own RAWs: ``rawcomplete check REFDIR INPUT... [--update]``.

An imaging engineer keeps a folder of reference RAWs (their cameras, their edge cases) and a
reference folder ``REFDIR`` made from them. After a firmware change, a new LibRaw, a new model or
a setting change, ``check`` develops and completes every RAW again with the settings recorded in
REFDIR and says what moved, by how much and where; ``--update`` (re)makes the references.

REFDIR layout (everything is written atomically: a temporary file, then a rename)::

    REFDIR/settings.toml              the recorded settings: a preset file (``rawcomplete --config``
                                      reads it too); edit it to change what the next check develops with
    REFDIR/<rel>/<name>.json          one reference per RAW (``<rel>`` mirrors the input folder, as
                                      the batch's outputs do): what the result was, see below
    REFDIR/<rel>/<name>.<sha12>.png   its image: 16-bit RGB PNG of the output, area-mean downscaled by
                                      an integer factor to at most ``reference_size`` px on the long side
                                      (1024 by default; the factor is stored), named by its content
                                      so the JSON's rename is the one commit point of an update

A reference holds the input's sha256 and the sidecar mask's, the settings that made it
(``made_with``), the versions of rawcomplete, LibRaw, rawpy, numpy, numba, torch and Python,
the outcome (``developed``, or ``refused`` with the error class: a file the pipeline refuses is a
reference too), the full-resolution shape, per-channel statistics of the full-resolution output
(mean, std, min, max, 1st / 50th / 99th percentile), a sha256 of the full-resolution output
quantised to 16 bits, and the metadata the result carries (CFA, black / white levels,
orientation, WB gains and method, the colour matrix used, DNG opcodes applied, defects found,
completion method, pixels completed, make / model).

A file **passes** when its outcome, shape and decisive metadata are unchanged, every statistic
is within ``stats`` and, at the reference's scale, the largest absolute difference is within
``max`` and the PSNR at least ``psnr`` (:data:`TOLERANCES`, in output units: display [0, 1]).
Differences in descriptive metadata (the WB method's label, make / model, warnings) and in the
versions, the settings, the input's or the mask's bytes are reported as possible causes, never
as failures on their own. Without ``--update`` nothing in REFDIR changes.

Every file is checked by :func:`check_file`, a picklable per-file function run by the batch's
executors (the local spawn pool or the Dask cluster), under the same per-file guards
(:func:`runner.work.run_guarded`). The report (:mod:`runner.check_report`) is written as JSON
and as one self-contained HTML page.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from rawcomplete_errors import RawcompleteError
from runner.errors import CheckReferenceError, PipelineInputError
from runner.settings import Settings, build_settings, load_preset
from runner.record import CheckRecord, ErrorInfo
from runner.work import Task, run_guarded

log = logging.getLogger("rawcomplete")

REFERENCE_FORMAT = "rawcomplete-check-reference"
REFERENCE_VERSION = 1
REPORT_VERSION = 1
#: The recorded settings inside REFDIR (a preset file, as ``--config`` reads).
SETTINGS_FILE = "settings.toml"
DEFAULT_REFERENCE_SIZE = 512
#: Allowed differences, in output units (display [0, 1]): largest absolute pixel difference and
#: lowest PSNR (dB, peak 1) at the reference's scale; largest difference of any statistic.
TOLERANCES: Mapping[str, float] = {"max": 2e-3, "psnr": 60.0, "stats": 1e-3}
#: Settings that change the file a batch writes but not the image a check compares.
NOT_RECORDED = ("format", "quality", "compress")
#: Metadata whose change is a failure; the other fields are descriptive (reported only).
DECISIVE_METADATA = (
    "cfa", "black_levels", "white_level", "flip", "wb_gains", "color_matrix", "opcodes_applied",
    "defects_found", "completion_method", "mask_pixels",
)
#: Heat maps: absolute differences from ``HEAT_RANGE[0]`` (black) to ``HEAT_RANGE[1]`` (white-yellow), log scale.
HEAT_RANGE = (1e-4, 1e-1)
#: Long side of the report's pictures, px.
PREVIEW_SIZE = 480


@dataclass(frozen=True)
class CheckTask(Task):
    """One RAW to check: :class:`runner.work.Task` (``output`` is the reference's JSON path) plus
    what the check needs. Plain data, picklable for any executor."""

    key: str = ""
    update: bool = False
    tolerances: tuple[tuple[str, float], ...] = ()
    reference_size: int | None = None


@dataclass
class CheckResult:
    records: list[CheckRecord]
    summary: dict[str, int]
    exit_code: int
    report: dict[str, Any]
    seconds: float = 0.0


# ----------------------------------------------------------------------------------- settings

def recorded_settings(settings: Settings) -> dict[str, Any]:
    """The settings a reference records and a check develops with (JSON-ready)."""
    out = {k: v for k, v in settings.processing().items() if k not in NOT_RECORDED}
    out["masks"] = settings.masks
    if settings.mask_dir is not None:
        out["mask_dir"] = os.path.abspath(settings.mask_dir)
    return out


def read_recorded(refdir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The settings recorded in ``REFDIR/settings.toml``; None when there is none.

    Raises
    ------
    PipelineInputError
        The file is not valid TOML or holds a key that is not a setting.
    """
    path = Path(refdir) / SETTINGS_FILE
    return load_preset(path) if path.is_file() else None


def check_settings(
    refdir: str | os.PathLike[str],
    preset: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    update: bool = False,
) -> Settings:
    """Defaults < REFDIR's recorded settings < ``preset`` (``--config``) < ``overrides`` (flags).

    Raises
    ------
    PipelineInputError
        REFDIR has no recorded settings and ``update`` is False, or a setting is invalid (the
        message names the file).
    """
    refdir = Path(refdir)
    recorded = read_recorded(refdir)
    if recorded is None and not update:
        what = "does not exist" if not refdir.exists() else f"holds no {SETTINGS_FILE}"
        raise PipelineInputError(
            f"REFDIR {str(refdir)!r} {what}: make the references first with rawcomplete check {refdir} INPUT... --update"
        )
    try:
        return build_settings({**(recorded or {}), **(preset or {})}, overrides)
    except PipelineInputError as exc:
        raise PipelineInputError(f"{exc} (recorded settings: {str(refdir / SETTINGS_FILE)!r}, then --config and flags)") from None


def settings_toml(recorded: Mapping[str, Any]) -> str:
    """``recorded`` as a flat TOML preset."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v))  # a TOML basic string is a JSON string

    lines = [
        "# Settings recorded by `rawcomplete check --update`: every check develops with them.",
        "# Edit one to see which references it moves; --update records the settings it was run with.",
    ]
    lines += [f"{k} = {value(v)}" for k, v in recorded.items() if v is not None]
    return "\n".join(lines) + "\n"


def parse_tolerances(items: Sequence[str] | None) -> dict[str, float]:
    """``["max=0.004", "psnr=50,stats=0.002"]`` -> :data:`TOLERANCES` with those replaced.

    Raises
    ------
    PipelineInputError
        An unknown name or a value that is not a positive number.
    """
    out = dict(TOLERANCES)
    for item in items or ():
        for part in filter(None, (p.strip() for p in item.split(","))):
            name, sep, text = part.partition("=")
            name = name.strip()
            if not sep or name not in TOLERANCES:
                raise PipelineInputError(
                    f"--tolerance takes NAME=VALUE with NAME one of {', '.join(TOLERANCES)}; got {part!r}"
                )
            try:
                number = float(text)
            except ValueError:
                number = float("nan")
            if not (number > 0 and math.isfinite(number)):
                raise PipelineInputError(f"--tolerance {name} must be a positive number; got {text.strip()!r}")
            out[name] = number
    return out


# ----------------------------------------------------------------------------------- figures

def versions() -> dict[str, str]:
    """Versions of what produces a result: rawcomplete, LibRaw, rawpy, numpy, numba, torch, Python."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import rawpy

    from runner.resume import package_version

    out = {"rawcomplete": package_version(), "libraw": ".".join(map(str, rawpy.libraw_version))}
    for dist in ("rawpy", "numpy", "numba", "torch"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    out["python"] = platform.python_version()
    return out


def statistics(image: np.ndarray) -> dict[str, list[float]]:
    """Per-channel mean, std, min, max and 1st / 50th / 99th percentiles of an H x W x C image."""
    out: dict[str, list[float]] = {k: [] for k in ("mean", "std", "min", "max", "p1", "p50", "p99")}
    for c in range(image.shape[2]):
        ch = np.ascontiguousarray(image[..., c]).ravel()
        p1, p50, p99 = np.percentile(ch, [1, 50, 99])
        for k, v in zip(out, (ch.mean(dtype=np.float64), ch.std(dtype=np.float64), ch.min(), ch.max(), p1, p50, p99)):
            out[k].append(round(float(v), 7))
    return out


def quantize16(image: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint16 (clipped, rounded)."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 65535.0), 0, 65535).astype(np.uint16)


def downscale(image: np.ndarray, factor: int, *, reduce: str = "mean") -> np.ndarray:
    """Area-mean (or max) over ``factor`` x ``factor`` blocks; the ragged border is dropped. float64."""
    if factor <= 1:
        return np.asarray(image, dtype=np.float64)
    h, w = image.shape[:2]
    hh, ww = (h // factor) * factor, (w // factor) * factor
    blocks = np.asarray(image[:hh, :ww], dtype=np.float64).reshape(hh // factor, factor, ww // factor, factor, -1)
    out = blocks.max(axis=(1, 3)) if reduce == "max" else blocks.mean(axis=(1, 3))
    return out if image.ndim == 3 else out[..., 0]


def scale_factor(shape: Sequence[int], size: int) -> int:
    """The smallest integer factor that brings the long side of ``shape`` to at most ``size``."""
    return max(1, -(-max(shape[0], shape[1]) // max(1, size)))


def heat_colours(diff: np.ndarray) -> np.ndarray:
    """Absolute differences H x W (float) -> uint8 H x W x 3 heat map, log scale over :data:`HEAT_RANGE`:
    black below 1e-4, then purple, red, orange, to pale yellow at 0.1 and above."""
    lo, hi = (math.log10(v) for v in HEAT_RANGE)
    t = np.clip((np.log10(np.maximum(diff, 1e-12)) - lo) / (hi - lo), 0.0, 1.0)
    t[diff <= HEAT_RANGE[0]] = 0.0
    stops = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    colours = np.array([[0, 0, 0], [60, 15, 120], [190, 40, 80], [250, 140, 20], [255, 255, 190]], dtype=np.float64)
    rgb = np.stack([np.interp(t, stops, colours[:, c]) for c in range(3)], axis=-1)
    return np.rint(rgb).astype(np.uint8)


def _png8(image: np.ndarray) -> bytes:
    from runner.png import encode_png

    return encode_png(np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8), level=6)


def _preview(image16: np.ndarray) -> bytes:
    """A reference-scale uint16 image -> 8-bit PNG at most :data:`PREVIEW_SIZE` px."""
    return _png8(downscale(image16, scale_factor(image16.shape, PREVIEW_SIZE)) / 65535.0)


# ----------------------------------------------------------------------------------- references

def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _base(json_path: Path) -> str:
    return json_path.name[: -len(".json")] if json_path.name.endswith(".json") else json_path.name


def write_reference(json_path: str | os.PathLike[str], summary: dict[str, Any], image16: np.ndarray | None) -> dict[str, Any]:
    """Write one reference: its image first (named by content), then the JSON (the commit), then
    remove the image files of earlier versions. Returns the JSON written."""
    from runner.png import encode_png
    from runner.writers import atomic_write_bytes

    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    record = dict(summary)
    keep = None
    if image16 is not None:
        data = encode_png(image16, level=9)
        digest = _sha256(data)
        keep = f"{_base(json_path)}.{digest[:12]}.png"
        atomic_write_bytes(json_path.with_name(keep), data)
        record["image"] = {**record["image"], "file": keep, "sha256": digest}
    atomic_write_bytes(json_path, (json.dumps(record, indent=1) + "\n").encode())
    for old in json_path.parent.glob(f"{_base(json_path)}.*.png"):
        stem = old.name[len(_base(json_path)) + 1 : -len(".png")]
        if old.name != keep and len(stem) == 12 and all(c in "0123456789abcdef" for c in stem):
            old.unlink(missing_ok=True)
    return record


_REQUIRED = ("format", "version", "outcome", "made_with", "versions", "input")
_REQUIRED_DEVELOPED = ("shape", "stats", "metadata", "image", "full_digest")


def load_reference(json_path: str | os.PathLike[str]) -> tuple[dict[str, Any], np.ndarray | None]:
    """Read one reference: its JSON and, for a developed file, its image (uint16 H x W x 3).

    Raises
    ------
    CheckReferenceError
        Naming the file: unreadable, not JSON, not a reference of this format, a field missing,
        the image missing, not matching its recorded sha256, or not decodable.
    """
    from runner.png import decode_png

    json_path = Path(json_path)
    try:
        text = json_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckReferenceError(f"reference {str(json_path)!r} cannot be read: {exc}") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckReferenceError(f"reference {str(json_path)!r} is not valid JSON ({exc}); remake it with --update") from None
    if not isinstance(record, dict) or record.get("format") != REFERENCE_FORMAT:
        raise CheckReferenceError(f"reference {str(json_path)!r} is not a rawcomplete check reference")
    if record.get("version") != REFERENCE_VERSION:
        raise CheckReferenceError(
            f"reference {str(json_path)!r} has format version {record.get('version')!r}; this rawcomplete "
            f"reads version {REFERENCE_VERSION} (remake it with --update)"
        )
    required = _REQUIRED + (_REQUIRED_DEVELOPED if record.get("outcome") == "developed" else ())
    missing = [k for k in required if k not in record]
    if missing or record["outcome"] not in ("developed", "refused"):
        what = f"lacks {', '.join(missing)}" if missing else f"has outcome {record['outcome']!r}"
        raise CheckReferenceError(f"reference {str(json_path)!r} {what}; remake it with --update")
    if record["outcome"] == "refused":
        return record, None
    info = record["image"]
    try:
        image_path = json_path.with_name(str(info["file"]))
        expected, shape = str(info["sha256"]), [int(v) for v in info["shape"]]
        int(info["scale"])
    except (KeyError, TypeError, ValueError):
        raise CheckReferenceError(f"reference {str(json_path)!r}: its 'image' entry is incomplete; remake it with --update") from None
    try:
        data = image_path.read_bytes()
    except OSError as exc:
        raise CheckReferenceError(f"reference image {str(image_path)!r} of {str(json_path)!r} cannot be read: {exc}") from None
    if _sha256(data) != expected:
        raise CheckReferenceError(
            f"reference image {str(image_path)!r} is corrupt or was replaced: its sha256 is {_sha256(data)[:16]}..., "
            f"{str(json_path)!r} records {expected[:16]}...; restore it (e.g. from version control) or remake it with --update"
        )
    try:
        image = decode_png(data)
    except ValueError as exc:
        raise CheckReferenceError(f"reference image {str(image_path)!r} cannot be decoded: {exc}") from None
    if list(image.shape) != shape or image.dtype != np.uint16:
        raise CheckReferenceError(
            f"reference image {str(image_path)!r} is {list(image.shape)} {image.dtype}, {str(json_path)!r} records {shape} uint16"
        )
    return record, image


# ----------------------------------------------------------------------------------- per file

def summarize(task: CheckTask, frame: Any, result: Any) -> tuple[dict[str, Any], np.ndarray]:
    """The reference record of a developed file (without its image entry's file and sha256) and
    the full-resolution image it describes."""
    image = result.image
    settings = task.settings
    q_full = quantize16(image)
    digest = hashlib.sha256(repr(q_full.shape).encode() + q_full.tobytes()).hexdigest()
    isp_result = result.isp
    metadata = {
        "cfa": frame.cfa,
        "black_levels": [float(v) for v in frame.black_levels],
        "white_level": float(frame.white_level),
        "flip": int(frame.flip),
        "wb_gains": [round(float(g), 7) for g in isp_result.wb_gains],
        "wb_method": getattr(isp_result, "wb_method", None),
        "color_matrix": (np.round(np.asarray(frame.color_matrix, dtype=np.float64), 6).tolist()
                         if settings.color != "raw" else None),
        "opcodes_applied": list(isp_result.opcodes_applied or ()),
        "defects_found": int(result.defects_found) if settings.auto_mask == "defects" else None,
        "completion_method": result.completion_method,
        "mask_pixels": int(result.mask.sum()) if result.mask is not None else 0,
        "make": frame.metadata.make,
        "model": frame.metadata.model,
    }
    summary = {
        "outcome": "developed",
        "shape": list(image.shape),
        "stats": statistics(image),
        "full_digest": digest,
        "metadata": metadata,
    }
    return summary, image


def _input_info(task: CheckTask) -> tuple[dict[str, Any], dict[str, Any]]:
    from runner.masks import file_digest

    inp = {"name": os.path.basename(task.input), "sha256": file_digest(task.input)}
    mask = {"name": os.path.basename(task.mask_path), "sha256": file_digest(task.mask_path)} if task.mask_path else None
    return inp, mask


def _diff_entries(ref: Mapping[str, Any], now: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    out = []
    for k in keys:
        a, b = ref.get(k), now.get(k)
        if isinstance(a, list) and isinstance(b, list) and np.asarray(a).shape == np.asarray(b).shape \
                and np.asarray(a).dtype.kind in "fi" and np.asarray(b).dtype.kind in "fi":
            if np.allclose(a, b, rtol=1e-5, atol=1e-7):
                continue
        elif a == b:
            continue
        out.append(f"{k} {json.dumps(a)} -> {json.dumps(b)}")
    return out


def compare(
    ref: Mapping[str, Any],
    ref_image: np.ndarray | None,
    now: Mapping[str, Any],
    now_image: np.ndarray | None,
    tolerances: Mapping[str, float],
) -> dict[str, Any]:
    """Compare a result (its record and full-resolution image) with a reference.

    Returns
    -------
    dict
        ``problems`` (why it moved; empty: within tolerance), ``causes`` (settings, input, mask or
        versions that differ), ``notes`` (descriptive changes), ``figures`` (``psnr`` dB or None
        when identical, ``max_abs``, ``mean_abs``, ``identical_full``, ``changed_box`` [y0, x0, y1, x1]
        (ends exclusive) in full-resolution pixels around every difference beyond ``max``, or None), and ``heat`` (float H' x W' absolute difference at the
        reference's scale, max over channels) or None.
    """
    problems: list[str] = []
    notes: list[str] = []
    causes: list[str] = []
    figures: dict[str, Any] = {}
    heat = None
    ms, rs = now.get("made_with", {}), ref.get("made_with", {})
    diff = [f"{k} {rs.get(k)!r} -> {ms.get(k)!r}" for k in sorted(set(ms) | set(rs)) if ms.get(k) != rs.get(k)]
    if diff:
        causes.append("settings differ from the reference's: " + ", ".join(diff))
    if now["input"].get("sha256") != ref["input"].get("sha256"):
        causes.append("the RAW file's bytes differ from those the reference was made from")
    if (now.get("mask") or {}).get("sha256") != (ref.get("mask") or {}).get("sha256"):
        causes.append("the sidecar mask differs from the reference's "
                      f"({(ref.get('mask') or {}).get('name')} -> {(now.get('mask') or {}).get('name')})")
    vdiff = [f"{k} {ref['versions'].get(k)} -> {v}" for k, v in now["versions"].items() if ref["versions"].get(k) != v]
    if vdiff:
        causes.append("versions differ: " + ", ".join(vdiff))

    if now["outcome"] != ref["outcome"]:
        def said(r: Mapping[str, Any]) -> str:
            return "developed" if r["outcome"] == "developed" else f"refused ({r['error']['class']})"
        problems.append(f"outcome {said(ref)} -> {said(now)}")
    elif now["outcome"] == "refused":
        if now["error"]["class"] != ref["error"]["class"]:
            problems.append(f"refused with {ref['error']['class']} -> {now['error']['class']}")
        elif now["error"]["message"] != ref["error"]["message"]:
            notes.append(f"error message {ref['error']['message']!r} -> {now['error']['message']!r}")
    elif now["shape"] != ref["shape"]:
        problems.append(f"image size {ref['shape']} -> {now['shape']}")
    else:
        problems += [f"metadata {d}" for d in _diff_entries(ref["metadata"], now["metadata"], DECISIVE_METADATA)]
        descriptive = [k for k in now["metadata"] if k not in DECISIVE_METADATA]
        notes += [f"metadata {d}" for d in _diff_entries(ref["metadata"], now["metadata"], descriptive)]
        worst = (0.0, "", 0)
        for key, values in now["stats"].items():
            for c, (a, b) in enumerate(zip(ref["stats"].get(key, []), values)):
                if abs(a - b) > worst[0]:
                    worst = (abs(a - b), key, c)
        figures["stats_max_diff"] = round(worst[0], 7)
        if worst[0] > tolerances["stats"]:
            k, c = worst[1], worst[2]
            problems.append(f"statistic {k}[{'RGB'[c] if c < 3 else c}] {ref['stats'][k][c]:.5g} -> "
                            f"{now['stats'][k][c]:.5g} (|diff| {worst[0]:.3g} > {tolerances['stats']:g})")
        figures["identical_full"] = now["full_digest"] == ref["full_digest"]
        factor = int(ref["image"]["scale"])
        if now_image is not None and ref_image is not None:
            scaled = quantize16(downscale(now_image, factor))
            if scaled.shape != ref_image.shape:
                problems.append(f"reference-scale size {list(ref_image.shape)} -> {list(scaled.shape)}")
            else:
                d = np.abs(scaled.astype(np.float64) - ref_image.astype(np.float64)) / 65535.0
                heat = d.max(axis=2)
                mse = float(np.mean(d * d))
                figures["max_abs"] = round(float(d.max()), 7)
                figures["mean_abs"] = round(float(d.mean()), 8)
                figures["psnr"] = None if mse == 0 else round(10 * math.log10(1.0 / mse), 3)
                ys, xs = np.nonzero(heat > tolerances["max"])
                figures["changed_box"] = ([int(ys.min()) * factor, int(xs.min()) * factor,
                                           (int(ys.max()) + 1) * factor, (int(xs.max()) + 1) * factor]
                                          if ys.size else None)
                figures["changed_pixels"] = int(ys.size) * factor * factor
                if figures["max_abs"] > tolerances["max"]:
                    box = figures["changed_box"]
                    problems.append(f"max |diff| {figures['max_abs']:.4g} > {tolerances['max']:g} (rows {box[0]}-{box[2] - 1}, "
                                    f"columns {box[1]}-{box[3] - 1})")
                if figures["psnr"] is not None and figures["psnr"] < tolerances["psnr"]:
                    problems.append(f"PSNR {figures['psnr']:.2f} dB < {tolerances['psnr']:g} dB")
    return {"problems": problems, "causes": causes, "notes": notes, "figures": figures, "heat": heat}


def check_file(task: CheckTask) -> CheckRecord:
    """Check (or, with ``task.update``, record) one RAW against its reference; never raises for a
    per-file problem.

    Returns
    -------
    CheckRecord
        Status "pass", "moved", "new", "updated" or "failed", its message, the problems, causes,
        notes and figures of the comparison, the summaries compared and the report's previews.
    """
    return run_guarded(task, _check_body, record=_new_check_record)


def _new_check_record(task: CheckTask) -> CheckRecord:
    return CheckRecord.for_task(task, key=task.key, reference_file=task.output)


def _check_body(task: CheckTask, rec: CheckRecord, t0: float) -> None:
    from runner.work import develop_task

    tolerances = dict(TOLERANCES, **dict(task.tolerances))
    json_path = Path(task.output)
    try:
        ref = ref_image = None
        ref_error: CheckReferenceError | None = None
        if json_path.exists():
            try:
                ref, ref_image = load_reference(json_path)
            except CheckReferenceError as exc:
                ref_error = exc
        inp, mask = _input_info(task)
        now: dict[str, Any] = {"format": REFERENCE_FORMAT, "version": REFERENCE_VERSION, "input": inp, "mask": mask,
                               "made_with": recorded_settings(task.settings), "versions": versions()}
        image = None
        try:
            frame, result, seconds = develop_task(task)
        except RawcompleteError as exc:
            now.update(outcome="refused", error={"class": type(exc).__name__, "message": str(exc)})
        else:
            summary, image = summarize(task, frame, result)
            now.update(summary)
            rec.seconds = {k: round(v, 4) for k, v in seconds.items()}
            rec.size = summary["shape"][:2]
            rec.completion = result.completion_method
            rec.wb_gains = summary["metadata"]["wb_gains"]
            rec.opcodes_applied = summary["metadata"]["opcodes_applied"]
        comparison = compare(ref, ref_image, now, image, tolerances) if ref is not None else None
        now_image16 = None
        if image is not None:
            size = task.reference_size or (ref["image"].get("reference_size") if ref and ref.get("image") else None) \
                or DEFAULT_REFERENCE_SIZE
            factor = scale_factor(image.shape, size) if task.update or not (ref and ref.get("image")) \
                else int(ref["image"]["scale"])
            now_image16 = quantize16(downscale(image, factor))
            now["image"] = {"scale": factor, "shape": list(now_image16.shape), "reference_size": int(size)}
        if task.update:
            now = write_reference(json_path, now, now_image16)
            status = "updated"
        elif ref_error is not None:
            raise ref_error
        elif ref is None:
            status = "new"
            rec.problems = [f"no reference {str(json_path)!r}: make it with --update"]
        else:
            status = "moved" if comparison["problems"] else "pass"
        if comparison is not None:
            rec.problems, rec.causes = comparison["problems"], comparison["causes"]
            rec.notes, rec.figures = comparison["notes"], comparison["figures"]
            if comparison["heat"] is not None:
                heat = comparison["heat"]
                rec.images["heat"] = _png8(heat_colours(downscale(heat, scale_factor(heat.shape, PREVIEW_SIZE),
                                                                     reduce="max")) / 255.0)
        if ref_image is not None:
            rec.images["reference"] = _preview(ref_image)
        if now_image16 is not None:
            rec.images["now"] = _preview(now_image16)
        rec.status, rec.now, rec.reference = status, now, ref
        rec.message = _message(rec)
        rec.seconds["total"] = round(time.perf_counter() - t0, 4)
    except RawcompleteError as exc:
        rec.fail(exc)
        rec.message = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - one file's unexpected failure must not stop the check
        rec.fail(exc, with_traceback=True)
        rec.message = f"{type(exc).__name__}: {exc}"


def _message(rec: CheckRecord) -> str:
    if rec.status == "pass":
        now = rec.now or {}
        head = (f"refused with {now['error']['class']}, as recorded" if now.get("outcome") == "refused"
                else "within tolerance")
        return head + ("; " + "; ".join(rec.causes) if rec.causes else "")
    if rec.status == "updated":
        return "reference written" + ("; it had moved: " + "; ".join(rec.problems) if rec.problems else "")
    parts = list(rec.problems)
    if rec.causes:
        parts.append("possible cause: " + "; ".join(rec.causes))
    return "; ".join(parts)


# ----------------------------------------------------------------------------------- the run

def reference_key(found: Any) -> str:
    """The reference name of a discovered RAW: ``<rel_dir>/<file name>`` (POSIX)."""
    return f"{found.rel_dir}/{found.path.name}" if found.rel_dir else found.path.name


def plan_check(
    refdir: Path,
    inputs: Sequence[str | os.PathLike[str]],
    settings: Settings,
    *,
    update: bool,
    tolerances: Mapping[str, float],
    reference_size: int | None,
) -> tuple[list[CheckTask], list[CheckRecord]]:
    """Tasks to run and records already decided (two inputs that share a reference name)."""
    from runner.discover import discover, require_inputs
    from runner.masks import check_mask_dir, sidecar_path

    found = discover(inputs, exclude=[refdir.resolve()])
    require_inputs(found)
    check_mask_dir(settings)
    tasks: list[CheckTask] = []
    decided: list[CheckRecord] = []
    claimed: dict[str, str] = {}
    for index, item in enumerate(found.raws):
        key = reference_key(item)
        mask = None
        if settings.masks:
            mask_file = sidecar_path(item.path, rel_dir=item.rel_dir, mask_dir=settings.mask_dir)
            mask = str(mask_file) if mask_file else None
        task = CheckTask(index=index, input=str(item.path), output=str(refdir / (key + ".json")), settings=settings,
                         mask_path=mask, key=key, update=update, tolerances=tuple(tolerances.items()),
                         reference_size=reference_size)
        if key in claimed:
            exc = PipelineInputError(
                f"{str(item.path)!r} and {claimed[key]!r} would share the reference {key!r}; check them separately")
            decided.append(CheckRecord.for_task(task, key=key, reference_file=task.output,
                                                error=ErrorInfo.of(exc), message=str(exc)))
            continue
        claimed[key] = str(item.path)
        tasks.append(task)
    return tasks, decided


def run_check(
    refdir: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    settings: Settings,
    *,
    update: bool = False,
    tolerances: Mapping[str, float] | None = None,
    reference_size: int | None = None,
    report: str | os.PathLike[str] | None = None,
    executor: Any = None,
    argv: Sequence[str] | None = None,
) -> CheckResult:
    """Check every RAW of ``inputs`` against its reference in ``refdir`` (or record them).

    Parameters
    ----------
    settings : Settings
        What to develop with (see :func:`check_settings`: REFDIR's recorded settings, then overrides).
    update : bool
        (Re)write the references and ``REFDIR/settings.toml``; otherwise nothing in REFDIR changes.
    tolerances : mapping, optional
        Overrides of :data:`TOLERANCES`.
    reference_size : int, optional
        Long side of new reference images (default: the existing reference's, else 1024).
    report : path, optional
        Writes ``<report>.html`` and ``<report>.json`` (the suffix of ``report`` is replaced).
    executor : runner.executors.Executor, optional
        Default: ``settings.executor`` with ``settings.jobs`` workers.

    Raises
    ------
    PipelineInputError
        Usage problems found before anything runs (missing input, a report inside REFDIR).
    """
    from runner.executors import make_executor
    from runner.writers import atomic_write_bytes, sweep_partials

    t0 = time.perf_counter()
    refdir = Path(refdir)
    tolerances = dict(TOLERANCES, **(tolerances or {}))
    html_path = json_path = None
    if report is not None:
        html_path, json_path = Path(report).with_suffix(".html"), Path(report).with_suffix(".json")
        if refdir.resolve() in html_path.resolve().parents:
            raise PipelineInputError(f"--report {str(report)!r} lies inside REFDIR {str(refdir)!r}, which a check never changes")
        try:
            html_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PipelineInputError(f"--report {str(report)!r}: cannot make its folder: {exc}") from None
    if refdir.exists() and not refdir.is_dir():
        raise PipelineInputError(f"REFDIR {str(refdir)!r} exists and is not a folder")
    tasks, records = plan_check(refdir, inputs, settings, update=update, tolerances=tolerances,
                                reference_size=reference_size)
    if update:
        refdir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(refdir / SETTINGS_FILE, settings_toml(recorded_settings(settings)).encode())
    own = executor is None
    if own:
        executor = make_executor(settings.executor, jobs=min(settings.jobs, max(1, len(tasks))))
    try:
        by_index = {t.index: t for t in tasks}
        for rec in executor.run(check_file, tasks):
            if not isinstance(rec, CheckRecord):  # a crash record made by the executor
                task = by_index[rec.index]
                error = rec.error or ErrorInfo("WorkerCrashError", "no record came back")
                rec = CheckRecord.from_record(rec, key=task.key, reference_file=task.output,
                                              message=f"{error.cls}: {error.message}")
            records.append(rec)
            log.info("%s %s: %s", rec.status.upper(), rec.key, rec.message)
    finally:
        if own:
            executor.close()
        if refdir.is_dir():
            sweep_partials(refdir)
    records.sort(key=lambda r: r.index)
    counts = {s: 0 for s in CheckRecord.STATUSES}
    for rec in records:
        counts[rec.status] = counts.get(rec.status, 0) + 1
    checked = {r.key for r in records}
    not_checked = sorted(
        str(p.relative_to(refdir))[: -len(".json")] for p in refdir.rglob("*.json")
        if str(p.relative_to(refdir))[: -len(".json")] not in checked
    ) if refdir.is_dir() else []
    summary = {"files": len(records), **counts, "not_checked": len(not_checked)}
    bad = counts["failed"] if update else len(records) - counts["pass"]
    exit_code = 1 if bad else 0
    images = {r.index: r.images for r in records}
    from runner.resume import package_version

    report_doc = {
        "report_version": REPORT_VERSION,
        "kind": "rawcomplete check",
        "rawcomplete": package_version(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.perf_counter() - t0, 3),
        "argv": list(argv) if argv is not None else None,
        "refdir": str(refdir),
        "inputs": [str(i) for i in inputs],
        "update": update,
        "settings": recorded_settings(settings),
        "tolerances": tolerances,
        "heat_range": list(HEAT_RANGE),
        "versions": versions(),
        "summary": summary,
        "exit_code": exit_code,
        "not_checked": not_checked,
        "records": [r.to_json() for r in records],
    }
    if json_path is not None and html_path is not None:
        from runner.check_report import render_html

        atomic_write_bytes(json_path, (json.dumps(report_doc, indent=1) + "\n").encode())
        atomic_write_bytes(html_path, render_html(report_doc, images).encode("utf-8"))
    return CheckResult(records=records, summary=summary, exit_code=exit_code, report=report_doc,
                       seconds=report_doc["seconds"])


# ----------------------------------------------------------------------------------- command line

EPILOG = """\
examples:
  rawcomplete check refs/ cameras/ --update              # record references (settings: defaults and flags)
  rawcomplete check refs/ cameras/ --report check.html   # compare; exit 0 within tolerance, 1 something moved
  rawcomplete check refs/ cameras/ --denoise median3     # what would this setting move? (REFDIR unchanged)

REFDIR/settings.toml holds the recorded settings (edit it, or pass flags, to change what a check
develops with); flags given with --update are recorded. Tolerances (output units, display [0, 1]):
max (largest |diff|, default 0.002), psnr (dB, default 60), stats (any per-channel statistic,
default 0.001); e.g. --tolerance max=0.004,psnr=50.

exit status: 0 every file within tolerance (or recorded), 1 a file moved, is new, or failed,
2 usage error (bad option, REFDIR without references, unreadable settings.toml), 130 interrupted.
"""

#: Options of ``rawcomplete`` that ``check`` takes as well (by argparse ``dest``).
_SHARED_DESTS = ("masks", "mask_dir", "device", "jobs", "executor", "scheduler", "timeout", "quiet", "verbose", "config")


def build_check_parser() -> argparse.ArgumentParser:
    """The ``rawcomplete check`` parser: its own arguments, plus every option of ``rawcomplete``
    that decides the pixels (development, completion) or how files run, taken from
    :func:`runner.cli.build_parser` so that the two never disagree."""
    from runner.cli import _positive_int, build_parser

    p = argparse.ArgumentParser(
        allow_abbrev=False,  # '--qual 90' must not silently mean '--quality'
        prog="rawcomplete check",
        usage="rawcomplete check REFDIR INPUT... [--update] [--tolerance NAME=VALUE] [--report FILE] [options]",
        description="Regression check: develop RAWs with REFDIR's recorded settings and compare with its references.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("refdir", metavar="REFDIR", help="folder of references (made by --update)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="RAW files or folders (searched recursively)")
    g = p.add_argument_group("check")
    g.add_argument("--update", action="store_true", help="write or refresh the references and the recorded settings")
    g.add_argument("--tolerance", action="append", metavar="NAME=VALUE",
                   help="max=0.002, psnr=60, stats=0.001 by default (comma-separated or repeated)")
    g.add_argument("--report", metavar="FILE", help="write FILE.html (self-contained) and FILE.json")
    g.add_argument("--reference-size", dest="reference_size", type=_positive_int, metavar="PX",
                   help=f"long side of reference images written by --update (default: as before, else {DEFAULT_REFERENCE_SIZE})")
    wanted = (set(Settings.PROCESSING_FIELDS) - set(NOT_RECORDED)) | set(_SHARED_DESTS)
    base = build_parser()
    for group in base._action_groups:
        actions = [a for a in group._group_actions if a.dest in wanted]
        if actions:
            target = p.add_argument_group(group.title)
            for action in actions:
                target._add_action(action)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``rawcomplete check ...``; returns the exit status."""
    from runner import cli

    argv = list(sys.argv[2:] if argv is None else argv)
    parser = build_check_parser()
    parsed = cli.parse_command(parser, argv)
    if isinstance(parsed, int):
        return parsed
    ns, quiet = parsed
    update = bool(ns.get("update", False))
    executor = None
    previous = signal.signal(signal.SIGTERM, cli._on_sigterm)
    try:  # usage problems, before or once the run starts (REFDIR, inputs, report), exit 2
        preset, overrides, executor_name = cli.read_options(ns, exclude=("report",))
        overrides["progress"] = False
        tolerances = parse_tolerances(ns.get("tolerance"))
        settings = check_settings(ns["refdir"], preset, overrides, update=update)
        executor = cli._build_executor(executor_name, ns, settings, jobs_given="jobs" in overrides or "jobs" in preset)
        result = run_check(ns["refdir"], ns["inputs"], settings, update=update, tolerances=tolerances,
                           reference_size=ns.get("reference_size"), report=ns.get("report"),
                           executor=executor, argv=["check", *argv])
    except PipelineInputError as exc:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"rawcomplete check: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("rawcomplete check: interrupted\n")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if executor is not None:
            executor.close()
    s = result.summary
    if not quiet:
        for rec in result.records:
            if rec.status not in ("pass", "updated"):
                sys.stderr.write(f"  {rec.status.upper():7s} {rec.key}: {rec.message}\n")
        parts = [f"{s[k]} {k}" for k in ("pass", "moved", "new", "updated", "failed") if s[k]]
        line = f"rawcomplete check: {', '.join(parts) or 'nothing'} of {s['files']} RAW file(s)"
        if s["not_checked"]:
            line += f"; {s['not_checked']} reference(s) in REFDIR not checked"
        line += f" ({result.seconds:.1f} s)"
        if ns.get("report"):
            line += f"; report: {Path(ns['report']).with_suffix('.html')}"
        sys.stderr.write(line + "\n")
    return result.exit_code


__all__ = [
    "CheckResult", "CheckTask", "TOLERANCES", "check_file", "check_settings", "compare", "load_reference",
    "main", "parse_tolerances", "run_check", "write_reference",
]
