"""The 835 reader under damage: a bad claim never costs a good one, nothing crashes, and no
message carries patient data (hypothesis)."""

from __future__ import annotations

import functools

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mipsclaims.remit.reader import read_remit_lines
from mipsclaims.remit.synth import RemitConfig, synthetic_835
from mipsclaims.synth import SynthConfig, synthetic_837
from mipsclaims.x12 import ReadReport, read_claim_lines

PHI = ("DOE", "1EG4TE5MK73")  # the patient name and member id every synthetic CLP carries
DAMAGE = (
    lambda el: [*el[:2], "2025AB01"],  # DTM: not a date
    lambda el: [el[0], "", *el[2:]],  # first element emptied
    lambda el: [*el[:2], "x1.5", *el[3:]],  # an amount or code that is not one
    lambda el: [el[0]],  # every element dropped
    lambda el: [*el, "DOE", "1EG4TE5MK73"],  # PHI pushed into a damaged segment
)


@functools.cache
def _base() -> tuple[list[str], pl.DataFrame]:
    lines = read_claim_lines(synthetic_837(SynthConfig(year=2025, claims=40, seed=8)))
    data = synthetic_835(lines, 2025, RemitConfig(seed=8)).files[0].decode()
    segments = data.split("~\n")
    return segments, read_remit_lines([data.encode()])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damage_in_one_claim_leaves_every_other_claim_exact(data):
    segments, whole = _base()
    clps = [i for i, s in enumerate(segments) if s.startswith("CLP*")]
    k = data.draw(st.integers(0, len(clps) - 1))
    start = clps[k]
    end = (
        clps[k + 1]
        if k + 1 < len(clps)
        else segments.index(next(s for s in segments if s.startswith("SE*")))
    )
    at = data.draw(st.integers(start, end - 1))
    damage = data.draw(st.sampled_from(DAMAGE))
    changed = list(segments)
    changed[at] = "*".join(damage(changed[at].split("*")))
    report = ReadReport()
    got = read_remit_lines(["~\n".join(changed).encode()], report)
    others = whole.filter(pl.col("remit_seq") != k)
    assert got.filter(pl.col("remit_seq") != k).drop("source").equals(others.drop("source"))
    assert len(report.quarantined) <= 1
    if report.quarantined:
        assert report.quarantined[0].claim_seq == k
        assert got.filter(pl.col("remit_seq") == k).height == 0
    text = " ".join(str(x) for x in (*report.quarantined, *report.warnings, *report.errors))
    assert not any(p in text for p in PHI)
    assert not any(p in str(got.to_dicts()) for p in PHI)
