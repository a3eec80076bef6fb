"""Photo-tool example: a RAW arrives as bytes (an upload, a database blob), the user paints a
mask, the tool develops, completes and saves a 16-bit TIFF with ICC profile and EXIF.

    python examples/photo_tool.py samples/scene_rggb.dng out/edited.tif

Everything goes through the public API (``Pipeline.process`` on bytes, a numpy mask,
``Result.save``); ``tests/pipeline/test_examples.py`` runs it and type-checks it with mypy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout too

from pipeline import Pipeline, PipelineError, Result  # noqa: E402
from rawcomplete_errors import RawcompleteError  # noqa: E402


def paint_mask(height: int, width: int) -> np.ndarray:
    """What a user's brush gives: a grey uint8 stroke with soft (anti-aliased) edges, 255 = hole."""
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx, radius = height * 0.4, width * 0.6, min(height, width) * 0.06
    distance = np.hypot(yy - cy, xx - cx)
    return np.clip((radius + 1.5 - distance) / 3.0 * 255.0, 0, 255).astype(np.uint8)


def edit(raw_bytes: bytes, out: Path) -> Result:
    pipe = Pipeline(isp_config={"wb": "camera", "demosaic": "rcd"}, completion="auto")
    preview = pipe.process(raw_bytes)                 # develop only, to size the mask
    height, width = preview.image.shape[:2]           # output orientation
    result = pipe.process(raw_bytes, mask=paint_mask(height, width))  # grey: >= 50 % is a hole
    result.save(out)                                  # TIFF 16-bit, sRGB ICC, camera EXIF, atomic
    return result


def main(argv: list[str]) -> int:
    raw_path, out = Path(argv[0]), Path(argv[1])
    try:
        result = edit(raw_path.read_bytes(), out)
    except PipelineError as exc:                      # bad mask, unwritable output, ...
        print(f"cannot edit {raw_path}: {exc}", file=sys.stderr)
        return 2
    except RawcompleteError as exc:                   # not a RAW this ISP develops, ...
        print(f"cannot open {raw_path}: {exc}", file=sys.stderr)
        return 1
    holes = 0 if result.mask is None else int(result.mask.sum())
    print(f"{raw_path.name}: {holes} pixels completed with {result.completion_method} "
          f"({dict(result.completion_groups)}) -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:3]))
