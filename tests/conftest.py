"""Shared fixtures: where ../shared lives, and the device parametrisation for CPU/CUDA tests."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = REPO_ROOT / "samples"


def shared_dir() -> Path | None:
    """The shared data folder: ``$RAWCOMPLETE_SHARED`` or ``../shared`` beside the checkout."""
    env = os.environ.get("RAWCOMPLETE_SHARED")
    path = Path(env) if env else REPO_ROOT.parent / "shared"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared() -> Path:
    """Path to the shared data set; skips the test with a clear reason when it is absent."""
    path = shared_dir()
    if path is None:
        pytest.skip("shared data not found: set RAWCOMPLETE_SHARED or place it at ../shared")
    return path


@pytest.fixture(scope="session")
def shared_raw(shared: Path) -> Path:
    path = shared / "raw"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def shared_raw_file(shared_raw: Path, name: str) -> Path:
    """``shared_raw / name``; skips the test with a reason when that file is absent."""
    path = shared_raw / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@contextlib.contextmanager
def logger_restored(name: str = "rawcomplete") -> Iterator[None]:
    """Undo what ``runner.cli.main``, called in-process, does to a logger: its handlers (pointed at
    the captured stderr), level and propagation (off, so caplog elsewhere would see nothing)."""
    log = logging.getLogger(name)
    saved = (log.handlers[:], log.level, log.propagate)
    try:
        yield
    finally:
        log.handlers[:], log.level, log.propagate = saved


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES_DIR


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return torch.cuda.is_available()


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def torch_device(request) -> str:
    """Runs a test on CPU and, where a GPU exists, on CUDA too; the CUDA case skips cleanly."""
    if request.param == "cuda" and not _cuda_available():
        pytest.skip("CUDA device not available")
    return request.param
