"""Free heap memory handed back to the operating system between the engine's phases.

The 837P reader's numpy arrays (tens of MB per kernel buffer, in several threads) come from
the C library's allocator, which keeps freed memory in per-thread arenas rather than
returning it: after phase 1 of 1M lines about 300 MB of it stayed resident, unused, and
phase 2 (whose tables polars allocates elsewhere) grew on top of it. One ``malloc_trim(0)``
when phase 1 ends returns it (measured in benchmarks/results.md). It costs a few
milliseconds, once per run, and does nothing where the C library has no ``malloc_trim``
(macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:  # the symbols the process has loaded: the C library's among them
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, TypeError, AttributeError):  # no such lookup, or no malloc_trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return the C heap's free pages to the operating system; False where it cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
