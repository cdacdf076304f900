"""Progress bars: drawn for a person at a terminal, never into a pipe or under --quiet."""

from __future__ import annotations

import io

from mipsclaims.report import progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_wanted_only_on_a_terminal_and_not_quiet() -> None:
    assert progress.wanted(False, _Tty()) is True
    assert progress.wanted(True, _Tty()) is False
    assert progress.wanted(False, io.StringIO()) is False


def test_quiet_progress_is_a_silent_no_op(capsys) -> None:
    with progress.file_progress(1000, quiet=True) as bar:
        bar.file_done("a.837", 1000, claims=5)
        bar.note("done")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
