"""The runnable examples in ``examples/`` work (rawpy's habit: examples are run by the suite)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def run_example(name: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "examples" / name), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_complete_with_mask_example(tmp_path, samples_dir):
    out = tmp_path / "example.tif"
    proc = run_example("complete_with_mask.py", samples_dir / "scene_rggb.dng", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "pixels completed with" in proc.stdout
    import tifffile

    img = tifffile.imread(out)
    assert img.dtype == np.uint16 and img.ndim == 3 and img.shape[2] == 3


def test_photo_tool_example_bytes_mask_save(tmp_path, samples_dir):
    out = tmp_path / "edited.tif"
    proc = run_example("photo_tool.py", samples_dir / "scene_rggb.dng", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "pixels completed with" in proc.stdout and "auto" not in proc.stdout.split("with")[1].split("(")[0]
    import tifffile

    from runner.icc import profile_for

    with tifffile.TiffFile(out) as tf:
        page = tf.pages[0]
        assert page.dtype == np.uint16 and page.shape[2] == 3
        assert page.tags["InterColorProfile"].value == profile_for("srgb")
        assert page.tags["Make"].value == "rawcomplete"  # the sample's EXIF make, carried over
    bad = run_example("photo_tool.py", REPO / "pyproject.toml", tmp_path / "x.tif", cwd=tmp_path)
    assert bad.returncode == 1 and "<bytes>" in bad.stderr and not (tmp_path / "x.tif").exists()


def _mypy(target: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent", "--ignore-missing-imports",
         "--cache-dir", str(cwd / ".mypy_cache"), str(target)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )


def test_photo_tool_example_type_checks(tmp_path):
    import pytest

    pytest.importorskip("mypy", reason="mypy is not installed (pip install 'rawcomplete[test]')")
    proc = _mypy(REPO / "examples" / "photo_tool.py", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the check sees the library's types (py.typed / annotations): a wrong call is caught
    wrong = tmp_path / "wrong.py"
    wrong.write_text("from pipeline import Pipeline\nPipeline().process(b'').save(123)\n")
    proc = _mypy(wrong, tmp_path)
    assert proc.returncode == 1 and "save" in proc.stdout and "int" in proc.stdout, proc.stdout
