"""What every command shares: the entity level option, the error console, usage failure."""

from __future__ import annotations

from enum import StrEnum

import typer
from rich.console import Console
from rich.text import Text

errors = Console(stderr=True)


class Level(StrEnum):
    tin_npi = "tin-npi"
    tin = "tin"


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error (literally: it may quote input) and exit with 2."""
    errors.print(Text.assemble(("error: ", "red"), message), highlight=False, soft_wrap=True)
    return typer.Exit(2)
