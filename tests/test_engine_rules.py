"""One case per rule of measure-logic.md, expected counts worked out by hand.

Counts tuples are (eligible, met, not_met, exclusion, exception, not_reported).
Codes come from the 2025 specs unless a test says otherwise (181: age >= 60, 99213,
G8733 met / G8536 not met / G8535 exception; 047: age >= 65; 001 inverse, diabetes dx).
"""

from __future__ import annotations

import polars as pl
import pytest

from mipsclaims.engine import as_level, evaluate_lines
from mipsclaims.schema import short_hash
from support_engine import D, claim, counts, frame, row


def ev(*claims, year=2025, level="tin-npi"):
    return evaluate_lines(frame(*claims), year, level=level)


def has_rows(result, measure_id):
    return result.rows.filter(pl.col("measure_id") == measure_id).height > 0


def scope(result):
    return {r["reason"]: (r["claims"], r["lines"]) for r in result.scope.iter_rows(named=True)}


# --- 1. Which claims count -------------------------------------------------------------


def test_only_part_b_claims_count_and_others_are_reported():
    r = ev(claim("A", ["99213", "G8733"]), claim("B", ["99213"], filing="CI", patient="P2"))
    assert counts(r, "181") == (1, 1, 0, 0, 0, 0)  # only A: one patient, met
    assert scope(r)["not_part_b"] == (1, 1)
    assert scope(r)["evaluated"] == (1, 2)


def test_replacement_replaces_the_earlier_claim_with_same_tin_and_clm01():
    r = ev(claim("A", ["99213"]), claim("A", ["99213", "G8733"], frequency="7"))
    assert counts(r, "181") == (1, 1, 0, 0, 0, 0)  # only the replacement (met) counts
    assert scope(r)["replaced"] == (1, 1)
    assert r.instances.filter(pl.col("measure_id") == "181")["claim_seqs"].to_list() == [[1]]


def test_void_removes_the_earlier_claim():
    r = ev(claim("A", ["99213", "G8733"]), claim("A", ["99213"], frequency="8"))
    assert not has_rows(r, "181")
    assert scope(r)["voided"] == (1, 2)
    assert scope(r)["void_request"] == (1, 1)


def test_replacement_without_original_is_kept_and_lone_void_is_ignored():
    r = ev(claim("A", ["99213", "G8733"], frequency="7"), claim("B", ["99213"], frequency="8"))
    assert counts(r, "181") == (1, 1, 0, 0, 0, 0)
    assert scope(r)["void_request"] == (1, 1)
    assert "voided" not in scope(r)


def test_same_clm01_of_another_tin_is_not_replaced():
    r = ev(claim("A", ["99213"], tin="1"), claim("A", ["99213", "G8733"], frequency="7", tin="2"))
    rows = r.rows.filter(pl.col("measure_id") == "181").sort("tin")
    assert rows["tin"].to_list() == ["1", "2"]  # TIN 1 keeps its own claim (no QDC)
    assert rows["performance_met"].to_list() == [0, 1]
    assert "replaced" not in scope(r)


def test_replacement_applies_before_the_part_b_filter():
    # The Part B original is replaced by a non-Part B claim: nothing counts.
    r = ev(claim("A", ["99213", "G8733"]), claim("A", ["99213"], frequency="7", filing="CI"))
    assert not has_rows(r, "181")
    assert scope(r)["replaced"] == (1, 2)
    assert scope(r)["not_part_b"] == (1, 1)


def test_claim_is_split_by_rendering_npi():
    c = claim("A", ["99213", ("G8733", (), {"rendering_npi": "2000000002"})])
    c.lines.append(c.lines[0].model_copy(update={"line_number": 3, "rendering_npi": "2000000002"}))
    r = ev(c)
    # NPI 1000000001 has the visit, no QDC; NPI 2000000002 has the visit and G8733.
    assert counts(r, "181", npi="1000000001") == (1, 0, 0, 0, 0, 1)
    assert counts(r, "181", npi="2000000002") == (1, 1, 0, 0, 0, 0)
    assert scope(r)["evaluated"] == (2, 3)


def test_claim_date_is_earliest_line_date_and_decides_the_year():
    c = claim("A", [("99213", (), {"service_date": D(2024, 12, 31)}), "G8733"], date=D(2025, 1, 2))
    assert not has_rows(ev(c), "181")
    assert scope(ev(c))["other_year"] == (1, 2)
    assert counts(ev(c, year=2024), "181") == (1, 1, 0, 0, 0, 0)


# --- 2/3. Denominator eligibility ------------------------------------------------------


@pytest.mark.parametrize(
    ("measure", "birth", "on", "eligible"),
    [
        ("181", D(1965, 3, 1), D(2025, 2, 28), False),  # 59 years 11 months < 60
        ("181", D(1965, 3, 1), D(2025, 3, 1), True),  # 60th birthday
        ("047", D(1960, 2, 29), D(2025, 2, 27), False),  # 64
        ("047", D(1960, 2, 29), D(2025, 2, 28), True),  # Feb 29 turns over on Feb 28
        ("039", D(1939, 6, 15), D(2025, 6, 14), True),  # 85.99 years: age 85 <= maxAge 85
        ("039", D(1939, 6, 14), D(2025, 6, 14), False),  # 86th birthday
        ("181", None, D(2025, 6, 14), False),  # no birth date: age cannot be shown
    ],
)
def test_age_in_exact_years(measure, birth, on, eligible):
    r = ev(claim("A", ["99213"], birth=birth, date=on, sex="F"))
    assert has_rows(r, measure) is eligible


def test_minimum_age_in_months_for_half_a_year():
    # 2023 measure 110: minAge 0.5 = 6 months; 2022-09-30 + 6 months = 2023-03-30.
    young = claim("A", ["90945"], birth=D(2022, 9, 30), date=D(2023, 3, 29))
    old = claim("B", ["90945"], birth=D(2022, 9, 30), date=D(2023, 3, 30), patient="P2")
    assert counts(ev(young, old, year=2023), "110") == (1, 0, 0, 0, 0, 1)


def test_sex_restriction():
    assert has_rows(ev(claim("A", ["99213"], sex="F", birth=D(1950, 1, 1))), "039")
    assert not has_rows(ev(claim("A", ["99213"], sex="M", birth=D(1950, 1, 1))), "039")


def test_diagnosis_required_and_normalised():
    assert not has_rows(ev(claim("A", ["97802"])), "001")
    assert has_rows(ev(claim("A", ["97802"], dx=["E10.10"])), "001")  # dots removed


def test_diagnosis_exclusion():
    assert has_rows(ev(claim("A", ["99213"], dx=["Z0000"])), "134")
    assert not has_rows(ev(claim("A", ["99213"], dx=["Z0000", "F3010"])), "134")


@pytest.mark.parametrize(
    ("line", "claim_pos", "eligible"),
    [
        (("99213", ["GT"]), "11", False),  # telehealth modifier excluded for 181
        (("99213", [], {"place_of_service": "02"}), "11", False),  # line POS 02 excluded
        (("99213", [], {"place_of_service": "11"}), "02", True),  # line POS wins
        ("99213", "02", False),  # claim POS used when the line has none
        (("99213", ["25"]), "11", True),  # other modifiers do not matter
    ],
)
def test_procedure_modifier_and_place_of_service_exclusions(line, claim_pos, eligible):
    assert has_rows(ev(claim("A", [line], pos=claim_pos)), "181") is eligible


def test_additional_procedure_code_g9902_for_226_stratum_01():
    with_g9902 = ev(claim("A", ["99213", "G9902", "G9906"]))
    assert counts(with_g9902, "226", "01") == (1, 1, 0, 0, 0, 0)  # G9902 + G9906: met
    assert counts(with_g9902, "226", "00") == (1, 1, 0, 0, 0, 0)  # G9902 alone is met in 00
    without = ev(claim("A", ["99213", "G9906"]))
    assert counts(without, "226", "01") == (0, 0, 0, 0, 0, 0)  # not in the 01 denominator
    assert counts(without, "226", "00") == (1, 0, 0, 0, 0, 1)


# --- 4. QDC markers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qdc", "expected"),
    [
        ("1123F", (1, 1, 0, 0, 0, 0)),
        (("1123F", ["8P"]), (1, 0, 1, 0, 0, 0)),  # 1123F-8P is "not met", never "met"
        (("1123F", ["1P"]), (1, 0, 0, 0, 0, 1)),  # no option lists 1P: not reported
        ("G9692", (1, 0, 0, 1, 0, 0)),
    ],
)
def test_modifier_rule_of_quality_codes(qdc, expected):
    assert counts(ev(claim("A", ["99213", qdc])), "047") == expected


def test_multi_code_option_needs_every_code_on_any_line():
    assert counts(ev(claim("A", ["70486", "G9552"])), "406") == (1, 0, 0, 0, 0, 1)
    assert counts(ev(claim("A", ["70486", "G9552", "G9554"])), "406") == (1, 1, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("measure", "qdcs", "marker"),
    [
        ("181", ["G8733", "G8536"], "met"),  # met > not met
        ("134", ["G9717", "G8432"], "exclusion"),  # exclusion > not met
        ("134", ["G8433", "G8432"], "exception"),  # exception > not met
        ("134", ["G8431", "G9717"], "met"),  # met > exclusion
        ("001", ["M1211", "M1371"], "not_met"),  # inverse: not met > met
        ("001", ["G2081", "M1211"], "exclusion"),  # inverse: exclusion > met
    ],
)
def test_most_advantageous_marker_wins_and_conflict_is_reported(measure, qdcs, marker):
    r = ev(claim("A", ["99213", *qdcs], dx=["E1010"]))
    inst = r.instances.filter(pl.col("measure_id") == measure).row(0, named=True)
    assert inst["marker"] == marker
    assert inst["conflicting"] is True
    assert sorted(inst["conflicting_codes"]) == sorted(qdcs)
    found = r.findings.filter(
        (pl.col("kind") == "conflicting_qdc") & (pl.col("measure_id") == measure)
    )
    assert found.height == 1
    assert found["claim_ref"][0] == f"claim #0 ({short_hash('A')})"


# --- 5. Eligible instances ---------------------------------------------------------------


def test_patient_process_one_instance_per_patient_best_marker():
    r = ev(
        claim("A", ["99213"], date=D(2025, 3, 1)),
        claim("B", ["99213", "G8536"], date=D(2025, 6, 1)),
        claim("C", ["99213", "G8733"], date=D(2025, 9, 1)),
        claim("D", ["99213"], patient="P2"),
    )
    # P1: none, not met, met -> met; P2: none.  2 instances.
    assert counts(r, "181") == (2, 1, 0, 0, 0, 1)
    first = r.instances.filter(pl.col("measure_id") == "181").row(0, named=True)
    assert first["claim_ids"] == ["A", "B", "C"]  # the audit trail, in input order
    assert first["claim_seqs"] == [0, 1, 2]
    assert first["qdc_codes"] == ["G8536", "G8733"]


def test_audit_trail_lists_are_parallel_even_for_duplicate_claim_ids():
    # The same claim sent twice (two files, both originals: both kept, decision 1), and a
    # third claim from the first file: one entry per claim in every list.
    r = ev(
        claim("A", ["99213"], date=D(2025, 3, 1), source="jan.837"),
        claim("A", ["99213"], date=D(2025, 3, 1), source="jan-resent.837"),
        claim("B", ["99213"], date=D(2025, 4, 1), source="jan.837"),
    )
    first = r.instances.filter(pl.col("measure_id") == "181").row(0, named=True)
    assert first["claim_seqs"] == [0, 1, 2]
    assert first["claim_ids"] == ["A", "A", "B"]
    assert first["sources"] == ["jan.837", "jan-resent.837", "jan.837"]


def test_patient_intermediate_uses_most_recent_date_with_a_qdc():
    r = ev(
        # P1: Mar not met (good), Jun met (bad), Sep no QDC -> the June QDC counts: met.
        claim("A", ["99213", "M1371"], dx=["E1010"], date=D(2025, 3, 1)),
        claim("B", ["99213", "M1211"], dx=["E1010"], date=D(2025, 6, 1)),
        claim("C", ["99213"], dx=["E1010"], date=D(2025, 9, 1)),
        # P2: Mar met, Jun not met -> not met.
        claim("D", ["99213", "M1211"], dx=["E1010"], date=D(2025, 3, 1), patient="P2"),
        claim("E", ["99213", "M1371"], dx=["E1010"], date=D(2025, 6, 1), patient="P2"),
        # P3: no QDC at all -> not reported, dated by its most recent claim.
        claim("F", ["99213"], dx=["E1010"], date=D(2025, 3, 1), patient="P3"),
        claim("G", ["99213"], dx=["E1010"], date=D(2025, 6, 1), patient="P3"),
    )
    assert counts(r, "001") == (3, 1, 1, 0, 0, 1)
    inst = r.instances.filter(pl.col("measure_id") == "001").sort("patient_id")
    assert inst["marker"].to_list() == ["met", "not_met", "none"]
    assert inst["instance_date"].to_list() == [D(2025, 6, 1)] * 3
    assert row(r, "001")["performance_rate"] == pytest.approx(1 / 2)  # a / (a + c)


def test_procedure_once_per_patient_and_day():
    r = ev(
        claim("A", ["22526", "25606", "G9500"], date=D(2025, 3, 1)),  # two procedures, one day
        claim("B", ["22526"], date=D(2025, 3, 2)),
    )
    assert counts(r, "145") == (2, 1, 0, 0, 0, 1)


def test_visit_once_per_qualifying_line_across_the_days_claims():
    r = ev(
        claim("A", ["90791", "92002", "G8783"], date=D(2025, 3, 1)),
        claim("B", ["92012"], date=D(2025, 3, 1)),
        claim("C", ["92012"], date=D(2025, 4, 1)),
    )
    # Mar 1: three qualifying lines, the day's QDC G8783 -> 3 met; Apr 1: 1 not reported.
    assert counts(r, "317") == (4, 3, 0, 0, 0, 1)


def test_episode_is_a_connected_component_of_shared_diagnoses():
    r = ev(
        claim("A", ["99213"], dx=["M4840XA"], date=D(2025, 1, 5)),
        claim("B", ["99213"], dx=["M4841XA"], date=D(2025, 2, 5)),
        claim("C", ["99213", "5015F"], dx=["M4840XA", "M4841XA"], date=D(2025, 3, 5)),
        claim("D", ["99213"], dx=["M4842XA"], date=D(2025, 4, 5)),
    )
    # A and B share nothing directly; C links them: {A, B, C} met, {D} not reported.
    assert counts(r, "024") == (2, 1, 0, 0, 0, 1)
    keys = r.instances.filter(pl.col("measure_id") == "024")["instance_key"].to_list()
    assert sorted(keys) == ["episode|0", "episode|3"]


def test_episode_option_groups_are_one_rate():
    r = ev(
        claim("A", ["99213"], dx=["M4840XA"], date=D(2025, 1, 5)),  # group 00 (encounter)
        claim("B", ["22310"], dx=["M4842XA"], date=D(2025, 2, 5)),  # group 01 (procedure)
    )
    assert counts(r, "024") == (2, 0, 0, 0, 0, 2)
    assert row(r, "024")["stratum"] is None


def test_patient_periodic_flu_seasons():
    r = ev(
        claim("A", ["90945"], date=D(2023, 2, 10)),  # season 2022-2023
        claim("B", ["90945", "G8482"], date=D(2023, 11, 5)),  # season 2023-2024
        claim("C", ["90945"], date=D(2023, 12, 1)),  # same season as B
        claim("D", ["90945"], date=D(2023, 7, 1)),  # outside any flu season
        year=2023,
    )
    assert counts(r, "110") == (2, 1, 0, 0, 0, 1)
    keys = sorted(r.instances.filter(pl.col("measure_id") == "110")["instance_key"].to_list())
    assert keys == ["season|2022-2023", "season|2023-2024"]


# --- 6. Strata ---------------------------------------------------------------------------


def test_226_reports_all_three_strata_once_any_is_eligible():
    r = ev(claim("A", ["99213", "G9903"]), claim("B", ["99213", "G9905"], patient="P2"))
    assert counts(r, "226", "00") == (2, 1, 1, 0, 0, 0)
    assert counts(r, "226", "01") == (0, 0, 0, 0, 0, 0)
    assert counts(r, "226", "02") == (2, 0, 0, 0, 0, 2)
    zero = row(r, "226", "01")
    assert zero["performance_rate"] is None and zero["data_completeness"] is None
    assert zero["meets_case_minimum"] is False and zero["meets_data_completeness"] is False
    names = r.rows.filter(pl.col("measure_id") == "226").sort("stratum")["stratum_name"]
    assert names.to_list() == ["reporting", "performance", "combinedPopulations"]


# --- 7. Counts and rates -----------------------------------------------------------------


def _patients(n_met, n_not_met, n_exception, n_none, year=2025):
    qdcs = ["G8733"] * n_met + ["G8536"] * n_not_met + ["G8535"] * n_exception + [None] * n_none
    return [
        claim(f"C{i}", ["99213", *([q] if q else [])], patient=f"P{i}", date=D(year, 5, 1))
        for i, q in enumerate(qdcs)
    ]


def test_counts_rates_and_thresholds():
    r = ev(*_patients(10, 5, 4, 6))
    got = row(r, "181")
    assert counts(r, "181") == (25, 10, 5, 0, 4, 6)
    assert got["data_completeness"] == pytest.approx(19 / 25)  # (10 + 4 + 5 + 0) / 25 = 0.76
    assert got["performance_rate"] == pytest.approx(10 / 15)  # 10 / (10 + 5)
    assert got["meets_case_minimum"] is True  # 25 - 0 - 4 = 21 >= 20
    assert got["meets_data_completeness"] is True  # 0.76 >= 0.75


def test_case_minimum_and_completeness_at_their_boundaries():
    got = row(ev(*_patients(9, 5, 1, 5)), "181")
    assert got["data_completeness"] == pytest.approx(0.75)  # 15 / 20 exactly the threshold
    assert got["meets_data_completeness"] is True
    assert got["meets_case_minimum"] is False  # 20 - 0 - 1 = 19 < 20


@pytest.mark.parametrize(
    ("year", "reported", "meets"),
    [(2023, 14, True), (2023, 13, False), (2024, 14, False), (2024, 15, True)],
)
def test_data_completeness_threshold_per_year(year, reported, meets):
    # 20 patients; 2023 needs 70% (14/20), 2024 on 75% (15/20).
    got = row(ev(*_patients(reported, 0, 0, 20 - reported, year), year=year), "181")
    assert got["meets_data_completeness"] is meets
    assert got["data_completeness_threshold"] == (0.7 if year == 2023 else 0.75)


def test_rate_undefined_without_met_or_not_met():
    got = row(ev(claim("A", ["99213", "G8535"])), "181")
    assert got["performance_rate"] is None
    assert got["data_completeness"] == 1.0


def test_tin_level_merges_clinicians_of_one_tin():
    a = claim("A", ["99213"], npi="1000000001")
    b = claim("B", ["99213", "G8733"], npi="1000000002")
    by_npi = ev(a, b)
    assert counts(by_npi, "181", npi="1000000001") == (1, 0, 0, 0, 0, 1)
    assert counts(by_npi, "181", npi="1000000002") == (1, 1, 0, 0, 0, 0)
    group = ev(a, b, level="tin")
    assert counts(group, "181", npi=None) == (1, 1, 0, 0, 0, 0)  # one patient, best marker


def test_monthly_is_year_to_date():
    r = ev(
        claim("A", ["99213"], date=D(2025, 2, 3)),
        claim("B", ["99213", "G8733"], date=D(2025, 4, 3)),
        claim("C", ["99213"], date=D(2025, 4, 9), patient="P2"),
    )
    m = r.monthly.filter(pl.col("measure_id") == "181").sort("month")
    assert m["month"].to_list() == [2, 3, 4]  # nothing before Feb, nothing after April
    assert m["eligible_population"].to_list() == [1, 1, 2]
    assert m["performance_met"].to_list() == [0, 0, 1]


# --- Findings ----------------------------------------------------------------------------


def test_wasted_wrong_year_and_charged_qdc_findings():
    young = claim("A", ["99213", "G8733"], birth=D(1990, 1, 1))  # 181 needs age 60
    old = claim(
        "B",
        ["99213", ("G8733", (), {"charge": 5.0}), ("1123F", (), {"charge": 0.01}), "3044F"],
        patient="P2",
    )
    f = ev(young, old).findings
    kinds = sorted(zip(f["kind"], f["code"], f["claim_seq"], strict=True))
    assert kinds == [
        ("qdc_nonzero_charge", "G8733", 1),  # $5.00; 1123F at $0.01 is fine
        ("wasted_qdc", "G8733", 0),
        ("wrong_year_qdc", "3044F", 1),  # a 2023-2024 code of 001, not a 2025 QDC
    ]
    wasted = f.filter(pl.col("kind") == "wasted_qdc").row(0, named=True)
    assert wasted["measure_id"] == "181"
    assert "P1" not in " ".join(f["detail"].to_list())


# --- Measures later years dropped --------------------------------------------------------


@pytest.mark.parametrize(
    ("measure", "lines", "dx", "expected"),
    [
        ("111", ["99213", "G9991"], [], (1, 1, 0, 0, 0, 0)),
        ("111", ["99213"], ["B20"], (1, 0, 0, 1, 0, 0)),  # 2023 lists ICD-10 exclusions as QDCs
        ("147", ["78300", "3570F"], [], (1, 1, 0, 0, 0, 0)),
        ("147", ["78300", ("3570F", ["8P"])], [], (1, 0, 1, 0, 0, 0)),
        ("155", ["92540", "1100F", "0518F"], [], (1, 1, 0, 0, 0, 0)),
        ("155", ["92540", "0518F"], [], None),  # 1100F must also be on the claim
        ("436", ["70450", "G9637"], [], (1, 1, 0, 0, 0, 0)),
    ],
)
def test_measures_dropped_after_2023(measure, lines, dx, expected):
    r = ev(claim("A", lines, dx=dx, date=D(2023, 5, 1), birth=D(1940, 1, 1)), year=2023)
    if expected is None:
        assert not has_rows(r, measure)
    else:
        assert counts(r, measure) == expected


def test_hand_built_frames_are_normalised_and_validated():
    lines = frame(claim("A", ["97802"])).with_columns(
        pl.lit(["e10.10"], dtype=pl.List(pl.String)).alias("diagnosis_codes")
    )
    assert counts(evaluate_lines(lines, 2025), "001") == (1, 0, 0, 0, 0, 1)
    with pytest.raises(ValueError, match=r"row 0 .*no claim_seq"):
        evaluate_lines(lines.with_columns(pl.lit(None, dtype=pl.Int64).alias("claim_seq")), 2025)


def test_option_masks_refuse_more_options_than_an_int64_holds(monkeypatch):
    """Option sets are Int64 bit masks: a year with more than MAX_BITS options (or exclusion
    rules) is refused with a clear error, never silently wrapped (2023 has 34)."""
    from types import SimpleNamespace

    from mipsclaims.engine import eligibility

    too_many = SimpleNamespace(
        options=pl.DataFrame({"opt": range(eligibility.MAX_BITS + 1)}),
        exclusion_rules=pl.DataFrame({"rule": [0]}),
    )
    monkeypatch.setattr(eligibility, "tables", lambda year: too_many)
    with pytest.raises(ValueError, match="do not fit a mask"):
        eligibility.option_masks.__wrapped__(1999)


def test_as_level_checks_the_two_levels_once_for_every_entry_point():
    assert as_level("tin-npi") == "tin-npi" and as_level("tin") == "tin"
    for bad in ("npi", "TIN", "", None):
        with pytest.raises(ValueError, match="level must be 'tin-npi' or 'tin'"):
            as_level(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not 'group'"):
        evaluate_lines(frame(), 2025, level="group")  # type: ignore[arg-type]
