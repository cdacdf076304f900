"""The measure engine: measure-logic.md, vectorised over the canonical claim-line table.

This package's public names; the pipeline itself (two phases, so that memory does not grow
with the input) is :mod:`.pipeline`, the result and its level :mod:`.result`.
"""

from __future__ import annotations

from .choices import QdcChoice, closing_codes
from .codes import tables
from .pipeline import evaluate_levels, evaluate_lines
from .result import EngineResult, Level, as_level

__all__ = [
    "EngineResult",
    "Level",
    "QdcChoice",
    "as_level",
    "closing_codes",
    "evaluate_levels",
    "evaluate_lines",
    "tables",
]
