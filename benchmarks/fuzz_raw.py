#!/usr/bin/env python3
"""Bad-input campaign: structure-aware mutations of real RAW files, each run in its own child
process (timeout, address-space limit), counted by outcome class.

    python benchmarks/fuzz_raw.py [--cases 1000] [--seed 1] [--jobs 2] [--timeout 60]
                                  [--max-pixels 30000000] [--mem-gb 6] [--small] [--json FILE]

Seeds: ``samples/*.dng`` and the RAW files of ``$RAWCOMPLETE_SHARED/raw`` (default ``../shared``);
``--small`` keeps files under 1 MB (the short run in the test suite). For TIFF-based seeds the
mutators know the structure (``isp.tiff_structure.scan_tiff``): they change a tag's type, count
or value (dimensions, BitsPerSample, offsets, white level), repoint data offsets past the end or
at one strip reused for a huge image, replace an entry by a short LinearizationTable or a
mutated DNG opcode list, loop or lengthen the IFD chain, zero the image data, cut the file at
structural points. Every seed also gets byte-level mutations (truncation, bit flips in the
header region, overwritten or duplicated ranges).

Each case runs ``runner.work.process_file`` (read, develop, write a TIFF and its resume sidecar,
exactly as a CLI worker) in a fresh ``python`` child under ``RLIMIT_AS``, after that child has
decoded another file (random noise) with LibRaw, so a decoder that returns memory it did not fill
shows the other file's pixels. Outcome classes:

* ``typed:<Class>``: a ``RawcompleteError`` (the contract for bad input);
* ``done``: developed and written (checked: not constant, none of the other file's data);
* ``untyped:<Class>``: any other exception (a bug);
* ``signal:<name>``: the child died of a signal (native crash);
* ``hang``: it ran past ``--timeout``;
* ``leak``: the decoded mosaic holds the other file's data;
* ``constant-done``: reported done with a constant output.

It prints the counts, the cases of each bad class (seed, mutations, message) and the peak RSS of
the children against the pixels each case claimed, as bytes per pixel. Exit status 1 when any bad
class occurred.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BAD_CLASSES = ("untyped", "signal", "hang", "leak", "constant-done", "no-result")
RAW_SUFFIXES = {".dng", ".cr2", ".crw", ".cr3", ".nef", ".kdc", ".gpr", ".qtk", ".raf", ".mrw",
                ".x3f", ".raw", ".arw", ".orf", ".rw2", ".pef"}
INTERESTING_U32 = (0, 1, 2, 3, 7, 8, 15, 16, 255, 256, 4095, 65535, 65536, 0x7FFF_FFFF,
                   0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF)


# ------------------------------------------------------------------------------------------
# seeds

def find_seeds(small: bool) -> list[Path]:
    shared = Path(os.environ.get("RAWCOMPLETE_SHARED", REPO.parent / "shared")) / "raw"
    seeds = sorted((REPO / "samples").glob("*.dng"))
    if shared.is_dir():
        seeds += sorted(p for p in shared.iterdir() if p.suffix.lower() in RAW_SUFFIXES)
    if small:
        seeds = [p for p in seeds if p.stat().st_size < 1_000_000]
    return seeds


# ------------------------------------------------------------------------------------------
# mutators: (rng, data: bytearray, structure or None) -> description

def _entries(structure):
    return [e for ifd in structure.ifds for e in ifd.entries.values()] if structure else []


def _pack(structure, fmt: str, buf: bytearray, offset: int, *values) -> None:
    struct.pack_into(structure.byteorder + fmt, buf, offset, *values)


def _append(buf: bytearray, blob: bytes) -> int:
    if len(buf) % 2:
        buf.append(0)
    offset = len(buf)
    buf.extend(blob)
    return offset


def _pick_entry(rng, structure, codes=None):
    entries = [e for e in _entries(structure) if codes is None or e.code in codes]
    return rng.choice(entries) if entries else None


def m_tag_value(rng, buf, st):
    from isp.tiff_structure import VITAL_TAGS

    e = _pick_entry(rng, st, VITAL_TAGS if rng.random() < 0.7 else None)
    if e is None:
        return None
    value = rng.choice(INTERESTING_U32 + (len(buf) - 1, len(buf), len(buf) + 8, rng.randrange(len(buf))))
    _pack(st, "I", buf, e.entry_offset + 8, value & 0xFFFF_FFFF)
    return f"value of tag {e.code} = {value}"


def m_tag_header(rng, buf, st):
    """A wrong count (often far too large) or field type in one entry."""
    e = _pick_entry(rng, st)
    if e is None:
        return None
    if rng.random() < 0.6:
        count = rng.choice(INTERESTING_U32 + (e.count + 1, max(e.count - 1, 0), e.count * 2))
        _pack(st, "I", buf, e.entry_offset + 4, count & 0xFFFF_FFFF)
        return f"count of tag {e.code} = {count}"
    typ = rng.randrange(0, 20)
    _pack(st, "H", buf, e.entry_offset + 2, typ)
    return f"type of tag {e.code} = {typ}"


def _set_short_or_long(st, buf, e, value):
    if e.type == 3 and value < 65536:
        _pack(st, "H", buf, e.entry_offset + 8, value)
        _pack(st, "H", buf, e.entry_offset + 10, 0)
    else:
        _pack(st, "HII", buf, e.entry_offset + 2, 4, 1, value & 0xFFFF_FFFF)


def m_dimensions(rng, buf, st):
    size = rng.choice((0, 1, 7, 12000, 45000, 65535, 100_000, 1 << 20, 0xFFFF_FFFF))
    done = []
    for code in rng.sample((256, 257), rng.choice((1, 2))):
        e = _pick_entry(rng, st, (code,))
        if e is not None:
            _set_short_or_long(st, buf, e, size)
            done.append(code)
    return f"dimensions {done} = {size}" if done else None


def m_bits(rng, buf, st):
    e = _pick_entry(rng, st, (258,))
    if e is None or e.count != 1:
        return None
    bits = rng.choice((0, 1, 8, 10, 12, 14, 15, 17, 24, 32, 64))
    _pack(st, "H", buf, e.entry_offset + 8, bits)
    return f"BitsPerSample = {bits}"


def m_levels(rng, buf, st):
    e = _pick_entry(rng, st, (50717, 50714, 50713))
    if e is None:
        return None
    value = rng.choice((0, 1, 255, 65535, 0xFFFF_FFFF))
    if e.inline:
        _pack(st, "I", buf, e.entry_offset + 8, value)
    else:
        _pack(st, "I", buf, e.value_offset, value)
    return f"level tag {e.code} = {value}"


def m_strip_reuse(rng, buf, st):
    """One strip (or tile) reused for a much larger image: amplification."""
    raw = [ifd for ifd in st.ifds if ifd.is_raw] if st else []
    if not raw:
        return None
    ifd = rng.choice(raw)
    off_code, cnt_code = (324, 325) if 324 in ifd.entries else (273, 279)
    offsets, counts = ifd.values.get(off_code, ()), ifd.values.get(cnt_code, ())
    if not offsets or not counts or off_code not in ifd.entries or cnt_code not in ifd.entries:
        return None
    n = rng.choice((64, 1500, 20000))
    off_blob = struct.pack(f"{st.byteorder}{n}I", *([offsets[0]] * n))
    cnt_blob = struct.pack(f"{st.byteorder}{n}I", *([counts[0]] * n))
    for code, blob in ((off_code, off_blob), (cnt_code, cnt_blob)):
        pos = _append(buf, blob)
        _pack(st, "HII", buf, ifd.entries[code].entry_offset + 2, 4, n, pos)
    if 257 in ifd.entries and off_code == 273:
        rows = ifd.value(278, ifd.value(257, 1)) or 1
        _set_short_or_long(st, buf, ifd.entries[257], min(rows * n, 0xFFFF_FFFF))
    return f"{n} copies of one {'tile' if off_code == 324 else 'strip'}"


def _repurpose(rng, st, codes_first):
    """An existing entry to overwrite with another tag (an unimportant one when possible)."""
    e = _pick_entry(rng, st, codes_first)
    return e or _pick_entry(rng, st, (305, 282, 283, 296, 50708, 50778, 274))


def m_linearization(rng, buf, st):
    e = _repurpose(rng, st, (50712,))
    if e is None:
        return None
    n = rng.choice((0, 1, 2, 3, 16, 256))
    pos = _append(buf, struct.pack(f"{st.byteorder}{n}H", *sorted(rng.randrange(65536) for _ in range(n))))
    _pack(st, "HHII", buf, e.entry_offset, 50712, 3, n, pos if n > 2 else 0)
    return f"LinearizationTable of {n} entries (entry of tag {e.code})"


def _opcode_list(rng) -> bytes:
    from isp.opcodes import FixVignetteRadial, GainMap, encode_opcode_list

    import numpy as np

    ops = []
    for _ in range(rng.randrange(1, 4)):
        if rng.random() < 0.5:
            ops.append(FixVignetteRadial(k=(rng.uniform(-1, 1), 0, 0, 0, 0), cx=0.5, cy=0.5))
        else:
            nv, nh = rng.randrange(1, 6), rng.randrange(1, 6)
            ops.append(GainMap(top=0, left=0, bottom=rng.randrange(1, 300), right=rng.randrange(1, 400),
                               map_spacing_v=1 / nv, map_spacing_h=1 / nh,
                               gains=np.full((nv, nh, 1), rng.uniform(0.5, 2), np.float32)))
    blob = bytearray(encode_opcode_list(ops))
    how = rng.randrange(4)
    if how == 1 and len(blob) > 8:  # flip bytes inside
        for _ in range(rng.randrange(1, 8)):
            blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
    elif how == 2:  # absurd count or size fields
        struct.pack_into(">I", blob, rng.choice((0, 16, 20)) if len(blob) > 24 else 0, rng.choice(INTERESTING_U32))
    elif how == 3:
        del blob[rng.randrange(len(blob)):]
    return bytes(blob)


def m_opcodes(rng, buf, st):
    e = _repurpose(rng, st, (51008, 51009, 51022))
    if e is None:
        return None
    code = rng.choice((51008, 51009, 51022))
    if rng.random() < 0.35:  # past the end of the file
        _pack(st, "HHII", buf, e.entry_offset, code, 7, rng.randrange(16, 4096), len(buf) + rng.randrange(0, 1 << 20))
        return f"OpcodeList tag {code} past the end (entry of tag {e.code})"
    blob = _opcode_list(rng)
    pos = _append(buf, blob)
    _pack(st, "HHII", buf, e.entry_offset, code, 7, len(blob), pos)
    return f"mutated OpcodeList tag {code} of {len(blob)} bytes (entry of tag {e.code})"


def m_ifd_chain(rng, buf, st):
    if not st or not st.ifds:
        return None
    main = [ifd for ifd in st.ifds if ifd.kind == "main"]
    last = main[-1]
    # the stored count of entries (entries of unknown type are not in ``last.entries``)
    (n_entries,) = struct.unpack_from(st.byteorder + "H", buf, last.offset)
    next_pos = last.offset + 2 + 12 * n_entries
    if rng.random() < 0.4:
        _pack(st, "I", buf, next_pos, main[0].offset)
        return "IFD chain loops to the first IFD"
    n = rng.choice((10, 100, 1000, 20000))
    start = len(buf) + (len(buf) % 2)
    chain = bytearray()
    for i in range(n):
        nxt = start + 6 * (i + 1) if i + 1 < n else 0
        chain += struct.pack(st.byteorder + "HI", 0, nxt)
    _append(buf, bytes(chain))
    _pack(st, "I", buf, next_pos, start)
    return f"IFD chain of {n} more empty IFDs"


def m_zero_data(rng, buf, st):
    raw = [ifd for ifd in st.ifds if ifd.is_raw] if st else []
    if not raw:
        return None
    ifd = raw[0]
    offsets = ifd.values.get(273) or ifd.values.get(324) or ()
    counts = ifd.values.get(279) or ifd.values.get(325) or ()
    fill = rng.choice((0, 0xFF))
    for off, cnt in zip(offsets, counts):
        end = min(off + cnt, len(buf))
        buf[off:end] = bytes([fill]) * max(end - off, 0)
    return f"image data filled with {fill:#x}"


def m_truncate_structural(rng, buf, st):
    points = [len(buf) // 2, rng.randrange(1, len(buf))]
    if st:
        for ifd in st.ifds:
            points += [ifd.offset + 1, ifd.offset + 2 + 12 * rng.randrange(max(len(ifd.entries), 1))]
            for e in ifd.entries.values():
                if not e.inline:
                    points += [e.value_offset, e.value_offset + e.nbytes // 2]
            for off in (ifd.values.get(273) or ifd.values.get(324) or ())[:4]:
                points += [off, off + 1]
    cut = max(1, min(rng.choice(points), len(buf) - 1))
    del buf[cut:]
    return f"cut at byte {cut}"


def m_truncate(rng, buf, st):
    cut = rng.choice((rng.randrange(1, 600), rng.randrange(1, len(buf)), int(len(buf) * rng.uniform(0.9, 1.0))))
    cut = max(1, min(cut, len(buf) - 1))
    del buf[cut:]
    return f"cut at byte {cut}"


def m_bitflip(rng, buf, st):
    region = min(len(buf), rng.choice((64, 1024, 65536)))
    n = rng.randrange(1, 16)
    for _ in range(n):
        buf[rng.randrange(region)] ^= 1 << rng.randrange(8)
    return f"{n} bit flips in the first {region} bytes"


def m_overwrite(rng, buf, st):
    start = rng.randrange(len(buf))
    n = min(rng.choice((4, 64, 4096)), len(buf) - start)
    buf[start:start + n] = bytes(rng.choice((0, 0xFF, rng.randrange(256))) for _ in range(n))
    return f"{n} bytes overwritten at {start}"


def m_duplicate(rng, buf, st):
    start = rng.randrange(len(buf))
    n = min(rng.choice((16, 512, 8192)), len(buf) - start)
    at = rng.randrange(len(buf))
    buf[at:at] = buf[start:start + n]
    return f"{n} bytes from {start} inserted at {at}"


STRUCTURE_MUTATORS = (m_tag_value, m_tag_header, m_dimensions, m_bits, m_levels,
                      m_strip_reuse, m_linearization, m_opcodes, m_ifd_chain, m_zero_data,
                      m_truncate_structural)
BYTE_MUTATORS = (m_truncate, m_bitflip, m_overwrite, m_duplicate)


def mutate(rng: random.Random, data: bytes) -> tuple[bytes, list[str]]:
    """1 to 3 mutations of ``data``, structure-aware where it is TIFF-based."""
    from isp.tiff_structure import scan_tiff

    buf = bytearray(data)
    done: list[str] = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        st = None
        if buf[:4] in (b"II*\x00", b"MM\x00*"):
            with tempfile.NamedTemporaryFile() as fh:
                fh.write(buf)
                fh.flush()
                try:
                    st = scan_tiff(fh.name)
                except Exception:  # noqa: BLE001 - an earlier mutation broke it: bytes only
                    st = None
        pool = STRUCTURE_MUTATORS + BYTE_MUTATORS if st else BYTE_MUTATORS
        for _attempt in range(8):
            what = rng.choice(pool)(rng, buf, st)
            if what:
                done.append(what)
                break
        if len(buf) < 2:
            break
    return bytes(buf), done


# ------------------------------------------------------------------------------------------
# the child: one case

def child_main(case: str, reference: str, outdir: str, max_pixels: int) -> None:
    """Decode ``reference`` with LibRaw (its pixels are then in freed memory), then process
    ``case`` as a CLI worker would; print one JSON line."""
    import numpy as np
    import rawpy

    import isp
    from runner.settings import Settings
    import runner.work as work
    from runner.settings import SETTING_NAMES
    from runner.work import Task, process_file

    windows = None
    for _ in range(2):  # the first decode raises malloc's mmap threshold, the second stays in the heap
        with rawpy.imread(reference) as raw:
            ref = np.array(raw.raw_image, dtype=np.uint16)
        if windows is None:
            windows = np.unique(np.lib.stride_tricks.sliding_window_view(ref.ravel(), 4).copy().view(np.uint64))
        del ref
    seen: dict[str, object] = {}
    original = isp.read_raw

    def spy(path, **kwargs):
        frame = original(path, **kwargs)
        seen["frame"] = frame
        return frame

    isp.read_raw = spy
    options = {"progress": False, "max_pixels": max_pixels, "method": "biharmonic", "format": "tiff16"}
    # (options an older version lacks are left out, so the campaign also runs against it)
    settings = Settings(**{k: v for k, v in options.items() if k in SETTING_NAMES})
    if hasattr(work, "warm_up"):
        work.warm_up(settings)  # Numba kernels and libraries loaded before the baseline is taken
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = str(Path(outdir) / "case.tif")
    rec = process_file(Task(index=0, input=case, output=out, settings=settings)).to_json()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {"status": rec["status"], "error": rec["error"], "base_rss": base_rss, "peak_rss": peak_rss,
              "pixels": 0, "leak": 0, "constant": False}
    frame = seen.get("frame")
    if frame is not None:
        mosaic = np.ascontiguousarray(frame.mosaic).ravel()[: 8 << 20]
        result["pixels"] = int(frame.mosaic.size)
        if mosaic.size >= 4:
            case_windows = np.lib.stride_tricks.sliding_window_view(mosaic, 4).copy().view(np.uint64).ravel()
            result["leak"] = int(np.isin(case_windows, windows, assume_unique=False).sum())
    if rec["status"] == "done":
        import tifffile

        image = tifffile.imread(out)
        result["constant"] = bool(image.min() == image.max())
    if rec["error"] and "traceback" in rec["error"]:
        result["error"]["traceback"] = rec["error"]["traceback"][-2000:]
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")


# ------------------------------------------------------------------------------------------
# the parent

def make_reference(path: Path, shape: tuple[int, int] = (512, 768)) -> None:
    """A noise DNG that LibRaw (not the fast path) decodes: 16-bit values no real file holds.
    Of the seed's raw size, so that its freed LibRaw buffer is the one a case's decode reuses."""
    import numpy as np

    from isp.synthetic import write_dng

    mosaic = np.random.default_rng(12345).integers(20000, 60000, shape).astype(np.uint16)
    write_dng(path, mosaic, cfa="RGGB", white_level=65535,
              extra_tags=((50712, 3, 2, (0, 65535), True),))  # a LinearizationTable: LibRaw path


def seed_raw_shape(path: Path) -> tuple[int, int]:
    """(raw_height, raw_width) LibRaw gives the seed; a default size where it cannot say."""
    import rawpy

    try:
        with rawpy.imread(str(path)) as raw:
            h, w = int(raw.sizes.raw_height), int(raw.sizes.raw_width)
    except Exception:  # noqa: BLE001 - stubs, unsupported formats
        return (512, 768)
    return (h, w) if 22 <= h <= 8000 and 22 <= w <= 8000 else (512, 768)


def _limits(mem_bytes: int):
    def apply() -> None:
        if sys.platform.startswith("linux"):  # the child ends with the campaign
            import ctypes

            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)
        os.nice(5)
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def classify(proc_rc: int | None, stdout: str, timed_out: bool) -> tuple[str, dict]:
    if timed_out:
        return "hang", {}
    line = next((ln for ln in stdout.splitlines()[::-1] if ln.startswith("RESULT ")), None)
    if line is None:
        if proc_rc is not None and proc_rc < 0:
            return f"signal:{signal.Signals(-proc_rc).name}", {}
        return "no-result", {}
    res = json.loads(line[7:])
    if res["leak"] > 16:
        return "leak", res
    if res["status"] == "done":
        return ("constant-done" if res["constant"] else "done"), res
    err = res["error"] or {}
    if "traceback" in err:
        return f"untyped:{err.get('class')}", res
    return f"typed:{err.get('class')}", res


def run_case(i: int, seed_path: Path, data: bytes, what: list[str], tmp: Path, reference: Path,
             args) -> dict:
    case_dir = tmp / f"case{i}"
    case_dir.mkdir()
    case = case_dir / f"case{i}{seed_path.suffix}"
    case.write_bytes(data)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(case), str(reference), str(case_dir),
         str(args.max_pixels)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=_limits(int(args.mem_gb * (1 << 30))),
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    outcome, res = classify(proc.returncode, out, timed_out)
    message = ((res.get("error") or {}).get("message") or "") if res else err[-400:]
    for f in case_dir.iterdir():
        f.unlink()
    case_dir.rmdir()
    return {"case": i, "seed": seed_path.name, "mutations": what, "outcome": outcome,
            "seconds": round(time.perf_counter() - t0, 2), "message": message[:300],
            "pixels": res.get("pixels", 0), "base_rss": res.get("base_rss", 0), "peak_rss": res.get("peak_rss", 0),
            "traceback": (res.get("error") or {}).get("traceback") if res else None}


def campaign(args) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    seeds = find_seeds(args.small)
    if not seeds:
        raise SystemExit("no seed files found (samples/*.dng, $RAWCOMPLETE_SHARED/raw)")
    blobs = {p: p.read_bytes() for p in seeds}
    rng = random.Random(args.seed)
    cases = []
    for i in range(args.cases):
        seed_path = rng.choice(seeds)
        data, what = mutate(random.Random(rng.getrandbits(64)), blobs[seed_path])
        cases.append((i, seed_path, data, what))
    results = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rawcomplete-fuzz-") as tmp_name:
        tmp = Path(tmp_name)
        references: dict = {}  # raw shape -> noise DNG, and seed -> its reference
        for seed_path in seeds:
            shape = seed_raw_shape(seed_path)
            if shape not in references:
                references[shape] = tmp / f"reference_{shape[0]}x{shape[1]}.dng"
                make_reference(references[shape], shape)
            references[seed_path] = references[shape]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(run_case, *c, tmp, references[c[1]], args) for c in cases]
            for n, fut in enumerate(futures, 1):
                results.append(fut.result())
                if args.progress and n % 50 == 0:
                    sys.stderr.write(f"  {n}/{len(cases)} cases, {time.perf_counter() - t0:.0f} s\n")
    return summarise(results, args, time.perf_counter() - t0, seeds)


def summarise(results: list[dict], args, seconds: float, seeds: list[Path]) -> dict:
    counts = Counter(r["outcome"] for r in results)
    bad = [r for r in results if r["outcome"].split(":")[0] in BAD_CLASSES]
    done = [r for r in results if r["outcome"] == "done" and r["pixels"] >= 100_000]
    per_pixel = sorted((r["peak_rss"] - r["base_rss"]) / r["pixels"] for r in done)
    refused_growth = [r["peak_rss"] - r["base_rss"] for r in results
                      if r["outcome"].startswith("typed:") and r["peak_rss"]]
    return {
        "cases": len(results), "seed": args.seed, "seeds": [p.name for p in seeds], "seconds": round(seconds, 1),
        "max_pixels": args.max_pixels, "mem_limit_gb": args.mem_gb, "counts": dict(sorted(counts.items())),
        "bad": bad,
        "bytes_per_pixel": {"cases": len(per_pixel),
                            "median": per_pixel[len(per_pixel) // 2] if per_pixel else None,
                            "max": per_pixel[-1] if per_pixel else None},
        "max_pixels_done": max((r["pixels"] for r in results if r["outcome"] == "done"), default=0),
        "max_peak_rss": max((r["peak_rss"] for r in results), default=0),
        "max_rss_growth_typed_error": max(refused_growth, default=0),
    }


def print_summary(s: dict) -> None:
    print(f"fuzz_raw: {s['cases']} cases (seed {s['seed']}, {len(s['seeds'])} seed files) in {s['seconds']} s; "
          f"max_pixels {s['max_pixels']:,}, address space {s['mem_limit_gb']} GB per case")
    width = max((len(k) for k in s["counts"]), default=10)
    for outcome, n in sorted(s["counts"].items(), key=lambda kv: (-kv[1], kv[0])):
        flag = "  <-- BAD" if outcome.split(":")[0] in BAD_CLASSES else ""
        print(f"  {outcome:<{width}} {n:6d}{flag}")
    for cls in BAD_CLASSES:
        print(f"  {cls}: {sum(n for k, n in s['counts'].items() if k.split(':')[0] == cls)}")
    bpp = s["bytes_per_pixel"]
    if bpp["cases"]:
        print(f"peak RSS growth of developed cases: median {bpp['median']:.1f}, max {bpp['max']:.1f} bytes per "
              f"pixel over {bpp['cases']} cases; largest developed {s['max_pixels_done']:,} px; "
              f"bound at the cap: {bpp['max'] * s['max_pixels'] / 2**30:.2f} GB")
    print(f"largest peak RSS {s['max_peak_rss'] / 2**20:.0f} MB; largest RSS growth of a refused case "
          f"{s['max_rss_growth_typed_error'] / 2**20:.0f} MB")
    for r in s["bad"][:20]:
        print(f"  BAD {r['outcome']} case {r['case']} seed {r['seed']} {r['mutations']}: {r['message'][:200]}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child_main(argv[1], argv[2], argv[3], int(argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per case before it counts as a hang")
    p.add_argument("--max-pixels", type=int, default=30_000_000, help="the reader's pixel cap in the children")
    p.add_argument("--mem-gb", type=float, default=6.0, help="RLIMIT_AS of each child")
    p.add_argument("--small", action="store_true", help="only seed files under 1 MB")
    p.add_argument("--json", metavar="FILE", help="write the summary (and every bad case) as JSON")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    summary = campaign(args)
    print_summary(summary)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    return 1 if summary["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
