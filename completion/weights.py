"""Generator weights: export from training, load with ``weights_only=True`` and a sha256 check."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from .errors import WeightsError

log = logging.getLogger(__name__)
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED = WEIGHTS_DIR / "generator.pt"


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export(generator, path: str | os.PathLike, *, meta: dict[str, Any] | None = None, half: bool = True) -> str:
    """Write the generator's state dict (float16 by default) to ``path``, its config to ``path.json`` and
    its sha256 to ``path.sha256``; returns the sha256."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.detach().to("cpu").half() if half and v.is_floating_point() else v.detach().to("cpu").clone())
          for k, v in generator.state_dict().items()}
    tmp = path.with_suffix(".pt.tmp")
    torch.save(sd, tmp)
    os.replace(tmp, path)
    digest = sha256_file(path)
    cfg = {"config": dict(generator.config), "sha256": digest, **(meta or {})}
    path.with_suffix(".json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    path.with_suffix(".sha256").write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    return digest


_CACHE: dict[tuple[str, str], Any] = {}


def load_generator(path: str | os.PathLike | None = None, *, device: str = "cpu", check_sha256: bool = True):
    """Load a generator exported by :func:`export` (default: the shipped ``completion/weights/generator.pt``).

    Parameters
    ----------
    path : path-like, optional
        A ``generator.pt``; its ``generator.json`` (config) must sit beside it, and, when
        ``check_sha256`` is true, its ``generator.sha256``.
    device : str
        Torch device to put the model on.
    check_sha256 : bool
        Verify the file against the recorded sha256 before unpickling (``weights_only=True`` in any case).

    Returns
    -------
    FFCGenerator in eval mode, float32, on ``device``. Cached per (path, device).

    Raises
    ------
    WeightsError
        Missing file, sha256 mismatch, or a state dict that does not fit the model.
    """
    import torch

    from .model import build_generator

    path = Path(path) if path is not None else SHIPPED
    key = (str(path.resolve()), str(device))
    if key in _CACHE:
        return _CACHE[key]
    if not path.is_file():
        raise WeightsError(f"generator weights not found: expected a file at {path}")
    cfg_path = path.with_suffix(".json")
    if not cfg_path.is_file():
        raise WeightsError(f"model config not found: expected {cfg_path} beside the weights")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if check_sha256:
        sha_path = path.with_suffix(".sha256")
        if not sha_path.is_file():
            raise WeightsError(f"sha256 file not found: expected {sha_path} beside the weights")
        expected = sha_path.read_text(encoding="utf-8").split()[0].strip().lower()
        got = sha256_file(path)
        if got != expected:
            raise WeightsError(f"sha256 mismatch for {path}: expected {expected}, got {got}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
        model = build_generator(cfg.get("config"))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    except Exception as exc:
        raise WeightsError(f"cannot load generator weights from {path}: {exc}") from exc
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    _CACHE[key] = model
    return model
