"""The runnable examples in ``examples/`` work (rawpy's habit: examples are run by the suite)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def test_complete_with_mask_example(tmp_path, samples_dir):
    out = tmp_path / "example.tif"
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "complete_with_mask.py"), str(samples_dir / "scene_rggb.dng"), str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pixels completed with" in proc.stdout
    import tifffile

    img = tifffile.imread(out)
    assert img.dtype == np.uint16 and img.ndim == 3 and img.shape[2] == 3
