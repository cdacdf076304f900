"""The one way mipsclaims writes an output file: beside it, then renamed over it.

A reader of the target sees the old file or the new one, never a truncated one: a full
disk, a failed read, Ctrl-C (:mod:`mipsclaims.interrupt`) or SIGTERM while writing leave
the old file as it was and
remove the temporary (``.<name>.tmp-<pid>`` in the same directory, so the rename is
atomic). The new file keeps the permissions of the one it replaces. A symlink
(``/dev/stdout``, ``/dev/fd/63`` of a process substitution, a link to a file), a device
or a pipe is written directly, like any program would: it cannot be replaced.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import interrupt

__all__ = ["atomic_path", "temporary_name", "write_bytes", "write_text", "written_directly"]


def written_directly(path: Path) -> bool:
    """A symlink, device or pipe: opened and written as is, never replaced."""
    path = Path(path)
    return path.is_symlink() or (path.exists() and not path.is_file())


def temporary_name(target: Path) -> Path:
    """Where ``target`` is written before it is renamed into place."""
    return target.with_name(f".{target.name}.tmp-{os.getpid()}")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(
    target: str | os.PathLike[str],
    *,
    durable: bool = False,
    before_replace: Callable[[], None] | None = None,
) -> Iterator[Path]:
    """The path to write ``target`` through; it replaces ``target`` when the block ends
    without an exception, and is removed otherwise.

    ``durable``: fsync the file before and its directory after the rename (a crash then
    leaves the old or the new file, never an empty one). ``before_replace`` runs just
    before the rename (a test hook).
    """
    target = Path(target)
    if written_directly(target):
        yield target
        return
    tmp = temporary_name(target)
    try:
        yield tmp
        if durable:
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
        if target.exists():
            shutil.copymode(target, tmp)
        if before_replace is not None:
            before_replace()
        interrupt.check()  # Ctrl-C, even one some library swallowed: keep the old file
        os.replace(tmp, target)
        if durable:
            _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """``data`` to ``target``, atomically."""
    with atomic_path(target) as path:
        path.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """``text`` (UTF-8) to ``target``, atomically."""
    write_bytes(target, text.encode("utf-8"))
