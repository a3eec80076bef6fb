"""The Numba threading layer the ISP's parallel kernels run on, chosen explicitly, and the lock
that keeps concurrent calls safe where that layer is not thread-safe.

Numba offers three layers. TBB and OpenMP accept parallel kernels launched from several threads
at once; ``workqueue`` (the fallback where neither library is installed) aborts the whole process
when two threads launch one concurrently. So the first developing call picks, unless
``NUMBA_THREADING_LAYER`` says otherwise: ``tbb``, else ``omp``, else ``workqueue``; and public
entry points decorated with :func:`serialised` take a process-wide lock only when the layer in
use is not thread-safe. The runner's workers are spawned processes, so GNU OpenMP's lack of fork
safety never meets them; a caller that forks after developing should use a ``spawn`` or
``forkserver`` multiprocessing context (as it should for any threaded library).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import threading
from typing import Any, Callable, Iterator, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: Layers under which concurrent launches from several threads are safe (Numba's names).
THREAD_SAFE_LAYERS = ("tbb", "omp", "safe", "threadsafe")
_MODULES = {"tbb": "numba.np.ufunc.tbbpool", "omp": "numba.np.ufunc.omppool"}

_LOCK = threading.RLock()
_chosen: str | None = None


def _loadable(layer: str) -> bool:
    try:
        importlib.import_module(_MODULES[layer])
    except Exception:  # noqa: BLE001 - a missing libtbb / libgomp shows up as any import error
        return False
    return True


def threading_layer() -> str:
    """The threading layer the ISP asks Numba for (chosen on first call, then fixed).

    Returns
    -------
    str
        ``NUMBA_THREADING_LAYER`` when set, else ``"tbb"``, ``"omp"`` or ``"workqueue"``, the
        first that loads on this machine.
    """
    global _chosen
    if _chosen is None:
        with _LOCK:
            if _chosen is None:
                import numba

                requested = os.environ.get("NUMBA_THREADING_LAYER", "").strip().lower()
                if requested and requested != "default":
                    layer = requested
                else:
                    layer = next((name for name in ("tbb", "omp") if _loadable(name)), "workqueue")
                    numba.config.THREADING_LAYER = layer  # type: ignore[attr-defined]
                _chosen = layer
    return _chosen


def is_thread_safe() -> bool:
    """True when parallel kernels may be launched from several threads at once."""
    return threading_layer() in THREAD_SAFE_LAYERS


@contextlib.contextmanager
def serial_section() -> Iterator[None]:
    """Hold the process-wide kernel lock for the block when the layer is not thread-safe
    (re-entrant, so a section may call :func:`serialised` functions)."""
    if is_thread_safe():
        yield
        return
    with _LOCK:
        yield


def serialised(fn: F) -> F:
    """Decorate a public entry point: concurrent calls run one at a time when the threading
    layer is not thread-safe (``workqueue``), and freely otherwise."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with serial_section():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
