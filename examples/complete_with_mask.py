"""Library example: develop a RAW, complete a masked region, save a 16-bit TIFF.

    python examples/complete_with_mask.py samples/scene_rggb.dng out/example.tif

The README's library example; ``tests/pipeline/test_examples.py`` runs this script, so it
cannot silently rot.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout too

from pipeline import Pipeline  # noqa: E402


def main(raw: str, out: str) -> None:
    pipe = Pipeline(isp_config={"wb": "camera", "denoise": "median3"}, completion="auto")

    plain = pipe.process(raw)                       # develop only: no mask, nothing completed
    h, w = plain.image.shape[:2]                    # output orientation (rotation applied)
    mask = np.zeros((h, w), dtype=bool)             # True = hole
    mask[h // 3 : h // 3 + h // 10, w // 2 : w // 2 + w // 8] = True

    result = pipe.process(raw, mask=mask)           # develop + complete the hole
    assert np.array_equal(result.image[~mask], plain.image[~mask])  # known pixels untouched

    import tifffile

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(out, (np.clip(result.image, 0, 1) * 65535 + 0.5).astype(np.uint16), photometric="rgb")
    print(f"{raw}: {w} x {h}, {int(mask.sum())} pixels completed with {result.completion_method}, "
          f"timings {', '.join(f'{k} {v:.3f} s' for k, v in result.timings.items())} -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
