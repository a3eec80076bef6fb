"""``rawcomplete check``: references of a user's own RAWs, what moves, the report.

One REFDIR is recorded (through the command line) from the samples (most with camera white
balance) and two shared RAWs: one without camera white balance (it falls back to gray world) and
one the pipeline refuses. Copies of it are then changed (a recorded setting, a planted pixel block, corrupted
files) and checked again. The whole of samples/ and ../shared/raw/ is checked against the
project's own REFDIR by ``tests/pipeline/test_golden.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLES_DIR, logger_restored, shared_dir
from pipeline import main
from runner.check import (
    TOLERANCES,
    check_settings,
    compare,
    heat_colours,
    load_reference,
    parse_tolerances,
    run_check,
    write_reference,
)
from runner.errors import CheckReferenceError, PipelineInputError
from runner.png import decode_png

SHARED_PICKS = ("Kodak_DC50.KDC", "Canon_exiftool_stub.cr3")
PLANT = (slice(100, 132), slice(200, 232))  # rows, columns of the block planted in scene_rggb's reference


@pytest.fixture(scope="module", autouse=True)
def restore_logger():
    """``main`` reconfigures the "rawcomplete" logger; undo that after this module."""
    with logger_restored():
        yield


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) -> sha256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def inputs() -> list[str]:
    out = [str(SAMPLES_DIR)]
    shared = shared_dir()
    if shared is not None:
        out += [str(shared / "raw" / n) for n in SHARED_PICKS if (shared / "raw" / n).is_file()]
    return out


@pytest.fixture(scope="module")
def refdir(tmp_path_factory, inputs) -> Path:
    """References recorded with ``rawcomplete check REFDIR INPUT... --update`` (biharmonic completion)."""
    ref = tmp_path_factory.mktemp("check") / "refs"
    assert main(["check", str(ref), *inputs, "--update", "--method", "biharmonic", "-q"]) == 0
    return ref


def copy_of(refdir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "refs"
    shutil.copytree(refdir, out)
    return out


def by_key(result) -> dict[str, dict]:
    return {r.key: r.to_json() for r in result.records}


# --------------------------------------------------------------------------- record, check

def test_update_records_settings_versions_and_references(refdir, inputs):
    settings = (refdir / "settings.toml").read_text()
    assert 'method = "biharmonic"' in settings and 'wb = "camera"' in settings
    refs = {p.name[: -len(".json")]: json.loads(p.read_text()) for p in refdir.glob("*.json")}
    assert {p.name for p in SAMPLES_DIR.glob("*.dng")} <= set(refs)
    rggb = refs["scene_rggb.dng"]
    assert rggb["made_with"]["method"] == "biharmonic" and rggb["shape"] == [256, 384, 3]
    assert {"rawcomplete", "libraw", "rawpy", "numpy", "numba", "torch", "python"} <= set(rggb["versions"])
    assert rggb["metadata"]["cfa"] == "RGGB" and len(rggb["metadata"]["wb_gains"]) == 3
    image = decode_png((refdir / rggb["image"]["file"]).read_bytes())
    assert image.dtype == np.uint16 and list(image.shape) == rggb["image"]["shape"]
    grbg = refs["scene_grbg.dng"]  # has a sidecar mask: completed, and the mask recorded
    assert grbg["mask"]["name"] == "scene_grbg.mask.png" and grbg["metadata"]["completion_method"] == "biharmonic"
    if "Canon_exiftool_stub.cr3" in refs:
        stub = refs["Canon_exiftool_stub.cr3"]
        assert stub["outcome"] == "refused" and stub["error"]["class"] == "CorruptRawError"
    if "Kodak_DC50.KDC" in refs:  # 768 px wide: stored downscaled by 2, to at most 512 px
        kodak = refs["Kodak_DC50.KDC"]
        assert kodak["image"]["scale"] == 2 and kodak["image"]["shape"] == [256, 384, 3]
        assert kodak["shape"] == [512, 768, 3] and kodak["metadata"]["wb_method"].startswith("gray_world")


def test_check_passes_and_changes_nothing(refdir, inputs, tmp_path, capsys):
    before = tree(refdir)
    report = tmp_path / "check.html"
    assert main(["check", str(refdir), *inputs, "--report", str(report)]) == 0
    assert tree(refdir) == before
    doc = json.loads(report.with_suffix(".json").read_text())
    assert doc["exit_code"] == 0 and doc["summary"]["pass"] == doc["summary"]["files"] == len(list(refdir.glob("*.json")))
    for rec in doc["records"]:
        assert rec["status"] == "pass", rec["message"]
        if rec["now"]["outcome"] == "developed":
            assert rec["figures"]["psnr"] is None and rec["figures"]["max_abs"] == 0  # identical: PSNR infinite
    assert "within tolerance" in report.read_text()
    assert "pass" in capsys.readouterr().err


# --------------------------------------------------------------------------- settings that move files

def test_recorded_setting_change_fails_exactly_the_affected_files(refdir, inputs, tmp_path):
    refs = copy_of(refdir, tmp_path)
    toml = refs / "settings.toml"
    toml.write_text(toml.read_text().replace('wb = "camera"', 'wb = "gray_world"'))
    before = tree(refs)
    result = run_check(refs, inputs, check_settings(refs))
    assert tree(refs) == before
    records = by_key(result)
    # gray world changes only the files that had camera white balance (the others fell back to
    # gray world already), and of those only where the gains it finds differ from the camera's
    # (shading_gainmap_1plane's flat grey scene gives the same gains)
    camera = {k for k, r in records.items() if (r["reference"].get("metadata") or {}).get("wb_method") == "camera"}
    affected = {k for k in camera if not np.allclose(records[k]["reference"]["metadata"]["wb_gains"],
                                                     records[k]["now"]["metadata"]["wb_gains"], rtol=1e-5)}
    assert affected and camera - affected and set(records) - camera
    for key in camera - affected:
        assert records[key]["figures"]["max_abs"] <= TOLERANCES["max"]
    moved = {k for k, r in records.items() if r["status"] != "pass"}
    assert moved == affected
    for key in moved:
        assert records[key]["status"] == "moved"
        assert "wb 'camera' -> 'gray_world'" in records[key]["message"], records[key]["message"]
    assert result.exit_code == 1


def test_denoise_flag_moves_every_developed_file(refdir, inputs, tmp_path, capsys):
    before = tree(refdir)
    report = tmp_path / "denoise"
    assert main(["check", str(refdir), *inputs, "--denoise", "median3", "--report", str(report)]) == 1
    assert tree(refdir) == before
    records = {r["key"]: r for r in json.loads(report.with_suffix(".json").read_text())["records"]}
    moved = set()
    for key, rec in records.items():
        if rec["now"]["outcome"] == "refused":
            assert rec["status"] == "pass"  # still refused with the same error class
            continue
        assert "denoise 'off' -> 'median3'" in rec["message"], (key, rec["message"])
        if rec["status"] == "moved":
            moved.add(key)
        else:  # a median leaves a flat grey field (shading_gainmap_1plane) as it is
            assert rec["status"] == "pass" and rec["figures"]["max_abs"] <= TOLERANCES["max"], (key, rec["message"])
    assert {"scene_rggb.dng", "noisy.dng", "wb_cast.dng"} <= moved and len(moved) >= len(records) - 3
    err = capsys.readouterr().err
    assert "MOVED" in err and "denoise 'off' -> 'median3'" in err


# --------------------------------------------------------------------------- planted change, report

@pytest.fixture(scope="module")
def planted_report(refdir, inputs, tmp_path_factory):
    """A check whose scene_rggb reference had a 32 x 32 block brightened (rows 100-131, columns 200-231)."""
    refs = tmp_path_factory.mktemp("planted") / "refs"
    shutil.copytree(refdir, refs)
    record, image = load_reference(refs / "scene_rggb.dng.json")
    assert record["image"]["scale"] == 1
    image = image.copy()
    image[PLANT] = np.clip(image[PLANT].astype(np.int64) + 13000, 0, 65535).astype(np.uint16)
    old_png = refs / record["image"]["file"]
    written = write_reference(refs / "scene_rggb.dng.json", {**record, "full_digest": "planted"}, image)
    # the new image is named by its content; the JSON's rename committed it and the old one is gone
    assert written["image"]["file"] != old_png.name and not old_png.exists()
    assert [p.name for p in refs.glob("scene_rggb.dng.*.png")] == [written["image"]["file"]]
    report = refs.parent / "planted.html"
    result = run_check(refs, inputs, check_settings(refs), report=report)
    return result, report


def test_planted_block_is_found_where_it_was_planted(planted_report):
    result, report = planted_report
    records = by_key(result)
    assert {k for k, r in records.items() if r["status"] != "pass"} == {"scene_rggb.dng"}
    rec = records["scene_rggb.dng"]
    assert rec["figures"]["changed_box"] == [100, 200, 132, 232]
    assert "rows 100-131, columns 200-231" in rec["message"] and "PSNR" in rec["message"]
    assert rec["figures"]["max_abs"] == pytest.approx(13000 / 65535, abs=2e-3)
    # the heat map embedded in the page: hot inside the block, black elsewhere
    page = report.read_text()
    heat_uris = re.findall(r'<img alt="heat scene_rggb\.dng" class="heat" src="data:image/png;base64,([^"]+)"', page)
    assert len(heat_uris) == 1
    heat = decode_png(base64.b64decode(heat_uris[0])).astype(int)
    assert heat.shape == (256, 384, 3)  # the preview is at full resolution for a 384 px sample
    brightness = heat.sum(axis=2)
    inside = np.zeros(brightness.shape, bool)
    inside[PLANT] = True
    assert brightness[inside].min() > 500 and brightness[~inside].max() == 0
    ys, xs = np.nonzero(brightness)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (100, 131, 200, 231)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_renders_in_headless_chromium(planted_report, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not installed (Debian: apt-get install chromium; .ci/run tries to): "
                    "the report's rendering is not checked")
    _, report = planted_report
    shot = tmp_path / "check_report.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1400,1500",
           report.resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"no screenshot: {done.returncode} {done.stderr[-2000:]}"
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (1500, 1400)
    # the heat map (384 x 256 px, black where nothing changed) is drawn at its natural size with the
    # planted block (pale yellow, (255, 255, 190)) 100 px down and 200 px across inside it
    black = pixels.max(axis=2) < 4
    rows = np.nonzero(black.sum(axis=1) > 300)[0]
    cols = np.nonzero(black[rows].sum(axis=0) > 150)[0]
    assert rows.size and cols.size, "no heat map on the page"
    top, left = rows.min(), cols.min()
    assert (rows.max() - top + 1, cols.max() - left + 1) == (256, 384)
    hot = (np.abs(pixels - np.array([255, 255, 190])).max(axis=2) <= 3)
    hot[:, : left] = hot[:, left + 384 :] = False
    hot[: top] = hot[top + 256 :] = False
    ys, xs = np.nonzero(hot)
    assert ys.size == 32 * 32, f"the planted block is not on the page's heat map ({ys.size} hot pixels)"
    assert (ys.min() - top, xs.min() - left, ys.max() - top, xs.max() - left) == (100, 200, 131, 231)
    assert (pixels.std(axis=2) > 30).sum() > 50_000  # colourful photos rendered, not a blank page
    red_badge = (abs(pixels[..., 0] - 0xB3) < 8) & (abs(pixels[..., 1] - 0x26) < 8) & (abs(pixels[..., 2] - 0x1E) < 8)
    assert red_badge.sum() > 100, "the 'moved' badge is missing"


# --------------------------------------------------------------------------- corrupt references, usage

def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "image byte flipped": (lambda j, png: _flip_byte(png), "is corrupt or was replaced"),
    "image missing": (lambda j, png: png.unlink(), "cannot be read"),
    "json truncated": (lambda j, png: j.write_text(j.read_text()[:200]), "is not valid JSON"),
    "json field missing": (lambda j, png: j.write_text(json.dumps({k: v for k, v in json.loads(j.read_text()).items()
                                                                   if k != "stats"})), "lacks stats"),
    "json not a reference": (lambda j, png: j.write_text("[1, 2]"), "is not a rawcomplete check reference"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_reference_is_a_typed_error(refdir, tmp_path, kind):
    refs = copy_of(refdir, tmp_path)
    json_path = refs / "wb_cast.dng.json"
    png = refs / json.loads(json_path.read_text())["image"]["file"]
    damage, words = CORRUPTIONS[kind]
    damage(json_path, png)
    with pytest.raises(CheckReferenceError, match=re.escape(words)) as info:
        load_reference(json_path)
    assert "wb_cast.dng" in str(info.value)


def test_corrupt_reference_fails_that_file_only(refdir, tmp_path, capsys):
    refs = copy_of(refdir, tmp_path)
    png = refs / json.loads((refs / "wb_cast.dng.json").read_text())["image"]["file"]
    _flip_byte(png)
    samples = [str(SAMPLES_DIR / n) for n in ("wb_cast.dng", "scene_rggb.dng")]
    assert main(["check", str(refs), *samples]) == 1
    err = capsys.readouterr().err
    assert "FAILED  wb_cast.dng: CheckReferenceError: reference image" in err and "is corrupt" in err
    assert "1 pass, 1 failed" in err


def test_usage_errors_exit_2(refdir, tmp_path, capsys):
    sample = str(SAMPLES_DIR / "scene_rggb.dng")
    assert main(["check", str(tmp_path / "none"), sample]) == 2
    assert "make the references first" in capsys.readouterr().err
    assert main(["check", str(refdir), sample, "--tolerance", "psnr=-1"]) == 2
    assert main(["check", str(refdir), sample, "--tolerance", "speed=1"]) == 2
    assert main(["check", str(refdir), sample, "--report", str(refdir / "r.html")]) == 2
    assert "inside REFDIR" in capsys.readouterr().err
    assert main(["check", str(refdir), str(tmp_path / "missing.dng")]) == 2
    assert "input not found" in capsys.readouterr().err
    assert main(["check", str(refdir), sample, "--wb", "purple"]) == 2
    bad = copy_of(refdir, tmp_path)
    (bad / "settings.toml").write_text("wb = \n")
    assert main(["check", str(bad), sample]) == 2
    assert "settings.toml" in capsys.readouterr().err
    assert main(["check", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--update" in out and "--denoise" in out and "--executor" in out and "--format" not in out


def test_parse_tolerances():
    assert parse_tolerances(None) == dict(TOLERANCES)
    assert parse_tolerances(["max=0.004,psnr=50", "stats=0.01"]) == {"max": 0.004, "psnr": 50.0, "stats": 0.01}
    with pytest.raises(PipelineInputError, match="NAME one of max, psnr, stats"):
        parse_tolerances(["max"])


# --------------------------------------------------------------------------- the comparison itself

def _record(image: np.ndarray) -> dict:
    from runner.check import quantize16, statistics

    return {"outcome": "developed", "shape": list(image.shape), "stats": statistics(image), "full_digest": "x",
            "metadata": {"cfa": "RGGB", "wb_gains": [2.0, 1.0, 1.5], "wb_method": "camera"},
            "image": {"scale": 2}, "made_with": {"wb": "camera"}, "input": {"sha256": "a"}, "mask": None,
            "versions": {"libraw": "0.22.2"}}, quantize16


def test_compare_catches_exposure_and_local_changes():
    rng = np.random.default_rng(1)
    image = rng.uniform(0.2, 0.8, (64, 96, 3)).astype(np.float32)
    ref, quantize16 = _record(image)
    from runner.check import downscale

    ref_image = quantize16(downscale(image, 2))
    same = compare(ref, ref_image, ref, image, TOLERANCES)
    assert same["problems"] == [] and same["figures"]["max_abs"] == 0 and same["figures"]["changed_box"] is None
    brighter = image * 1.02  # a 2 % exposure change
    moved = compare(ref, ref_image, _record(brighter)[0], brighter, TOLERANCES)
    assert any(p.startswith("statistic") for p in moved["problems"]) and any("PSNR" in p for p in moved["problems"])
    patched = image.copy()
    patched[10:18, 40:48] = 0.0  # 64 pixels
    local = compare(ref, ref_image, _record(patched)[0], patched, TOLERANCES)
    assert local["figures"]["changed_box"] == [10, 40, 18, 48]
    assert local["heat"].shape == (32, 48) and local["heat"][5:9, 20:24].min() > 0.1
    now = {**_record(image)[0], "metadata": {"cfa": "RGGB", "wb_gains": [2.0, 1.0, 1.5], "wb_method": "user"},
           "made_with": {"wb": "2,1,1.5"}, "versions": {"libraw": "0.23.0"}}
    label = compare(ref, ref_image, now, image, TOLERANCES)  # descriptive changes and causes: not failures
    assert label["problems"] == []
    assert any("wb_method" in n for n in label["notes"])
    assert any("wb 'camera' -> '2,1,1.5'" in c for c in label["causes"]) and any("libraw 0.22.2 -> 0.23.0" in c for c in label["causes"])


def test_heat_colours_are_black_below_the_range_and_brighten_with_the_difference():
    d = np.array([[0.0, 5e-5, 1e-3, 1e-2, 0.2]])
    rgb = heat_colours(d).astype(int)
    assert (rgb[0, :2] == 0).all()
    assert np.all(np.diff(rgb[0, 1:].sum(axis=1)) > 0)
    assert tuple(rgb[0, -1]) == (255, 255, 190)


@pytest.mark.slow
def test_check_on_a_dask_cluster(refdir, tmp_path):
    pytest.importorskip("distributed")
    before = tree(refdir)
    samples = [str(SAMPLES_DIR / n) for n in ("scene_grbg.dng", "wb_cast.dng")]
    report = tmp_path / "dask"
    assert main(["check", str(refdir), *samples, "--executor", "dask", "--jobs", "2", "--report", str(report)]) == 0
    assert tree(refdir) == before
    doc = json.loads(report.with_suffix(".json").read_text())
    assert [r["status"] for r in doc["records"]] == ["pass", "pass"]
