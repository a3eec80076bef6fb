"""Resume support: a fingerprint per output, kept in a hidden JSON sidecar beside it.

After an output ``OUTDIR/a/x.tif`` is written, the runner writes ``OUTDIR/a/.x.tif.rawcomplete.json``
(atomically, after the image) holding the fingerprint: sha256 of the input's bytes, of the
sidecar mask's bytes (if any), of the settings that decide the output's content and of the
rawcomplete version. ``--resume`` skips an input when its output exists, its sidecar's fingerprint
equals the one computed now and the output still has the size recorded. The input is hashed
again only when its size or modification time differ from those recorded in the sidecar. A sidecar is JSON, so it
also says which input and settings produced an output.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Mapping

from runner.masks import file_digest

SIDECAR_SUFFIX = ".rawcomplete.json"


@functools.lru_cache(maxsize=1)
def package_version() -> str:
    """The installed rawcomplete version, else the one in the source tree's pyproject.toml."""
    try:
        from importlib.metadata import version

        return version("rawcomplete")
    except Exception:  # noqa: BLE001 - not installed: fall through to the source tree
        pass
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        import tomllib

        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except Exception:  # noqa: BLE001
        return "unknown"


def sidecar_for(output: str | os.PathLike[str]) -> Path:
    """``.<output name>.rawcomplete.json`` beside ``output`` (shortened to fit the name limit)."""
    from runner.writers import hidden_name

    output = Path(output)
    return output.with_name(hidden_name(output.name, SIDECAR_SUFFIX))


def fingerprint(
    input_path: str | os.PathLike[str],
    processing: Mapping[str, Any],
    *,
    mask_path: str | os.PathLike[str] | None = None,
    input_digest: str | None = None,
) -> dict[str, Any]:
    """The fingerprint record of one input under ``processing`` settings.

    Returns a JSON-ready dict whose ``"fingerprint"`` entry is the sha256 hex digest of the rest.
    """
    body = {
        "input_sha256": input_digest or file_digest(input_path),
        "mask_sha256": file_digest(mask_path) if mask_path else None,
        "settings": dict(processing),
        "version": package_version(),
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {"fingerprint": digest, **body}


def write_sidecar(output: str | os.PathLike[str], record: Mapping[str, Any], *, input_path: str) -> None:
    """Write the sidecar of ``output`` (after the output itself has been renamed into place)."""
    from runner.writers import atomic_write_bytes

    output = Path(output)
    st = os.stat(input_path)
    data = {
        **record,
        "input": str(input_path),
        "input_size": st.st_size,
        "input_mtime_ns": st.st_mtime_ns,
        "output": output.name,
        "output_size": output.stat().st_size,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_bytes(sidecar_for(output), (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())


def is_complete(output: str | os.PathLike[str], expected_fingerprint: str) -> bool:
    """True when ``output`` exists and its sidecar vouches for ``expected_fingerprint``."""
    output = Path(output)
    try:
        size = output.stat().st_size
        data = json.loads(sidecar_for(output).read_text())
    except (OSError, ValueError):
        return False
    return data.get("fingerprint") == expected_fingerprint and data.get("output_size") == size


def known_input_digest(output: str | os.PathLike[str], input_path: str | os.PathLike[str]) -> str | None:
    """The input's sha256 recorded in ``output``'s sidecar, if the input's size and mtime still
    match what was recorded (as make and rsync trust them); None otherwise, then hash again."""
    try:
        data = json.loads(sidecar_for(output).read_text())
        st = os.stat(input_path)
    except (OSError, ValueError):
        return None
    if data.get("input_size") == st.st_size and data.get("input_mtime_ns") == st.st_mtime_ns:
        digest = data.get("input_sha256")
        return digest if isinstance(digest, str) else None
    return None


def has_sidecar(output: str | os.PathLike[str]) -> bool:
    return sidecar_for(output).is_file()
