"""The measure engine: measure-logic.md, vectorised over the canonical claim-line table.

Pipeline: scope -> eligibility -> markers -> instances -> counts (+ findings, monthly).
Every stage is a polars join or aggregation against per-year code tables (``codes.tables``).

Two phases, so that memory follows the number of eligible claims, not the input size:

1. per batch of whole claims (:func:`_reduce`): split by rendering NPI, year, Part B,
   eligibility, QDC markers and findings, all of which depend on one claim only; what is
   kept is compact (integer keys, no PHI but ``patient_id``);
2. once (:func:`_evaluate`): replacement and void over every claim seen (a later batch or
   file can supersede an earlier claim), then instances and counts; the monthly series,
   the instance table and the findings are built when first read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import polars as pl

from .. import schema, specs
from .choices import QdcChoice, closing_codes
from .codes import CodeTables, tables
from .counts import count_rows
from .eligibility import eligible_options
from .findings import find, finding_table
from .instances import (
    build_instances,
    instance_key_text,
    instance_keys,
    instance_marks,
    monthly_marks,
)
from .markers import claim_markers
from .result import INSTANCE_SCHEMA, MONTHLY_SCHEMA, EngineResult
from .scope import resolve_scope, split_batch

Level = Literal["tin-npi", "tin"]

__all__ = ["EngineResult", "Level", "QdcChoice", "closing_codes", "evaluate_lines", "tables"]


def _year_tables(year: int) -> CodeTables:
    spec = specs.load(year)
    if not spec.has_claims_logic:
        raise specs.UnsupportedYearError(
            f"performance year {year} has no published claims logic yet; "
            f"supported: {', '.join(map(str, specs.supported_years(claims_logic_only=True)))}"
        )
    return tables(year)


def _instances_out(
    inst: pl.DataFrame, people: pl.DataFrame, t: CodeTables, year: int
) -> pl.DataFrame:
    return (
        inst.join(people.select("pid", "tin", "npi", "patient_id"), on="pid", maintain_order="left")
        .join(t.mkeys.select("mkey", "measure_id", "stratum"), on="mkey", maintain_order="left")
        .with_columns(
            pl.lit(year, dtype=pl.Int32).alias("performance_year"),
            pl.col("stratum").replace("", None),
            instance_key_text().alias("instance_key"),
        )
        .select([pl.col(n).cast(d) for n, d in INSTANCE_SCHEMA.items()])
    )


def _people(claims: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``pid`` per entity and patient, ``eid`` per entity, numbered in order of first
    appearance (stable for the same input; no sort of the patient ids): the people
    (pid, tin, npi, patient_id, eid), and the (uid, pid, eid) of each claim.

    One grouping of the claims gives both, with no join back on the patient strings.
    """
    grouped = (
        claims.group_by("tin", "npi", "patient_id", maintain_order=True)
        .agg("uid")
        .with_row_index("pid")
        .with_columns(pl.col("pid").cast(pl.Int64))
    )
    entities = (
        grouped.group_by("tin", "npi", maintain_order=True)
        .agg("pid")
        .with_row_index("eid")
        .select(pl.col("eid").cast(pl.Int64), "pid")
        .explode("pid")
        .sort("pid")
    )
    people = grouped.select("pid", "tin", "npi", "patient_id").with_columns(entities["eid"])
    per_claim = grouped.select("uid", "pid").explode("uid")
    # pid is dense and people are in pid order: a claim's eid is a gather.
    return people, per_claim.with_columns(people["eid"].gather(per_claim["pid"]))


def _with_claim_columns(
    frame: pl.DataFrame, claims: pl.DataFrame, n: int, columns: list[str]
) -> pl.DataFrame:
    """``frame`` inner-joined with ``columns`` of ``claims`` on ``uid``, in ``frame``'s
    order. Candidate uids are dense (0 .. n-1): the claim columns are scattered into arrays
    indexed by uid and gathered, instead of hashing every row."""
    if frame.height and (frame["uid"].max() or 0) >= n:  # not dense: join instead
        return frame.join(claims.select("uid", *columns), on="uid", maintain_order="left")
    index = claims["uid"]
    kept = pl.repeat(False, n, eager=True).scatter(index, True)
    frame = frame.filter(kept.gather(frame["uid"]))
    uids = frame["uid"]
    return frame.with_columns(
        pl.repeat(None, n, dtype=claims[c].dtype, eager=True)
        .scatter(index, claims[c])
        .gather(uids)
        .alias(c)
        for c in columns
    )


def _named(marks: pl.DataFrame, people: pl.DataFrame, t: CodeTables) -> pl.DataFrame:
    """Entity and measure names of (eid, mkey) marks, for counting."""
    entities = people.group_by("eid").agg(pl.col("tin").first(), pl.col("npi").first())
    return marks.join(entities, on="eid").join(
        t.mkeys.select("mkey", "measure_id", "stratum"), on="mkey"
    )


@dataclass(frozen=True)
class _Reduced:
    """Phase 1 of one batch: compact per-claim facts, no PHI beyond ``patient_id``.

    ``uid`` is batch-local here and made global (input order) by :func:`_combine`.
    """

    keys: pl.DataFrame  # per input claim: replacement/void keys (scope.BatchScope.keys)
    splits: pl.DataFrame  # per split claim: late scope reason, lines
    claims: pl.DataFrame  # per candidate split claim: uid, entity, patient, date, claim ids
    markers: pl.DataFrame  # per eligible (uid, mkey): rank
    details: pl.DataFrame  # per (uid, mkey) with QDCs: QDC codes, conflicts
    visit_lines: pl.DataFrame  # qualifying lines of visit measures (uid, mkey)
    claim_dx: pl.DataFrame  # (uid, dx) of measure diagnoses only (episode linking)
    findings: pl.DataFrame


#: Finding columns with few distinct values: categorical while kept (phase 1 to 2).
_REPEATED = ["kind", "measure_id", "code", "detail"]
_CLAIM_COLUMNS = ["uid", "claim_seq", "patient_id", "claim_date", "claim_id", "n_lines"]
#: Claim columns with few distinct values: categorical while kept (outputs cast them back).
_CLAIM_REPEATED = ["tin", "npi", "source"]


def _reduce(lines: pl.DataFrame, year: int, t: CodeTables) -> _Reduced:
    """Everything that depends on one claim only, on a batch of whole claims."""
    batch = split_batch(lines, year)
    claim_dx = batch.claim_dx
    eligible = eligible_options(batch.claims, batch.lines, claim_dx, t)
    markers = claim_markers(batch.lines, claim_dx, eligible.masks, eligible.groups, t)
    findings = find(batch.claims, batch.lines, eligible.masks, markers.details, t)
    return _Reduced(
        keys=batch.keys.with_columns(pl.col("tin").cast(pl.Categorical)),
        splits=batch.splits,
        claims=batch.claims.select(
            *_CLAIM_COLUMNS, *[pl.col(c).cast(pl.Categorical) for c in _CLAIM_REPEATED]
        ),
        markers=markers.ranks,
        details=markers.details.drop("conflicting_meanings"),
        visit_lines=eligible.visit_lines,
        claim_dx=claim_dx.join(t.mkey_dx.select("dx").unique(), on="dx", how="semi"),
        findings=findings.with_columns(pl.col(c).cast(pl.Categorical) for c in _REPEATED),
    )


def _combine(parts: list[_Reduced]) -> _Reduced:
    """One :class:`_Reduced` of all batches, ``uid`` global and in input order."""
    offsets, total = [], 0
    for part in parts:
        offsets.append(total)
        total += part.claims.height

    def cat(name: str, shift: bool = True) -> pl.DataFrame:
        frames = [
            getattr(p, name).with_columns(pl.col("uid") + off) if shift else getattr(p, name)
            for p, off in zip(parts, offsets, strict=True)
        ]
        return pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]

    claims = cat("claims")
    combined = _Reduced(
        keys=cat("keys", False),
        splits=cat("splits", False),
        claims=claims,
        markers=cat("markers"),
        details=cat("details"),
        visit_lines=cat("visit_lines"),
        claim_dx=cat("claim_dx"),
        findings=cat("findings"),
    )
    # Batches in input order keep uid in (claim_seq, NPI) order: each claim is in one batch.
    in_order = claims.select(pl.col("claim_seq").diff().fill_null(0).ge(0).all()).item()
    return combined if in_order else _renumber(combined)


def _renumber(r: _Reduced) -> _Reduced:
    """Re-number ``uid`` by (``claim_seq``, NPI) when batches came out of input order."""
    new = (
        r.claims.select("uid", "claim_seq", "npi")
        .sort("claim_seq", "npi")
        .with_row_index("new")
        .select("uid", pl.col("new").cast(pl.Int64))
    )

    def remap(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.join(new, on="uid").drop("uid").rename({"new": "uid"})

    return _Reduced(
        keys=r.keys,
        splits=r.splits,
        claims=remap(r.claims).sort("uid"),
        markers=remap(r.markers),
        details=remap(r.details),
        visit_lines=remap(r.visit_lines),
        claim_dx=remap(r.claim_dx),
        findings=remap(r.findings),
    )


#: Rows per phase-1 batch when the input is one table (bounds phase 1's intermediates).
TABLE_BATCH_ROWS = 250_000
#: Eligible claim-measure rows per slice of patients when phase 2 counts (bounds grouping).
PHASE2_ROWS = 1_000_000


def _table_batches(frame: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """A whole table in slices of about :data:`TABLE_BATCH_ROWS` rows, claims kept together
    (a stable sort by ``claim_seq`` first when the lines of a claim are not contiguous)."""
    frame = schema.conform(frame)
    seq = pl.col("claim_seq")
    if frame.height <= TABLE_BATCH_ROWS or frame.select(seq.is_null().any()).item():
        yield frame  # small, or a missing claim_seq that scope reports by row
        return
    if not frame.select(seq.diff().fill_null(0).ge(0).all()).item():
        frame = frame.sort("claim_seq", maintain_order=True)
    yield from _whole_claims(
        frame.slice(i, TABLE_BATCH_ROWS) for i in range(0, frame.height, TABLE_BATCH_ROWS)
    )


def _whole_claims(batches: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Batches re-cut so that no claim straddles two: the lines of the last claim of a batch
    are carried to the next (a claim's lines must be contiguous in the input)."""
    carry: pl.DataFrame | None = None
    for batch in batches:
        batch = schema.conform(batch)
        if carry is not None:
            batch = pl.concat([carry, batch], how="vertical")
            carry = None
        if batch.select(pl.col("claim_seq").is_null().any()).item():
            yield batch  # scope reports the missing claim_seq
            continue
        if batch.height == 0:
            carry = None
            continue
        tail = pl.col("claim_seq") == batch["claim_seq"][-1]
        carry = batch.filter(tail)
        head = batch.filter(~tail)
        if head.height:
            yield head
    if carry is not None and carry.height:
        yield carry


def _batches_of(
    lines: pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame],
) -> Iterator[pl.DataFrame]:
    """Batches of whole claims in input order, from one table or from an iterable of them."""
    if isinstance(lines, pl.LazyFrame):
        lines = lines.collect()
    if isinstance(lines, pl.DataFrame):
        return _table_batches(lines)
    return _whole_claims(lines)


def evaluate_lines(
    lines: pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame],
    year: int,
    *,
    level: Level = "tin-npi",
) -> EngineResult:
    """Evaluate every claims measure of ``year`` on a canonical claim-line table.

    ``lines`` may also be an iterable of canonical tables in input order (e.g. the reader's
    batches): each batch is reduced to compact per-claim facts as it comes (phase 1), so
    peak memory follows the number of eligible claims, not the size of the input; then
    replacement/void, instances and counts run on those facts (phase 2).
    """
    if level not in ("tin-npi", "tin"):
        raise ValueError(f"level must be 'tin-npi' or 'tin', not {level!r}")
    t = _year_tables(year)
    parts = _reduce_all(_batches_of(lines), year, t)
    if not parts:
        parts = [_reduce(schema.empty_claim_lines(), year, t)]
    return _evaluate(parts, year, level, t)


def _reduce_all(batches: Iterator[pl.DataFrame], year: int, t: CodeTables) -> list[_Reduced]:
    """Phase 1 of every batch, each reduced in a worker thread while the next is read.

    Reading (837P tokenising, much of it Python) and reducing (polars, without the GIL)
    overlap; at most one batch waits, so memory stays bounded and order is kept.
    """
    parts: list[_Reduced] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mipsclaims-reduce") as pool:
        pending: Future[_Reduced] | None = None
        for batch in batches:
            if pending is not None:
                parts.append(pending.result())
            pending = pool.submit(_reduce, batch, year, t)
            del batch
        if pending is not None:
            parts.append(pending.result())
    return parts


def _patient_slices(keyed: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """``keyed`` in slices of whole entity-patients (``pid``) of about
    :data:`PHASE2_ROWS` rows."""
    slices = max(1, -(-keyed.height // PHASE2_ROWS))
    for k in range(slices):
        yield keyed if slices == 1 else keyed.filter(pl.col("pid") % slices == k)


def _evaluate(parts: list[_Reduced], year: int, level: Level, t: CodeTables) -> EngineResult:
    """Phase 2: replacement and void over all claims, then instances and counts (monthly
    series, instance table and findings are built when first read).

    ``parts`` is emptied, and intermediates are dropped as soon as they are used, except
    what the outputs built when first read need (kept while the result is): peak memory
    is what phase 2 holds at once.
    """
    r = _combine(parts)
    parts.clear()
    n_candidates = r.claims.height  # uid is 0 .. n_candidates - 1
    claims, scope = resolve_scope(r.keys, r.splits, r.claims)
    # Markers, visit lines and diagnoses of claims no longer kept fall out of the inner
    # joins with the kept claims below, and findings out of the join with them when read.
    markers, visit_lines, claim_dx, facts = r.markers, r.visit_lines, r.claim_dx, r.findings
    details = r.details
    finding_claims = claims.select("uid", "tin", "npi", "claim_seq", "claim_id", "source")
    del r

    # Integer keys for grouping: pid (entity + patient), eid (entity), mkey (measure-stratum).
    if level == "tin":
        claims = claims.with_columns(pl.lit(None, dtype=pl.String).alias("npi"))
    people, claim_people = _people(claims)
    keyed_claims = _with_claim_columns(
        claims.select("uid", "claim_date", "claim_seq"), claim_people, n_candidates, ["pid", "eid"]
    )
    measure_keys = t.mkeys.select(
        "mkey", pl.col("calculation_type").cast(pl.Categorical), "is_inverse"
    )
    # In input order (uid), so that instance claim lists keep that order. Only integer
    # keys, dates and ranks: counts need no more; the audit trail (claim ids, QDC lists) is
    # joined back only if the instance table is read.
    ranks = markers.select("uid", "mkey", "rank")
    if not ranks["uid"].is_sorted():
        ranks = ranks.sort("uid", maintain_order=True)
    ce = (
        _with_claim_columns(
            ranks, keyed_claims, n_candidates, ["pid", "eid", "claim_date", "claim_seq"]
        )
        .join(measure_keys, on="mkey", maintain_order="left")
        .select(
            "uid",
            "pid",
            "eid",
            "claim_date",
            "claim_seq",
            "mkey",
            "rank",
            "calculation_type",
            "is_inverse",
        )
    )
    claim_ids = claims.select("uid", "claim_id", "source")
    visit_keyed = visit_lines
    del claims, markers, visit_lines, keyed_claims, claim_people
    keyed = instance_keys(ce, claim_dx, t.mkey_dx)
    del ce
    # Every instance lies within one entity-patient (pid), and counts add up over
    # patients: marks are built for slices of patients, bounding the grouping memory.
    # count_rows sums the weights of equal keys, so the slices' marks need no merging.
    # pid and mkey are dense and people and mkeys in their order: lookups by position.
    eid_of_pid, inverse_of_mkey = people["eid"], t.mkeys["is_inverse"]
    marks = [
        instance_marks(part, visit_keyed, eid_of_pid, inverse_of_mkey)
        for part in _patient_slices(keyed)
    ]
    rows = count_rows(_named(pl.concat(marks), people, t), t)
    del marks

    def monthly() -> pl.DataFrame:
        last = keyed["claim_date"].max() if keyed.height else None
        if not isinstance(last, dt.date):
            return pl.DataFrame(schema=MONTHLY_SCHEMA)
        by_month = [
            monthly_marks(part, visit_keyed, claim_dx, t.mkey_dx, last.month)
            for part in _patient_slices(keyed)
        ]
        return count_rows(_named(pl.concat(by_month), people, t), t, by=("month",)).select(
            [pl.col(n).cast(d) for n, d in MONTHLY_SCHEMA.items()]
        )

    def findings() -> pl.DataFrame:
        # Texts back to strings only now, when the phase-2 intermediates are gone.
        return finding_table(facts.cast({c: pl.String for c in _REPEATED}), finding_claims)

    def instances() -> pl.DataFrame:
        full = (
            keyed.join(claim_ids, on="uid", how="left", maintain_order="left")
            .join(details, on=["uid", "mkey"], how="left", maintain_order="left")
            .with_columns(pl.col("conflicting").fill_null(False))
        )
        return _instances_out(build_instances(full, visit_keyed), people, t, year)

    return EngineResult(
        year=year,
        level=level,
        rows=rows,
        # Built when first read (a JSON or CSV report reads none of them).
        monthly=monthly,
        instances=instances,
        findings=findings,
        scope=scope,
    )
