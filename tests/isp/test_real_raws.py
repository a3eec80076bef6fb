"""Every file of ../shared/raw gets its expected outcome (benchmarks/real_raws.py's table), and
where rawpy exposes no colour matrix (Kodak) the one LibRaw applies is used and named."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import rawpy

import isp
from isp.stages import encode_gamma
from conftest import shared_raw_file

pytestmark = pytest.mark.shared

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "real_raws.py"


def _expected() -> dict:
    spec = importlib.util.spec_from_file_location("real_raws_table", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EXPECTED


EXPECTED = _expected()


def test_table_covers_every_shared_file(shared_raw):
    files = {p.name for p in shared_raw.iterdir() if p.is_file() and p.suffix != ".md"}
    assert files - set(EXPECTED) == set(), "add the new files to benchmarks/real_raws.py EXPECTED"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_read_gives_expected_outcome(shared_raw, name):
    path = shared_raw_file(shared_raw, name)
    outcome, why = EXPECTED[name]
    if outcome == "developed":
        frame = isp.read_raw(path)
        assert frame.mosaic.size > 0 and frame.color_matrix_source != "none", why
    else:
        with pytest.raises(getattr(isp, outcome)) as info:
            isp.read_raw(path)
        assert type(info.value).__name__ == outcome and str(path) in str(info.value)


@pytest.mark.parametrize("name", ["Kodak_DC50.KDC", "Kodak_DC120_P003908.KDC"])
def test_kodak_uses_the_matrix_libraw_applies(shared_raw, name):
    path = shared_raw_file(shared_raw, name)
    frame = isp.read_raw(path)
    assert frame.color_matrix_source == "LibRaw rgb_cam (measured)"
    assert not np.allclose(frame.color_matrix, np.eye(3), atol=0.05)
    np.testing.assert_allclose(frame.color_matrix.sum(axis=1), 1.0, atol=1e-3)
    # camera RGB -> sRGB by that matrix equals LibRaw's own conversion, pixel for pixel
    kw = dict(demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, gamma=(1, 1), no_auto_bright=True,
              output_bps=16, user_wb=[1, 1, 1, 1], adjust_maximum_thr=0.0)
    with rawpy.imread(str(path)) as raw:
        cam = raw.postprocess(output_color=rawpy.ColorSpace.raw, **kw).astype(np.float64) / 65535
        srgb = raw.postprocess(output_color=rawpy.ColorSpace.sRGB, **kw).astype(np.float64) / 65535
    ours = np.clip(cam @ frame.color_matrix.T.astype(np.float64), 0, 1)
    mse = np.mean((encode_gamma(ours.astype(np.float32)) - encode_gamma(srgb.astype(np.float32))) ** 2)
    assert 10 * np.log10(1 / mse) > 50.0
