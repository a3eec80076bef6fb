"""Train the inpainting GAN: ``python -m completion.train --help``.

A generator (:class:`completion.model.FFCGenerator`) and an SN-PatchGAN discriminator
(:class:`completion.discriminator.PatchDiscriminator`) trained against each other:

* generator loss = masked L1 (hole, + ``--known-weight`` x known region)
  + ``--adv-weight`` x hinge adversarial loss + ``--fm-weight`` x discriminator feature matching,
  the adversarial and feature-matching terms ramped in after ``--warmup-steps`` L1-only steps;
* reconstruction averaged per image (``losses.masked_l1``); masks drawn from ``--mask-mix``;
* validation every checkpoint on held-out images (every ``--val-holdout``-th): in-hole PSNR per mask
  kind against the generator's own pull-push base fill, and a texture measure; the EMA generator
  with the best validation gain once the adversarial terms are fully in is exported to ``best/``;
* discriminator loss = hinge loss on the composited fake vs the real image (both with the mask
  channel), optionally + ``--r1`` x R1 penalty on reals (every 4th step, lazily);
* masks drawn on the fly (LaMa thin / medium / thick strokes with boxes, boxes, free-form strokes);
* Adam, cosine learning-rate decay over the last 40% of the step / time budget, an exponential
  moving average (EMA) of the generator weights (that is what gets exported);
* checkpoints (``last.pt``: both networks, optimisers, EMA, RNG states) every ``--ckpt-minutes`` and
  at the end, resumable with ``--resume``; losses to ``log.jsonl``; the EMA generator exported to
  ``generator.pt`` + ``generator.json`` at each checkpoint (see ``completion.weights.export``).

Runs on CPU and CUDA (``--amp bf16|fp16`` autocast on CUDA; FFTs always in float32).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("completion.train")

#: Training mask mix: more thin / medium strokes than LaMa's uniform draw, because the structure they
#: cut is what a network can learn to continue (see ``losses.masked_l1``); thick strokes and boxes
#: still make up a quarter so that large holes are seen.
DEFAULT_MASK_MIX = "thin:0.35,medium:0.3,thick:0.2,box:0.05,freeform:0.1"
VAL_KINDS = ("thin", "medium", "thick", "object")
VAL_PER_KIND = 16


def build_parser() -> argparse.ArgumentParser:
    from .data import default_train_dir
    from .model import BASE_FILLS

    p = argparse.ArgumentParser(prog="python -m completion.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=default_train_dir(), help="folder of training images (recursive)")
    p.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, log.jsonl, exported generator")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if present")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none", help="autocast dtype on CUDA (ignored on CPU)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (use 1 on a busy 2-core machine: two OpenMP threads thrash)")
    p.add_argument("--crop", type=int, default=128, help="training crop size (multiple of 4)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--scale-min", type=float, default=0.5, help="crops are downscaled by a factor in [scale-min, 1]")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = no step limit)")
    p.add_argument("--minutes", type=float, default=0.0, help="stop after this much training time in total, resumes included (0 = none)")
    p.add_argument("--init", type=Path, default=None,
                   help="start the generator from this exported generator.pt (fine-tuning; its config "
                        "sets --base/--blocks); ignored when resuming")
    p.add_argument("--base-fill", choices=list(BASE_FILLS), default="exemplar",
                   help="coarse fill the generator refines: exemplar (PatchMatch, completion.exemplar), exemplar_sharp (its sharper variant, model.EXEMPLAR_OPTIONS) or pull-push")
    p.add_argument("--base", type=int, default=32, help="generator width (channels at 1/2 resolution = 2*base)")
    p.add_argument("--blocks", type=int, default=6, help="number of FFC residual blocks")
    p.add_argument("--d-base", type=int, default=32, help="discriminator width")
    p.add_argument("--lr-g", type=float, default=5e-4)
    p.add_argument("--lr-d", type=float, default=2e-4)
    p.add_argument("--warmup-steps", type=int, default=1000, help="L1-only steps before the adversarial terms ramp in")
    p.add_argument("--adv-ramp-steps", type=int, default=500, help="steps over which the adversarial terms ramp in after the warm-up")
    p.add_argument("--adv-weight", type=float, default=0.02)
    p.add_argument("--fm-weight", type=float, default=3.0)
    p.add_argument("--hole-weight", type=float, default=1.0)
    p.add_argument("--known-weight", type=float, default=0.1)
    p.add_argument("--rec-pool", type=int, default=1,
                   help="compare prediction and truth after a PxP average pool in the L1 term (1 = plain L1); "
                        "> 1 penalises colour and shading errors only and leaves texture to the adversarial terms")
    p.add_argument("--r1", type=float, default=0.0, help="R1 penalty weight (0 = off)")
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the exported generator")
    p.add_argument("--masks", default="mixed", choices=["mixed", "thin", "medium", "thick", "box", "freeform"],
                   help="mask family; 'mixed' draws a family per image with the --mask-mix probabilities")
    p.add_argument("--mask-mix", default=DEFAULT_MASK_MIX,
                   help="kind:weight,... probabilities of the mask families under --masks mixed")
    p.add_argument("--val-holdout", type=int, default=20,
                   help="every Nth image (sorted) is held out of training for validation (0 = validate on training images)")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--ckpt-minutes", type=float, default=5.0)
    return p


def _progress(step: int, elapsed: float, args) -> float:
    parts = []
    if args.max_steps > 0:
        parts.append(step / args.max_steps)
    if args.minutes > 0:
        parts.append(elapsed / (args.minutes * 60.0))
    return max(parts) if parts else 0.0


def _lr_scale(progress: float) -> float:
    if progress < 0.6:
        return 1.0
    t = min(1.0, (progress - 0.6) / 0.4)
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * t))


def _atomic_save(obj, path: Path) -> None:
    import torch

    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def parse_mask_mix(text: str) -> tuple[list[str], np.ndarray]:
    """``"thin:0.35,medium:0.3"`` -> (kinds, probabilities summing to 1)."""
    from .masks import MASK_KINDS

    kinds, weights = [], []
    for part in text.split(","):
        kind, _, weight = part.strip().partition(":")
        if kind not in MASK_KINDS:
            raise SystemExit(f"--mask-mix: unknown mask kind {kind!r}; expected some of {', '.join(MASK_KINDS)}")
        try:
            w = float(weight)
        except ValueError:
            raise SystemExit(f"--mask-mix: weight of {kind!r} must be a number, got {weight!r}") from None
        if not w >= 0:
            raise SystemExit(f"--mask-mix: weight of {kind!r} must be >= 0, got {w}")
        kinds.append(kind)
        weights.append(w)
    total = sum(weights)
    if total <= 0:
        raise SystemExit("--mask-mix: weights must not all be zero")
    return kinds, np.asarray(weights) / total


def make_batch(dataset, rng: np.random.Generator, args, device, kind: str | None = None,
               mix: tuple[list[str], np.ndarray] | None = None):
    """``args.batch`` random crops with masks of ``kind``; without a kind, of ``args.masks``, where
    ``"mixed"`` draws a kind per crop from ``mix`` (the parsed ``--mask-mix``).

    Returns ``(image, mask, base)``: (B, 3, crop, crop) in [0, 1], (B, 1, crop, crop) 1 = hole, and
    the exemplar coarse fill (B, 3, crop, crop) under ``--base-fill exemplar`` (None for pull-push,
    which the generator computes itself)."""
    import torch

    from .masks import random_mask

    imgs = np.stack([dataset.sample(rng, args.crop, (args.scale_min, 1.0)) for _ in range(args.batch)])
    if kind is None and args.masks == "mixed":
        kinds, probs = mix if mix is not None else parse_mask_mix(args.mask_mix)
        draw = [str(rng.choice(kinds, p=probs)) for _ in range(args.batch)]
    else:
        draw = [kind or args.masks] * args.batch
    masks = np.stack([random_mask(args.crop, args.crop, k, rng=rng) for k in draw])
    img = torch.from_numpy(imgs)
    mask = torch.from_numpy(masks[:, None].astype(np.float32))
    base = None
    from .model import EXEMPLAR_OPTIONS

    options = EXEMPLAR_OPTIONS.get(getattr(args, "base_fill", "pullpush"))
    if options is not None:  # an exemplar fill: computed once per batch, on the CPU
        from .model import exemplar_fill_batch

        base = exemplar_fill_batch(img * (1 - mask), mask, **options).to(device)
    return img.to(device), mask.to(device), base


def load_checkpoint(path: Path, device) -> dict:
    """Read a training checkpoint written by :func:`train` with ``torch.load(weights_only=True)``:
    tensors, numbers, strings and containers only, so a tampered ``last.pt`` cannot run code.

    Raises
    ------
    SystemExit
        The file is unreadable, not a checkpoint, or holds anything but plain data (named in the message).
    """
    import torch

    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise SystemExit(f"--resume: cannot load checkpoint {path} safely (weights_only=True): "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    missing = [k for k in ("G", "D", "G_ema", "opt_g", "opt_d", "step", "elapsed", "np_rng", "torch_rng")
               if not isinstance(ck, dict) or k not in ck]
    if missing:
        raise SystemExit(f"--resume: {path} is not a completion.train checkpoint (missing {', '.join(missing)})")
    return ck


def train(args) -> dict:
    """Run training as configured by ``args`` (the parsed namespace); returns the final summary."""
    import torch

    from . import losses as L
    from .data import ImageFolder
    from .discriminator import PatchDiscriminator
    from .model import STRIDE, build_generator, count_parameters
    from .weights import export

    if args.crop % STRIDE:
        raise SystemExit(f"--crop must be a multiple of {STRIDE}, got {args.crop}")
    mask_mix = parse_mask_mix(args.mask_mix)  # once, before any work: a bad --mask-mix fails here
    torch.set_num_threads(max(1, args.threads))
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp) if device.type == "cuda" else None

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    gcfg = {"base": args.base, "blocks": args.blocks, "base_fill": args.base_fill}
    init_sd = None
    if args.init is not None:  # its architecture always; its weights unless a checkpoint resumes
        from .weights import load_generator

        init = load_generator(args.init, device="cpu")
        gcfg = {**init.config, "base_fill": args.base_fill}
        if not (args.resume and (args.out / "last.pt").exists()):
            init_sd = init.state_dict()
    G = build_generator(gcfg).to(device)
    if init_sd is not None:
        G.load_state_dict(init_sd)
        log.info("generator initialised from %s", args.init)
    D = PatchDiscriminator(base=args.d_base).to(device)
    G_ema = copy.deepcopy(G).eval()
    for p in G_ema.parameters():
        p.requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr_g, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr_d, betas=(0.5, 0.99))
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    step, elapsed = 0, 0.0
    best = {"gain": -math.inf, "step": -1}  # best validation gain once adversarial, and its step
    ckpt_path = out / "last.pt"
    if args.resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path, device)
        G.load_state_dict(ck["G"])
        D.load_state_dict(ck["D"])
        G_ema.load_state_dict(ck["G_ema"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_d.load_state_dict(ck["opt_d"])
        step, elapsed = int(ck["step"]), float(ck["elapsed"])
        best.update(ck.get("best", {}))
        rng.bit_generator.state = ck["np_rng"]
        torch.set_rng_state(ck["torch_rng"])
        log.info("resumed from %s at step %d (%.1f min)", ckpt_path, step, elapsed / 60)

    log.info("G: %d params, D: %d params, device %s, amp %s", count_parameters(G), count_parameters(D), device, amp_dtype)
    dataset = ImageFolder(args.data, min_side=args.crop)
    val_set = dataset
    if args.val_holdout > 0 and len(dataset) >= 2 * args.val_holdout:
        val_set = copy.copy(dataset)
        val_set.images = dataset.images[:: args.val_holdout]
        dataset.images = [im for i, im in enumerate(dataset.images) if i % args.val_holdout]
        log.info("training on %d images, validating on %d held-out ones", len(dataset), len(val_set))
    val_rng = np.random.default_rng(12345)
    val_args = argparse.Namespace(**{**vars(args), "batch": VAL_PER_KIND})
    val_batches = {k: make_batch(val_set, val_rng, val_args, device, kind=k) for k in VAL_KINDS}
    run_args = {k: str(v) for k, v in vars(args).items()}

    def validate() -> dict:
        """In-hole PSNR of the EMA generator and of its coarse base fill, per mask kind, on held-out
        crops; ``val_gain_db`` is their mean difference; ``val_grad_ratio``: mean gradient magnitude in
        the holes relative to the real image's (1 = as much texture as the truth, pull-push ~0.1)."""
        res: dict[str, float] = {}
        gains, ratios = [], []
        with torch.no_grad():
            for kind, (vi, vm, vb) in val_batches.items():
                base, residual = G_ema.fill_and_residual(vi * (1 - vm), vm, base=vb)
                pred = (base + residual).float().clamp(0, 1)
                pred = pred * vm + vi * (1 - vm)

                def psnr(x):
                    mse = ((x - vi) ** 2 * vm).sum() / (vm.sum() * 3)
                    return float(10 * torch.log10(1.0 / mse))

                def grad(x):
                    g = x.mean(1, keepdim=True)
                    return (g[..., 1:, :-1] - g[..., :-1, :-1]).abs() + (g[..., :-1, 1:] - g[..., :-1, :-1]).abs()

                inner = vm[..., 1:, 1:] * vm[..., :-1, :-1]
                ratio = float((grad(pred) * inner).sum() / (grad(vi) * inner).sum().clamp_min(1e-8))
                p, b = psnr(pred), psnr(base)
                res[f"val_psnr_{kind}"], res[f"val_base_{kind}"] = round(p, 3), round(b, 3)
                gains.append(p - b)
                ratios.append(ratio)
        res["val_gain_db"] = round(float(np.mean(gains)), 4)
        res["val_grad_ratio"] = round(float(np.mean(ratios)), 4)
        return res

    def save(final: bool = False, val: dict | None = None) -> None:
        adversarial = step >= args.warmup_steps + args.adv_ramp_steps  # adversarial terms fully ramped in
        if val is not None and adversarial and val["val_gain_db"] > best["gain"]:
            best.update(gain=val["val_gain_db"], step=step)
            export(G_ema, out / "best" / "generator.pt", meta={"step": step, "train_minutes": round(elapsed / 60, 1),
                                                             "validation": val, "args": run_args})
            log.info("best so far (validation gain over the base fill %+.3f dB): exported to %s", best["gain"], out / "best")
        _atomic_save({"G": G.state_dict(), "D": D.state_dict(), "G_ema": G_ema.state_dict(), "opt_g": opt_g.state_dict(),
                      "opt_d": opt_d.state_dict(), "step": step, "elapsed": elapsed, "np_rng": rng.bit_generator.state,
                      "torch_rng": torch.get_rng_state(), "best": dict(best), "args": run_args}, ckpt_path)
        export(G_ema, out / "generator.pt", meta={"step": step, "train_minutes": round(elapsed / 60, 1),
                                                 "args": run_args})
        log.info("checkpoint at step %d%s", step, " (final)" if final else "")

    logf = open(out / "log.jsonl", "a", encoding="utf-8")
    t_last_ckpt = t_last_log = time.time()
    acc: dict[str, float] = {}
    n_acc = 0
    t0 = time.time() - elapsed
    d_start = int(args.warmup_steps * 0.8)

    def autocast():
        return torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=amp_dtype is not None)

    while True:
        elapsed = time.time() - t0
        prog = _progress(step, elapsed, args)
        if (args.max_steps > 0 and step >= args.max_steps) or (args.minutes > 0 and elapsed >= args.minutes * 60):
            break
        if args.max_steps <= 0 and args.minutes <= 0:
            raise SystemExit("give --max-steps and/or --minutes")
        lrs = _lr_scale(prog)
        for g in opt_g.param_groups:
            g["lr"] = args.lr_g * lrs
        for g in opt_d.param_groups:
            g["lr"] = args.lr_d * lrs
        adv_ramp = min(1.0, max(0.0, (step - args.warmup_steps) / max(1, args.adv_ramp_steps)))

        img, mask, base = make_batch(dataset, rng, args, device, mix=mask_mix)
        masked = img * (1 - mask)
        G.train()
        stats: dict[str, float] = {}

        # ---- one forward of G, one of D on the real and one on the composite serve both losses;
        # autograd.grad / backward(inputs=...) keep each network's gradients to its own loss.
        with autocast():
            fake = sum(G.fill_and_residual(masked, mask, base=base))
            rec = L.masked_l1(*L.pooled(fake.float(), img, mask, args.rec_pool), hole_weight=args.hole_weight,
                              known_weight=args.known_weight)
            g_loss = rec
            train_d = step >= d_start
            if train_d:
                comp = fake.float() * mask + img * (1 - mask)
                real_logits, real_feats = D(img, mask)
                fake_logits, fake_feats = D(comp, mask)
                d_loss = L.d_hinge(real_logits.float(), fake_logits.float())
                if adv_ramp > 0:
                    adv = L.g_hinge(fake_logits.float())
                    fm = L.feature_matching([f.float() for f in fake_feats], [f.float() for f in real_feats])
                    g_loss = g_loss + adv_ramp * (args.adv_weight * adv + args.fm_weight * fm)
                    stats["g_adv"] = float(adv.detach())
                    stats["g_fm"] = float(fm.detach())
        if train_d:
            d_params = [p for p in D.parameters() if p.requires_grad]
            grads = torch.autograd.grad(scaler.scale(d_loss), d_params, retain_graph=True)
            opt_d.zero_grad(set_to_none=True)
            for p, g in zip(d_params, grads):
                p.grad = g
            if args.r1 > 0 and step % 4 == 0:
                real_in = img.detach().requires_grad_(True)
                with autocast():
                    r_logits, _ = D(real_in, mask)
                r1 = args.r1 * 4 * L.r1_penalty(r_logits.float(), real_in)
                scaler.scale(r1).backward(inputs=d_params)
                stats["r1"] = float(r1.detach())
            stats["d_loss"] = float(d_loss.detach())
            stats["d_real"] = float(real_logits.detach().float().mean())
            stats["d_fake"] = float(fake_logits.detach().float().mean())
        opt_g.zero_grad(set_to_none=True)
        scaler.scale(g_loss).backward(inputs=list(G.parameters()))
        scaler.step(opt_g)
        if train_d:
            scaler.step(opt_d)
        scaler.update()
        stats["l1"] = float(rec.detach())
        stats["g_loss"] = float(g_loss.detach())

        with torch.no_grad():
            decay = min(args.ema, (1 + step) / (10 + step))
            for pe, p in zip(G_ema.parameters(), G.parameters()):
                pe.lerp_(p.detach(), 1 - decay)
            for be, b in zip(G_ema.buffers(), G.buffers()):
                be.copy_(b)
        step += 1
        for k, v in stats.items():
            acc[k] = acc.get(k, 0.0) + v
        n_acc += 1
        if step % args.log_every == 0:
            rec_ = {k: round(v / n_acc, 5) for k, v in acc.items()}
            now = time.time()
            rec_.update(step=step, minutes=round((now - t0) / 60, 2), lr_scale=round(lrs, 4),
                        adv_ramp=round(adv_ramp, 3), s_per_step=round((now - t_last_log) / n_acc, 3))
            t_last_log = now
            logf.write(json.dumps(rec_) + "\n")
            logf.flush()
            log.info("%s", rec_)
            acc, n_acc = {}, 0
        if time.time() - t_last_ckpt > args.ckpt_minutes * 60:
            elapsed = time.time() - t0
            v = validate()
            v.update(step=step, minutes=round(elapsed / 60, 2))
            logf.write(json.dumps(v) + "\n")
            logf.flush()
            log.info("validation %s", v)
            save(val=v)
            t_last_ckpt = t_last_log = time.time()

    elapsed = time.time() - t0
    v = validate()
    v.update(step=step, minutes=round(elapsed / 60, 2), final=True)
    logf.write(json.dumps(v) + "\n")
    logf.close()
    save(final=True, val=v)
    v["best"] = dict(best)
    return v


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    summary = train(args)
    log.info("done: %s", summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
