"""One local worker develops the next file in a background thread while it writes the current
one (runner.work.with_prefetch). That overlap must change nothing a user can see: the same bytes,
each file's warnings in its own record, and a crash pinned on the file that caused it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: faults
from faults import fault_env  # noqa: E402
from test_cli import records_by_name, run_cli, tree_digest  # noqa: E402


def _dngs(folder: Path, names: dict[str, bool]) -> None:
    """Small DNGs; ``True``: with an AsShotNeutral, ``False``: without (a gray-world warning)."""
    from isp.synthetic import write_dng

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for name, with_wb in names.items():
        mosaic = rng.integers(300, 3800, (96, 128)).astype(np.uint16)
        write_dng(folder / name, mosaic, cfa="RGGB", black_level=256, white_level=4095,
                  as_shot_neutral=(0.5, 1.0, 0.7) if with_wb else None)


def test_overlap_changes_no_byte_and_keeps_warnings_with_their_file(tmp_path):
    names = {"a.dng": True, "b_nowb.dng": False, "c.dng": True, "d_nowb.dng": False}
    _dngs(tmp_path / "in", names)
    base = ["in", "--jobs", "1", "--method", "biharmonic", "--no-progress"]
    overlap = run_cli([*base, "-o", "out1", "--report", "r1.json"], cwd=tmp_path)
    # --timeout turns the overlap off (the watchdog times one file at a time): the reference
    serial = run_cli([*base, "-o", "out2", "--report", "r2.json", "--timeout", "600"], cwd=tmp_path)
    assert overlap.returncode == 0 and serial.returncode == 0, overlap.stderr + serial.stderr
    images = [{k: v for k, v in tree_digest(tmp_path / out).items() if k.endswith(".tif")} for out in ("out1", "out2")]
    assert len(images[0]) == 4 and images[0] == images[1]  # (the sidecars differ: they record when)
    for report in ("r1.json", "r2.json"):
        recs = records_by_name(json.loads((tmp_path / report).read_text()))
        for name, with_wb in names.items():
            said = " ".join(recs[name]["warnings"])
            assert ("gray-world" in said) != with_wb, (report, name, recs[name]["warnings"])
            assert name in said or with_wb  # the message names its own file, never a neighbour
            assert all(other not in said for other in names if other != name), (name, said)


@pytest.mark.slow
def test_crash_while_developing_ahead_is_pinned_on_its_file(tmp_path):
    """a.dng is written while crashme.dng develops ahead and kills the worker: both are re-run
    alone, so a.dng is done and only crashme.dng fails."""
    _dngs(tmp_path / "in", {"a.dng": True, "crashme.dng": True, "z.dng": True})
    proc = run_cli(["in", "-o", "out", "--jobs", "1", "--method", "biharmonic", "--no-progress",
                    "--report", "r.json"], cwd=tmp_path, env_extra=fault_env(crash="crashme*"))
    assert proc.returncode == 1, proc.stderr
    recs = records_by_name(json.loads((tmp_path / "r.json").read_text()))
    assert recs["crashme.dng"]["status"] == "failed"
    assert recs["crashme.dng"]["error"]["class"] == "WorkerCrashError"
    assert recs["a.dng"]["status"] == "done" and recs["z.dng"]["status"] == "done"
    assert sorted(p.name for p in (tmp_path / "out").glob("*.tif")) == ["a.tif", "z.tif"]


def test_the_next_file_is_developed_once_in_the_background(tmp_path, monkeypatch):
    import threading

    from runner import work
    from runner.settings import Settings

    _dngs(tmp_path / "in", {"a.dng": True, "b_nowb.dng": False})
    settings = Settings(method="biharmonic", progress=False)
    tasks = [work.Task(index=i, input=str(tmp_path / "in" / n), output=str(tmp_path / f"{n}.tif"), settings=settings)
             for i, n in enumerate(("a.dng", "b_nowb.dng"))]
    calls: list[tuple[str, str]] = []
    real = work.develop_task

    def counting(task):
        calls.append((Path(task.input).name, threading.current_thread().name))
        return real(task)

    monkeypatch.setattr(work, "develop_task", counting)
    first = work.process_file(work.with_prefetch(tasks[0], tasks[1]))
    second = work.process_file(work.with_prefetch(tasks[1], None))
    assert first.status == second.status == "done"
    assert calls == [("a.dng", "MainThread"), ("b_nowb.dng", "rawcomplete-ahead-1")]  # once each
    assert first.warnings == [] and any("gray-world" in m for m in second.warnings)
    assert work.with_prefetch(tasks[0].__class__(**{**tasks[0].__dict__, "settings": Settings(timeout=60)}),
                              tasks[1]).prefetch is None  # no overlap under --timeout
