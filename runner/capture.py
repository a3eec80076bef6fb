"""Each file's warnings and log records, captured per thread.

A worker may develop the next file in a background thread while it writes the current one
(:mod:`runner.work`), so what is said about a file must land in that file's record and no other.
``warnings.catch_warnings`` is process-wide; :class:`FileMessages` instead routes every warning and
every WARNING-or-worse log record to the capture of the thread that emitted it. Warnings from a
thread without a capture go where they would have gone.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

_lock = threading.Lock()
_sinks: dict[int, list[str]] = {}  # thread id -> that thread's messages
_depth = 0
_saved: Any = None  # the showwarning in place before the first capture
_context: Any = None  # the catch_warnings that restores filters and showwarning after the last


def _show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
          line: str | None = None) -> None:
    sink = _sinks.get(threading.get_ident())
    if sink is None:
        if _saved is not None:
            _saved(message, category, filename, lineno, file, line)
        return
    # the libraries' own chatter (Numba compile and caching notes) depends on the process, not the file
    if not category.__module__.startswith("numba"):
        sink.append(f"{category.__name__}: {message}")


class _Handler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        sink = _sinks.get(record.thread) if record.thread is not None else None
        if sink is None:
            return
        try:
            sink.append(record.getMessage())
        except Exception:  # noqa: BLE001 - a bad log call must not fail the file
            sink.append(str(record.msg))


_handler = _Handler()


class FileMessages:
    """Collect the current thread's warnings and log records while the block runs.

    >>> with FileMessages() as messages:   # doctest: +SKIP
    ...     develop(...)
    >>> messages                           # ["UserWarning: ...", "no usable camera white balance ..."]
    """

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __enter__(self) -> list[str]:
        global _depth, _saved, _context
        with _lock:
            if _depth == 0:
                _saved = warnings.showwarning
                _context = warnings.catch_warnings()
                _context.__enter__()
                warnings.simplefilter("always")
                warnings.showwarning = _show
                logging.getLogger().addHandler(_handler)
            _depth += 1
            _sinks[threading.get_ident()] = self.messages
        return self.messages

    def __exit__(self, *exc: object) -> None:
        global _depth, _saved, _context
        with _lock:
            _sinks.pop(threading.get_ident(), None)
            _depth -= 1
            if _depth == 0 and _context is not None:
                _context.__exit__(None, None, None)
                logging.getLogger().removeHandler(_handler)
                _saved = _context = None


def record_messages(messages: list[str]) -> None:
    """Add ``messages`` (captured in another thread for the file this thread is now reporting)
    to this thread's capture; nothing happens outside one."""
    sink = _sinks.get(threading.get_ident())
    if sink is not None:
        sink.extend(messages)
