"""Golden regression: the pipeline's output on every sample and shared Bayer RAW, against the
small references in ``tests/golden/`` (16-bit thumbnails + per-channel statistics).

A failure means some stage changed the output. If the change is intended, accept it on purpose:
``python -m runner.golden --update``, review ``git diff tests/golden``, commit.
"""

from __future__ import annotations

import json

import pytest

from runner import golden

INDEX = json.loads(golden.INDEX.read_text())["cases"] if golden.INDEX.is_file() else {}
CASES = sorted(INDEX)


def test_every_sample_has_a_golden():
    missing = sorted(set(golden.cases(include_shared=False)) - set(INDEX))
    assert not missing, f"no golden for {missing}: run python -m runner.golden --update"


@pytest.mark.parametrize("name", CASES)
def test_matches_golden(name, request):
    entry = INDEX[name]
    if entry["shared"]:
        request.applymarker(pytest.mark.shared)
        present = golden.cases(include_shared=True)
        if name not in present:
            pytest.skip(f"shared data for {name} not present (set RAWCOMPLETE_SHARED or place it at ../shared)")
        case = present[name]
    else:
        case = golden.cases(include_shared=False).get(name)
        if case is None:
            pytest.fail(f"golden {name} has no sample any more: regenerate with python -m runner.golden --update")
    problems = golden.compare(name, golden.render(case), entry)
    assert not problems, "\n".join(problems) + "\n(intended? python -m runner.golden --update)"


def test_golden_comparison_catches_a_small_change():
    name = "samples_scene_rggb"
    if name not in INDEX:
        pytest.skip(f"no golden {name}")
    image = golden.render(golden.cases(include_shared=False)[name])
    assert golden.compare(name, image, INDEX[name]) == []
    brighter = image * 1.02  # a 2 % exposure change
    assert golden.compare(name, brighter, INDEX[name])
    patched = image.copy()
    patched[:16, :16] = 0  # a local change of a few hundred pixels
    assert any("thumbnail" in p for p in golden.compare(name, patched, INDEX[name]))
