"""The public Python API: evaluate a year of claims, or check one claim at the point of care.

>>> result = evaluate("claims/2024/*.837", 2024)        # doctest: +SKIP
>>> result.rows                                          # doctest: +SKIP
>>> check_claim(claim, 2024).measures                    # doctest: +SKIP
>>> reconcile("claims/2024/*.837", ["era1.835"], 2024)   # doctest: +SKIP
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict

from .claims import Claim, claims_to_frame
from .engine import EngineResult, Level, QdcChoice, closing_codes, evaluate_lines
from .engine.codes import Marker
from .engine.single import claim_outcomes
from .schema import empty_claim_lines

Source = str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | pl.DataFrame | pl.LazyFrame

__all__ = ["ClaimCheck", "MeasureCheck", "check_claim", "evaluate", "reconcile"]


def _year(year: object) -> int:
    """``year`` as an int, or a TypeError saying what a year is (not a missing spec file)."""
    if isinstance(year, bool) or not isinstance(year, numbers.Integral):
        raise TypeError(f"year must be a whole number such as 2025, not {type(year).__name__}")
    return int(year)


def _lines_of(
    source: Source | Iterable[Claim],
) -> pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame]:
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        return source
    if isinstance(source, str | os.PathLike):
        paths = [Path(source)]
    elif isinstance(source, bytes) or not isinstance(source, Iterable):
        raise TypeError(
            "source must be a path, a list of paths, a claim-line DataFrame or Claim models, "
            f"not {type(source).__name__}"
        )
    else:
        items = list(source)
        claims = [i for i in items if isinstance(i, Claim)]
        if items and len(claims) == len(items):
            # Position in the iterable is the input order replacement and voids act in.
            return claims_to_frame(
                c.model_copy(update={"claim_seq": n}) for n, c in enumerate(claims)
            )
        paths = [Path(i) for i in items if isinstance(i, str | os.PathLike)]
        if len(paths) != len(items):
            raise TypeError(
                "source must be a path, a list of paths, a claim-line DataFrame or Claim models"
            )
    from . import inputs  # lazily: the readers are only needed for files

    # Batches, not one table: the engine reduces each as it is read (flat memory).
    return inputs.iter_claim_lines(paths)


def evaluate(
    source: Source | Iterable[Claim],
    year: int,
    level: Level = "tin-npi",
    *,
    spill: bool = True,
) -> EngineResult:
    """Evaluate every Medicare Part B claims measure of ``year`` on ``source``.

    ``source`` is an 837P / claim-line file path, a list of them (input order = list order),
    a canonical claim-line DataFrame, or an iterable of :class:`~mipsclaims.claims.Claim`.
    ``level`` is ``"tin-npi"`` (individual clinicians) or ``"tin"`` (the group).
    Past about a million service lines the engine writes per-claim facts (member ids among
    them) to a private temporary directory so that memory stays flat; ``spill=False``
    keeps them in memory instead (see docs/security.md).
    """
    year = _year(year)
    return evaluate_lines(_lines_of(source), year, level=level, spill=spill)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)


class MeasureCheck(_Model):
    """One measure (stratum) a claim is eligible for, and what it still needs."""

    measure_id: str
    stratum: str | None
    npi: str | None
    outcome: Marker
    qdcs_found: list[str]
    missing: bool
    choices: list[QdcChoice]


class ClaimCheck(_Model):
    """The answer of :func:`check_claim`: no PHI, the claim referred to by position and hash."""

    claim_ref: str
    performance_year: int
    out_of_scope: str | None
    measures: list[MeasureCheck]


def check_claim(claim: Claim, year: int) -> ClaimCheck:
    """Which measures ``claim`` is eligible for, the QDCs it carries, and what is missing.

    For EMR use before the claim is sent: a claim with no filing indicator yet is treated as
    Part B. For each eligible measure without a QDC (``missing``) ``choices`` lists the valid
    QDC combinations (code, modifier, meaning), most advantageous first.
    """
    if not isinstance(claim, Claim):
        raise TypeError(
            f"claim must be a mipsclaims.claims.Claim, not {type(claim).__name__} "
            "(build one with Claim(...) or read one with mipsclaims.x12.iter_claims)"
        )
    year = _year(year)
    reason, outcomes = claim_outcomes(claim, year)
    measures = []
    for o in outcomes:
        stratum = o.stratum or None
        missing = o.marker == "none"
        measures.append(
            MeasureCheck(
                measure_id=o.measure_id,
                stratum=stratum,
                npi=o.npi,
                outcome=o.marker,
                qdcs_found=list(o.qdcs_found),
                missing=missing,
                choices=closing_codes(year, o.measure_id, stratum) if missing else [],
            )
        )
    return ClaimCheck(
        claim_ref=claim.reference,
        performance_year=year,
        out_of_scope=reason,
        measures=measures,
    )


Remittances = (
    str | os.PathLike[str] | bytes | Iterable[str | os.PathLike[str] | bytes] | pl.DataFrame
)


def reconcile(
    claims: Source | Iterable[Claim], remittances: Remittances, year: int
) -> pl.DataFrame:
    """The status of every QDC line sent on an eligible claim, from the 835s received.

    ``claims`` as for :func:`evaluate` (an optional ``line_control`` column of a claim-line
    DataFrame holds the 837 REF*6R of each line); ``remittances`` are 835 files or bytes
    (in the order received) or a remittance-line table
    (:data:`mipsclaims.remit.REMIT_LINE_SCHEMA`). Returns one row per QDC line
    (:data:`mipsclaims.remit.RECONCILED_LINE_SCHEMA`): ``status`` is ``confirmed``,
    ``denied``, ``claim_rejected``, ``not_in_835`` or ``no_remittance_yet``, with the
    835's codes and what to do. Call it again after every ERA posting: it is a pure
    function of everything sent and received so far.
    """
    from .remit import read_remit_lines, reconcile_lines

    source = _lines_of(claims)
    if isinstance(source, pl.LazyFrame):
        lines = source.collect()
    elif isinstance(source, pl.DataFrame):
        lines = source
    else:
        frames = list(source)
        lines = pl.concat(frames) if frames else empty_claim_lines()
    if isinstance(remittances, pl.DataFrame):
        remit = remittances
    elif isinstance(remittances, str | os.PathLike | bytes):
        remit = read_remit_lines(remittances)
    else:
        remit = read_remit_lines(tuple(remittances))
    return reconcile_lines(lines, remit, year)
