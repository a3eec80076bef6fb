"""Environment for commands whose workers must crash or hang on chosen files (tests only).

The hooks live in ``tests/hooks/sitecustomize.py``, outside the installed packages."""

from __future__ import annotations

import os
from pathlib import Path

HOOKS = Path(__file__).resolve().parent / "hooks"
REPO = Path(__file__).resolve().parents[1]
CRASH_ENV = "RAWCOMPLETE_TEST_CRASH"
HANG_ENV = "RAWCOMPLETE_TEST_HANG"


def fault_env(*, crash: str | None = None, hang: str | None = None, base: dict | None = None) -> dict[str, str]:
    """Variables that make workers segfault on files matching ``crash`` and hang on ``hang``
    (fnmatch patterns of the file name): the hooks folder and the repository first on PYTHONPATH."""
    base = dict(os.environ if base is None else base)
    path = [str(HOOKS), str(REPO)] + ([base["PYTHONPATH"]] if base.get("PYTHONPATH") else [])
    env = {"PYTHONPATH": os.pathsep.join(path)}
    if crash:
        env[CRASH_ENV] = crash
    if hang:
        env[HANG_ENV] = hang
    return env
