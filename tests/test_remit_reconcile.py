"""Reconciliation, one hand-worked case per rule (docs/remittance.md).

Measure 181 (2025): 99213 on a patient >= 60 is eligible; G8733 is "met", G8536 "not met".
Every 837 claim below is eligible unless a test says otherwise; only QDC lines get a status.
"""

from __future__ import annotations

import polars as pl

from mipsclaims.remit.reader import read_remit_lines
from mipsclaims.remit.reconcile import (
    RECONCILED_LINE_SCHEMA,
    confirmed_only,
    reconcile_lines,
    unmatched_remittances,
)
from support_engine import D, claim, frame
from test_remit_reader import era


def svc(code: str, *tail: str, date: str = "20250301") -> tuple[str, ...]:
    return (f"SVC*HC:{code}*0*0**1", f"DTM*472*{date}", *tail)


CONFIRMED = ("CAS*CO*246*0", "LQ*HE*N365")


def run(claims: pl.DataFrame, *files: bytes) -> pl.DataFrame:
    remit = read_remit_lines(list(files)) if files else read_remit_lines([era()])
    return reconcile_lines(claims, remit, 2025)


def statuses(result: pl.DataFrame) -> list[tuple[int, int, str]]:
    return [
        (s, n, str(st))
        for s, n, st in result.select("claim_seq", "line_number", "status").iter_rows()
    ]


def test_confirmed_and_denied_lines_of_one_claim():
    claims = frame(claim("A", ["99213", "G8733", ("G8536", ("8P",))]))
    out = run(
        claims,
        era(
            "CLP*A*1*100*80**MB*ICN1",
            *svc("99213:25", "CAS*CO*45*20"),
            *svc("G8733", *CONFIRMED),
            *svc("G8536:8P", "CAS*CO*4*0", "LQ*HE*N519"),
        ),
    )
    assert out.schema == pl.Schema(RECONCILED_LINE_SCHEMA)
    assert statuses(out) == [(0, 2, "confirmed"), (0, 3, "denied")]  # 99213 is no QDC
    assert out["codes"].to_list() == [[], ["CO-4", "N519"]]
    assert out["matched_by"].to_list() == ["code_date", "code_date"]
    assert out["remit_line_index"].to_list() == [2, 3]
    assert out["action"][0] is None and "modifier" in out["action"][1]


def test_denied_claim_is_claim_rejected_with_the_claim_codes():
    claims = frame(claim("A", ["99213", "G8733"]))
    out = run(claims, era("CLP*A*4*100*0**MB*ICN1", "CAS*CO*16*100", "MOA***MA130"))
    assert statuses(out) == [(0, 2, "claim_rejected")]
    assert out["codes"].to_list() == [["CO-16", "MA130"]]
    assert out["claim_status"].to_list() == ["4"]


def test_line_missing_from_a_processed_claim_is_not_in_835():
    claims = frame(claim("A", ["99213", "G8733"]))
    out = run(claims, era("CLP*A*1*100*80**MB*ICN1", *svc("99213", "CAS*CO*45*20")))
    assert statuses(out) == [(0, 2, "not_in_835")]
    assert "clearinghouse" in out["action"][0]
    assert out["remit_seq"].to_list() == [0]


def test_claim_without_an_835_has_no_remittance_yet():
    claims = frame(claim("A", ["99213", "G8733"]), claim("B", ["99213", "G8733"], patient="P2"))
    out = run(claims, era("CLP*B*1*100*80**MB*ICN1", *svc("G8733", *CONFIRMED)))
    assert statuses(out) == [(0, 2, "no_remittance_yet"), (1, 2, "confirmed")]
    assert out["remit_seq"].to_list() == [None, 0]


def test_qdc_on_an_ineligible_claim_gets_no_status():
    claims = frame(claim("A", ["99213", "G8733"], birth=D(1990, 1, 1)))  # 35 years old
    assert run(claims, era("CLP*A*1*100*80**MB*ICN1", *svc("G8733", *CONFIRMED))).height == 0


def test_reversal_without_readjudication_is_claim_rejected():
    claims = frame(claim("A", ["99213", "G8733"]))
    first = era("CLP*A*1*100*80**MB*ICN1", *svc("G8733", *CONFIRMED))
    later = era("CLP*A*22*-100*-80**MB*ICN1", *svc("G8733", *CONFIRMED))
    out = run(claims, first, later)
    assert statuses(out) == [(0, 2, "claim_rejected")]
    assert out["claim_status"].to_list() == ["22"] and out["remit_seq"].to_list() == [1]


def test_reversal_and_readjudication_across_two_files_take_the_new_answer():
    claims = frame(claim("A", ["99213", "G8733", "G8536"]))
    # First ERA: G8536 dropped; second: reversal of ICN1 and a clean re-adjudication.
    first = era("CLP*A*1*100*80**MB*ICN1", *svc("G8733", *CONFIRMED))
    later = era(
        "CLP*A*22*-100*-80**MB*ICN1",
        *svc("G8733", *CONFIRMED),
        "CLP*A*1*100*80**MB*ICN2",
        *svc("G8733", *CONFIRMED),
        *svc("G8536", "CAS*CO*4*0"),
    )
    out = run(claims, first, later)
    assert statuses(out) == [(0, 2, "confirmed"), (0, 3, "denied")]
    assert out["payer_claim_control"].to_list() == ["ICN2", "ICN2"]
    # The files in the other order: the reversal comes first and cancels nothing, the
    # ICN1 adjudication comes last and is the latest live answer.
    assert statuses(run(claims, later, first)) == [(0, 2, "confirmed"), (0, 3, "not_in_835")]


def test_reversal_cancels_the_adjudication_with_its_clp07():
    claims = frame(claim("A", ["99213", "G8733"]))
    out = run(
        claims,
        era(
            "CLP*A*1*100*80**MB*ICN1",
            *svc("G8733", *CONFIRMED),
            "CLP*A*1*100*80**MB*ICN2",
            *svc("G8733", "CAS*CO*4*0"),
            "CLP*A*22*-100*-80**MB*ICN2",  # reverses ICN2, not the latest-but-one
        ),
    )
    assert statuses(out) == [(0, 2, "confirmed")]
    assert out["payer_claim_control"].to_list() == ["ICN1"]


def test_repeated_clp01_of_two_claims_is_matched_by_date():
    claims = frame(
        claim("A", ["99213", "G8733"], date=D(2025, 3, 1)),
        claim("A", ["99213", "G8733"], date=D(2025, 6, 1), patient="P2"),
    )
    out = run(
        claims,
        era(
            "CLP*A*1*100*80**MB*ICN7",  # the June claim first
            *svc("99213", date="20250601"),
            *svc("G8733", "CAS*CO*4*0", date="20250601"),
            "CLP*A*1*100*80**MB*ICN8",
            *svc("99213", date="20250301"),
            *svc("G8733", *CONFIRMED, date="20250301"),
        ),
    )
    assert statuses(out) == [(0, 2, "confirmed"), (1, 2, "denied")]
    assert out["payer_claim_control"].to_list() == ["ICN8", "ICN7"]


def test_repeated_clp01_matching_neither_claim_is_left_unassigned():
    claims = frame(
        claim("A", ["99213", "G8733"], date=D(2025, 3, 1)),
        claim("A", ["99213", "G8733"], date=D(2025, 6, 1), patient="P2"),
    )
    out = run(claims, era("CLP*A*1*100*80**MB*ICN7", *svc("99214", date="20250901")))
    assert statuses(out) == [(0, 2, "no_remittance_yet"), (1, 2, "no_remittance_yet")]


def test_837_replacement_is_reconciled_as_the_claim_that_stands():
    claims = frame(
        claim("A", ["99213", "G8536"]),
        claim("A", ["99213", "G8733"], frequency="7"),
    )
    out = run(
        claims,
        era("CLP*A*1*100*80**MB*ICN1", *svc("G8536", *CONFIRMED)),
        era(
            "CLP*A*22*-100*-80**MB*ICN1",
            *svc("G8536", *CONFIRMED),
            "CLP*A*1*100*80**MB*ICN2*11*7",
            *svc("G8733", *CONFIRMED),
        ),
    )
    assert statuses(out) == [(1, 2, "confirmed")]  # claim 0 was replaced: no status


def test_837_void_leaves_nothing_to_reconcile():
    claims = frame(claim("A", ["99213", "G8733"]), claim("A", ["99213"], frequency="8"))
    assert run(claims, era("CLP*A*1*100*80**MB*ICN1", *svc("G8733", *CONFIRMED))).height == 0


def _with_controls(claims: pl.DataFrame, controls: list[str | None]) -> pl.DataFrame:
    return claims.with_columns(pl.Series("line_control", controls, dtype=pl.String))


TWO_SAME = frame(claim("A", ["99213", "G8733", "G8733"]))
BACK_REVERSED = (
    "CLP*A*1*100*80**MB*ICN1",
    *svc("G8733", "REF*6R*L3", "CAS*CO*4*0"),
    *svc("G8733", "REF*6R*L2", *CONFIRMED),
)


def test_ref_6r_matches_lines_whatever_their_order():
    out = run(_with_controls(TWO_SAME, ["L1", "L2", "L3"]), era(*BACK_REVERSED))
    assert statuses(out) == [(0, 2, "confirmed"), (0, 3, "denied")]
    assert out["matched_by"].to_list() == ["line_control", "line_control"]
    assert out["remit_line_index"].to_list() == [2, 1]


def test_missing_ref_6r_falls_back_to_code_date_and_line_order():
    # Without 837 control numbers the k-th G8733 pairs with the k-th G8733 line of the 835.
    out = run(TWO_SAME, era(*BACK_REVERSED))
    assert statuses(out) == [(0, 2, "denied"), (0, 3, "confirmed")]
    assert out["matched_by"].to_list() == ["code_date", "code_date"]
    # One line with a control number the 835 did not return, one without.
    out = run(_with_controls(TWO_SAME, [None, "L9", None]), era(*BACK_REVERSED))
    assert out["matched_by"].to_list() == ["code_date", "code_date"]


def test_no_dates_in_the_835_match_on_code_and_modifiers():
    claims = frame(claim("A", ["99213", ("G8536", ("8P",)), "G8733"]))
    out = run(
        claims,
        era(
            "CLP*A*1*100*80**MB*ICN1",
            "SVC*HC:G8733*0*0**1",
            *CONFIRMED,
            "SVC*HC:G8536:8P*0*0**1",
            *CONFIRMED,
        ),
    )
    assert statuses(out) == [(0, 2, "confirmed"), (0, 3, "confirmed")]
    assert out["matched_by"].to_list() == ["code", "code"]


def test_svc06_original_code_is_what_is_matched():
    claims = frame(claim("A", ["99213", "G8733"]))
    out = run(
        claims,
        era(
            "CLP*A*1*100*80**MB*ICN1",
            "SVC*HC:G9999*0*0**1*HC:G8733",
            "DTM*472*20250301",
            "CAS*CO*4*0",
        ),
    )
    assert statuses(out) == [(0, 2, "denied")]


def test_835_for_a_claim_never_sent_is_listed_and_changes_nothing():
    claims = frame(claim("A", ["99213", "G8733"]))
    data = era(
        "CLP*ZZ9*1*100*80**MB*ICN5",
        *svc("G8733", *CONFIRMED),
        "CLP*A*1*100*80**MB*ICN1",
        *svc("G8733", *CONFIRMED),
    )
    out = run(claims, data)
    assert statuses(out) == [(0, 2, "confirmed")]
    never = unmatched_remittances(claims, read_remit_lines(data))
    assert never.select("remit_seq", "claim_id", "lines").rows() == [(0, "ZZ9", 1)]


def test_confirmed_only_removes_every_lost_qdc_line_and_nothing_else():
    claims = frame(claim("A", ["99213", "G8733", "G8536"]), claim("B", ["99213", "G8733"]))
    out = run(
        claims,
        era(
            "CLP*A*1*100*80**MB*ICN1",
            *svc("G8733", *CONFIRMED),
            *svc("G8536", "CAS*CO*4*0"),
        ),
    )
    kept = confirmed_only(claims, out)
    assert kept.select("claim_seq", "line_number").rows() == [(0, 1), (0, 2), (1, 1)]


def test_reversal_of_a_replaced_claim_says_nothing_yet_about_its_replacement():
    claims = frame(claim("A", ["99213", "G8536"]), claim("A", ["99213", "G8733"], frequency="7"))
    first = era("CLP*A*1*100*80**MB*ICN1*11*1", *svc("G8536", *CONFIRMED))
    reversal = era("CLP*A*22*-100*-80**MB*ICN1*11*1", *svc("G8536", *CONFIRMED))
    assert statuses(run(claims, first, reversal)) == [(1, 2, "no_remittance_yet")]
    # The replacement's own adjudication (CLP09 = 7), reversed in turn: rejected.
    own = era("CLP*A*1*100*80**MB*ICN2*11*7", *svc("G8733", *CONFIRMED))
    own_reversed = era("CLP*A*22*-100*-80**MB*ICN2*11*7", *svc("G8733", *CONFIRMED))
    out = run(claims, first, reversal, own, own_reversed)
    assert statuses(out) == [(1, 2, "claim_rejected")]
    assert out["payer_claim_control"].to_list() == ["ICN2"]


def test_an_835_without_claims_leaves_every_qdc_waiting():
    claims = frame(claim("A", ["99213", "G8733"]), claim("B", ["99213", "G8733"], patient="P2"))
    out = run(claims, era())
    assert statuses(out) == [(0, 2, "no_remittance_yet"), (1, 2, "no_remittance_yet")]
    assert out["action"].str.contains("276/277").all()
