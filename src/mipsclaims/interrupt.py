"""Ctrl-C that nothing can swallow: remembered, and checked again where work is committed.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT
arrives; raised inside a finaliser, a callback run by a native library or a generator
being closed, it can be lost, and the command would finish and exit 0. The CLI's handler
(:func:`install`) therefore also sets a flag: :func:`check` raises again at every batch
read and before an output file is put in place, and the CLI exits 130 whenever the flag
is set, so an interrupted command never writes its output nor reports success.
"""

from __future__ import annotations

import signal
import threading

_interrupted = threading.Event()

#: Exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 128 + signal.SIGINT


def interrupted() -> bool:
    """True once SIGINT was received (by the handler :func:`install` sets)."""
    return _interrupted.is_set()


def check() -> None:
    """Raise ``KeyboardInterrupt`` if SIGINT was received, even if it was swallowed."""
    if _interrupted.is_set():
        raise KeyboardInterrupt


def _on_sigint(signum: int, frame: object) -> None:
    _interrupted.set()
    raise KeyboardInterrupt


def install() -> None:
    """Handle SIGINT in this (main) thread: set the flag, then raise ``KeyboardInterrupt``.

    A SIGINT ignored by whoever started us (``nohup``, a background job of a script) stays
    ignored, as for any program.
    """
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _on_sigint)


def reset() -> None:
    """Forget an earlier SIGINT (tests that run several commands in one process)."""
    _interrupted.clear()
