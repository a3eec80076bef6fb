"""Regression tests of the hardening issue: one per class of bad input or failure found by the
bad-input campaign (benchmarks/fuzz_raw.py), plus a short seeded run of the campaign itself."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import isp
from isp.synthetic import write_dng
from isp.tiff_structure import scan_tiff

from conftest import logger_restored

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_runner_logger():
    """runner.cli.main, called in-process here, configures the "rawcomplete" logger: undo it."""
    with logger_restored():
        yield


# ------------------------------------------------------------------------------------------
# helpers: small DNGs and in-place patches of their IFD entries

def noise_dng(path: Path, *, h: int = 64, w: int = 96, libraw: bool = False, **kwargs) -> Path:
    """A noise DNG; ``libraw=True`` adds a (neutral) LinearizationTable so LibRaw reads it."""
    mosaic = np.random.default_rng(1).integers(300, 3800, (h, w)).astype(np.uint16)
    extra = list(kwargs.pop("extra_tags", ()))
    if libraw:
        extra.append((50712, 3, 4096, tuple(range(4096)), True))
    write_dng(path, mosaic, cfa="RGGB", black_level=256, white_level=4095, extra_tags=extra, **kwargs)
    return path


def entry(path: Path, code: int):
    for ifd in scan_tiff(path).ifds:
        if code in ifd.entries:
            return ifd.entries[code]
    raise KeyError(code)


def patch(path: Path, offset: int, fmt: str, *values) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<" + fmt, data, offset, *values)
    path.write_bytes(bytes(data))


def append(path: Path, blob: bytes) -> int:
    data = path.read_bytes()
    pad = b"\0" * (len(data) % 2)
    path.write_bytes(data + pad + blob)
    return len(data) + len(pad)


# ------------------------------------------------------------------------------------------
# 1. missing or short data sources never hand back memory

def test_truncated_dng_keeping_its_ifd_is_corrupt_not_memory(shared_raw, tmp_path):
    src = shared_raw / "Blackmagic_PocketCinema4K.dng"
    isp.read_raw(src)  # a warm process: the previous file's pixels are in freed memory
    cut = tmp_path / "cut.dng"
    cut.write_bytes(src.read_bytes()[:500])
    with pytest.raises(isp.CorruptRawError, match="past the end of the file") as info:
        isp.read_raw(cut)
    assert str(cut) in str(info.value)


@pytest.mark.parametrize("how", ["offsets_past_end", "no_offsets", "strip_past_end"])
def test_missing_data_sources_are_corrupt(tmp_path, how):
    path = noise_dng(tmp_path / f"{how}.dng", libraw=True)
    offsets = entry(path, 273)
    if how == "offsets_past_end":  # two strips whose offset array lies past the end
        patch(path, offsets.entry_offset + 2, "HII", 4, 2, path.stat().st_size + 64)
        patch(path, entry(path, 279).entry_offset + 2, "HII", 4, 2, path.stat().st_size + 64)
    elif how == "no_offsets":  # the StripOffsets entry turned into another tag
        patch(path, offsets.entry_offset, "H", 305)
    else:
        patch(path, offsets.entry_offset + 8, "I", path.stat().st_size - 100)
    with pytest.raises(isp.CorruptRawError, match="strip|StripOffsets"):
        isp.read_raw(path)


# ------------------------------------------------------------------------------------------
# 2. memory amplification: one strip reused for a huge image, and the pixel cap

def test_one_strip_reused_for_a_huge_image_is_refused(tmp_path):
    path = noise_dng(tmp_path / "reuse.dng", h=64, w=96)
    ifd = scan_tiff(path).ifds[0]
    n = 400  # 400 strips of 64 rows, all the same bytes: 25 600 x 96 claimed from a 12 KB strip
    pos_off = append(path, struct.pack(f"<{n}I", *([ifd.values[273][0]] * n)))
    pos_cnt = append(path, struct.pack(f"<{n}I", *([ifd.values[279][0]] * n)))
    patch(path, ifd.entries[273].entry_offset + 2, "HII", 4, n, pos_off)
    patch(path, ifd.entries[279].entry_offset + 2, "HII", 4, n, pos_cnt)
    patch(path, ifd.entries[257].entry_offset + 2, "HII", 4, 1, 64 * n)
    with pytest.raises(isp.CorruptRawError, match="reused for a larger image"):
        isp.read_raw(path)


def test_pixel_cap_is_a_typed_error_before_decoding(tmp_path, monkeypatch):
    path = noise_dng(tmp_path / "cap.dng")
    assert isp.read_raw(path, max_pixels=64 * 96).shape == (64, 96)
    import rawpy

    def no_decode(*a, **k):  # the cap is checked on the header, before LibRaw or tifffile decode
        raise AssertionError("decoded despite the cap")

    monkeypatch.setattr(rawpy, "imread", no_decode)
    monkeypatch.setattr("isp.raw._read_dng_fast", no_decode)
    with pytest.raises(isp.RawLimitError, match="claims 6,144 pixels, more than the limit of 6,143"):
        isp.read_raw(path, max_pixels=64 * 96 - 1)
    with pytest.raises(isp.ISPInputError, match="max_pixels"):
        isp.read_raw(path, max_pixels=0)
    assert isp.DEFAULT_MAX_PIXELS >= 150_000_000  # the largest single-shot sensors must pass


def test_pixel_cap_on_libraw_formats(shared_raw):
    with pytest.raises(isp.RawLimitError, match="claims 2224 x 1456"):
        isp.read_raw(shared_raw / "Canon_EOS_D30.CRW", max_pixels=1_000_000)


# ------------------------------------------------------------------------------------------
# 3. lying headers: black or constant outputs are refused

def test_bits_per_sample_lie_is_corrupt(tmp_path):
    path = noise_dng(tmp_path / "bps.dng")
    patch(path, entry(path, 258).entry_offset + 8, "H", 8)
    with pytest.raises(isp.CorruptRawError, match="BitsPerSample 8"):
        isp.read_raw(path)


def test_short_linearization_table_is_corrupt(tmp_path):
    path = noise_dng(tmp_path / "lt.dng", extra_tags=((50712, 3, 2, (0, 4095), True),))
    with pytest.raises(isp.CorruptRawError, match="constant|between the black level"):
        isp.read_raw(path)


@pytest.mark.parametrize("value", [0, 256, 4095])
def test_constant_data_are_corrupt(tmp_path, value):
    path = tmp_path / "flat.dng"
    write_dng(path, np.full((64, 96), value, np.uint16), cfa="RGGB", black_level=256, white_level=4095)
    with pytest.raises(isp.CorruptRawError, match="constant"):
        isp.read_raw(path)


# ------------------------------------------------------------------------------------------
# 4. opcode lists past the end of the file

@pytest.mark.parametrize("code", [51008, 51009, 51022])
def test_opcode_list_past_the_end_is_corrupt(tmp_path, code):
    from isp.opcodes import FixVignetteRadial, encode_opcode_list

    blob = encode_opcode_list([FixVignetteRadial(k=(0.3, 0, 0, 0, 0))])
    path = noise_dng(tmp_path / "op.dng", **{f"opcode_list{ {51008: 1, 51009: 2, 51022: 3}[code]}": blob})
    patch(path, entry(path, code).entry_offset + 8, "I", path.stat().st_size + 10)
    with pytest.raises(isp.CorruptRawError, match="OpcodeList"):
        isp.read_raw(path)


# ------------------------------------------------------------------------------------------
# 5. only regular files; everything passed over is counted with its reason; masks

def test_fifo_is_refused_not_read(tmp_path):
    fifo = tmp_path / "x.dng"
    os.mkfifo(fifo)
    code = f"import isp\ntry:\n    isp.read_raw({str(fifo)!r})\nexcept isp.RawFileError as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert "FIFO" in out.stdout and "only regular files" in out.stdout, out.stderr[-2000:]
    with pytest.raises(isp.RawFileError, match="folder"):
        isp.read_raw(tmp_path)


def test_discovery_counts_special_entries_with_reasons(tmp_path):
    from runner.discover import discover

    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    noise_dng(root / "good.dng")
    os.mkfifo(root / "pipe.dng")
    (root / "dangling.dng").symlink_to(root / "nowhere.dng")
    (root / "loop.dng").symlink_to(root / "loop.dng")
    (root / "linked").symlink_to(root / "sub")
    (root / "notes.txt").write_text("x")
    found = discover([root])
    assert [f.path.name for f in found.raws] == ["good.dng"]
    reasons = {Path(p).name: r for p, r in found.reasons.items()}
    assert reasons == {
        "pipe.dng": "FIFO (named pipe), not a regular file",
        "dangling.dng": "dangling symbolic link",
        "loop.dng": "symbolic link loop",
        "linked": "symbolic link to a folder (not followed)",
        "notes.txt": "no RAW file extension",
    }
    assert len(found.passed_over) == 5


def test_mask_that_is_a_folder_or_fifo_or_huge_is_an_error(tmp_path):
    import zlib

    from runner.errors import MaskFileError
    from runner.masks import read_mask_png, sidecar_path

    raw = noise_dng(tmp_path / "a.dng")
    (tmp_path / "a.mask.png").mkdir()
    found = sidecar_path(raw)
    assert found == tmp_path / "a.mask.png"
    with pytest.raises(MaskFileError, match="is a folder"):
        read_mask_png(found, shape=(64, 96))
    os.mkfifo(tmp_path / "b.mask.png")
    with pytest.raises(MaskFileError, match="is a FIFO"):
        read_mask_png(tmp_path / "b.mask.png", shape=(64, 96))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    huge = tmp_path / "c.mask.png"  # a 20000 x 20000 (400 MP) header with no real pixel data
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    with pytest.raises(MaskFileError, match="c.mask.png"):
        read_mask_png(huge, shape=(64, 96))
    with pytest.raises(MaskFileError, match="c.mask.png"):
        read_mask_png(huge)


def test_fifo_mask_never_blocks_resume_planning(tmp_path):
    import threading

    from runner.batch import plan
    from runner.settings import Settings

    (tmp_path / "in").mkdir()
    noise_dng(tmp_path / "in" / "a.dng")
    os.mkfifo(tmp_path / "in" / "a.mask.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.tif").write_bytes(b"old")
    (tmp_path / "out" / ".a.tif.rawcomplete.json").write_text("{}")
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        plan=plan([tmp_path / "in"], tmp_path / "out", Settings(resume=True))), daemon=True)
    worker.start()
    worker.join(60)
    assert "plan" in result, "planning blocked on a FIFO mask"
    _, decided, _, _ = result["plan"]
    assert decided[0].error.cls == "OutputError" and "not a regular file" in decided[0].error.message


# ------------------------------------------------------------------------------------------
# 6. report and sidecar failures

def test_report_that_is_a_folder_is_a_usage_error_before_any_work(tmp_path, capsys):
    from runner.cli import main

    raw = noise_dng(tmp_path / "a.dng")
    (tmp_path / "rep").mkdir()
    assert main([str(raw), "-o", str(tmp_path / "out"), "--report", str(tmp_path / "rep"), "-q"]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert not (tmp_path / "out" / "a.tif").exists()


def test_report_write_failure_is_an_honest_exit_code(tmp_path, monkeypatch):
    from runner import batch
    from runner.errors import OutputError
    from runner.settings import Settings

    def disk_full(path, data, **kwargs):
        raise OutputError(f"cannot write {str(path)!r}: [Errno 28] No space left on device")

    monkeypatch.setattr(batch, "atomic_write_bytes", disk_full)
    res = batch.run_batch([], tmp_path / "out",
                          Settings(report=str(tmp_path / "r.json"), progress=False))
    assert res.exit_code == 1 and "No space left" in res.report_error


def test_sidecar_failure_leaves_no_unvouched_output(tmp_path, monkeypatch):
    import runner.resume
    from runner.settings import Settings
    from runner.work import Task, process_file

    raw = noise_dng(tmp_path / "a.dng")
    out = tmp_path / "out" / "a.tif"
    out.parent.mkdir()

    def cannot(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runner.resume, "write_sidecar", cannot)
    rec = process_file(Task(index=0, input=str(raw), output=str(out), settings=Settings(progress=False)))
    assert rec.status == "failed" and rec.error.cls == "OutputError"
    assert "sidecar" in rec.error.message
    assert not out.exists()


# ------------------------------------------------------------------------------------------
# 7. long names and paths

def test_long_stem_gets_its_output_and_sidecar(tmp_path):
    from runner.resume import is_complete, sidecar_for, write_sidecar
    from runner.writers import partial_name, write_image

    raw = noise_dng(tmp_path / "r.dng")
    out = tmp_path / ("x" * 240 + ".tif")  # 244 bytes: fits; ".<name>.<pid>.rawcomplete-partial" would not
    assert len(partial_name(out).name.encode()) <= 255
    write_image(out, np.zeros((4, 4, 3), np.float32), format="tiff16")
    write_sidecar(out, {"fingerprint": "f"}, input_path=str(raw))
    assert len(sidecar_for(out).name) <= 255 and is_complete(out, "f")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [sidecar_for(out).name]


def test_path_errors_are_per_file_records(tmp_path):
    from runner.batch import plan
    from runner.errors import PipelineInputError
    from runner.settings import Settings

    with pytest.raises(PipelineInputError, match="cannot be used"):
        plan([noise_dng(tmp_path / "a.dng")], tmp_path / ("o" * 300), Settings())
    # an input tree whose output path is longer than the system allows (PATH_MAX 4096)
    root = tmp_path / "in"
    deep = root
    while len(str(deep)) < 3700:
        deep = deep / ("d" * 200)
    deep.mkdir(parents=True)
    noise_dng(deep / "deep.dng")
    noise_dng(root / "shallow.dng")
    outdir = tmp_path / ("o" * 250) / ("p" * 250)
    tasks, decided, _, _ = plan([root], outdir, Settings())
    assert [Path(t.input).name for t in tasks] == ["shallow.dng"]
    assert [Path(r.input).name for r in decided] == ["deep.dng"]
    assert decided[0].error.cls == "OutputError"


# ------------------------------------------------------------------------------------------
# 8. workers die with the runner

def _children(pid: int) -> set[int]:
    kids = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.add(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_the_runner_leaves_no_workers(tmp_path):
    for name in ("a.dng", "b.dng"):
        noise_dng(tmp_path / name)
    from faults import fault_env

    env = dict(os.environ, **fault_env(hang="*.dng"))
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", str(tmp_path / "a.dng"), str(tmp_path / "b.dng"),
                             "-o", str(tmp_path / "out"), "--jobs", "2", "-q"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        kids: set[int] = set()
        while time.time() < deadline:
            kids = _children(proc.pid)
            if len(kids) >= 3:  # two workers and the resource tracker
                break
            time.sleep(0.2)
        assert len(kids) >= 3, f"workers did not start: {kids}"
        time.sleep(1.0)  # the workers are inside the hanging file now
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.2)
    left = [k for k in kids if _alive(k)]
    for k in left:
        os.kill(k, signal.SIGKILL)
    assert not left, f"processes left behind by the killed runner: {left}"


# ------------------------------------------------------------------------------------------
# 10. --timeout: after worker warm-up, validated range

def test_timeout_starts_after_warm_up(tmp_path, monkeypatch):
    import faulthandler

    import runner.work as work
    from runner.settings import Settings

    events: list[str] = []
    monkeypatch.setattr(work, "warm_up", lambda settings: events.append("warm-up"))
    monkeypatch.setattr(faulthandler, "dump_traceback_later", lambda t, exit: events.append(f"armed {t}"))
    monkeypatch.setattr(faulthandler, "cancel_dump_traceback_later", lambda: events.append("cancelled"))
    raw = noise_dng(tmp_path / "a.dng")
    rec = work.process_file(work.Task(index=0, input=str(raw), output=str(tmp_path / "a.tif"),
                                      settings=Settings(timeout=1.5, progress=False)))
    assert rec.status == "done"
    assert events == ["warm-up", "armed 1.5", "cancelled"]


def test_warm_up_runs_once_per_settings(monkeypatch):
    import runner.work as work
    from runner.settings import Settings

    processed = []

    class Pipe:
        def process(self, frame, mask):
            processed.append((frame.mosaic.shape, None if mask is None else int(mask.sum())))

    monkeypatch.setattr(work, "_WARM", set())
    monkeypatch.setattr(work, "pipeline_for", lambda settings: Pipe())
    work.warm_up(Settings(method="auto"))
    work.warm_up(Settings(method="auto"))
    work.warm_up(Settings(method="biharmonic"))
    assert processed == [((64, 64), 24 * 24), ((64, 64), None)]


@pytest.mark.parametrize("value", ["1e13", "inf", "0", "-1", "nan"])
def test_timeout_range(value, tmp_path, capsys):
    from runner.cli import main

    assert main([str(tmp_path), "-o", str(tmp_path / "o"), "--timeout", value]) == 2
    assert "timeout must be" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# 11. presets

@pytest.mark.parametrize("content, expected", [
    (b'wb = "camera"\n# \xff\xfe not UTF-8\n', "not UTF-8"),
    (b"mask_dir = 123\n", "mask_dir must be a path"),
    (b"report = 42\n", "report must be a path"),
    (b"max_pixels = -5\n", "max_pixels must be"),
    (b"timeout = 1e13\n", "timeout must be at most"),
])
def test_bad_presets_are_usage_errors(tmp_path, capsys, content, expected):
    from runner.cli import main

    preset = tmp_path / "p.toml"
    preset.write_bytes(content)
    assert main([str(tmp_path), "-o", str(tmp_path / "o"), "--config", str(preset)]) == 2
    assert expected in capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# 12. classes and messages

def test_damaged_tiff_is_corrupt_not_unsupported(shared_raw, tmp_path):
    with pytest.raises(isp.CorruptRawError):
        isp.read_raw(shared_raw / "Canon_hachoir_truncated.cr2")  # a CR2 cut at 100 KB
    with pytest.raises(isp.UnsupportedRawError, match="GPR / VC-5"):
        isp.read_raw(shared_raw / "GoPro_HERO8_Black.GPR")
    cut = tmp_path / "cut.dng"
    cut.write_bytes((shared_raw / "Blackmagic_PocketCinema4K.dng").read_bytes()[:20000])
    with pytest.raises(isp.CorruptRawError, match="truncated"):
        isp.read_raw(cut)


def test_nan_color_matrix_names_the_file(tmp_path):
    path = noise_dng(tmp_path / "nan.dng")
    cm = entry(path, 50721)
    patch(path, cm.value_offset, "ii", 0, 0)  # 0/0: NaN
    with pytest.raises(isp.CorruptRawError, match="colour matrix") as info:
        isp.read_raw(path)
    assert str(path) in str(info.value)


def test_errors_from_below_the_runner_name_the_file(tmp_path):
    from PIL import Image

    from runner.settings import Settings
    from runner.work import Task, process_file

    raw = noise_dng(tmp_path / "a.dng")
    Image.fromarray(np.full((64, 96), 255, np.uint8)).save(tmp_path / "a.mask.png")  # all holes
    rec = process_file(Task(index=0, input=str(raw), output=str(tmp_path / "a.tif"),
                            settings=Settings(progress=False, method="biharmonic"),
                            mask_path=str(tmp_path / "a.mask.png")))
    assert rec.status == "failed"
    assert rec.error.message.startswith(str(raw))


def test_long_ifd_chain_is_rejected_fast(tmp_path):
    n = 200_000
    chain = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for i in range(n):
        chain += struct.pack("<HI", 0, 8 + 6 * (i + 1) if i + 1 < n else 0)
    path = tmp_path / "chain.dng"
    path.write_bytes(bytes(chain))
    t = time.perf_counter()
    with pytest.raises(isp.CorruptRawError, match="more than 64 IFDs"):
        isp.read_raw(path)
    assert time.perf_counter() - t < 2.0
    loop = tmp_path / "loop.dng"
    loop.write_bytes(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<HI", 0, 8))
    with pytest.raises(isp.CorruptRawError, match="loops"):
        isp.read_raw(loop)


def test_no_input_content_in_messages(tmp_path):
    secret = tmp_path / "x.dng"
    secret.write_bytes(b"SECRETSTUFF: root:x:0:0" * 10)
    with pytest.raises(isp.CorruptRawError) as info:
        isp.read_raw(secret)
    message = str(info.value).replace(str(secret), "")
    assert "SECRET" not in message and "x:0:0" not in message


# ------------------------------------------------------------------------------------------
# 13. an unwritable output folder is found before anything is developed

def test_unwritable_output_folder_fails_before_developing(tmp_path):
    from runner.batch import plan
    from runner.settings import Settings

    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    noise_dng(root / "sub" / "a.dng")
    noise_dng(root / "b.dng")
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("a file where the output folder should be")
    tasks, decided, _, _ = plan([root], out, Settings())
    assert [Path(t.input).name for t in tasks] == ["b.dng"]
    assert decided[0].error.cls == "OutputError"
    assert "nothing was developed" in decided[0].error.message


# ------------------------------------------------------------------------------------------
# the campaign itself: a short seeded run

def test_fuzz_campaign_short_seeded_run(tmp_path):
    summary_file = tmp_path / "fuzz.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "fuzz_raw.py"), "--cases", "16", "--seed", "2026",
         "--small", "--jobs", "2", "--timeout", "120", "--json", str(summary_file)],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert summary_file.exists(), proc.stdout + proc.stderr[-3000:]
    summary = json.loads(summary_file.read_text())
    assert summary["cases"] == 16
    assert summary["bad"] == [], proc.stdout
    assert proc.returncode == 0
    assert any(k.startswith("typed:") for k in summary["counts"])
