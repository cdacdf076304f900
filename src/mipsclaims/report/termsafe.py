"""What reaches a terminal: text from the input never carries control characters.

A TIN or NPI holding ``ESC [2J`` (clear screen), a bell, a backspace or a C1 control
would act on the user's terminal if printed raw. :class:`SafeConsole` replaces every such
character in the text it renders with ``?``, while keeping its own styling (colours,
progress bar cursor movement), which rich emits as separate control segments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.console import Console
from rich.segment import Segment

#: C0 controls but tab and newline, DEL, C1 controls; and bidi overrides, which reorder
#: what a reader sees.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with control characters (and terminal escapes) replaced by ``?``."""
    return _CONTROL.sub("?", text)


class SafeConsole(Console):
    """A rich console that prints the text it is given without its control characters."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(printable(segment.text), segment.style)
            for segment in buffer
        )
