"""The public Python API, and the one entry every ``mipsclaims`` command calls.

>>> result = evaluate("claims/2024/*.837", 2024)        # doctest: +SKIP
>>> result.rows                                          # doctest: +SKIP
>>> check_claim(claim, 2024).measures                    # doctest: +SKIP
>>> reconcile("claims/2024/*.837", ["era1.835"], 2024)   # doctest: +SKIP

Every function reads its input through :mod:`mipsclaims.inputs` (files, a store made by
``mipsclaims ingest``, canonical tables: one ``claim_seq`` rule). Those that read files
take ``report``, a :class:`~mipsclaims.x12.ReadReport` they fill with what was read and
what could not be (PHI-free), and ``progress``, told the bytes read of each file
(:class:`~mipsclaims.inputs.ReadProgress`). Errors are :class:`MipsClaimsError` with a
message safe to show (an input that cannot be read: :class:`InputError`).
"""

from __future__ import annotations

import datetime as dt
import numbers
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import polars as pl
from pydantic import BaseModel, ConfigDict

from . import inputs
from .claims import Claim, claims_to_frame
from .engine import EngineResult, Level, QdcChoice, closing_codes, evaluate_levels
from .engine.codes import Marker
from .engine.single import claim_outcomes
from .errors import InputError, MipsClaimsError
from .inputs import ReadProgress
from .lines_out import LinesFormat
from .schema import empty_claim_lines, mask_phi
from .x12.report import ReadReport

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from .remit.store import RemitIngest
    from .report.remit import RemitReport
    from .scoring import ScoreReport, ScoringOptions
    from .store import IngestResult

PathLike = str | os.PathLike[str]
Source = PathLike | Iterable[PathLike] | pl.DataFrame | pl.LazyFrame

__all__ = [
    "CheckResult",
    "ClaimCheck",
    "InputError",
    "MeasureCheck",
    "MipsClaimsError",
    "SparkRun",
    "check",
    "check_claim",
    "claim_lines",
    "evaluate",
    "evaluate_on_spark",
    "gaps",
    "ingest",
    "latest_year",
    "read_claim_lines",
    "reconcile",
    "remit_report",
    "remittances",
    "report_scores",
    "score",
    "write_claim_lines",
]


def _year(year: object) -> int:
    """``year`` as an int, or a TypeError saying what a year is (not a missing spec file)."""
    if isinstance(year, bool) or not isinstance(year, numbers.Integral):
        raise TypeError(f"year must be a whole number such as 2025, not {type(year).__name__}")
    return int(year)


def _sources(source: Source | Iterable[Claim] | None, store: PathLike | None) -> inputs.Sources:
    """``source`` as what :func:`mipsclaims.inputs.iter_claim_lines` reads (Claim models
    become one table, numbered in the order given); ``None`` only beside a store."""
    if source is None and store is not None:
        return ()
    if isinstance(source, str | os.PathLike | pl.DataFrame | pl.LazyFrame):
        return source
    if isinstance(source, bytes) or not isinstance(source, Iterable):
        raise TypeError(
            "source must be a path, a list of paths, a claim-line DataFrame or Claim models, "
            f"not {type(source).__name__}"
        )
    items = list(source)
    claims = [i for i in items if isinstance(i, Claim)]
    if items and len(claims) == len(items):
        # Position in the iterable is the input order replacement and voids act in.
        return claims_to_frame(c.model_copy(update={"claim_seq": n}) for n, c in enumerate(claims))
    out: list[PathLike | pl.DataFrame] = []
    for item in items:
        table = item.collect() if isinstance(item, pl.LazyFrame) else item
        if not isinstance(table, str | os.PathLike | pl.DataFrame):
            raise TypeError(
                "source must be a path, a list of paths, a claim-line DataFrame or Claim models"
            )
        out.append(table)
    return out


def _batches(
    source: Source | Iterable[Claim] | None,
    store: PathLike | None,
    report: ReadReport | None,
    progress: ReadProgress | None,
) -> pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame]:
    """What the engine reads: a table given alone as it is, anything else as the batches
    of :func:`mipsclaims.inputs.iter_claim_lines` (the engine reduces each as it is read,
    so memory stays flat)."""
    sources = _sources(source, store)
    if store is None and report is None and isinstance(sources, pl.DataFrame | pl.LazyFrame):
        return sources
    return inputs.iter_claim_lines(sources, report, store=store, progress=progress)


def read_claim_lines(
    source: Source | Iterable[Claim] | None = None,
    *,
    store: PathLike | None = None,
    report: ReadReport | None = None,
    progress: ReadProgress | None = None,
) -> pl.DataFrame:
    """The whole canonical claim-line table of ``source`` (and ``store``, first), in
    memory: for what needs every line at once (``check`` without a year, ``--remit``)."""
    batches = _batches(source, store, report, progress)
    if isinstance(batches, pl.LazyFrame):
        return batches.collect()
    if isinstance(batches, pl.DataFrame):
        return batches
    frames = list(batches)
    return pl.concat(frames, how="vertical") if frames else empty_claim_lines()


def claim_lines(
    source: Source | Iterable[Claim] | None = None,
    *,
    show_phi: bool = False,
    store: PathLike | None = None,
    report: ReadReport | None = None,
    progress: ReadProgress | None = None,
) -> Iterator[pl.DataFrame]:
    """The canonical claim-line batches of ``source`` (and ``store``, first), PHI masked
    (:func:`mipsclaims.schema.mask_phi`) unless ``show_phi``."""
    batches = inputs.iter_claim_lines(
        _sources(source, store), report, store=store, progress=progress
    )
    return batches if show_phi else map(mask_phi, batches)


def write_claim_lines(
    source: Source | Iterable[Claim] | None,
    target: PathLike | BinaryIO,
    fmt: LinesFormat = "csv",
    *,
    show_phi: bool = False,
    report: ReadReport | None = None,
    keep: Callable[[], bool] = lambda: True,
) -> bool:
    """``mipsclaims lines``: the claim lines of ``source`` written to ``target`` (a path,
    atomically, or a binary stream) batch by batch, PHI masked unless ``show_phi``; see
    :func:`mipsclaims.lines_out.write_claim_lines` for ``keep`` and the result."""
    from .lines_out import write_claim_lines as write

    batches = claim_lines(source, show_phi=show_phi, report=report)
    return write(batches, target, fmt, keep=keep)


def evaluate(
    source: Source | Iterable[Claim] | None,
    year: int,
    level: Level = "tin-npi",
    *,
    store: PathLike | None = None,
    spill: bool = True,
    report: ReadReport | None = None,
    progress: ReadProgress | None = None,
) -> EngineResult:
    """Evaluate every Medicare Part B claims measure of ``year`` on ``source``.

    ``source`` is an 837P / claim-line file path, a list of them (input order = list order),
    a canonical claim-line DataFrame, or an iterable of :class:`~mipsclaims.claims.Claim`;
    ``store`` a store made by ``mipsclaims ingest``, read first (``source`` may then be
    ``None``). ``level`` is ``"tin-npi"`` (individual clinicians) or ``"tin"`` (the group).
    Files and stores are read in batches as the engine goes. Past about a million service
    lines the engine writes per-claim facts (member ids among them) to a private temporary
    directory so that memory stays flat; ``spill=False`` keeps them in memory instead (see
    docs/security.md).
    """
    return evaluate_levels(
        _batches(source, store, report, progress), _year(year), (level,), spill=spill
    )[0]


@dataclass(frozen=True)
class SparkRun:
    """What :func:`evaluate_on_spark` found: the rows and scope, and the PHI-free messages
    of what could not be read (claims quarantined, interchanges that failed)."""

    result: EngineResult
    problems: list[str]


def evaluate_on_spark(
    spark: SparkSession | Callable[[], SparkSession],
    files: Sequence[PathLike],
    year: int,
    level: Level = "tin-npi",
) -> SparkRun:
    """:func:`evaluate` on a Spark cluster: 837P ``files`` (local paths or URLs the
    cluster reads) parsed and counted on the executors (docs/spark.md). ``spark`` is a
    session, or what makes one: called only once the local files and the year are
    checked, so bad input starts no JVM. An :class:`InputError` for a local file that is
    missing or not an 837P, and for a file no executor could read."""
    from . import specs
    from .spark import evaluate as spark_evaluate
    from .spark import read_837

    names = [os.fspath(p) for p in files]
    local = [p for p in names if "://" not in p]
    missing = [p for p in local if not Path(p).is_file()]
    if missing:
        raise InputError(f"no such file: {', '.join(missing)}")
    flat = [p for p in local if inputs.sniff(p) != "x12"]
    if flat:
        raise InputError(f"--engine spark reads 837P files only, not: {', '.join(flat)}")
    specs.load(_year(year))
    session = spark() if callable(spark) else spark
    read = read_837(session, names)
    issues = (
        read.issues.filter("kind in ('quarantined', 'error', 'unreadable')")
        .orderBy("file_index", "position")
        .select("kind", "message")
        .collect()
    )
    unreadable = [r.message for r in issues if r.kind == "unreadable"]
    if unreadable:
        raise InputError(unreadable[0])
    result = spark_evaluate(read.lines, year, level=level).to_engine_result()
    read.unpersist()
    return SparkRun(result, [r.message for r in issues])


def latest_year(lines: pl.DataFrame) -> int:
    """The year of the latest service date in ``lines`` (this year when there is none):
    ``check``'s performance year when none is given."""
    last = lines["service_date"].max() if lines.height else None
    return last.year if isinstance(last, dt.date) else dt.date.today().year


@dataclass(frozen=True)
class CheckResult:
    """What :func:`check` found: the engine's answer with every claim its own patient."""

    year: int  # the year checked (given, or the latest claim's)
    result: EngineResult  # instances: one per claim and measure (stratum)
    claims: int  # claims read
    eligible: int  # eligible claim-measure (stratum) pairs, of the measures asked for
    missing: pl.DataFrame  # those without a QDC (report.check.CHECK_COLUMNS), claim order


def check(
    source: Source | None,
    year: int | None = None,
    *,
    measures: Sequence[str] | None = None,
    store: PathLike | None = None,
    report: ReadReport | None = None,
    progress: ReadProgress | None = None,
) -> CheckResult:
    """Claim by claim, before sending: does every eligible claim carry a QDC for each
    measure (all, or ``measures``)? Every claim is its own instance, so a claim is not
    covered by another claim of the patient.

    With ``year`` the input is read in one streaming pass; without it every line is read
    first, to take the year of the latest claim (:func:`latest_year`).
    """
    from .report.check import missing_qdcs, per_claim_lines

    report = report if report is not None else ReadReport()
    if year is None:
        lines = read_claim_lines(source, store=store, report=report, progress=progress)
        year = latest_year(lines)
        batches: Iterable[pl.DataFrame] = [lines]
    else:  # one streaming pass
        year = _year(year)
        sources = _sources(source, store)
        batches = inputs.iter_claim_lines(sources, report, store=store, progress=progress)
    result = evaluate_levels(map(per_claim_lines, batches), year, ("tin-npi",))[0]
    eligible = result.instances
    if measures:
        eligible = eligible.filter(pl.col("measure_id").is_in(list(measures)))
    missing = missing_qdcs(result, measures)
    return CheckResult(year, result, report.claims_read, eligible.height, missing)


def gaps(
    source: Source | None,
    year: int,
    level: Level = "tin-npi",
    *,
    measures: Sequence[str] | None = None,
    show_phi: bool = False,
    store: PathLike | None = None,
    report: ReadReport | None = None,
    progress: ReadProgress | None = None,
) -> pl.DataFrame:
    """The gap worklist (:data:`mipsclaims.report.gaps.GAP_COLUMNS`): eligible visits
    missing a QDC or with conflicting QDCs; patients masked unless ``show_phi``."""
    from .report.gaps import gap_frame

    result = evaluate(source, year, level, store=store, report=report, progress=progress)
    return gap_frame(result, show_phi=show_phi, measures=measures)


def report_scores(
    result: EngineResult, options: ScoringOptions | None = None
) -> ScoreReport | None:
    """The score projection shown beside a report, or ``None`` when there is nothing to
    score (no scoring rules for the result's year, no measure rows)."""
    from .report.html import shown_scores

    return shown_scores(result, options)


def score(
    source: Source | None,
    year: int,
    options: ScoringOptions | None = None,
    levels: Sequence[Level] = ("tin-npi",),
    *,
    store: PathLike | None = None,
    report: ReadReport | None = None,
    progress: ReadProgress | None = None,
) -> ScoreReport:
    """Evaluate ``source`` at each of ``levels`` (read once) and project the final score
    of every entity; the months covered, unless ``options`` say, are the claims'."""
    from . import scoring

    batches = _batches(source, store, report, progress)
    return scoring.score_results(evaluate_levels(batches, _year(year), levels), options)


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


def ingest(
    store: PathLike,
    files: Sequence[PathLike],
    *,
    strict: bool = False,
    on_remit: Callable[[Path, RemitIngest], None] | None = None,
    on_file: Callable[[Path, IngestResult], None] | None = None,
) -> None:
    """``mipsclaims ingest``: add claim files (837P, CSV, Parquet) and 835 remittances
    (told apart by content) to a store, 835s first; every claim file is checked
    (:func:`mipsclaims.inputs.sniff`) before anything is ingested. ``on_remit`` and
    ``on_file`` hear each file as it is done. Raises :class:`InputError` for a missing or
    unreadable file, :class:`~mipsclaims.store.StoreError` (and ``OSError``: a full disk)
    when the store cannot be written, and with ``strict``
    :class:`~mipsclaims.store.LossError` for a claim file some claim of which could not
    be read (that file is not ingested; the files before it are).
    """
    from .remit.store import ingest_remittance, is_835
    from .store import ingest_files

    paths = [Path(p) for p in files]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"no such file: {', '.join(missing)}")
    remits = [p for p in paths if is_835(p)]
    claims = [p for p in paths if p not in remits]
    for path in claims:
        inputs.sniff(path)  # a file that is not a claims file fails before any is ingested
    for path in remits:
        result = ingest_remittance(Path(store), path)
        if on_remit is not None:
            on_remit(path, result)
    if claims:
        ingest_files(Path(store), claims, on_file=on_file, strict=strict)


Remittances = (
    str | os.PathLike[str] | bytes | Iterable[str | os.PathLike[str] | bytes] | pl.DataFrame
)


def _remit_files(paths: Iterable[PathLike]) -> list[Path]:
    """Each path an 835 file, or a folder: every file in it by name (hidden ones not)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")))
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"no such 835 file or folder: {p}")
    return out


def remittances(
    paths: Iterable[PathLike] = (),
    *,
    store: PathLike | None = None,
    report: ReadReport | None = None,
) -> pl.DataFrame:
    """Every 835 line of the ``store``'s ingested 835s (if any), then of ``paths`` (835
    files or folders of them), ``remit_seq`` numbered in that order. Claims of an 835 that
    cannot be read go to ``report``; an :class:`InputError` when 835 files were given and
    not one could be read."""
    from .remit.reader import REMIT_LINE_SCHEMA, read_remit_lines
    from .remit.store import read_stored_remittances
    from .store import StoreError
    from .x12.report import X12Error

    files = _remit_files(paths)
    report = report if report is not None else ReadReport()
    try:
        stored = read_stored_remittances(Path(store)) if store is not None else None
    except StoreError as exc:
        raise InputError(str(exc)) from None
    try:
        table = read_remit_lines(files, report) if files else None
    except (OSError, X12Error) as exc:
        raise InputError(str(exc)) from None
    if files and report.claims_seen == 0 and report.errors:
        raise InputError("no 835 remittance could be read")
    frames = [f for f in (stored, table) if f is not None]
    if len(frames) == 2 and stored is not None and stored.height and table is not None:
        # polars types max() as any scalar; remit_seq is Int64, so an int
        offset = cast(int, stored["remit_seq"].max()) + 1
        frames[1] = table.with_columns(pl.col("remit_seq") + offset)
    return pl.concat(frames) if frames else pl.DataFrame(schema=REMIT_LINE_SCHEMA)


def remit_report(
    source: Source | None,
    remit: pl.DataFrame,
    year: int,
    level: Level = "tin-npi",
    *,
    store: PathLike | None = None,
    report: ReadReport | None = None,
    progress: ReadProgress | None = None,
) -> RemitReport:
    """The as-sent rows beside the counts on the QDCs the 835s ``remit``
    (:func:`remittances`) confirmed, and the reconciled QDC lines (``report --remit``,
    ``gaps --remit``). Holds every claim line in memory."""
    from .report.remit import remit_report as build

    lines = read_claim_lines(source, store=store, report=report, progress=progress)
    return build(lines, remit, _year(year), level)


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

    lines = read_claim_lines(claims)
    if isinstance(remittances, pl.DataFrame):
        remit = remittances
    elif isinstance(remittances, str | os.PathLike | bytes):
        remit = read_remit_lines(remittances)
    else:
        remit = read_remit_lines(tuple(remittances))
    return reconcile_lines(lines, remit, year)
