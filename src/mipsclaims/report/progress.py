"""Progress bars for long commands: shown on a terminal, silent under --quiet or in a pipe."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from .termsafe import SafeConsole


def wanted(quiet: bool, stream: object = None) -> bool:
    """Show progress only to a person: not when asked to be quiet, not into a pipe or file."""
    stream = stream if stream is not None else sys.stderr
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


class FileProgress:
    """Tracks files and bytes read; a no-op when progress is not wanted."""

    def __init__(self, progress: Progress | None, total_bytes: int) -> None:
        self._progress = progress
        self._task = progress.add_task("reading", total=total_bytes or None) if progress else None
        self._done = 0  # bytes of the files finished

    def reading(self, name: str) -> Callable[[int], None]:
        """A callback for a reader: ``callback(bytes_read)`` moves the bar within the file
        ``name`` as it is read (not only when it is finished)."""
        base = self._done
        label = escape(name)  # a file may be called "[red]x.837": a name, not markup

        def advance(done: int) -> None:
            if self._progress is not None and self._task is not None:
                self._progress.update(self._task, completed=base + done, description=label)

        return advance

    def file_done(self, name: str, size: int, claims: int | None = None) -> None:
        if self._progress is None or self._task is None:
            return
        label = escape(name) + (f" ({claims:,} claims)" if claims is not None else "")
        self._done += size
        self._progress.update(self._task, completed=self._done, description=label)

    def note(self, text: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=escape(text))


@contextmanager
def file_progress(total_bytes: int, *, quiet: bool) -> Iterator[FileProgress]:
    """Context yielding a :class:`FileProgress`; draws to stderr only when :func:`wanted`."""
    if not wanted(quiet):
        yield FileProgress(None, total_bytes)
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=SafeConsole(stderr=True),
        transient=True,
    )
    with progress:
        yield FileProgress(progress, total_bytes)


@contextmanager
def status(message: str, *, quiet: bool) -> Iterator[None]:
    """A spinner on stderr for a step without a measurable size (e.g. evaluating)."""
    if not wanted(quiet):
        yield
        return
    with SafeConsole(stderr=True).status(escape(message)):
        yield
