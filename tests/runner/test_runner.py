"""Unit tests of the runner's parts: discovery, settings/presets, ICC, PNG, writers, atomic
writes, masks, resume fingerprints and the local executor's crash isolation. No ISP needed."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from runner.discover import RAW_EXTENSIONS, discover, is_raw, output_path
from runner.errors import MaskFileError, OutputError, PipelineError, PipelineInputError, WorkerCrashError
from runner.icc import profile_for
from runner.masks import read_mask_png, sidecar_path
from runner.png import encode_png
from runner.resume import fingerprint, is_complete, sidecar_for, write_sidecar
from runner.settings import Settings, build_settings, load_preset
from runner.writers import (
    OutputMetadata,
    atomic_target,
    partial_name,
    quantize,
    sweep_partials,
    write_image,
)
from rawcomplete_errors import RawcompleteError


# ------------------------------------------------------------------------------------ errors

def test_error_hierarchy_is_rooted_and_exported_by_pipeline():
    import pipeline

    for cls in (PipelineInputError, MaskFileError, OutputError, WorkerCrashError):
        assert issubclass(cls, PipelineError) and issubclass(cls, RawcompleteError)
        assert getattr(pipeline, cls.__name__) is cls
    assert issubclass(PipelineInputError, ValueError)


# --------------------------------------------------------------------------------- discovery

def test_discover_recursive_case_insensitive_and_counts_others(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in ("x.DNG", "a/y.nef", "a/b/z.Cr2", "a/notes.txt", "a/b/x.mask.png", ".hidden/h.dng", "a/.dot.dng"):
        (tmp_path / name).write_bytes(b"0")
    out = tmp_path / "a" / "out"
    out.mkdir()
    (out / "old.dng").write_bytes(b"0")  # inside OUTDIR: excluded
    found = discover([tmp_path], exclude=[out.resolve()])
    assert [(f.path.name, f.rel_dir) for f in found.raws] == [("x.DNG", ""), ("y.nef", "a"), ("z.Cr2", "a/b")]
    assert sorted(p.name for p in found.passed_over) == ["notes.txt", "x.mask.png"]
    assert found.missing == []
    assert output_path(found.raws[2], Path("/o"), ".tif") == Path("/o/a/b/z.tif")


def test_discover_files_missing_and_duplicates(tmp_path):
    f = tmp_path / "k.ARW"
    f.write_bytes(b"0")
    found = discover([f, f, tmp_path / "nope.dng"])
    assert [x.path for x in found.raws] == [f] and found.raws[0].rel_dir == ""
    assert found.missing == [str(tmp_path / "nope.dng")]
    assert is_raw("A.RAF") and is_raw("b.rw2") and not is_raw("c.jpg")
    assert {"dng", "nef", "cr2", "cr3", "arw", "raf", "orf", "rw2", "pef", "srw", "kdc"} <= RAW_EXTENSIONS


# ---------------------------------------------------------------------------------- settings

@pytest.mark.parametrize(
    "field, value, listed",
    [("denoise", "bilateral", "'median3'"), ("format", "webp", "'png16'"), ("method", "lama", "'biharmonic'"),
     ("color", "p3", "'raw'"), ("auto_mask", "dust", "'defects'"), ("executor", "slurm", "'local'")],
)
def test_settings_reject_bad_choices_listing_valid_values(field, value, listed):
    with pytest.raises(PipelineInputError, match=listed) as info:
        Settings(**{field: value})
    assert repr(value) in str(info.value)


def test_settings_values():
    assert Settings(wb="2,1,1.5").wb == (2.0, 1.0, 1.5)
    assert Settings(gamma="2.2").gamma == 2.2
    assert Settings(format="tiff32f").linear is True  # float TIFF is the linear output
    assert Settings(format="jpeg").extension == ".jpg"
    for bad in ({"wb": "0,1,1"}, {"wb": "tungsten"}, {"gamma": "-1"}, {"jobs": 0}, {"quality": 101},
                {"device": "tpu"}, {"defect_threshold": 0}, {"overwrite": "yes"}, {"timeout": -1}):
        with pytest.raises(PipelineInputError):
            Settings(**bad)
    a, b = Settings(), Settings(jobs=2, report="r.json", resume=True)
    assert a.processing() == b.processing()  # batch options do not change the output
    assert a.processing() != Settings(denoise="median3").processing()


def test_preset_then_flags(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text('wb = [2.0, 1.0, 1.5]\nformat = "png16"\njobs = 2\nmask-dir = "masks"\n')
    loaded = load_preset(preset)
    s = build_settings(loaded, {"format": "jpeg"})
    assert s.wb == (2.0, 1.0, 1.5) and s.format == "jpeg" and s.jobs == 2
    assert Path(s.mask_dir) == tmp_path / "masks"  # relative to the preset file
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 'srgb'\n")
    with pytest.raises(PipelineInputError, match="unknown key 'colour'.*valid keys"):
        load_preset(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("wb = \n")
    with pytest.raises(PipelineInputError, match="not valid TOML"):
        load_preset(broken)
    with pytest.raises(PipelineInputError, match="does not exist"):
        load_preset(tmp_path / "none.toml")


# ------------------------------------------------------------------------------------- ICC

def test_icc_profiles_open_in_littlecms_and_convert_correctly():
    from PIL import Image, ImageCms

    srgb = ImageCms.createProfile("sRGB")
    for kind in ("srgb", "linear", "bt709", 2.2):
        prof = ImageCms.ImageCmsProfile(io.BytesIO(profile_for(kind)))
        assert ImageCms.getProfileDescription(prof)
    # linear mid grey 0.5 -> sRGB 0.7354 (IEC 61966-2-1), converted by LittleCMS through our profile
    lin = ImageCms.ImageCmsProfile(io.BytesIO(profile_for("linear")))
    t = ImageCms.buildTransform(lin, srgb, "RGB", "RGB")
    out = ImageCms.applyTransform(Image.new("RGB", (1, 1), (128, 64, 200)), t).getpixel((0, 0))
    expect = [round(255 * (1.055 * (v / 255) ** (1 / 2.4) - 0.055)) for v in (128, 64, 200)]
    assert np.abs(np.array(out) - expect).max() <= 1
    # gamma 2.2 code value 0.5 decodes to 0.5 ** 2.2 = 0.2176
    g22 = ImageCms.ImageCmsProfile(io.BytesIO(profile_for(2.2)))
    t = ImageCms.buildTransform(g22, lin, "RGB", "RGB")
    out = ImageCms.applyTransform(Image.new("RGB", (1, 1), (128, 128, 128)), t).getpixel((0, 0))
    assert abs(out[1] - 255 * (128 / 255) ** 2.2) <= 1


# ------------------------------------------------------------------------------------- PNG

def _decode_png_reference(data: bytes) -> tuple[np.ndarray, dict]:
    """A small independent PNG decoder (all five filter types) for 8/16-bit RGB."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, chunks = 8, b"", {}
    while pos < len(data):
        (n,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        pos += 12 + n
    w, h, depth, ctype = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    bpp = 3 * depth // 8
    raw = zlib.decompress(idat)
    stride = w * bpp
    out = np.zeros((h, stride), np.int64)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
        prev = out[y - 1] if y else np.zeros(stride, np.int64)
        cur = np.zeros(stride, np.int64)
        for x in range(stride):
            a = cur[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = {0: 0, 1: a, 2: b, 3: (a + b) // 2}.get(f)
            if f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + pred) % 256
        out[y] = cur
    px = out.astype(np.uint8).reshape(h, w, 3 * depth // 8)
    img = px.view(">u2").reshape(h, w, 3) if depth == 16 else px.reshape(h, w, 3)
    return img, chunks


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_encoder_round_trips(dtype):
    from PIL import Image

    rng = np.random.default_rng(1)
    a = rng.integers(0, np.iinfo(dtype).max + 1, (7, 11, 3)).astype(dtype)
    data = encode_png(a, icc=profile_for("srgb"), exif=b"MM\x00*\x00\x00\x00\x08\x00\x00", text={"Software": "t"})
    back, chunks = _decode_png_reference(data)
    np.testing.assert_array_equal(back, a)
    name, rest = chunks[b"iCCP"].split(b"\0", 1)
    assert name == b"ICC profile" and zlib.decompress(rest[1:]) == profile_for("srgb")
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        assert im.size == (11, 7)
        assert im.info["icc_profile"] == profile_for("srgb")
        if dtype == np.uint8:
            np.testing.assert_array_equal(np.asarray(im), a)
        else:  # Pillow reads 48-bit PNG as 8-bit RGB: the high bytes
            np.testing.assert_array_equal(np.asarray(im), (a >> 8).astype(np.uint8))


# ---------------------------------------------------------------------------------- writers

META = OutputMetadata(make="Canon", model="EOS D30", datetime="2001:02:03 04:05:06", exposure_time=1 / 250,
                      f_number=2.8, iso=400, focal_length=50, software="rawcomplete test", lens="EF50mm f/1.8 II")


def _image(h=12, w=16):
    rng = np.random.default_rng(0)
    img = rng.random((h, w, 3), dtype=np.float32)
    img[0, 0] = (1.5, -0.25, 0.5)  # out of range: clipped by integer formats, kept by float
    return img


def test_tiff16_pixels_icc_and_metadata(tmp_path):
    import tifffile

    img = _image()
    path = tmp_path / "a.tif"
    write_image(path, img, format="tiff16", icc=profile_for("srgb"), metadata=META)
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        data = page.asarray()
        tags = {t.code: t.value for t in page.tags}
    assert data.dtype == np.uint16 and data.shape == img.shape
    ref = np.round(np.clip(img.astype(np.float64), 0, 1) * 65535)
    assert np.abs(data - ref).max() <= 1 and np.mean(data != ref) < 0.01  # float32 products: within 1 LSB
    assert tags[34675] == profile_for("srgb")
    assert tags[271] == "Canon" and tags[272] == "EOS D30" and tags[306] == "2001:02:03 04:05:06"
    assert tags[282] == (300, 1) and tags[283] == (300, 1) and tags[296] == 2  # 300 dpi
    assert 33434 not in tags  # EXIF fields live in the Exif IFD, not in IFD0
    exif = tags[34665]  # tifffile reads the Exif IFD
    assert Fraction(*exif["ExposureTime"]) == Fraction(1, 250) and exif["ISOSpeedRatings"] == 400
    assert Fraction(*exif["FNumber"]) == Fraction(28, 10) and Fraction(*exif["FocalLength"]) == 50
    assert exif["DateTimeOriginal"] == "2001:02:03 04:05:06" and exif["LensModel"] == "EF50mm f/1.8 II"
    codes = [t.code for t in page.tags]
    assert codes == sorted(codes)  # IFD0 still in ascending tag order after the pointer is patched
    # an independent reader (exiv2, as exiftool would) sees the same Exif IFD
    import exiv2

    image = exiv2.ImageFactory.open(str(path))
    image.readMetadata()
    found = {d.key(): d.toString() for d in image.exifData()}
    assert found["Exif.Photo.DateTimeOriginal"] == "2001:02:03 04:05:06"
    assert found["Exif.Photo.LensModel"] == "EF50mm f/1.8 II" and found["Exif.Photo.ExposureTime"] == "1/250"
    assert list(tmp_path.iterdir()) == [path]  # no temporary left
    # nothing to say: no Exif IFD, no placeholder tag
    write_image(tmp_path / "b.tif", img, format="tiff16", metadata=OutputMetadata(make="Canon"))
    with tifffile.TiffFile(tmp_path / "b.tif") as tf:
        assert {t.code for t in tf.pages[0].tags}.isdisjoint({34665, 34670})


def test_camera_metadata_through_exiv2_with_libraw_fallback(shared_raw):
    """make/model were None for CRW through rawpy; exiv2 reads them, and LibRaw fills the rest."""
    from runner.metadata import merged, read_camera_metadata

    crw = shared_raw / "Canon_EOS_D30.CRW"
    cr2 = shared_raw / "Canon_hachoir_truncated.cr2"
    if not crw.is_file() or not cr2.is_file():
        pytest.skip("../shared/raw/Canon_EOS_D30.CRW / Canon_hachoir_truncated.cr2 absent")
    meta = read_camera_metadata(crw)
    assert (meta["make"], meta["model"], meta["datetime"]) == ("Canon", "Canon EOS D30", "2018:01:01 13:03:32")
    full = read_camera_metadata(cr2)  # the CR2's data is truncated, its EXIF is not
    assert full["lens"] == "EF-S18-135mm f/3.5-5.6 IS STM" and full["iso"] == 200 and full["focal_length"] == 18
    assert read_camera_metadata(shared_raw / "MANIFEST.md") == {}  # not an image: nothing, no error

    class LibRaw:
        make, model, iso, focal_length, lens = "Canon", "EOS D30", 100.0, 31.0, None

    both = merged(meta, LibRaw())
    assert both["model"] == "Canon EOS D30" and both["iso"] == 100.0 and both["focal_length"] == 31.0


def test_tiff32f_keeps_linear_values(tmp_path):
    import tifffile

    img = _image()
    write_image(tmp_path / "f.tif", img, format="tiff32f", icc=profile_for("linear"))
    back = tifffile.imread(tmp_path / "f.tif")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, img)


def test_png_and_jpeg_writers(tmp_path):
    from PIL import ExifTags, Image

    img = _image(40, 60)
    write_image(tmp_path / "a.png", img, format="png8", icc=profile_for("srgb"), metadata=META)
    write_image(tmp_path / "b.png", img, format="png16", metadata=META)
    yy, xx = np.mgrid[0:40, 0:60].astype(np.float32)
    smooth = np.stack([xx / 59, yy / 39, 0.5 + 0 * xx], axis=2)
    write_image(tmp_path / "c.jpg", smooth, format="jpeg", icc=profile_for("srgb"), metadata=META, quality=95)
    with Image.open(tmp_path / "a.png") as im:
        np.testing.assert_array_equal(np.asarray(im), quantize(img, 8))
        assert im.info["icc_profile"] == profile_for("srgb")
        assert im.getexif()[271] == "Canon"
    back, _ = _decode_png_reference((tmp_path / "b.png").read_bytes())
    np.testing.assert_array_equal(back, quantize(img, 16))
    with Image.open(tmp_path / "c.jpg") as im:
        assert im.format == "JPEG" and im.info["icc_profile"] == profile_for("srgb")
        ex = im.getexif()
        assert ex[271] == "Canon" and ex[272] == "EOS D30"
        sub = ex.get_ifd(ExifTags.IFD.Exif)
        assert float(sub[33434]) == pytest.approx(1 / 250) and sub[34855] == 400
        assert sub[36867] == "2001:02:03 04:05:06" and sub[42036] == "EF50mm f/1.8 II"
        err = np.abs(np.asarray(im, dtype=np.float32) - quantize(smooth, 8)).mean()
    assert err < 2  # smooth gradients at q95


def test_atomic_write_leaves_nothing_on_failure_and_keeps_existing(tmp_path, monkeypatch):
    target = tmp_path / "x.tif"
    with pytest.raises(RuntimeError):
        with atomic_target(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(OutputError, match="exists"):
        write_image(target, _image(), format="tiff16", overwrite=False)
    assert target.read_bytes() == b"old"
    with pytest.raises(OutputError, match="cannot"):
        write_image(tmp_path / "x.tif" / "sub.tif", _image(), format="tiff16")


def test_sweep_partials_removes_only_dead_writers(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / "sub" / f".a.tif.{dead_pid}.rawcomplete-partial"
    stale.parent.mkdir()
    stale.write_bytes(b"x")
    live = tmp_path / f".b.tif.{os.getppid()}.rawcomplete-partial"  # our parent is alive
    live.write_bytes(b"x")
    assert partial_name(tmp_path / "c.tif").name == f".c.tif.{os.getpid()}.rawcomplete-partial"
    assert sweep_partials(tmp_path) == [stale]
    assert live.exists() and not stale.exists()


# ------------------------------------------------------------------------------------ masks

def test_read_mask_png_variants_and_errors(tmp_path):
    from PIL import Image

    holes = np.zeros((5, 8), bool)
    holes[1:3, 2:6] = True
    Image.fromarray(np.where(holes, 255, 0).astype(np.uint8)).save(tmp_path / "g.png")
    rgba = np.zeros((5, 8, 4), np.uint8)
    rgba[..., 3] = 255  # opaque alpha must not count as a hole
    rgba[holes, 0] = 200
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    (tmp_path / "w16.png").write_bytes(encode_png(np.where(holes[..., None], 40000, 100).repeat(3, 2).astype(np.uint16)))
    for name in ("g.png", "rgba.png", "w16.png"):
        np.testing.assert_array_equal(read_mask_png(tmp_path / name, shape=(5, 8)), holes)
    with pytest.raises(MaskFileError, match=r"8 x 5 \(W x H\).*6 x 4"):
        read_mask_png(tmp_path / "g.png", shape=(4, 6))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(MaskFileError, match="bad.png"):
        read_mask_png(tmp_path / "bad.png")


def test_sidecar_lookup(tmp_path):
    raw = tmp_path / "in" / "sub" / "IMG_1.CR2"
    raw.parent.mkdir(parents=True)
    raw.write_bytes(b"0")
    assert sidecar_path(raw) is None
    (raw.parent / "img_1.MASK.png").write_bytes(b"0")
    assert sidecar_path(raw) == raw.parent / "img_1.MASK.png"  # case-insensitive fallback
    md = tmp_path / "masks"
    (md / "sub").mkdir(parents=True)
    (md / "IMG_1.mask.png").write_bytes(b"0")
    assert sidecar_path(raw, rel_dir="sub", mask_dir=md) == md / "IMG_1.mask.png"
    (md / "sub" / "IMG_1.mask.png").write_bytes(b"0")
    assert sidecar_path(raw, rel_dir="sub", mask_dir=md) == md / "sub" / "IMG_1.mask.png"


def test_iopaint_style_mask_folder(tmp_path):
    """Under --mask-dir, ``<stem>.png`` (IOPaint's batch masks) counts after ``<stem>.mask.png``;
    beside the RAW it never does (an exported ``IMG_1.png`` there is not a mask)."""
    raw = tmp_path / "in" / "IMG_1.CR2"
    raw.parent.mkdir(parents=True)
    raw.write_bytes(b"0")
    (raw.parent / "IMG_1.png").write_bytes(b"0")
    assert sidecar_path(raw) is None
    md = tmp_path / "masks"
    md.mkdir()
    assert sidecar_path(raw, mask_dir=md) is None
    (md / "img_1.PNG").write_bytes(b"0")
    assert sidecar_path(raw, mask_dir=md) == md / "img_1.PNG"  # case-insensitive too
    (md / "IMG_1.mask.png").write_bytes(b"0")
    assert sidecar_path(raw, mask_dir=md) == md / "IMG_1.mask.png"  # the project's own name first


# ----------------------------------------------------------------------------------- resume

def test_fingerprint_tracks_input_mask_and_settings(tmp_path):
    raw = tmp_path / "a.dng"
    raw.write_bytes(b"raw-bytes")
    mask = tmp_path / "a.mask.png"
    mask.write_bytes(b"m1")
    s = Settings().processing()
    base = fingerprint(raw, s, mask_path=mask)["fingerprint"]
    assert fingerprint(raw, s, mask_path=mask)["fingerprint"] == base
    assert fingerprint(raw, Settings(denoise="median3").processing(), mask_path=mask)["fingerprint"] != base
    assert fingerprint(raw, s)["fingerprint"] != base
    mask.write_bytes(b"m2")
    assert fingerprint(raw, s, mask_path=mask)["fingerprint"] != base
    out = tmp_path / "o" / "a.tif"
    out.parent.mkdir()
    out.write_bytes(b"image")
    fp = fingerprint(raw, s)
    write_sidecar(out, fp, input_path=str(raw))
    assert json.loads(sidecar_for(out).read_text())["input"] == str(raw)
    assert is_complete(out, fp["fingerprint"])
    assert not is_complete(out, base)
    out.write_bytes(b"image, but changed")
    assert not is_complete(out, fp["fingerprint"])
    # the recorded digest is trusted while the input's size and mtime are unchanged
    from runner.resume import known_input_digest

    assert known_input_digest(out, raw) == fp["input_sha256"]
    os.utime(raw, ns=(1, 1))
    assert known_input_digest(out, raw) is None


# -------------------------------------------------------------------------------- executors

@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_local_executor_isolates_a_native_crash(tmp_path, jobs):
    from runner.executors import LocalExecutor
    from runner.work import Task
    from test_runner_helpers import fake_work

    names = ["a.dng", "b.dng", "crash.dng", "c.dng", "d.dng"]
    tasks = [Task(index=i, input=str(tmp_path / n), output="", settings=Settings()) for i, n in enumerate(names)]
    ex = LocalExecutor(jobs=jobs)
    records = sorted(ex.run(fake_work, tasks), key=lambda r: r.index)
    assert [r.index for r in records] == list(range(len(names)))
    by_name = {Path(r.input).name: r for r in records}
    assert by_name["crash.dng"].status == "failed"
    assert by_name["crash.dng"].error.cls == "WorkerCrashError"
    assert "crash.dng" in by_name["crash.dng"].error.message
    assert all(by_name[n].status == "done" for n in names if n != "crash.dng")
    assert ex.crashes >= 1


# ------------------------------------------------------------------------------------ plan

def test_plan_collisions_existing_outputs_and_outdir_checks(tmp_path):
    from runner.batch import plan

    inp = tmp_path / "in"
    (inp / "d").mkdir(parents=True)
    for name in ("x.dng", "x.NEF", "d/y.cr2", "d/y.mask.png", "z.arw"):
        (inp / name).write_bytes(b"0")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "z.tif").write_bytes(b"someone else's file")
    tasks, decided, passed_over, _ = plan([inp], out, Settings())
    assert [Path(t.input).name for t in tasks] == ["x.NEF", "y.cr2"]  # a folder's files, then its sub-folders
    assert tasks[1].output == str(out / "d" / "y.tif")
    assert tasks[1].mask_path == str(inp / "d" / "y.mask.png")
    recs = {Path(r.input).name: r for r in decided}
    assert recs["x.dng"].error.cls == "OutputError" and "x.NEF" in recs["x.dng"].error.message
    assert recs["z.arw"].status == "skipped" and recs["z.arw"].reason.startswith("output exists")
    assert [Path(p).name for p in passed_over] == ["y.mask.png"]
    # --resume never replaces a file rawcomplete did not write; --overwrite does
    _, decided, _, _ = plan([inp], out, Settings(resume=True))
    assert "not written by rawcomplete" in {Path(r.input).name: r for r in decided}["z.arw"].reason
    tasks, _, _, _ = plan([inp], out, Settings(overwrite=True))
    assert "z.arw" in [Path(t.input).name for t in tasks]
    tasks, _, _, _ = plan([inp], out, Settings(masks=False))
    assert all(t.mask_path is None for t in tasks)
    with pytest.raises(PipelineInputError, match="also an input"):
        plan([inp], inp, Settings())
    with pytest.raises(PipelineInputError, match="input not found"):
        plan([inp / "nope"], out, Settings())


# ------------------------------------------------------------------------------------ records

def test_file_record_is_typed_and_its_json_round_trips(tmp_path):
    import dataclasses
    import json

    from runner.record import CheckRecord, ErrorInfo, FileRecord, MaskInfo
    from runner.work import Task, error_record

    task = Task(index=3, input=str(tmp_path / "a.dng"), output=str(tmp_path / "a.tif"), settings=Settings(),
                mask_path=str(tmp_path / "a.mask.png"))
    rec = error_record(task, ValueError("boom"), reason="because")
    assert isinstance(rec, FileRecord) and rec.status == "failed" and rec.mask == MaskInfo(file=task.mask_path)
    doc = rec.to_json()
    assert doc["error"] == {"class": "ValueError", "message": "boom"} and doc["mask"]["file"] == task.mask_path
    assert set(doc) == {f.name for f in dataclasses.fields(FileRecord)}
    assert FileRecord.from_json(json.loads(json.dumps(doc))) == rec
    with pytest.raises(TypeError):
        FileRecord.from_json({**doc, "stauts": "done"})  # a misspelt field is refused, not carried along
    try:
        raise KeyError("x")
    except KeyError as exc:
        rec.fail(exc, with_traceback=True)
    assert rec.error.cls == "KeyError" and "Traceback" in rec.to_json()["error"]["traceback"]
    # a crash record from an executor becomes a check record without losing a field
    check = CheckRecord.from_record(rec, key="a.dng", message="m", images={"now": b"png"})
    assert check.error == rec.error and check.index == 3 and "images" not in check.to_json()
    assert ErrorInfo.from_json(check.to_json()["error"]) == rec.error


def test_batch_report_records_are_the_records_json(tmp_path):
    import json

    from runner.batch import run_batch
    from runner.record import FileRecord

    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "bad.dng").write_bytes(b"not a raw at all" * 64)
    report = tmp_path / "report.json"
    result = run_batch([inp], tmp_path / "out", Settings(report=str(report), progress=False))
    assert [type(r) for r in result.records] == [FileRecord]
    assert result.records[0].status == "failed" and result.records[0].error.cls == "CorruptRawError"
    assert json.loads(report.read_text())["records"] == [r.to_json() for r in result.records]
