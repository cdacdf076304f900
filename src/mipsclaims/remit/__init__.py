"""835 remittance advice: read it, and reconcile the QDCs sent with what Medicare recorded.

:mod:`.reader` turns 835 (005010X221A1) files into the remittance-line table
(:data:`REMIT_LINE_SCHEMA`); :mod:`.reconcile` gives every QDC line of an eligible claim one
status (:data:`STATUSES`); :mod:`.synth` writes an 835 answering a synthetic 837.
"""

from __future__ import annotations

from .reader import REMIT_LINE_SCHEMA, iter_remit_line_batches, read_remit_lines
from .reconcile import (
    RECONCILED_LINE_SCHEMA,
    STATUSES,
    reconcile_lines,
    unmatched_remittances,
)

__all__ = [
    "RECONCILED_LINE_SCHEMA",
    "REMIT_LINE_SCHEMA",
    "STATUSES",
    "iter_remit_line_batches",
    "read_remit_lines",
    "reconcile_lines",
    "unmatched_remittances",
]
