"""The error of a CMS file that cannot be imported (kept apart so every reader can raise it)."""

from __future__ import annotations

from pathlib import Path

from ..errors import MipsClaimsError


class SpecImportError(MipsClaimsError, ValueError):
    """A CMS file ``mipsclaims specs import`` cannot use; the message names file and row."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        self.detail = message
        super().__init__(f"{self.path}: {message}")
