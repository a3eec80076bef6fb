"""The library for photo tools: bytes / file-object sources, ``Result.save``, the one mask rule,
what completion actually ran, ``py.typed`` and the LICENSE."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

import isp
from pipeline import OutputError, Pipeline, PipelineInputError, format_for_path, holes_from_array
from runner.icc import profile_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample(samples_dir) -> Path:
    path = samples_dir / "scene_grbg.dng"
    if not path.is_file():
        pytest.skip(f"{path} missing: run samples/make_samples.py")
    return path


@pytest.fixture(scope="module")
def plain(sample):
    return Pipeline(completion="biharmonic").process(sample)


# ------------------------------------------------------------------------------------ sources
def test_bytes_and_file_objects_develop_like_the_path(sample, plain):
    pipe = Pipeline(completion="biharmonic")
    data = sample.read_bytes()
    for source in (data, bytearray(data), memoryview(data), io.BytesIO(data)):
        res = pipe.process(source)
        np.testing.assert_array_equal(res.image, plain.image)
        assert res.frame.path is None and res.metadata.make == plain.metadata.make
    with open(sample, "rb") as fh:
        np.testing.assert_array_equal(pipe.process(fh).image, plain.image)


def test_bad_bytes_are_typed_errors_naming_bytes(tmp_path):
    pipe = Pipeline(completion="biharmonic")
    for data in (b"", b"not a raw file at all" * 50, b"II*\x00" + b"\x00" * 64):
        with pytest.raises(isp.RawError) as info:
            pipe.process(data)
        assert str(info.value).startswith("<bytes>") and "rawcomplete-" not in str(info.value)
        assert not isinstance(info.value, PipelineInputError)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with open(text, encoding="utf-8") as fh, pytest.raises(PipelineInputError, match="binary mode"):
        pipe.process(fh)
    with open(text, "rb") as fh, pytest.raises(isp.CorruptRawError, match="notes.txt"):
        pipe.process(fh)
    with pytest.raises(PipelineInputError, match="bytes, a binary file object"):
        pipe.process(3.5)


# ------------------------------------------------------------------------------------ save
def test_save_writes_what_the_cli_writes(sample, plain, tmp_path):
    saved = plain.save(tmp_path / "lib" / "scene_grbg.tif")
    assert saved == tmp_path / "lib" / "scene_grbg.tif"
    proc = subprocess.run([sys.executable, "-m", "pipeline", str(sample), "-o", str(tmp_path / "cli"), "-q",
                           "--method", "biharmonic", "--no-masks"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with tifffile.TiffFile(saved) as lib, tifffile.TiffFile(tmp_path / "cli" / "scene_grbg.tif") as cli:
        a, b = lib.pages[0], cli.pages[0]
        np.testing.assert_array_equal(a.asarray(), b.asarray())
        assert a.dtype == np.uint16
        assert a.tags["InterColorProfile"].value == b.tags["InterColorProfile"].value == profile_for("srgb")
        assert a.tags["Make"].value == plain.metadata.make == b.tags["Make"].value
        assert a.tags["Software"].value == b.tags["Software"].value
    assert not [p for p in saved.parent.iterdir() if p.name != saved.name]  # no temporary left


def test_save_formats_from_suffix_and_refusals(sample, plain, tmp_path):
    from PIL import Image

    plain.save(tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as im:
        assert im.info.get("icc_profile") == profile_for("srgb") and im.size == plain.image.shape[1::-1]
    plain.save(tmp_path / "a.JPG", quality=80)
    with Image.open(tmp_path / "a.JPG") as im:
        assert im.format == "JPEG" and im.getexif()[271] == plain.metadata.make
    plain.save(tmp_path / "b.tif", "png8")  # an explicit format wins over the suffix
    with Image.open(tmp_path / "b.tif") as im:
        assert im.format == "PNG" and im.mode == "RGB"
    with pytest.raises(PipelineInputError, match="suffix"):
        plain.save(tmp_path / "a.webp")
    with pytest.raises(PipelineInputError, match="'tiff16'"):
        plain.save(tmp_path / "a.tif", "tiff8")
    with pytest.raises(PipelineInputError, match="quality"):
        plain.save(tmp_path / "c.jpg", quality=0)
    with pytest.raises(OutputError, match="exists"):
        plain.save(tmp_path / "a.png", overwrite=False)
    assert format_for_path("x.tiff", linear=True) == "tiff32f"

    linear = Pipeline(completion="biharmonic", output="linear").process(sample)
    linear.save(tmp_path / "lin.tif", metadata=False)
    with tifffile.TiffFile(tmp_path / "lin.tif") as tf:
        page = tf.pages[0]
        assert page.dtype == np.float32 and "Make" not in page.tags
        assert page.tags["InterColorProfile"].value == profile_for("linear")
        np.testing.assert_array_equal(page.asarray(), linear.image)


def test_save_deflate_is_lossless_and_smaller(plain, tmp_path):
    plain.save(tmp_path / "raw.tif")
    plain.save(tmp_path / "zip.tif", compress="deflate")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "zip.tif"), tifffile.imread(tmp_path / "raw.tif"))
    assert (tmp_path / "zip.tif").stat().st_size < (tmp_path / "raw.tif").stat().st_size  # a noisy scene: ~10 %
    with tifffile.TiffFile(tmp_path / "zip.tif") as tf:
        assert tf.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert tf.pages[0].predictor == tifffile.PREDICTOR.HORIZONTAL
    with pytest.raises(OutputError, match="compress"):
        plain.save(tmp_path / "x.tif", compress="lzma")


# ------------------------------------------------------------------------------------ masks
def test_holes_from_array_rule():
    grey = np.array([[0, 127, 128, 255]], np.uint8)
    expect = np.array([[False, False, True, True]])
    np.testing.assert_array_equal(holes_from_array(grey), expect)
    np.testing.assert_array_equal(holes_from_array(grey.astype(np.int64)), expect)  # np.array([...]) of ints
    np.testing.assert_array_equal(holes_from_array(grey.astype(np.uint16) * 257), expect)
    np.testing.assert_array_equal(holes_from_array(grey / 255.0), expect)
    np.testing.assert_array_equal(holes_from_array(np.array([[0, 1, 1, 0]], np.uint8)), [[False, True, True, False]])
    np.testing.assert_array_equal(holes_from_array(expect), expect)
    rgb = np.zeros((1, 4, 3), np.uint8)
    rgb[0, 2, 1] = 200  # any colour channel bright enough
    np.testing.assert_array_equal(holes_from_array(rgb), [[False, False, True, False]])
    rgba = np.concatenate([rgb, np.full((1, 4, 1), 255, np.uint8)], axis=2)  # alpha ignored
    np.testing.assert_array_equal(holes_from_array(rgba), [[False, False, True, False]])
    np.testing.assert_array_equal(holes_from_array(grey[..., None]), expect)
    for bad, match in ((np.zeros((2, 2, 5)), "H x W"), (np.zeros(4), "H x W"), (np.array([[-1, 0]]), "negative"),
                       (np.array([[0, 70000]]), "70000"), (np.array([[np.nan, 0]]), "NaN"),
                       (np.array([["a"]]), "dtype")):
        with pytest.raises(PipelineInputError, match=match):
            holes_from_array(bad)


def test_mask_png_and_array_follow_the_same_rule(tmp_path):
    from runner.masks import read_mask_png
    from runner.png import encode_png

    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (24, 32)).astype(np.uint8)
    (tmp_path / "m.mask.png").write_bytes(encode_png(grey))
    np.testing.assert_array_equal(read_mask_png(tmp_path / "m.mask.png"), holes_from_array(grey))
    rgb = rng.integers(0, 65536, (24, 32, 3)).astype(np.uint16)
    (tmp_path / "c.mask.png").write_bytes(encode_png(rgb))
    np.testing.assert_array_equal(read_mask_png(tmp_path / "c.mask.png"), holes_from_array(rgb))


def test_library_accepts_grey_and_rgb_masks(sample, plain):
    h, w = plain.image.shape[:2]
    grey = np.zeros((h, w), np.uint8)
    grey[10:20, 10:20] = 255
    grey[9, 10:20] = 100  # anti-aliased edge below 50 %: kept
    grey[20, 10:20] = 180  # above: a hole
    res = Pipeline(completion="biharmonic").process(sample, mask=np.repeat(grey[..., None], 3, axis=2))
    np.testing.assert_array_equal(res.mask, grey >= 128)


# ------------------------------------------------------------------------------------ method
def test_completion_method_says_what_ran(sample, plain):
    weights = REPO / "completion" / "weights" / "generator.pt"
    if not weights.is_file():
        pytest.skip(f"GAN weights not shipped ({weights} absent)")
    h, w = plain.image.shape[:2]
    small = np.zeros((h, w), bool)
    small[5:9, 5:9] = True
    small[40:43, 60:63] = True
    pipe = Pipeline(completion="auto")
    res = pipe.process(sample, mask=small)
    assert res.completion_method == "biharmonic" and res.completion_groups == {"biharmonic": 2}
    both = small.copy()
    both[h // 2 : h // 2 + 20, w // 2 : w // 2 + 20] = True  # 400 pixels: a GAN group
    res = pipe.process(sample, mask=both)
    assert res.completion_method == "gan+biharmonic" and res.completion_groups == {"gan": 1, "biharmonic": 2}
    assert Pipeline(completion="biharmonic").process(sample, mask=both).completion_groups == {"biharmonic": 3}


# ------------------------------------------------------------------------------------ packaging
def test_py_typed_and_license():
    import tomllib

    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    data = meta["tool"]["setuptools"]["package-data"]
    for package in ("isp", "completion", "runner"):
        assert (REPO / package / "py.typed").is_file()
        assert "py.typed" in data[package]
    assert meta["project"]["license"] == {"text": "MIT"}
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
