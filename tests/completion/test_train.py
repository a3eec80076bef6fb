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
            "--warmup-steps", "10", "--adv-ramp-steps", "20", "--log-every", "10", "--lr-g", "2e-3", "--base", "8", "--blocks", "1", "--d-base", "8",
            "--threads", "1", "--r1", "0.1", "--device", "cpu"]
    torch.manual_seed(0)
    train(build_parser().parse_args(argv))
    recs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "l1" in r]
    assert steps[-1]["step"] == 60
    assert steps[-1]["l1"] < steps[0]["l1"]
    assert any("d_loss" in r for r in steps) and any("g_adv" in r for r in steps)

    ck = torch.load(out / "last.pt", map_location="cpu", weights_only=True)  # plain data only
    assert ck["step"] == 60
    # both networks moved away from their initialisation, and both optimisers took steps
    assert all(s["step"] > 0 for s in ck["opt_g"]["state"].values())
    assert len(ck["opt_d"]["state"]) > 0 and all(float(s["step"]) > 0 for s in ck["opt_d"]["state"].values())
    assert (out / "generator.pt").exists() and (out / "generator.sha256").exists()
    # validation against the pull-push base fill was logged per mask kind, and the best adversarially
    # trained generator was exported
    val = [r for r in recs if "val_gain_db" in r]
    assert val and all(f"val_psnr_{k}" in val[-1] and f"val_base_{k}" in val[-1] for k in ("thin", "medium", "thick", "object"))
    assert np.isfinite(val[-1]["val_gain_db"]) and val[-1]["val_grad_ratio"] > 0
    assert (out / "best" / "generator.pt").exists() and ck["best"]["step"] == 60

    # resume continues the step count
    train(build_parser().parse_args([*argv[:-2], "--device", "cpu", "--resume", "--max-steps", "70"]))
    ck2 = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert ck2["step"] == 70

    # the exported generator loads through the public loader
    from completion import load_generator

    g = load_generator(out / "generator.pt")
    assert g.config["base"] == 8 and g.config["base_fill"] == "exemplar"

    # fine-tuning starts from an exported generator: step 0 of the new run is that generator
    ft = tmp_path / "ft"
    train(build_parser().parse_args([*argv[:-2], "--device", "cpu", "--out", str(ft), "--init", str(out / "generator.pt"),
                                     "--max-steps", "2", "--base", "16", "--base-fill", "exemplar_sharp"]))
    g2 = load_generator(ft / "generator.pt")
    assert g2.config["base"] == 8  # the architecture comes from --init, not from --base
    assert g2.config["base_fill"] == "exemplar_sharp"  # the coarse fill from the command line
    # inference refines the fill that generator was trained on
    from completion import inpaint

    rng = np.random.default_rng(1)
    img = rng.random((48, 48, 3)).astype(np.float32)
    hole = np.zeros((48, 48), bool)
    hole[16:30, 18:34] = True
    done = inpaint(img, hole, method="gan", device="cpu", weights=str(ft / "generator.pt"))
    assert np.array_equal(done[~hole], img[~hole]) and np.all(np.isfinite(done))


def test_sharp_exemplar_base_fill_is_exemplar_fill_with_its_options():
    import torch

    from completion.exemplar import exemplar_fill
    from completion.model import BASE_FILLS, EXEMPLAR_OPTIONS, FFCGenerator

    assert BASE_FILLS == ("pullpush", "exemplar", "exemplar_sharp")
    rng = np.random.default_rng(2)
    img = rng.random((40, 40, 3)).astype(np.float32)
    hole = np.zeros((40, 40), bool)
    hole[12:26, 10:30] = True
    t_img = torch.from_numpy(img.transpose(2, 0, 1))[None]
    t_mask = torch.from_numpy(hole.astype(np.float32))[None, None]
    for name, options in EXEMPLAR_OPTIONS.items():
        got = FFCGenerator(base=8, blocks=1, base_fill=name).coarse_fill(t_img, t_mask)[0].numpy().transpose(1, 2, 0)
        np.testing.assert_array_equal(got, exemplar_fill(img, hole, **options))
    plain = exemplar_fill(img, hole)
    assert not np.array_equal(plain, exemplar_fill(img, hole, **EXEMPLAR_OPTIONS["exemplar_sharp"]))


class _NotData:
    """Anything a plain-data checkpoint cannot hold (torch.load(weights_only=True) refuses it)."""


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_that_is_not_plain_data(tmp_path):
    import torch

    from completion.train import build_parser, load_checkpoint, train

    _write_images(tmp_path / "data")
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"G": {}, "payload": _NotData()}, out / "last.pt")
    argv = ["--data", str(tmp_path / "data"), "--out", str(out), "--crop", "32", "--batch", "2", "--max-steps", "1",
            "--base", "8", "--blocks", "1", "--d-base", "8", "--threads", "1", "--device", "cpu", "--resume"]
    with pytest.raises(SystemExit, match=r"cannot load checkpoint .*last\.pt safely"):
        train(build_parser().parse_args(argv))
    torch.save({"G": {}, "step": 3}, out / "last.pt")  # plain data, but not a checkpoint
    with pytest.raises(SystemExit, match="not a completion.train checkpoint"):
        load_checkpoint(out / "last.pt", "cpu")


def test_mask_mix_parsing():
    from completion.train import parse_mask_mix

    kinds, p = parse_mask_mix("thin:1,thick:3")
    assert kinds == ["thin", "thick"] and np.allclose(p, [0.25, 0.75])
    for bad in ("blob:1", "thin:x", "thin:-1", "thin:0,thick:0"):
        with pytest.raises(SystemExit, match="--mask-mix"):
            parse_mask_mix(bad)


def test_masked_l1_weighs_each_image_equally():
    """A thin hole in one image counts as much as a large hole in another (per-image averages)."""
    import torch

    from completion.losses import masked_l1

    target = torch.zeros(2, 3, 16, 16)
    pred = torch.zeros(2, 3, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    mask[0, :, 8, :] = 1  # a thin line: 16 px
    mask[1, :, 2:14, 2:14] = 1  # a large box: 144 px
    pred[0] = 1.0  # error 1 in image 0 only
    loss = masked_l1(pred, target, mask, known_weight=0.0)
    assert float(loss) == pytest.approx(0.5)  # (1 + 0) / 2, not 16 / 160
    loss_known = masked_l1(pred, target, mask, hole_weight=0.0, known_weight=1.0)
    assert float(loss_known) == pytest.approx(0.5)
