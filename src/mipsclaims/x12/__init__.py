"""Reader for X12 837P (005010X222A1) professional claims.

Two outputs that always agree: :func:`iter_claims` streams typed
:class:`~mipsclaims.claims.Claim` models one claim at a time; :func:`read_claim_lines` and
:func:`iter_claim_line_batches` build the canonical claim-line table
(:data:`mipsclaims.schema.CLAIM_LINE_SCHEMA`) column-wise with polars, in batches whose
size bounds memory. Malformed claims are quarantined into a :class:`ReadReport`; an
unreadable envelope fails its interchange (:class:`EnvelopeError` when none is readable).
"""

from __future__ import annotations

from .columnar import iter_claim_line_batches, read_claim_lines
from .envelope import Delimiters
from .report import (
    EnvelopeError,
    Issue,
    Location,
    QuarantinedClaim,
    ReadReport,
    X12Error,
)
from .stream import iter_claims

__all__ = [
    "Delimiters",
    "EnvelopeError",
    "Issue",
    "Location",
    "QuarantinedClaim",
    "ReadReport",
    "X12Error",
    "iter_claim_line_batches",
    "iter_claims",
    "read_claim_lines",
]
