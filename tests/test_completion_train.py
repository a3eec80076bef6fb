"""completion.train: a tiny run takes real optimiser steps on both networks, lowers the loss, resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest


def _write_images(folder, n=4, size=48):
    import imageio.v3 as iio

    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        f = rng.uniform(0.1, 0.4, 3)
        img = np.stack([0.5 + 0.4 * np.sin(f[c] * (xx + 2 * yy) + i) for c in range(3)], -1)
        iio.imwrite(folder / f"img{i}.png", (img * 255).astype(np.uint8))


@pytest.mark.slow
def test_tiny_training_run(tmp_path):
    import torch

    from completion.train import build_parser, train

    _write_images(tmp_path / "data")
    out = tmp_path / "run"
    argv = ["--data", str(tmp_path / "data"), "--out", str(out), "--crop", "32", "--batch", "4", "--max-steps", "60",
            "--warmup-steps", "10", "--log-every", "10", "--lr-g", "2e-3", "--base", "8", "--blocks", "1", "--d-base", "8",
            "--threads", "1", "--r1", "0.1", "--device", "cpu"]
    torch.manual_seed(0)
    train(build_parser().parse_args(argv))
    recs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "l1" in r]
    assert steps[-1]["step"] == 60
    assert steps[-1]["l1"] < steps[0]["l1"]
    assert any("d_loss" in r for r in steps) and any("g_adv" in r for r in steps)

    ck = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert ck["step"] == 60
    # both networks moved away from their initialisation, and both optimisers took steps
    assert all(s["step"] > 0 for s in ck["opt_g"]["state"].values())
    assert len(ck["opt_d"]["state"]) > 0 and all(float(s["step"]) > 0 for s in ck["opt_d"]["state"].values())
    assert (out / "generator.pt").exists() and (out / "generator.sha256").exists()

    # resume continues the step count
    train(build_parser().parse_args([*argv[:-2], "--device", "cpu", "--resume", "--max-steps", "70"]))
    ck2 = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert ck2["step"] == 70

    # the exported generator loads through the public loader
    from completion import load_generator

    g = load_generator(out / "generator.pt")
    assert g.config["base"] == 8
