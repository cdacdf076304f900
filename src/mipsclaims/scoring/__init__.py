"""Scoring: the engine's report rows turned into points, a quality score and a projection.

Pure functions over a rows frame with the columns of measure-logic.md section 8 (what
``engine.evaluate_lines`` / ``api.evaluate`` return as ``EngineResult.rows``, or what
``mipsclaims report --format json|csv`` wrote, read back with :func:`read_rows`).

Public API (all results are frozen pydantic models, see :mod:`.models`):

- ``score(rows, year, ScoringOptions(...)) -> ScoreReport``: one :class:`Projection` per
  entity (TIN/NPI rows, and TIN rows whose ``npi`` is null). A projection holds
  ``quality`` (:class:`QualityScore`: ``measures`` and the ``counted`` best six (an MVP: four) as
  :class:`MeasureScore` with ``points``, ``decile``, ``status`` and a ``reason`` such as
  "decile 8, 8.96 points"), ``categories`` (:class:`CategoryScore` with weights after
  reweighting), ``final_score``, ``threshold``, ``zone`` ("safe" / "neutral" / "at_risk"),
  ``adjustment`` (:class:`PaymentAdjustment`), ``levers`` (:class:`Lever`, what moves the
  score most, best first), ``coverage`` (:class:`Coverage`: months covered and benchmark
  years, with a plain-language ``statement``) and ``assumptions``, and
  ``reporting_options`` (:class:`ReportingOption`: traditional MIPS and every MVP the
  entity's claims are eligible for, ranked by projected quality score, each with the
  measures it ``uses`` and the ones it ``excluded`` and why).
- ``ScoringOptions(mvp="M1370")`` scores under that MVP's quality rules (only its measures
  count, 4 required, population health measures left out unless
  ``population_health_points`` is given); ``ScoreReport.provisional`` says when the
  year's spec is provisional.
- ``score_result(engine_result, options)``: the same in the result's year, taking the
  months covered from the engine's monthly series; ``score_results([...], options)``
  scores several results of one year together (clinicians and group).
- Building blocks: ``score_rows`` (measure points), ``quality_score``, ``decile_points``,
  ``category_weights``, ``payment_adjustment``, ``zone``.

Decisions where CMS's rules are silent or unconfirmed: docs/scoring-decisions.md.
"""

from __future__ import annotations

from .models import (
    CategoryScore,
    Coverage,
    ExcludedMeasure,
    Lever,
    MeasureScore,
    PaymentAdjustment,
    Projection,
    QualityScore,
    ReportingOption,
    ScoreReport,
    ScoringOptions,
)
from .options import UnknownMvpError, find_mvp, mvp_only
from .points import ScoringInputError, decile_points, next_decile_rate, score_rows
from .projection import (
    THRESHOLDS,
    category_weights,
    payment_adjustment,
    reporting_options,
    score,
    score_result,
    score_results,
    zone,
)
from .quality import quality_score
from .rows import read_rows

__all__ = [
    "THRESHOLDS",
    "CategoryScore",
    "Coverage",
    "ExcludedMeasure",
    "Lever",
    "MeasureScore",
    "PaymentAdjustment",
    "Projection",
    "QualityScore",
    "ReportingOption",
    "ScoreReport",
    "ScoringInputError",
    "ScoringOptions",
    "UnknownMvpError",
    "category_weights",
    "decile_points",
    "find_mvp",
    "mvp_only",
    "next_decile_rate",
    "payment_adjustment",
    "quality_score",
    "read_rows",
    "reporting_options",
    "score",
    "score_result",
    "score_results",
    "score_rows",
    "zone",
]
