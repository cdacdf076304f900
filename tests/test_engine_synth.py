"""The engine on synthetic 837P files (every year): read, evaluate, agree with check_claim."""

from __future__ import annotations

import polars as pl
import pytest

import mipsclaims
from mipsclaims.claims import claims_to_frame
from mipsclaims.engine import evaluate_lines
from test_api import outcomes_of_check, outcomes_of_engine

synth = pytest.importorskip("mipsclaims.synth")
x12 = pytest.importorskip("mipsclaims.x12")


@pytest.fixture(scope="module", params=[2023, 2024, 2025])
def synthetic(request):
    data = synth.synthetic_837(synth.SynthConfig(year=request.param, claims=400, seed=11))
    return request.param, data


def test_every_claim_is_evaluated_or_counted_out(synthetic):
    year, data = synthetic
    lines = x12.read_claim_lines(data)
    r = evaluate_lines(lines, year)
    scope = dict(zip(r.scope["reason"], r.scope["lines"], strict=True))
    assert sum(scope.values()) == lines.height  # every line is evaluated or has a reason
    assert scope["evaluated"] > 0 and r.rows.height > 0
    total = r.rows.select(
        pl.sum_horizontal(
            "performance_met",
            "performance_not_met",
            "denominator_exclusion",
            "denominator_exception",
            "not_reported",
        )
    ).to_series()
    assert total.equals(r.rows["eligible_population"], check_names=False)
    # The typed stream of the same bytes gives the same counts.
    streamed = evaluate_lines(claims_to_frame(x12.iter_claims(data)), year)
    assert streamed.rows.equals(r.rows)


def test_check_claim_agrees_with_evaluate_on_synthetic_claims(synthetic):
    year, data = synthetic
    checked = 0
    for claim in x12.iter_claims(data):
        if claim.frequency != "1" or claim.filing_indicator != "MB" or checked >= 15:
            continue
        check = mipsclaims.check_claim(claim, year)
        one = claims_to_frame([claim.model_copy(update={"claim_seq": 0})])
        assert outcomes_of_check(check) == outcomes_of_engine(one, year), claim.reference
        checked += 1
    assert checked == 15
