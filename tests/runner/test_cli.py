"""The ``rawcomplete`` command end to end, through a real subprocess (``python -m pipeline``).

One batch over a folder of good and bad inputs is run once per module and checked from several
angles; the other tests run small batches of their own. Everything is written under tmp_path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
GOOD = {  # input path under in/ -> sample it is a copy of
    "scene_grbg.dng": "scene_grbg.dng",
    "sub/Scene_RGGB.DNG": "scene_rggb.dng",
    "sub/wb_cast.dng": "wb_cast.dng",
}
MASKED = "scene_grbg.dng"


def run_cli(args, *, cwd, env_extra=None, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def records_by_name(report: dict) -> dict[str, dict]:
    return {Path(r["input"]).name: r for r in report["records"]}


def partials(folder: Path) -> list[Path]:
    return list(folder.rglob("*.rawcomplete-partial"))


def _need_samples(samples_dir: Path) -> None:
    for name in set(GOOD.values()) | {"scene_grbg.mask.png"}:
        if not (samples_dir / name).is_file():
            pytest.skip(f"samples/{name} missing: run samples/make_samples.py and samples/make_sample_masks.py")


def write_inputs(inp: Path, samples_dir: Path) -> Path:
    """``inp`` with the GOOD samples (one with its sidecar mask) and ``inp/bad`` with a truncated
    DNG, an empty NEF, random bytes named .cr2 and a text file; returns ``inp/bad``. Shared by the
    batch tests here and the local-vs-Dask comparison."""
    for rel, sample in GOOD.items():
        (inp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(samples_dir / sample, inp / rel)
    shutil.copy(samples_dir / "scene_grbg.mask.png", inp / "scene_grbg.mask.png")
    bad = inp / "bad"
    bad.mkdir()
    (bad / "truncated.dng").write_bytes((samples_dir / "scene_rggb.dng").read_bytes()[:4096])
    (bad / "empty.nef").write_bytes(b"")
    (bad / "random.cr2").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    (bad / "notes.txt").write_text("not a raw file\n")
    return bad


@pytest.fixture(scope="module")
def batch(tmp_path_factory, samples_dir):
    """in/ with 3 good RAWs (one with a sidecar mask), 3-4 bad ones and a text file; one run."""
    _need_samples(samples_dir)
    from conftest import shared_dir

    root = tmp_path_factory.mktemp("cli")
    inp = root / "in"
    bad = write_inputs(inp, samples_dir)
    shutil.copy(samples_dir / "scene_rggb.dng", bad / "wrong_mask.dng")  # good RAW, mask of the wrong size
    from runner.png import encode_png

    (bad / "wrong_mask.mask.png").write_bytes(encode_png(np.full((10, 20), 255, np.uint8)))
    shared = shared_dir()
    unsupported = []  # non-Bayer sensors from ../shared, when present
    for name in ("Sigma_DP2_exiftool_stub.x3f",):  # (the CMYG G1 now develops: test_libraw_fallback)
        src = shared / "raw" / name if shared else None
        if src is not None and src.is_file():
            shutil.copy(src, bad / name)
            unsupported.append(name)
    before = tree_digest(inp)
    out = root / "out"
    report = root / "r1.json"
    proc = run_cli([inp, "-o", out, "--report", report, "--method", "biharmonic", "--jobs", "2"], cwd=root)
    return {"root": root, "in": inp, "out": out, "before": before, "proc": proc,
            "report": json.loads(report.read_text()) if report.exists() else None,
            "unsupported": unsupported}


def test_batch_exit_status_and_report(batch):
    proc, report = batch["proc"], batch["report"]
    assert proc.returncode == 1, proc.stderr
    recs = records_by_name(report)
    for rel in GOOD:
        rec = recs[Path(rel).name]
        assert rec["status"] == "done", rec
        assert set(rec["seconds"]) == {"read", "develop", "mask", "complete", "write", "total"}
        assert rec["error"] is None
    for name in ("truncated.dng", "empty.nef", "random.cr2"):
        assert recs[name]["status"] == "failed"
        assert recs[name]["error"]["class"] == "CorruptRawError", recs[name]
        assert name in recs[name]["error"]["message"]
    for name in batch["unsupported"]:
        assert recs[name]["error"]["class"] == "UnsupportedRawError", recs[name]
    wrong = recs["wrong_mask.dng"]
    assert wrong["status"] == "failed" and wrong["error"]["class"] == "MaskFileError"
    assert "wrong_mask.mask.png" in wrong["error"]["message"] and "20 x 10" in wrong["error"]["message"]
    n_bad = 4 + len(batch["unsupported"])
    assert report["summary"] == {"inputs": 3 + n_bad, "done": 3, "failed": n_bad, "skipped": 0,
                                 "not_run": 0, "passed_over": 3}
    assert sorted(Path(p).name for p in report["passed_over"]) == ["notes.txt", "scene_grbg.mask.png",
                                                                   "wrong_mask.mask.png"]
    assert recs[MASKED]["mask"]["file"].endswith("scene_grbg.mask.png") and recs[MASKED]["mask"]["pixels"] > 0
    assert recs[MASKED]["completion"] == "biharmonic"
    assert recs["wb_cast.dng"]["completion"] is None  # no mask: completion skipped
    assert "3 done" in proc.stderr and "FAILED" in proc.stderr


def test_outputs_mirror_inputs_with_icc_and_metadata(batch):
    import tifffile
    from PIL import ImageCms
    import io

    from pipeline import Pipeline
    from runner.writers import quantize

    out = batch["out"]
    images = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert images == ["scene_grbg.tif", "sub/Scene_RGGB.tif", "sub/wb_cast.tif"]
    assert partials(out) == []
    path = out / "sub" / "wb_cast.tif"
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        data = page.asarray()
        tags = {t.code: t.value for t in page.tags}
    expected = quantize(Pipeline(completion="biharmonic").process(batch["in"] / "sub" / "wb_cast.dng").image, 16)
    np.testing.assert_array_equal(data, expected)  # the CLI writes exactly what the library returns
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(tags[34675]))).startswith("sRGB")
    import isp

    meta = isp.read_raw(batch["in"] / "sub" / "wb_cast.dng").metadata
    assert meta.make and meta.model  # the sample carries both; they must be carried over
    assert tags[271] == meta.make and tags[272] == meta.model
    assert tags[305].startswith("rawcomplete")
    for rel in ("scene_grbg.tif", "sub/Scene_RGGB.tif", "sub/wb_cast.tif"):
        sidecar = (out / rel).with_name(f".{Path(rel).name}.rawcomplete.json")
        assert json.loads(sidecar.read_text())["output_size"] == (out / rel).stat().st_size


def test_inputs_untouched(batch):
    assert tree_digest(batch["in"]) == batch["before"]


def test_sidecar_mask_changes_pixels_inside_only(batch):
    import tifffile
    from PIL import Image

    root = batch["root"]
    proc = run_cli([batch["in"] / MASKED, "-o", root / "nomask", "--no-masks", "--method", "biharmonic"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    with_mask = tifffile.imread(batch["out"] / "scene_grbg.tif").astype(np.int64)
    without = tifffile.imread(root / "nomask" / "scene_grbg.tif").astype(np.int64)
    holes = np.asarray(Image.open(batch["in"] / "scene_grbg.mask.png")) >= 128
    assert holes.shape == with_mask.shape[:2]  # the mask is in output (rotated) orientation
    np.testing.assert_array_equal(with_mask[~holes], without[~holes])
    changed = np.abs(with_mask - without).max(axis=2) > 0
    assert changed[holes].mean() > 0.5


def test_resume_skip_remake_and_overwrite(batch, tmp_path):
    # on a copy of the batch's outputs: re-making them must not change what other tests see
    root, inp = tmp_path, batch["in"]
    out = shutil.copytree(batch["out"], tmp_path / "out")
    images = [out / "scene_grbg.tif", out / "sub" / "Scene_RGGB.tif", out / "sub" / "wb_cast.tif"]
    mtimes = [p.stat().st_mtime_ns for p in images]
    common = [inp, "-o", out, "--method", "biharmonic", "--jobs", "2"]

    proc = run_cli([*common, "--resume", "--report", root / "r2.json"], cwd=root)
    assert proc.returncode == 1  # the bad inputs still fail
    recs = records_by_name(json.loads((root / "r2.json").read_text()))
    for rel in GOOD:
        assert recs[Path(rel).name]["status"] == "skipped"
        assert recs[Path(rel).name]["reason"].startswith("complete")
    assert [p.stat().st_mtime_ns for p in images] == mtimes

    proc = run_cli([*common, "--resume", "--denoise", "median3", "--report", root / "r3.json"], cwd=root)
    recs = records_by_name(json.loads((root / "r3.json").read_text()))
    assert all(recs[Path(rel).name]["status"] == "done" for rel in GOOD)  # settings changed: stale, re-made
    assert all(p.stat().st_mtime_ns != m for p, m in zip(images, mtimes))

    proc = run_cli([inp / "sub" / "wb_cast.dng", "-o", out / "sub", "--report", root / "r4.json"], cwd=root)
    rec = json.loads((root / "r4.json").read_text())["records"][0]
    assert proc.returncode == 0 and rec["status"] == "skipped" and rec["reason"].startswith("output exists")

    before = images[2].stat().st_mtime_ns
    proc = run_cli([inp / "sub" / "wb_cast.dng", "-o", out / "sub", "--overwrite", "--report", root / "r5.json"],
                   cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((root / "r5.json").read_text())["records"][0]["status"] == "done"
    assert images[2].stat().st_mtime_ns != before
    assert tree_digest(inp) == batch["before"]


@pytest.mark.slow
def test_native_crash_and_hang_fail_alone(tmp_path, samples_dir):
    """A segfault in one file and a hang past --timeout in another: both fail alone."""
    from faults import fault_env

    _need_samples(samples_dir)
    inp = tmp_path / "in"
    inp.mkdir()
    for name in ("a.dng", "b.dng", "crashme.dng", "hangme.dng"):
        shutil.copy(samples_dir / "scene_rggb.dng", inp / name)
    t = time.monotonic()
    proc = run_cli([inp, "-o", tmp_path / "out", "--jobs", "2", "--timeout", "15", "--report", tmp_path / "r.json"],
                   cwd=tmp_path, env_extra=fault_env(crash="crashme*", hang="hangme*"))
    assert proc.returncode == 1, proc.stderr
    assert time.monotonic() - t < 120
    recs = records_by_name(json.loads((tmp_path / "r.json").read_text()))
    for name in ("crashme.dng", "hangme.dng"):
        assert recs[name]["status"] == "failed"
        assert recs[name]["error"]["class"] == "WorkerCrashError"
        assert name in recs[name]["error"]["message"]
    assert "--timeout 15 s" in recs["hangme.dng"]["error"]["message"]
    assert recs["a.dng"]["status"] == recs["b.dng"]["status"] == "done"
    assert sorted(p.name for p in (tmp_path / "out").glob("*.tif")) == ["a.tif", "b.tif"]
    assert partials(tmp_path / "out") == []


def _big_dngs(folder: Path, n: int, h: int = 1024, w: int = 1536) -> None:
    from isp.synthetic import mosaic_from_rgb, write_dng

    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin(xx / 40)], axis=2) * 0.8 + 0.05
    rng = np.random.default_rng(0)
    mosaic = mosaic_from_rgb(rgb.astype(np.float32), "RGGB") * 16000 + 256
    for i in range(n):
        noisy = np.clip(mosaic + rng.normal(0, 20, mosaic.shape), 0, 16383).astype(np.uint16)
        write_dng(folder / f"big_{i:02d}.dng", noisy, cfa="RGGB", black_level=256, white_level=16383,
                  as_shot_neutral=(0.6, 1.0, 0.7))


def _start(args, cwd) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "pipeline", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for_first_output(out: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if list(out.glob("*.png")) or proc.poll() is not None:
            return
        time.sleep(0.05)
    raise AssertionError("no output appeared")


def _complete_pngs(out: Path, shape) -> list[str]:
    from PIL import Image

    names = []
    for p in sorted(out.glob("*.png")):
        with Image.open(p) as im:
            im.load()  # raises on a truncated file
            assert im.size == (shape[1], shape[0])
        names.append(p.name)
    return names


@pytest.mark.slow
def test_interrupted_runs_leave_no_half_files_and_resume(tmp_path):
    inp = tmp_path / "in"
    _big_dngs(inp, 5)
    out = tmp_path / "out"
    args = [inp, "-o", out, "--format", "png16", "--jobs", "1"]

    # 1) SIGKILL to the whole process group (workers too, possibly mid-write).
    proc = _start(args, tmp_path)
    _wait_for_first_output(out, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    done_first = _complete_pngs(out, (1024, 1536))
    assert 1 <= len(done_first) < 5

    # 2) SIGTERM to the runner only: it stops scheduling, lets the current file finish, reports.
    proc = _start([*args, "--resume", "--report", tmp_path / "r.json"], tmp_path)
    n0 = len(list(out.glob("*.png")))
    end = time.monotonic() + 120
    while len(list(out.glob("*.png"))) == n0 and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 130:  # it may have finished everything before the signal landed
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["interrupted"] is True and report["summary"]["not_run"] >= 1
        assert {r["status"] for r in report["records"]} <= {"done", "skipped", "not_run"}
    else:
        assert proc.returncode == 0, err
    assert partials(out) == []
    _complete_pngs(out, (1024, 1536))

    # 3) --resume completes the rest and sweeps temporaries the SIGKILL left behind.
    proc = run_cli([*args, "--resume", "--report", tmp_path / "r2.json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(_complete_pngs(out, (1024, 1536))) == 5
    assert partials(out) == []
    statuses = [r["status"] for r in json.loads((tmp_path / "r2.json").read_text())["records"]]
    assert statuses.count("skipped") >= len(done_first)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus"], "unrecognized arguments"),
        (["{in}", "-o", "{out}", "--wb", "tungsten"], "'gray_world'"),
        (["{in}", "-o", "{out}", "--format", "webp"], "'tiff16'"),
        (["{in}/missing", "-o", "{out}"], "input not found"),
        (["{in}", "-o", "{in}"], "is also an input"),
        (["{in}", "-o", "{out}", "--config", "{preset}"], "unknown key 'colour'"),
        (["{in}", "-o", "{out}", "--jobs", "0"], "expected a number >= 1"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, message):
    (tmp_path / "in").mkdir()
    (tmp_path / "bad.toml").write_text("colour = 'srgb'\n")
    fmt = {"in": tmp_path / "in", "out": tmp_path / "out", "preset": tmp_path / "bad.toml"}
    if args == ["--bogus"]:
        args = ["--bogus", str(tmp_path / "in"), "-o", str(tmp_path / "out")]
    proc = run_cli([a.format(**fmt) for a in args], cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not (tmp_path / "out").exists()


def test_help_and_empty_folder(tmp_path):
    proc = run_cli(["--help"], cwd=tmp_path)
    assert proc.returncode == 0 and "--resume" in proc.stdout and "--auto-mask" in proc.stdout
    entry = shutil.which("rawcomplete")
    if entry is not None:  # installed (pip install -e .): the console script is the same command
        out = subprocess.run([entry, "--version"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.startswith("rawcomplete ")
    (tmp_path / "empty").mkdir()
    proc = run_cli([tmp_path / "empty", "-o", tmp_path / "out"], cwd=tmp_path)
    assert proc.returncode == 0 and "0 done" in proc.stderr


def test_preset_flags_override_and_auto_mask(tmp_path, samples_dir):
    from PIL import Image
    from isp.synthetic import write_dng

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))
    from test_pipeline import _planted_mosaic

    mosaic, truth = _planted_mosaic("GRBG", 96, 128, n=10)
    (tmp_path / "in").mkdir()
    write_dng(tmp_path / "in" / "hot.dng", mosaic, cfa="GRBG", white_level=4095, as_shot_neutral=(1, 1, 1))
    from runner.png import encode_png

    (tmp_path / "masks").mkdir()
    holes = np.zeros((96, 128), np.uint8)
    holes[10:20, 30:50] = 255  # 200 pixels, given in a mask folder named by the preset
    (tmp_path / "masks" / "hot.mask.png").write_bytes(encode_png(holes))
    (tmp_path / "p.toml").write_text('format = "jpeg"\nwb = [1.0, 1.0, 1.0]\nmethod = "biharmonic"\n'
                                     'auto_mask = "defects"\nmask_dir = "masks"\n')
    proc = run_cli([tmp_path / "in", "-o", tmp_path / "out", "--config", tmp_path / "p.toml", "--format", "png8",
                    "--report", tmp_path / "r.json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["settings"]["format"] == "png8" and report["settings"]["wb"] == [1.0, 1.0, 1.0]
    rec = report["records"][0]
    assert rec["mask"]["defects"] >= 0.75 * truth.sum() and rec["completion"] == "biharmonic"
    assert rec["mask"]["file"] == str(tmp_path / "masks" / "hot.mask.png")
    assert rec["mask"]["pixels"] >= 200 + rec["mask"]["defects"] - 2  # union of sidecar and defects
    with Image.open(tmp_path / "out" / "hot.png") as im:
        assert im.mode == "RGB" and im.size == (128, 96)


def test_named_non_raw_file_is_a_usage_error_and_qtk_is_a_raw(tmp_path):
    from runner.discover import is_raw

    assert is_raw("camera/IMG_0001.QTK") and is_raw("a.qtk")  # Apple QuickTake, which LibRaw reads
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a raw")
    proc = run_cli([tmp_path / "photo.jpg", "-o", tmp_path / "out"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "not a RAW file" in proc.stderr and "photo.jpg" in proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # the same file met inside a folder is only passed over, counted with its reason
    (tmp_path / "in").mkdir()
    shutil.copy(tmp_path / "photo.jpg", tmp_path / "in" / "photo.jpg")
    proc = run_cli([tmp_path / "in", "-o", tmp_path / "out2"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


