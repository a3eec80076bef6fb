"""Command-line usability: missing mask folders are usage errors, messages name flags, no
abbreviated options, skip reasons in the log and summary, log lines routed around the bar."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_cli import run_cli  # noqa: E402


@pytest.fixture()
def one_raw(tmp_path, samples_dir) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(samples_dir / "scene_rggb.dng", src / "a.dng")
    return src


def test_missing_mask_dir_is_a_usage_error(tmp_path, one_raw):
    proc = run_cli([one_raw, "-o", tmp_path / "out", "--mask-dir", tmp_path / "nope"], cwd=tmp_path)
    assert proc.returncode == 2 and "--mask-dir" in proc.stderr and "does not exist" in proc.stderr
    (tmp_path / "p.toml").write_text('mask_dir = "masks"\n')
    proc = run_cli([one_raw, "-o", tmp_path / "out", "--config", tmp_path / "p.toml"], cwd=tmp_path)
    assert proc.returncode == 2 and "mask_dir in preset" in proc.stderr and "p.toml" in proc.stderr
    (tmp_path / "file").write_text("x")
    proc = run_cli([one_raw, "-o", tmp_path / "out", "--mask-dir", tmp_path / "file"], cwd=tmp_path)
    assert proc.returncode == 2 and "is not a folder" in proc.stderr
    assert not (tmp_path / "out").exists()
    # --no-masks: the folder is not needed
    proc = run_cli([one_raw, "-o", tmp_path / "out", "--config", tmp_path / "p.toml", "--no-masks", "-q"],
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_errors_name_flags_and_no_abbreviations(tmp_path, one_raw):
    proc = run_cli([one_raw, "-o", tmp_path / "out", "--auto-mask", "dust"], cwd=tmp_path)
    assert proc.returncode == 2 and "--auto-mask must be one of 'none', 'defects'" in proc.stderr
    (tmp_path / "p.toml").write_text('auto_mask = "dust"\n')
    proc = run_cli([one_raw, "-o", tmp_path / "out", "--config", tmp_path / "p.toml"], cwd=tmp_path)
    assert proc.returncode == 2 and "auto_mask must be one of" in proc.stderr and "(preset '" in proc.stderr
    proc = run_cli([one_raw, "-o", tmp_path / "out", "--format", "jpeg", "--qual", "90"], cwd=tmp_path)
    assert proc.returncode == 2 and "unrecognized arguments: --qual" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_skip_reasons_in_log_and_summary(tmp_path, one_raw):
    args = [one_raw, "-o", tmp_path / "out", "--method", "biharmonic"]
    assert run_cli(args, cwd=tmp_path).returncode == 0
    proc = run_cli([*args, "-v"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "skipped " + str(one_raw / "a.dng") + ": output exists" in proc.stderr
    assert "skipped: 1 output exists (use --overwrite" in proc.stderr
    proc = run_cli([*args, "--resume"], cwd=tmp_path)
    assert "skipped: 1 complete (same input, mask and settings)" in proc.stderr


class InstantExecutor:
    """Reports every task done without running it; ``on_task`` sees each first."""

    def __init__(self, on_task=None):
        self.on_task = on_task

    def run(self, fn, tasks):
        from runner.record import FileRecord

        for task in tasks:
            if self.on_task is not None:
                self.on_task(task)
            yield FileRecord.for_task(task, status="done")

    def close(self):
        pass


def test_log_lines_go_through_the_bar_and_postfix(tmp_path, monkeypatch):
    from runner import batch
    from runner.settings import Settings

    seen: list[str] = []
    Spy = lambda: InstantExecutor(  # noqa: E731
        lambda task: seen.extend(type(h).__name__ for h in logging.getLogger("rawcomplete").handlers))

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.dng").write_bytes(b"II*\x00" + b"\x00" * 16)
    handler = logging.StreamHandler(sys.stderr)
    log = logging.getLogger("rawcomplete")
    monkeypatch.setattr(log, "handlers", [handler])
    batch.run_batch([tmp_path / "in"], tmp_path / "out", Settings(progress=False), executor=Spy())
    assert seen == ["_TqdmLoggingHandler"] and log.handlers == [handler]  # restored afterwards
    assert batch._bar_text({"done": 2, "failed": 1, "skipped": 0}, "/a/b/IMG_7.dng") == \
        "2 done, 1 failed, 0 skipped | IMG_7.dng"


def test_compressed_tiff_is_lossless_smaller_and_tiff_only(tmp_path, one_raw):
    import numpy as np
    import tifffile

    sizes, pixels = {}, {}
    for codec in ("none", "deflate", "zstd"):
        out = tmp_path / f"out_{codec}"
        proc = run_cli([one_raw, "-o", out, "--compress", codec, "-q"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        with tifffile.TiffFile(out / "a.tif") as tif:
            page = tif.pages[0]
            assert page.compression.name == {"none": "NONE", "deflate": "ADOBE_DEFLATE", "zstd": "ZSTD"}[codec]
            assert page.iccprofile is not None  # the profile travels with every codec
            pixels[codec] = page.asarray()
        sizes[codec] = (out / "a.tif").stat().st_size
    assert pixels["none"].dtype == np.uint16
    for codec in ("deflate", "zstd"):
        np.testing.assert_array_equal(pixels[codec], pixels["none"])  # lossless
        assert sizes[codec] < sizes["none"], sizes  # a noisy synthetic scene: ~13 % here, more on photos
    proc = run_cli([one_raw, "-o", tmp_path / "j", "--format", "jpeg", "--compress", "zstd"], cwd=tmp_path)
    assert proc.returncode == 2 and "--compress" in proc.stderr and "TIFF" in proc.stderr, proc.stderr
    proc = run_cli([one_raw, "-o", tmp_path / "j", "--compress", "lzma"], cwd=tmp_path)
    assert proc.returncode == 2 and "--compress must be one of" in proc.stderr, proc.stderr


def test_first_run_compile_notice(tmp_path, monkeypatch, caplog):
    """One line says the first file will compile the kernels, only when no cache is on disk."""
    from isp import _numba_cache
    from runner import batch
    from runner.settings import Settings

    cache = tmp_path / "cache" / "some" / "where"
    cache.mkdir(parents=True)
    (cache / "_kernels._demosaic_banded-670.py311.nbi").write_bytes(b"")  # what Numba's cache=True writes
    monkeypatch.setattr(_numba_cache, "_cache_dirs", lambda: [(tmp_path / "cache", True)])
    assert _numba_cache.kernels_cached()

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.dng").write_bytes(b"II*\x00" + b"\x00" * 16)
    log = logging.getLogger("rawcomplete")
    monkeypatch.setattr(log, "propagate", True)
    with caplog.at_level(logging.WARNING, logger="rawcomplete"):
        batch.run_batch([tmp_path / "in"], tmp_path / "out1", Settings(progress=False), executor=InstantExecutor())
    assert "compiling" not in caplog.text
    monkeypatch.setattr(_numba_cache, "_cache_dirs", lambda: [(tmp_path / "empty", True)])
    assert not _numba_cache.kernels_cached()
    with caplog.at_level(logging.WARNING, logger="rawcomplete"):
        batch.run_batch([tmp_path / "in"], tmp_path / "out2", Settings(progress=False), executor=InstantExecutor())
    assert caplog.text.count("compiling the ISP's Numba kernels") == 1


def test_crop_flag_chooses_the_default_crop_or_the_full_area(tmp_path, shared_raw):
    import tifffile

    src = shared_raw / "Canon_PowerShotG2_CRW_0304.CRW"
    if not src.is_file():
        pytest.skip(f"{src} absent")
    sizes = {}
    for mode in ("default", "full"):
        proc = run_cli([src, "-o", tmp_path / mode, "--crop", mode, "-q"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        sizes[mode] = tifffile.imread(next((tmp_path / mode).glob("*.tif"))).shape[:2]
    assert sizes == {"default": (1704, 2272), "full": (1720, 2312)}  # LibRaw's crop / LibRaw's area
    proc = run_cli([src, "-o", tmp_path / "x", "--crop", "square"], cwd=tmp_path)
    assert proc.returncode == 2 and "--crop must be one of" in proc.stderr, proc.stderr
