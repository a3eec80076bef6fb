"""DNG opcode lists: byte layout, round trips, real files' lists, malformed input, warnings."""

from __future__ import annotations

import struct
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isp.errors import CorruptRawError, ISPInputError
from isp.opcodes import (
    FLAG_OPTIONAL,
    FixVignetteRadial,
    GainMap,
    LensShading,
    UnknownOpcode,
    UnsupportedOpcodeWarning,
    encode_opcode_list,
    lens_shading_from_frame,
    parse_opcode_list,
)


def _gain_map(**kw) -> GainMap:
    rng = np.random.default_rng(kw.pop("seed", 0))
    shape = kw.pop("shape", (5, 7, 1))
    args = dict(
        top=0, left=1, bottom=40, right=60, plane=0, planes=1, row_pitch=2, col_pitch=2,
        map_spacing_v=0.25, map_spacing_h=1 / 6, map_origin_v=0.0, map_origin_h=0.0,
        gains=rng.uniform(0.8, 2.5, shape).astype(np.float32),
    )  # fmt: skip
    args.update(kw)
    return GainMap(**args)


def _valid_list() -> bytes:
    return encode_opcode_list(
        [
            _gain_map(),
            FixVignetteRadial(k=(0.3, -0.1, 0.05, 0.0, 0.0), cx=0.45, cy=0.55, flags=FLAG_OPTIONAL),
            UnknownOpcode(1, b"\x00" * 12, flags=FLAG_OPTIONAL),
        ]
    )


# ----------------------------------------------------------------------------- byte layout


def test_gain_map_bytes_follow_the_spec_layout():
    """Hand-packed bytes (independent of the encoder) parse into the documented fields."""
    gains = np.array([[1.0, 1.5], [2.0, 2.5], [3.0, 3.5]], np.float32)  # 3 x 2 points, 1 plane
    params = struct.pack(">iiiiIIII", 1, 0, 30, 40, 0, 1, 2, 2)
    params += struct.pack(">IIddddI", 3, 2, 0.5, 1.0, 0.0, 0.0, 1)
    params += gains.astype(">f4").tobytes()
    assert len(params) == 76 + 4 * 6
    data = struct.pack(">I", 1) + struct.pack(">IIII", 9, 0x01030000, 0, len(params)) + params
    (gm,) = parse_opcode_list(data)
    assert isinstance(gm, GainMap)
    assert (gm.top, gm.left, gm.bottom, gm.right) == (1, 0, 30, 40)
    assert (gm.plane, gm.planes, gm.row_pitch, gm.col_pitch) == (0, 1, 2, 2)
    assert (gm.map_points_v, gm.map_points_h, gm.map_planes) == (3, 2, 1)
    assert (gm.map_spacing_v, gm.map_spacing_h, gm.map_origin_v, gm.map_origin_h) == (0.5, 1.0, 0.0, 0.0)
    np.testing.assert_array_equal(gm.gains[:, :, 0], gains)
    assert gm.dng_version == 0x01030000 and gm.flags == 0 and not gm.optional
    # ... and the encoder writes exactly those bytes back.
    assert encode_opcode_list([gm]) == data


def test_fix_vignette_radial_bytes_follow_the_spec_layout():
    params = struct.pack(">7d", 0.1, 0.2, 0.3, 0.4, 0.5, 0.25, 0.75)  # k0..k4, cx, cy
    data = struct.pack(">I", 1) + struct.pack(">IIII", 3, 0x01030000, 1, len(params)) + params
    (fv,) = parse_opcode_list(data, list_index=3)
    assert isinstance(fv, FixVignetteRadial)
    assert fv.k == (0.1, 0.2, 0.3, 0.4, 0.5)
    assert (fv.cx, fv.cy) == (0.25, 0.75)
    assert fv.optional
    assert encode_opcode_list([fv]) == data


def test_unknown_opcodes_are_kept_verbatim():
    data = encode_opcode_list([UnknownOpcode(1, b"abcdef", flags=FLAG_OPTIONAL), UnknownOpcode(99, b"")])
    a, b = parse_opcode_list(data)
    assert (a.opcode_id, a.params, a.name, a.optional) == (1, b"abcdef", "WarpRectilinear", True)
    assert (b.opcode_id, b.params, b.name, b.optional) == (99, b"", "Opcode99", False)
    assert encode_opcode_list([a, b]) == data


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 1), (4, 4, 3), (17, 9, 4)])
def test_round_trip_gain_map(shape):
    gm = _gain_map(shape=shape, plane=0, planes=shape[2], map_origin_v=-0.1, map_origin_h=0.05)
    (back,) = parse_opcode_list(encode_opcode_list([gm]))
    for name in ("top", "left", "bottom", "right", "plane", "planes", "row_pitch", "col_pitch", "flags", "dng_version"):
        assert getattr(back, name) == getattr(gm, name), name
    np.testing.assert_array_equal(back.gains, gm.gains)
    if shape[0] > 1:
        assert (back.map_spacing_v, back.map_origin_v) == (gm.map_spacing_v, gm.map_origin_v)
    else:  # a single point along an axis: spacing/origin are irrelevant and read as 1 / 0 (DNG SDK)
        assert (back.map_spacing_v, back.map_origin_v) == (1.0, 0.0)


def test_empty_list_parses():
    assert parse_opcode_list(struct.pack(">I", 0)) == ()
    assert encode_opcode_list([]) == b"\x00\x00\x00\x00"


# ------------------------------------------------------------------------- real files' lists


def _tag_bytes(path, code):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        for page in tif.pages:
            for sub in [page, *(page.pages or [])]:
                if code in sub.tags:
                    return bytes(sub.tags[code].value)
    return None


@pytest.mark.shared
def test_gopro_gpr_four_per_site_gain_maps(shared_raw):
    """The GoPro HERO8 GPR (a DNG LibRaw cannot decode) carries four per-Bayer-site GainMaps."""
    data = _tag_bytes(shared_raw / "GoPro_HERO8_Black.GPR", 51009)
    assert data is not None, "expected an OpcodeList2 tag in the GoPro GPR"
    ops = parse_opcode_list(data, list_index=2, path="GoPro_HERO8_Black.GPR")
    assert len(ops) == 4 and all(isinstance(op, GainMap) for op in ops)
    assert sorted((op.top, op.left) for op in ops) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for op in ops:
        assert (op.row_pitch, op.col_pitch, op.plane, op.planes, op.map_planes) == (2, 2, 0, 1, 1)
        assert (op.bottom, op.right) == (3000, 4000)  # the 4000 x 3000 sensor
        # the grid spans the image exactly: origin 0, last point at relative 1
        assert op.map_origin_v == 0 and op.map_origin_h == 0
        assert op.map_spacing_v * (op.map_points_v - 1) == pytest.approx(1.0)
        assert op.map_spacing_h * (op.map_points_h - 1) == pytest.approx(1.0)
        # a lens-shading map: ~1 in the centre, rising towards the corners
        g = op.gains[:, :, 0]
        centre = g[g.shape[0] // 2, g.shape[1] // 2]
        assert 0.95 < centre < 1.1
        assert min(g[0, 0], g[0, -1], g[-1, 0], g[-1, -1]) > 1.5 * centre
    assert encode_opcode_list(ops) == data  # bit-exact round trip
    shading = LensShading.from_opcode_lists({2: data}, path="gopro")
    assert shading.applied == ("GainMap x4 (OpcodeList2)",)
    assert shading.skipped == ()


@pytest.mark.shared
def test_lg_linear_dng_map_polynomials_are_reported(shared_raw):
    """The LG G4 DNG (Adobe Camera Raw) carries three non-optional MapPolynomial opcodes."""
    data = _tag_bytes(shared_raw / "LG_G4_linear_ACR.dng", 51009)
    assert data is not None
    ops = parse_opcode_list(data)
    assert [op.name for op in ops] == ["MapPolynomial"] * 3
    assert encode_opcode_list(ops) == data
    with pytest.warns(UnsupportedOpcodeWarning, match="MapPolynomial") as record:
        shading = LensShading.from_opcode_lists({2: data}, path="LG_G4_linear_ACR.dng")
    assert len(record) == 3
    assert all("LG_G4_linear_ACR.dng" in str(w.message) for w in record)
    assert shading.is_empty and shading.applied == ()
    assert len(shading.skipped) == 3 and all("not applied" in s for s in shading.skipped)


# --------------------------------------------------------------------------- malformed lists


def _header(opcode_id, nbytes, flags=0):
    return struct.pack(">IIII", opcode_id, 0x01030000, flags, nbytes)


def _gm_params(area=(0, 0, 8, 8, 0, 1, 1, 1), points=(2, 2), spacing=(1.0, 1.0), origin=(0.0, 0.0),
               map_planes=1, gains=None, extra=b""):  # fmt: skip
    nv, nh = points
    if gains is None:
        gains = np.ones(nv * nh * map_planes, np.float32)
    head = struct.pack(">iiiiIIII", *area) + struct.pack(">IIddddI", nv, nh, *spacing, *origin, map_planes)
    return head + np.asarray(gains, ">f4").tobytes() + extra


def _one(opcode_id, params, count=1):
    return struct.pack(">I", count) + _header(opcode_id, len(params)) + params


MALFORMED = {
    "empty": b"",
    "three bytes": b"\x00\x00\x01",
    "count larger than the data": struct.pack(">I", 5) + _header(9, 0),
    "huge count": struct.pack(">I", 0xFFFFFFFF),
    "absurd number of opcodes": struct.pack(">I", 5000) + _header(1, 0) * 5000,
    "truncated header": struct.pack(">I", 1) + _header(9, 0)[:10],
    "param size overruns": struct.pack(">I", 1) + _header(1, 100) + b"\x00" * 20,
    "param size 2^32-1": struct.pack(">I", 1) + _header(9, 0xFFFFFFFF),
    "trailing bytes": _one(1, b"") + b"\x00\x00",
    "gain map too short": _one(9, b"\x00" * 40),
    "gain map dims vs byte count": _one(9, _gm_params(extra=b"\x00" * 4)),
    "gain map points 0": _one(9, _gm_params(points=(0, 2), gains=np.ones(0))),
    "gain map absurd points": _one(9, _gm_params(points=(100_000, 1), gains=np.ones(4))),
    "gain map planes 0": _one(9, _gm_params(map_planes=0, gains=np.ones(0))),
    "gain map planes 5": _one(9, _gm_params(map_planes=5)),
    "gain map NaN gain": _one(9, _gm_params(gains=[1.0, np.nan, 1.0, 1.0])),
    "gain map inf gain": _one(9, _gm_params(gains=[1.0, np.inf, 1.0, 1.0])),
    "gain map negative gain": _one(9, _gm_params(gains=[1.0, -1.0, 1.0, 1.0])),
    "gain map absurd gain": _one(9, _gm_params(gains=[1.0, 1e9, 1.0, 1.0])),
    "gain map zero spacing": _one(9, _gm_params(spacing=(0.0, 1.0))),
    "gain map negative spacing": _one(9, _gm_params(spacing=(1.0, -0.5))),
    "gain map NaN origin": _one(9, _gm_params(origin=(np.nan, 0.0))),
    "gain map bottom < top": _one(9, _gm_params(area=(8, 0, 4, 8, 0, 1, 1, 1))),
    "gain map row pitch 0": _one(9, _gm_params(area=(0, 0, 8, 8, 0, 1, 0, 1))),
    "gain map planes field 0": _one(9, _gm_params(area=(0, 0, 8, 8, 0, 0, 1, 1))),
    "vignette wrong size": _one(3, struct.pack(">6d", 0, 0, 0, 0, 0, 0.5)),
    "vignette NaN k": _one(3, struct.pack(">7d", np.nan, 0, 0, 0, 0, 0.5, 0.5)),
    "vignette centre outside": _one(3, struct.pack(">7d", 0.1, 0, 0, 0, 0, 1.5, 0.5)),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_lists_raise_corrupt_raw_error_naming_file_and_tag(data):
    with pytest.raises(CorruptRawError) as info:
        parse_opcode_list(data, list_index=2, path="/x/bad.dng")
    msg = str(info.value)
    assert "/x/bad.dng" in msg and "OpcodeList2 (tag 51009)" in msg


def test_malformed_list_error_says_expected_and_got():
    with pytest.raises(CorruptRawError, match=r"opcode #0 \(GainMap\) at byte 4: a 2 x 2 x 1 map needs 92 parameter bytes, the opcode declares 96"):
        parse_opcode_list(MALFORMED["gain map dims vs byte count"])


def test_every_truncation_of_a_valid_list_is_a_corrupt_raw_error():
    data = _valid_list()
    assert len(parse_opcode_list(data)) == 3
    for n in range(len(data)):
        with pytest.raises(CorruptRawError):
            parse_opcode_list(data[:n], list_index=3)


def test_lens_shading_from_frame_names_the_path_of_a_corrupt_list():
    frame = SimpleNamespace(path="/photos/IMG_1.dng", opcodes={2: MALFORMED["gain map NaN gain"]})
    with pytest.raises(CorruptRawError, match=r"/photos/IMG_1\.dng: OpcodeList2 \(tag 51009\).*non-finite"):
        lens_shading_from_frame(frame)


def _assert_parses_or_corrupt(data: bytes) -> None:
    try:
        ops = parse_opcode_list(data, list_index=2)
    except CorruptRawError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedOpcodeWarning)
        shading = LensShading.from_opcode_lists({2: data, 3: data})
    assert len(shading.list2) == len(ops)
    mosaic = np.full((6, 5), 0.5, np.float32)
    out = shading.apply_to_mosaic(mosaic, "RGGB")
    assert out.shape == mosaic.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    rgb = shading.apply_to_rgb(np.full((6, 5, 3), 0.5, np.float32))
    assert rgb.shape == (6, 5, 3) and np.all(np.isfinite(rgb))


_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_corrupt_raw_error(data):
    _assert_parses_or_corrupt(data)


@_SETTINGS
@given(st.data())
def test_bit_flipped_valid_lists_parse_or_raise_corrupt_raw_error(draw):
    data = bytearray(_valid_list())
    for _ in range(draw.draw(st.integers(1, 4))):
        bit = draw.draw(st.integers(0, len(data) * 8 - 1))
        data[bit // 8] ^= 1 << (bit % 8)
    _assert_parses_or_corrupt(bytes(data))


@_SETTINGS
@given(st.data())
def test_byte_overwritten_headers_parse_or_raise_corrupt_raw_error(draw):
    """Overwrite header/area/map-size fields (the first 120 bytes) with extreme values."""
    data = bytearray(_valid_list())
    pos = draw.draw(st.integers(0, 116))
    value = draw.draw(st.sampled_from([0, 1, 2, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 65535, 65536]))
    data[pos : pos + 4] = struct.pack(">I", value)
    _assert_parses_or_corrupt(bytes(data))


# ------------------------------------------------------------------- LensShading bookkeeping


def test_applied_and_skipped_descriptions():
    per_site = [_gain_map(top=t, left=l, seed=2 * t + l) for t in (0, 1) for l in (0, 1)]
    lists = {
        1: encode_opcode_list([_gain_map(flags=FLAG_OPTIONAL)]),
        2: encode_opcode_list([*per_site, UnknownOpcode(4, b"\x00" * 8, flags=FLAG_OPTIONAL)]),
        3: encode_opcode_list([FixVignetteRadial(k=(0.2, 0, 0, 0, 0)), UnknownOpcode(1, b"", flags=FLAG_OPTIONAL),
                               FixVignetteRadial(flags=FLAG_OPTIONAL)]),  # fmt: skip
    }
    shading = LensShading.from_opcode_lists(lists, path="a.dng")  # everything skipped is optional
    assert shading.applied == ("GainMap x4 (OpcodeList2)", "FixVignetteRadial (OpcodeList3)")
    assert not shading.is_empty
    skipped = shading.skipped
    assert len(skipped) == 4
    assert skipped[0].startswith("GainMap (OpcodeList1, optional): not applied") and "linearisation" in skipped[0]
    assert skipped[1].startswith("FixBadPixelsConstant (OpcodeList2, optional)")
    assert skipped[2].startswith("WarpRectilinear (OpcodeList3, optional)")
    assert skipped[3].startswith("FixVignetteRadial (OpcodeList3, optional)") and "no-op" in skipped[3]


def test_non_optional_skipped_opcodes_warn_and_optional_ones_do_not():
    required = encode_opcode_list([UnknownOpcode(14, b"\x00" * 4, flags=0)])
    with pytest.warns(UnsupportedOpcodeWarning, match=r"a\.dng: WarpRectilinear2 \(OpcodeList3, not optional\)"):
        LensShading.from_opcode_lists({3: required}, path="a.dng")
    optional = encode_opcode_list([UnknownOpcode(14, b"\x00" * 4, flags=FLAG_OPTIONAL)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shading = LensShading.from_opcode_lists({3: optional}, path="a.dng")
    assert shading.is_empty and len(shading.skipped) == 1


def test_frame_without_opcodes_is_empty():
    shading = lens_shading_from_frame(SimpleNamespace(path="x.cr2", opcodes={}))
    assert shading.is_empty and shading.applied == () and shading.skipped == ()
    m = np.random.default_rng(0).random((4, 6)).astype(np.float32)
    out = shading.apply_to_mosaic(m, "GRBG")
    np.testing.assert_array_equal(out, m)
    assert out is not m


def test_bad_opcode_list_key_is_an_input_error():
    with pytest.raises(ISPInputError, match="keyed 1, 2 or 3"):
        LensShading.from_opcode_lists({4: b"\x00\x00\x00\x00"})


# ------------------------------------------------------------------------ constructor checks


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(gains=np.full((2, 2), np.nan)), "non-finite"),
        (dict(row_pitch=0), "RowPitch"),
        (dict(top=50, bottom=10), "Top <= Bottom"),
        (dict(map_spacing_v=0.0), "MapSpacingV"),
        (dict(map_spacing_h=1e-300), "MapSpacingH"),
        (dict(gains=np.ones((2, 2, 6))), "MapPlanes"),
        (dict(planes=0), "Planes"),
    ],
)
def test_gain_map_constructor_rejects_bad_parameters(kw, match):
    with pytest.raises(ISPInputError, match=match):
        _gain_map(**kw)


@pytest.mark.parametrize(
    "kw, match",
    [(dict(cx=1.2), "optical centre"), (dict(k=(np.inf, 0, 0, 0, 0)), "finite"), (dict(k=(1, 2)), "5 coefficients")],
)
def test_vignette_constructor_rejects_bad_parameters(kw, match):
    with pytest.raises(ISPInputError, match=match):
        FixVignetteRadial(**kw)


def test_encode_rejects_other_objects():
    with pytest.raises(ISPInputError, match="expected GainMap, FixVignetteRadial or UnknownOpcode, got str"):
        encode_opcode_list(["GainMap"])


def test_apply_validates_its_inputs():
    shading = LensShading.from_opcode_lists({2: encode_opcode_list([_gain_map()])})
    with pytest.raises(ISPInputError, match="cfa must be one of RGGB, BGGR, GRBG, GBRG; got 'RGBG'"):
        shading.apply_to_mosaic(np.ones((4, 4), np.float32), "RGBG")
    with pytest.raises(ISPInputError, match="H x W array, got shape"):
        shading.apply_to_mosaic(np.ones((4, 4, 3), np.float32), "RGGB")
    with pytest.raises(ISPInputError, match="float array, got dtype uint16"):
        shading.apply_to_mosaic(np.ones((4, 4), np.uint16), "RGGB")
    with pytest.raises(ISPInputError, match="H x W x 3 array, got shape"):
        shading.apply_to_rgb(np.ones((4, 4), np.float32))
