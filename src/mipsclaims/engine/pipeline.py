"""The engine's pipeline, from canonical claim-line batches to an :class:`EngineResult`.

Stages: scope -> eligibility -> markers -> instances -> counts (+ findings, monthly).
Every stage is a polars join or aggregation against per-year code tables (``codes.tables``).

Two phases, so that memory does not grow with the input:

1. per batch of whole claims (:func:`_reduce`): split by rendering NPI, year, Part B,
   eligibility, QDC markers and findings, all of which depend on one claim only; what is
   kept is compact (integer keys, no PHI but ``patient_id``), in memory while small and
   on disk beyond that (:mod:`.facts`);
2. once (:func:`_evaluate`): replacement and void over every claim seen (a later batch or
   file can supersede an earlier claim), then instances and counts, group of patients by
   group; the monthly series, the instance table and the findings are built when first
   read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from .. import schema, specs
from .codes import CodeTables, tables
from .counts import count_rows
from .eligibility import Eligibility, eligible_options
from .facts import FactStore, Reduced
from .findings import FINDING_ORDER, find, finding_table
from .instances import (
    build_instances,
    instance_key_text,
    instance_keys,
    instance_marks,
    monthly_marks,
)
from .markers import Markers, claim_markers
from .memory import release_free_memory
from .result import INSTANCE_SCHEMA, MONTHLY_SCHEMA, EngineResult, Level, as_level
from .scope import BatchScope, kept, scope_counts, split_batch, superseded


def _year_tables(year: int) -> CodeTables:
    specs.load_with_logic(year)  # a clear error for a year without claims logic
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
    order. Candidate uids are dense (0 .. n-1, :func:`.facts.localised`): the claim columns
    are scattered into arrays indexed by uid and gathered, instead of hashing every row."""
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


#: Finding columns with few distinct values: categorical while kept (phase 1 to 2).
_REPEATED = ["kind", "measure_id", "code", "detail"]
_CLAIM_COLUMNS = ["uid", "claim_seq", "patient_id", "claim_date", "claim_id", "n_lines"]
#: Claim columns with few distinct values: categorical while kept (outputs cast them back).
_CLAIM_REPEATED = ["tin", "npi", "source"]


def _reduce(lines: pl.DataFrame, year: int, t: CodeTables) -> Reduced:
    """Everything that depends on one claim only, on a batch of whole claims."""
    batch = split_batch(lines, year)
    eligible = eligible_options(batch.claims, batch.lines, batch.claim_dx, t)
    markers = claim_markers(batch.lines, batch.claim_dx, eligible.masks, eligible.groups, t)
    findings = find(batch.claims, batch.lines, eligible.masks, markers.details, t)
    return _facts(batch, eligible, markers, findings, t)


def _facts(
    batch: BatchScope,
    eligible: Eligibility,
    markers: Markers,
    findings: pl.DataFrame,
    t: CodeTables,
) -> Reduced:
    """What phase 2 needs of a reduced batch, compact: repeated texts categorical, only
    the diagnoses that link episodes."""
    return Reduced(
        keys=batch.keys.with_columns(pl.col("tin").cast(pl.Categorical)),
        splits=batch.splits,
        claims=batch.claims.select(
            *_CLAIM_COLUMNS, *[pl.col(c).cast(pl.Categorical) for c in _CLAIM_REPEATED]
        ),
        markers=markers.ranks,
        details=markers.details.drop("conflicting_meanings"),
        visit_lines=eligible.visit_lines,
        claim_dx=batch.claim_dx.with_columns(pl.col("dx").cast(pl.String)).join(
            t.mkey_dx.select("dx").unique(), on="dx", how="semi"
        ),
        findings=findings.with_columns(pl.col(c).cast(pl.Categorical) for c in _REPEATED),
    )


#: Rows per phase-1 batch when the input is one table (bounds phase 1's intermediates).
TABLE_BATCH_ROWS = 250_000
#: Smaller batches of an iterable (the reader's, about 60k lines) are gathered up to this
#: many rows: each batch pays the fixed cost of some 150 polars operations, and a larger
#: batch held costs memory (measured in benchmarks/results.md).
GATHER_ROWS = 125_000
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
    return _gathered(_whole_claims(lines), GATHER_ROWS)


def _gathered(batches: Iterable[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    """Consecutive batches of whole claims concatenated up to about ``rows`` rows (a batch
    with a missing claim_seq stays alone, so that scope names its row in it)."""
    held: list[pl.DataFrame] = []
    count = 0
    for batch in batches:
        if batch.select(pl.col("claim_seq").is_null().any()).item():
            if held:
                yield pl.concat(held, how="vertical")
                held, count = [], 0
            yield batch
            continue
        held.append(batch)
        count += batch.height
        if count >= rows:
            yield pl.concat(held, how="vertical") if len(held) > 1 else held[0]
            held, count = [], 0
    if held:
        yield pl.concat(held, how="vertical") if len(held) > 1 else held[0]


def evaluate_lines(
    lines: pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame],
    year: int,
    *,
    level: Level = "tin-npi",
    spill: bool = True,
) -> EngineResult:
    """Evaluate every claims measure of ``year`` on a canonical claim-line table.

    ``lines`` may also be an iterable of canonical tables in input order (e.g. the reader's
    batches): each batch is reduced to compact per-claim facts as it comes (phase 1), kept
    in memory while small and spilled to a temporary directory beyond that (``facts``);
    then replacement/void, instances and counts run on those facts, in groups of
    patients (phase 2). Peak memory does not grow with the size of the input.
    ``spill=False`` keeps the facts in memory: nothing (member ids among it) is written
    to disk, and memory grows with the number of claims.
    """
    return evaluate_levels(lines, year, (level,), spill=spill)[0]


def evaluate_levels(
    lines: pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame],
    year: int,
    levels: Sequence[Level],
    *,
    spill: bool = True,
) -> list[EngineResult]:
    """:func:`evaluate_lines` at each of ``levels``, reading ``lines`` once: phase 1 (the
    per-claim facts) does not depend on the level, so only phase 2 runs per level
    (``score --level both``)."""
    checked = [as_level(level) for level in levels]
    t = _year_tables(year)
    store = FactStore(spill=spill, reread=len(checked) > 1)
    _reduce_all(_batches_of(lines), year, t, store)
    if store.empty:
        store.add(_reduce(schema.empty_claim_lines(), year, t))
    # What reading and phase 1 freed goes back to the system before phase 2 allocates
    # (about 300 MB of 1M lines stayed resident otherwise: engine/memory.py).
    release_free_memory()
    return [_evaluate(store, year, level, t) for level in checked]


def _reduce_all(
    batches: Iterator[pl.DataFrame], year: int, t: CodeTables, store: FactStore
) -> None:
    """Phase 1 of every batch into ``store``, each reduced in a worker thread while the
    next is read.

    Reading (837P tokenising, much of it Python) and reducing (polars, without the GIL)
    overlap; at most one batch waits, so memory stays bounded and order is kept.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mipsclaims-reduce") as pool:
        pending: Future[Reduced] | None = None
        for batch in batches:
            if pending is not None:
                store.add(pending.result())
            pending = pool.submit(_reduce, batch, year, t)
            del batch
        if pending is not None:
            store.add(pending.result())


def _patient_slices(keyed: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """``keyed`` in slices of whole entity-patients (``pid``) of about
    :data:`PHASE2_ROWS` rows."""
    slices = max(1, -(-keyed.height // PHASE2_ROWS))
    for k in range(slices):
        yield keyed if slices == 1 else keyed.filter(pl.col("pid") % slices == k)


@dataclass(frozen=True)
class _Group:
    """Phase 2 of one group of patients: what its counts and its outputs read when first
    read need. ``uid`` is local to the group; ``claim_seq`` is global."""

    keyed: pl.DataFrame  # per eligible (claim, measure-stratum): integer keys, date, rank
    visit_lines: pl.DataFrame
    claim_dx: pl.DataFrame
    people: pl.DataFrame  # pid, tin, npi, patient_id, eid
    details: pl.DataFrame  # QDC codes and conflicts (instance audit trail)
    claim_ids: pl.DataFrame  # uid, claim_id, source
    facts: pl.DataFrame  # findings, as facts
    finding_claims: pl.DataFrame
    claims: int  # evaluated claims
    lines: int  # their lines


def _group(r: Reduced, gone: pl.DataFrame, level: Level, t: CodeTables) -> _Group:
    """Phase 2 of one group up to the instance keys: claims replaced or voided (``gone``)
    dropped, integer keys for entity and patient, instance keys.

    Intermediates are dropped as soon as they are used: peak memory is what one group
    holds at once.
    """
    n_candidates = r.claims.height  # uid is 0 .. n_candidates - 1
    claims = kept(r.claims, gone)
    # Markers, visit lines and diagnoses of claims no longer kept fall out of the inner
    # joins with the kept claims below, and findings out of the join with them when read.
    markers = r.markers
    finding_claims = claims.select("uid", "tin", "npi", "claim_seq", "claim_id", "source")
    n_claims, n_lines = claims.height, int(claims["n_lines"].sum() or 0)

    # Integer keys for grouping: pid (entity + patient), eid (entity), mkey (measure-stratum).
    if level == "tin":
        claims = claims.with_columns(pl.lit(None, dtype=pl.String).alias("npi"))
    people, claim_people = _people(claims)
    keyed_claims = _with_claim_columns(
        claims.select("uid", "claim_date", "claim_seq"), claim_people, n_candidates, ["pid", "eid"]
    )
    # mkey is dense and mkeys in its order: a measure-stratum's type is a gather.
    calculation_type = t.mkeys["calculation_type"].cast(pl.Categorical)
    is_inverse = t.mkeys["is_inverse"]
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
        .with_columns(
            pl.lit(calculation_type).gather(pl.col("mkey")),
            pl.lit(is_inverse).gather(pl.col("mkey")),
        )
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
    del claims, markers, keyed_claims, claim_people
    return _Group(
        keyed=instance_keys(ce, r.claim_dx, t.mkey_dx),
        visit_lines=r.visit_lines,
        claim_dx=r.claim_dx,
        people=people,
        details=r.details,
        claim_ids=claim_ids,
        facts=r.findings,
        finding_claims=finding_claims,
        claims=n_claims,
        lines=n_lines,
    )


def _count_marks(g: _Group, t: CodeTables) -> pl.DataFrame:
    """Named instance marks of a group, for :func:`count_rows`.

    Every instance lies within one entity-patient (pid), and counts add up over patients:
    marks are built for slices of patients, bounding the grouping memory; count_rows sums
    the weights of equal keys, so slices' (and groups') marks need no merging. pid and
    mkey are dense and people and mkeys in their order: lookups by position.
    """
    eid_of_pid, inverse_of_mkey = g.people["eid"], t.mkeys["is_inverse"]
    marks = [
        instance_marks(part, g.visit_lines, eid_of_pid, inverse_of_mkey)
        for part in _patient_slices(g.keyed)
    ]
    return _named(pl.concat(marks), g.people, t)


def _monthly_marks(g: _Group, t: CodeTables, last_month: int) -> pl.DataFrame:
    by_month = [
        monthly_marks(part, g.visit_lines, g.claim_dx, t.mkey_dx, last_month)
        for part in _patient_slices(g.keyed)
    ]
    return _named(pl.concat(by_month), g.people, t)


def _group_instances(g: _Group, t: CodeTables, year: int) -> pl.DataFrame:
    full = (
        g.keyed.join(g.claim_ids, on="uid", how="left", maintain_order="left")
        .join(g.details, on=["uid", "mkey"], how="left", maintain_order="left")
        .with_columns(pl.col("conflicting").fill_null(False))
    )
    return _instances_out(build_instances(full, g.visit_lines), g.people, t, year)


def _group_findings(g: _Group) -> pl.DataFrame:
    # Texts back to strings only now, when the phase-2 intermediates are gone.
    return finding_table(g.facts.cast({c: pl.String for c in _REPEATED}), g.finding_claims)


def _evaluate(store: FactStore, year: int, level: Level, t: CodeTables) -> EngineResult:
    """Phase 2: replacement and void over all claims, then, group of patients by group,
    instances and counts (the monthly series, the instance table and the findings are
    built when first read).

    Facts kept in memory are one group, kept while the result is (the outputs built when
    first read need it); spilled facts are read back group by group, on each build.
    """
    keys = store.keys()
    gone = superseded(keys)
    kept_groups: list[_Group] = []
    named: list[pl.DataFrame] = []
    n_claims = n_lines = 0
    last: dt.date | None = None
    for r in store.groups():
        g = _group(r, gone, level, t)
        del r
        named.append(_count_marks(g, t))
        n_claims, n_lines = n_claims + g.claims, n_lines + g.lines
        latest = g.keyed["claim_date"].max() if g.keyed.height else None
        if isinstance(latest, dt.date) and (last is None or latest > last):
            last = latest
        if not store.spilled:
            kept_groups.append(g)
        del g
    rows = count_rows(pl.concat(named), t)
    scope = scope_counts(keys, store.splits(), gone, n_claims, n_lines)
    del named, keys

    def groups() -> Iterator[_Group]:
        if not store.spilled:
            return iter(kept_groups)
        return (_group(r, gone, level, t) for r in store.groups())

    def monthly() -> pl.DataFrame:
        if last is None:
            return pl.DataFrame(schema=MONTHLY_SCHEMA)
        marks = pl.concat([_monthly_marks(g, t, last.month) for g in groups()])
        return count_rows(marks, t, by=("month",)).select(
            [pl.col(n).cast(d) for n, d in MONTHLY_SCHEMA.items()]
        )

    def findings() -> pl.DataFrame:
        tables = [_group_findings(g) for g in groups()]
        if len(tables) == 1:
            return tables[0]
        return pl.concat(tables).sort(FINDING_ORDER, nulls_last=True)

    def instances() -> pl.DataFrame:
        # In input order of each instance's first claim (groups are of patients, not of
        # input order); instances of one claim keep their order within its group.
        first_claim = pl.col("claim_seqs").list.first()
        return pl.concat([_group_instances(g, t, year) for g in groups()]).sort(
            first_claim, maintain_order=True
        )

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
