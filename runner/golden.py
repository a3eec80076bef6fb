"""Regression goldens: small references of the pipeline's output on the samples and shared RAWs.

For every ``samples/*.dng`` (with its sidecar mask, completed with the deterministic biharmonic
method) and every Bayer RAW of ``../shared/raw`` (when present), ``tests/golden/`` keeps

- ``<case>.png``: a 16-bit thumbnail (area mean, at most 64 px on the long side) of the display image;
- an entry in ``goldens.json``: output shape, per-channel mean / std / 1st / 50th / 99th percentile
  of the full-size display image, and the settings used.

``tests/test_pipeline_golden.py`` recomputes each case and compares within :data:`TOLERANCES`, so
a change in any stage that alters output fails the suite until it is accepted on purpose with::

    python -m runner.golden --update          # regenerate (review the diff, then commit tests/golden/)
    python -m runner.golden                   # compare only, print the differences

Shared cases are regenerated and compared only where the shared data is present.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "golden"
INDEX = GOLDEN_DIR / "goldens.json"
THUMB = 64
SHARED_BAYER = ("Blackmagic_PocketCinema4K.dng", "Canon_EOS_D30.CRW", "Kodak_DC50.KDC")
#: Settings every golden is made with (ISP defaults, display output, biharmonic completion).
SETTINGS = {"isp": {}, "completion": "biharmonic", "output": "display"}
#: Allowed differences, in display units [0, 1].
TOLERANCES = {"stats": 2e-3, "thumb_max": 4e-3, "thumb_mean": 1e-3}


def shared_raw_dir() -> Path | None:
    env = os.environ.get("RAWCOMPLETE_SHARED")
    path = (Path(env) if env else REPO.parent / "shared") / "raw"
    return path if path.is_dir() else None


def cases(include_shared: bool = True) -> dict[str, dict[str, Any]]:
    """Case name -> {"path", "mask", "shared"}; shared cases only when the data is present."""
    from runner.masks import sidecar_path

    out: dict[str, dict[str, Any]] = {}
    for path in sorted((REPO / "samples").glob("*.dng")):
        mask = sidecar_path(path)
        out[f"samples_{path.stem}"] = {"path": path, "mask": mask, "shared": False}
    shared = shared_raw_dir() if include_shared else None
    if shared is not None:
        for name in SHARED_BAYER:
            if (shared / name).is_file():
                out[f"shared_{Path(name).stem}"] = {"path": shared / name, "mask": None, "shared": True}
    return out


def thumbnail(image: np.ndarray, size: int = THUMB) -> np.ndarray:
    """Area-mean downscale by an integer factor so the long side is at most ``size``; float64."""
    h, w = image.shape[:2]
    f = max(1, -(-max(h, w) // size))
    hh, ww = (h // f) * f, (w // f) * f
    return image[:hh, :ww].astype(np.float64).reshape(hh // f, f, ww // f, f, -1).mean(axis=(1, 3))


def statistics(image: np.ndarray) -> dict[str, list[float]]:
    flat = image.reshape(-1, image.shape[2]).astype(np.float64)
    pct = np.percentile(flat, [1, 50, 99], axis=0)
    return {
        "mean": flat.mean(axis=0).round(6).tolist(),
        "std": flat.std(axis=0).round(6).tolist(),
        "p1": pct[0].round(6).tolist(),
        "p50": pct[1].round(6).tolist(),
        "p99": pct[2].round(6).tolist(),
    }


def render(case: dict[str, Any]) -> np.ndarray:
    """The display image of a case, as the goldens are made."""
    import isp
    from pipeline import Pipeline
    from runner.masks import read_mask_png

    pipe = Pipeline(SETTINGS["isp"], completion=SETTINGS["completion"], output=SETTINGS["output"])
    frame = isp.read_raw(case["path"])
    mask = None
    if case["mask"] is not None:
        shape = isp.apply_orientation(np.zeros(frame.mosaic.shape, dtype=bool), frame.flip).shape[:2]
        mask = read_mask_png(case["mask"], shape=shape)
    return pipe.process(frame, mask).image


def compare(name: str, image: np.ndarray, entry: dict[str, Any]) -> list[str]:
    """Differences between ``image`` and the golden ``entry`` beyond tolerance (empty: match)."""
    problems = []
    if list(image.shape) != entry["shape"]:
        return [f"{name}: shape {list(image.shape)} != golden {entry['shape']}"]
    now = statistics(image)
    for key, ref in entry["stats"].items():
        diff = np.abs(np.array(now[key]) - np.array(ref)).max()
        if diff > TOLERANCES["stats"]:
            problems.append(f"{name}: {key} {now[key]} vs golden {ref} (max diff {diff:.4g})")
    golden = read_thumbnail(GOLDEN_DIR / entry["thumbnail"])
    thumb = thumbnail(image)
    if golden.shape != thumb.shape:
        problems.append(f"{name}: thumbnail shape {thumb.shape} != golden {golden.shape}")
    else:
        d = np.abs(thumb - golden)
        if d.max() > TOLERANCES["thumb_max"] or d.mean() > TOLERANCES["thumb_mean"]:
            problems.append(f"{name}: thumbnail differs (max {d.max():.4g}, mean {d.mean():.4g})")
    return problems


def read_thumbnail(path: Path) -> np.ndarray:
    """A thumbnail written by :func:`update` -> float64 [0, 1] (Pillow would drop the low byte)."""
    import struct
    import zlib

    data = path.read_bytes()
    pos, idat, ihdr = 8, b"", b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype = struct.unpack(">IIBB", ihdr[:10])
    if depth != 16 or ctype != 2:
        raise ValueError(f"{path}: expected a 16-bit RGB PNG written by runner.png")
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * 6)
    if not (rows[:, 0] == 2).all():
        raise ValueError(f"{path}: expected 'Up' filtered rows (runner.png)")
    raw = np.cumsum(rows[:, 1:].astype(np.uint64), axis=0).astype(np.uint8)  # undo Up, mod 256
    return raw.view(">u2").reshape(h, w, 3).astype(np.float64) / 65535.0


def update(selected: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from runner.png import encode_png

    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    index = json.loads(INDEX.read_text()) if INDEX.is_file() else {"cases": {}}
    index["about"] = "Regenerate with: python -m runner.golden --update (see runner/golden.py)"
    index["settings"] = SETTINGS
    index["tolerances"] = TOLERANCES
    for name, case in selected.items():
        image = render(case)
        thumb = np.clip(np.round(thumbnail(image) * 65535), 0, 65535).astype(np.uint16)
        (GOLDEN_DIR / f"{name}.png").write_bytes(encode_png(thumb, level=9))
        index["cases"][name] = {
            "input": case["path"].name,
            "mask": case["mask"].name if case["mask"] is not None else None,
            "shared": case["shared"],
            "shape": list(image.shape),
            "stats": statistics(image),
            "thumbnail": f"{name}.png",
        }
    INDEX.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.golden", description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="regenerate the goldens in tests/golden/")
    parser.add_argument("--no-shared", action="store_true", help="leave the ../shared cases alone")
    args = parser.parse_args(argv)
    selected = cases(include_shared=not args.no_shared)
    if args.update:
        update(selected)
        sys.stdout.write(f"wrote {len(selected)} golden case(s) to {GOLDEN_DIR}\n")
        return 0
    index = json.loads(INDEX.read_text())["cases"]
    problems = []
    for name, case in selected.items():
        if name not in index:
            problems.append(f"{name}: no golden (run with --update)")
            continue
        problems += compare(name, render(case), index[name])
    sys.stdout.write("\n".join(problems) + "\n" if problems else f"{len(selected)} case(s) match\n")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
