"""Golden regression: the pipeline's output on every sample and every shared RAW, checked with
``rawcomplete check`` (:mod:`runner.check`) against the references in ``tests/golden/``.

``tests/golden`` is a REFDIR like any user's: ``settings.toml`` (ISP defaults, biharmonic
completion), one JSON per RAW (full-resolution statistics, metadata, versions; or the error
class of a file the pipeline refuses) and a 16-bit reference image of at most 128 px. A failure
means some stage changed the output. If the change is intended, accept it on purpose::

    rawcomplete check tests/golden samples/ ../shared/raw/ --update --report /tmp/golden.html

review the report and ``git diff tests/golden``, commit. The check itself writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SAMPLES_DIR, shared_dir
from runner.check import check_settings, run_check

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = sorted(str(p.relative_to(GOLDEN))[: -len(".json")] for p in GOLDEN.glob("*.json"))
UPDATE = "rawcomplete check tests/golden samples/ ../shared/raw/ --update"


def _is_sample(name: str) -> bool:
    return (SAMPLES_DIR / name).is_file()


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """One check of samples/ (and ../shared/raw/ when present) against tests/golden."""
    shared = shared_dir()
    inputs = [SAMPLES_DIR] + ([shared / "raw"] if shared is not None and (shared / "raw").is_dir() else [])
    before = sorted((p.name, p.stat().st_mtime_ns) for p in GOLDEN.iterdir())
    report = tmp_path_factory.mktemp("golden") / "golden.html"
    result = run_check(GOLDEN, inputs, check_settings(GOLDEN), report=report)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in GOLDEN.iterdir()) == before, "a check wrote into tests/golden"
    return {r.key: r.to_json() for r in result.records}, report


def test_every_sample_has_a_golden(golden):
    records, _ = golden
    new = sorted(k for k, r in records.items() if r["status"] == "new")
    assert not new, f"no golden for {new}: {UPDATE}"
    assert {p.name for p in SAMPLES_DIR.glob("*.dng")} <= set(records)


@pytest.mark.parametrize("name", CASES)
def test_matches_golden(name, golden, request):
    records, report = golden
    if not _is_sample(name):
        request.applymarker(pytest.mark.shared)
        if name not in records:
            pytest.skip(f"shared file {name} not present (set RAWCOMPLETE_SHARED or place it at ../shared)")
    elif name not in records:
        pytest.fail(f"golden {name} has no sample any more: remove it or {UPDATE}")
    rec = records[name]
    assert rec["status"] == "pass", (
        f"{name}: {rec['status']}: {rec['message']}\n(intended? {UPDATE}; report: {report.with_suffix('.html')})"
    )


def test_goldens_record_what_they_were_made_with():
    settings = (GOLDEN / "settings.toml").read_text()
    assert 'method = "biharmonic"' in settings
    ref = json.loads((GOLDEN / "scene_rggb.dng.json").read_text())
    assert ref["outcome"] == "developed" and ref["made_with"]["method"] == "biharmonic"
    assert {"rawcomplete", "libraw", "numpy", "numba", "torch"} <= set(ref["versions"])
    assert ref["image"]["reference_size"] == 128 and max(ref["image"]["shape"][:2]) <= 128
