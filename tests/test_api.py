"""The public API: evaluate's sources, check_claim, and their agreement with the engine."""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mipsclaims
from mipsclaims.engine import closing_codes, evaluate_lines
from mipsclaims.specs import UnsupportedYearError
from support_engine import D, claim, counts, frame
from test_engine_properties import claims


def outcomes_of_check(check):
    return sorted(
        (m.npi, m.measure_id, m.stratum, m.outcome, tuple(m.qdcs_found)) for m in check.measures
    )


def outcomes_of_engine(lines: pl.DataFrame, year: int):
    inst = evaluate_lines(lines, year).instances
    per = (
        inst.group_by("npi", "measure_id", "stratum")
        .agg(
            pl.col("marker").unique(),
            pl.col("qdc_codes").list.explode(keep_nulls=False, empty_as_null=False).unique(),
        )
        .sort("npi", "measure_id", "stratum")
    )
    out = []
    for r in per.iter_rows(named=True):
        assert len(r["marker"]) == 1  # one claim: every instance of a measure has one marker
        qdcs = tuple(sorted(r["qdc_codes"]))
        out.append((r["npi"], r["measure_id"], r["stratum"], r["marker"][0], qdcs))
    return sorted(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([2023, 2025, 2026]).flatmap(lambda y: st.tuples(st.just(y), claims(1, y))))
def test_check_claim_agrees_with_evaluate(year_and_claims):
    year, (c,) = year_and_claims
    check = mipsclaims.check_claim(c, year)
    if c.filing_indicator != "MB":
        assert check.out_of_scope == "not_part_b" and check.measures == []
        return
    assert outcomes_of_check(check) == outcomes_of_engine(frame(c), year)
    for m in check.measures:
        assert m.missing == (m.outcome == "none")
        assert bool(m.choices) == m.missing


def _with_codes(c, codes):
    lines = list(c.lines)
    for code in codes:
        base, _, mod = code.partition("-")
        lines.append(
            lines[0].model_copy(
                update={
                    "line_number": len(lines) + 1,
                    "procedure_code": base,
                    "modifiers": [mod] if mod else [],
                }
            )
        )
    return c.model_copy(update={"lines": lines})


@pytest.mark.parametrize(
    ("lines", "dx"),
    [(["99213"], ["E1010", "M4840XA"]), (["90791"], []), (["70486"], []), (["22526"], [])],
)
def test_every_closing_choice_sets_its_meaning(lines, dx):
    # For each measure a claim misses, adding one choice's codes gives that choice's meaning.
    c = claim("A", lines, dx=dx)
    check = mipsclaims.check_claim(c, 2025)
    missing = [m for m in check.measures if m.missing]
    assert missing
    for m in missing:
        for choice in m.choices:
            again = mipsclaims.check_claim(_with_codes(c, choice.codes), 2025)
            got = {(x.measure_id, x.stratum): x.outcome for x in again.measures}
            assert got[(m.measure_id, m.stratum)] == choice.meaning, (m.measure_id, choice)


def test_closing_codes_forms_and_order():
    choices = closing_codes(2025, "24")
    assert [c.codes for c in choices if c.meaning == "met"] == [["5015F"]]
    assert [c.codes for c in choices if c.meaning == "not_met"] == [["5015F-8P"]]
    multi = closing_codes(2025, "226", "01")
    assert ["G9902", "G9906"] in [c.codes for c in multi]
    # Inverse measure 001: the most advantageous ("not met") first.
    assert closing_codes(2025, "001")[0].meaning == "not_met"
    assert closing_codes(2025, "047")[0].meaning == "met"


def test_check_claim_scope_and_phi():
    c = claim("CLM-77", ["99213"], filing="CI", patient="SECRET-MEMBER")
    check = mipsclaims.check_claim(c, 2025)
    assert check.out_of_scope == "not_part_b"
    assert "SECRET-MEMBER" not in check.model_dump_json()
    assert check.claim_ref.startswith("claim #0 (")
    other_year = mipsclaims.check_claim(claim("A", ["99213"], date=D(2024, 5, 1)), 2025)
    assert other_year.out_of_scope == "other_year"
    void = mipsclaims.check_claim(claim("A", ["99213"], frequency="8"), 2025)
    assert void.out_of_scope == "void_request"
    with pytest.raises(UnsupportedYearError, match="specs import"):
        mipsclaims.check_claim(c, 2027)


def test_evaluate_accepts_frames_lazy_frames_and_claims():
    cs = [claim("A", ["99213", "G8733"]), claim("B", ["99213"], patient="P2")]
    expected = (2, 1, 0, 0, 0, 1)
    assert counts(mipsclaims.evaluate(frame(*cs), 2025), "181") == expected
    assert counts(mipsclaims.evaluate(frame(*cs).lazy(), 2025), "181") == expected
    # Claims' own claim_seq (all 0 here) is replaced by their position.
    assert counts(mipsclaims.evaluate(cs, 2025), "181") == expected
    group = mipsclaims.evaluate(iter(cs), 2025, level="tin")
    assert counts(group, "181", npi=None) == expected
    with pytest.raises(TypeError):
        mipsclaims.evaluate([1, 2], 2025)
    with pytest.raises(ValueError, match="level must be 'tin-npi' or 'tin', not 'npi'"):
        mipsclaims.evaluate(cs, 2025, level="npi")  # type: ignore[arg-type]
    with pytest.raises(UnsupportedYearError, match="specs import"):
        mipsclaims.evaluate(cs, 2027)  # no spec until CMS publishes it and the user imports it


def test_evaluate_reads_files(tmp_path, x12_samples):
    pytest.importorskip("mipsclaims.inputs")
    paths = sorted(x12_samples.glob("*.txt"))[:2]
    result = mipsclaims.evaluate(paths, 2025)
    assert "evaluated" in result.scope["reason"].to_list()


@given(st.just(None))
@settings(max_examples=1, deadline=None)
def test_empty_input_gives_empty_tables(_):
    r = evaluate_lines(frame(), 2025)
    assert r.rows.height == 0 and r.monthly.height == 0 and r.instances.height == 0
    assert r.scope.row(0, named=True) == {"reason": "evaluated", "claims": 0, "lines": 0}


# --- the entry points the commands call --------------------------------------------------


def _csv_of(path, *claims_):
    from mipsclaims import flatfile

    flatfile.write_flat_csv(frame(*claims_), path)
    return path


def test_check_takes_the_latest_claims_year_and_checks_claim_by_claim(tmp_path):
    old = claim("A", ["99213"], date=D(2024, 11, 5), patient="P1")
    met = claim("B", ["99213", "G8733"], date=D(2025, 2, 1), patient="P2")
    bare = claim("C", ["99213"], date=D(2025, 3, 1), patient="P2")  # same patient as B
    path = _csv_of(tmp_path / "batch.csv", old, met, bare)
    checked = mipsclaims.api.check(path)
    assert checked.year == 2025 and checked.claims == 3
    # 181 claim by claim: B carries its QDC, C does not (B's does not cover it); A is 2024.
    in_181 = checked.result.instances.filter(pl.col("measure_id") == "181")
    assert in_181["claim_seqs"].to_list() == [[1], [2]]
    missing_181 = checked.missing.filter(pl.col("measure_id") == "181")
    assert missing_181.height == 1 and missing_181["claim"][0].startswith("claim #2 ")
    only_181 = mipsclaims.api.check(path, 2025, measures=["181"])
    assert only_181.eligible == 2 and only_181.missing["measure_id"].unique().to_list() == ["181"]
    assert only_181.claims == 3
    # Given the year, the same answer from the streaming pass.
    assert mipsclaims.api.check(path, 2025).missing.equals(checked.missing)
    assert mipsclaims.api.check(path, 2024).year == 2024


def test_latest_year_of_nothing_is_this_year():
    import datetime as dt

    from mipsclaims.schema import empty_claim_lines

    assert mipsclaims.api.latest_year(empty_claim_lines()) == dt.date.today().year


def test_score_at_both_levels_reads_the_input_once_and_equals_two_runs(tmp_path):
    from mipsclaims import scoring
    from mipsclaims.synth import SynthConfig, synthetic_837

    path = tmp_path / "year.837"
    path.write_bytes(synthetic_837(SynthConfig(claims=200, seed=7, tins=2)))

    class Files:
        def __init__(self):
            self.done = []

        def reading(self, name):
            return lambda n: None

        def file_done(self, name, size, claims=None):
            self.done.append(name)

    files = Files()
    both = mipsclaims.api.score(path, 2025, None, ("tin-npi", "tin"), progress=files)
    assert files.done == ["year.837"]  # read once
    apart = [mipsclaims.api.evaluate(path, 2025, lv) for lv in ("tin-npi", "tin")]
    rows = pl.concat([r.rows for r in apart], how="vertical_relaxed")
    month = scoring.projection.last_month(apart[0].monthly)
    options = scoring.ScoringOptions(through_month=month)
    assert both == scoring.score(rows, 2025, options)
    assert {p.npi is None for p in both.projections} == {True, False}


def test_report_scores_only_when_there_is_something_to_score():
    nothing = mipsclaims.evaluate(frame(claim("A", ["00000"])), 2025)
    assert nothing.rows.height == 0 and mipsclaims.api.report_scores(nothing) is None
    some = mipsclaims.evaluate(frame(claim("A", ["99213", "G8733"])), 2025)
    scored = mipsclaims.api.report_scores(some)
    assert scored is not None and scored.projections
    # A year without scoring rules (the result's own year decides).
    assert mipsclaims.api.report_scores(dataclasses.replace(some, year=2019)) is None


def test_gaps_is_the_worklist_of_evaluate(tmp_path):
    from mipsclaims.report.gaps import gap_frame

    path = _csv_of(tmp_path / "g.csv", claim("A", ["99213"]), claim("B", ["99213", "G8733"],
                   patient="P2"))  # fmt: skip
    worklist = mipsclaims.api.gaps(path, 2025, measures=["181"])
    assert worklist.height == 1
    expected = gap_frame(mipsclaims.evaluate(path, 2025), measures=["181"])
    assert worklist.equals(expected)
    assert "P1" not in str(worklist.to_dicts())  # masked unless show_phi
    assert "P1" in str(mipsclaims.api.gaps(path, 2025, show_phi=True).to_dicts())


def test_write_claim_lines_masks_phi_unless_asked_and_keeps_no_abandoned_file(tmp_path):
    import io

    path = _csv_of(tmp_path / "in.csv", claim("CLM-SECRET", ["99213"], patient="MEMBER9"))
    out = tmp_path / "out.csv"
    assert mipsclaims.api.write_claim_lines(path, out)
    text = out.read_text()
    assert "MEMBER9" not in text and "CLM-SECRET" not in text and "1950-01-01" not in text
    assert ",PT-" in text and ",CLM-" in text
    stream = io.BytesIO()
    mipsclaims.api.write_claim_lines(path, stream, "json", show_phi=True)
    assert b"MEMBER9" in stream.getvalue()
    kept = mipsclaims.api.write_claim_lines(path, tmp_path / "no.parquet", "parquet",
                                            keep=lambda: False)  # fmt: skip
    assert not kept and sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_remittances_read_folders_and_the_store_and_say_what_is_missing(tmp_path):
    from mipsclaims.errors import InputError
    from mipsclaims.remit.synth import synthetic_835
    from mipsclaims.synth import SynthConfig, synthetic_837
    from mipsclaims.x12 import read_claim_lines

    claims_path = tmp_path / "c.837"
    claims_path.write_bytes(synthetic_837(SynthConfig(claims=40, seed=2)))
    answer = synthetic_835(read_claim_lines(claims_path), 2025)
    folder = tmp_path / "era"
    folder.mkdir()
    for n, data in enumerate(answer.files, start=1):
        (folder / f"r{n}.835").write_bytes(data)
    (folder / ".hidden").write_bytes(b"not read")
    from_folder = mipsclaims.api.remittances([folder])
    from_files = mipsclaims.api.remittances(sorted(folder.glob("r*.835")))
    assert from_folder.height > 0 and from_folder.equals(from_files)
    with pytest.raises(InputError, match="no such 835 file or folder"):
        mipsclaims.api.remittances([tmp_path / "none"])
    # Ingested 835s come first, files given after them continue their numbering.
    mipsclaims.api.ingest(tmp_path / "st", [claims_path, folder / "r1.835"])
    both = mipsclaims.api.remittances([folder / "r2.835"], store=tmp_path / "st")
    assert both["remit_seq"].n_unique() == from_folder["remit_seq"].n_unique()
    rr = mipsclaims.api.remit_report(None, both, 2025, store=tmp_path / "st")
    assert rr.rows.height > 0 and rr.reconciled.height > 0


def test_ingest_checks_every_file_before_ingesting_any(tmp_path):
    from mipsclaims.errors import InputError

    good = _csv_of(tmp_path / "good.csv", claim("A", ["99213"]))
    (tmp_path / "bad.bin").write_bytes(b"\x00\x01" * 50)
    with pytest.raises(InputError, match=r"bad\.bin"):
        mipsclaims.api.ingest(tmp_path / "st", [good, tmp_path / "bad.bin"])
    with pytest.raises(InputError, match="no such file"):
        mipsclaims.api.ingest(tmp_path / "st", [good, tmp_path / "gone.837"])
    assert not (tmp_path / "st" / "manifest.json").exists()


@pytest.mark.parametrize("spilled", [False, True])
def test_evaluate_levels_equals_one_evaluation_per_level(monkeypatch, spilled):
    """Phase 1 runs once for both levels; every output of each level (also those built when
    first read, which read the facts again) equals that level's own evaluation."""
    from mipsclaims.engine import evaluate_levels, facts
    from mipsclaims.synth import SynthConfig, synthetic_837
    from mipsclaims.x12 import read_claim_lines

    if spilled:
        monkeypatch.setattr(facts, "SPILL_BYTES", 0)
        monkeypatch.setattr(facts, "GROUP_CLAIMS", 40)
    lines = read_claim_lines(synthetic_837(SynthConfig(claims=300, seed=9, tins=2)))
    batches = [lines.filter(pl.col("claim_seq") < 150), lines.filter(pl.col("claim_seq") >= 150)]
    both = evaluate_levels(iter(batches), 2025, ("tin-npi", "tin"))
    for result, level in zip(both, ("tin-npi", "tin"), strict=True):
        alone = evaluate_lines(lines, 2025, level=level)
        for name in ("rows", "scope", "monthly", "findings", "instances"):
            assert getattr(result, name).equals(getattr(alone, name)), (level, name)
    assert both[0].rows.height != both[1].rows.height  # the levels differ indeed
