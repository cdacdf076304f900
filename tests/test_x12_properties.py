"""Property tests: both reader paths agree, and typed claims survive a round trip."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from mipsclaims import x12
from mipsclaims.claims import claims_to_frame
from mipsclaims.synth import SynthConfig, render_claims, synthetic_837
from mipsclaims.testing import claims, delimiter_sets, newlines
from x12_support import assert_same_reports, read_both

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    st.lists(claims(), min_size=1, max_size=8),
    delimiter_sets(),
    newlines,
    st.integers(1, 4),
)
def test_typed_claims_round_trip(originals, delimiters, newline, per_transaction):
    data = render_claims(originals, delimiters, newline, claims_per_transaction=per_transaction)
    report = x12.ReadReport()
    read = list(x12.iter_claims(data, report))
    assert report.quarantined == []
    expected = [
        c.model_copy(
            update={"source": "<bytes>", "interchange_control": "000000001", "claim_seq": i}
        )
        for i, c in enumerate(originals)
    ]
    assert_frame_equal(claims_to_frame(read), claims_to_frame(expected))
    assert [c.patient.patient_id for c in read] == [c.patient.patient_id for c in originals]


@SETTINGS
@given(
    st.lists(claims(), min_size=1, max_size=10),
    delimiter_sets(),
    newlines,
    st.sampled_from([300, 2048, 1 << 20]),
)
def test_both_outputs_agree_on_generated_claims(originals, delimiters, newline, batch):
    data = render_claims(originals, delimiters, newline, claims_per_transaction=3)
    typed, table, a, b = read_both(data, batch)
    assert_frame_equal(table, typed)
    assert_same_reports(a, b)
    assert table.height == sum(len(c.lines) for c in originals)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), delimiter_sets(), newlines, st.sampled_from([4096, 1 << 20]))
def test_both_outputs_agree_on_synthetic_files(seed, delimiters, newline, batch):
    config = SynthConfig(claims=60, seed=seed, delimiters=delimiters, newline=newline)
    data = synthetic_837(config)
    typed, table, a, b = read_both(data, batch)
    assert_frame_equal(table, typed)
    assert_same_reports(a, b)
    assert a.claims_read == 60 and not a.quarantined


_DAMAGE = st.sampled_from(
    [
        ("SV1*HC:", "SV1*XX"),  # no procedure code
        ("*UN*", "*UN*ONE*"),  # units not a number
        ("DTP*472*D8*2025", "DTP*472*D8*2X25"),  # bad service date
        ("LX*", "LX*A"),  # bad line number
        ("CLM*", "CLM**"),  # claim id missing (shifts elements)
        ("DMG*D8*19", "DMG*D8*X9"),  # bad birth date
        ("NM1*IL*1*", "NM1*XX*1*"),  # no subscriber member id
        ("LX*", "SV1*HC:99213*1~LX*"),  # SV1 outside a line
    ]
)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), _DAMAGE, st.data())
def test_both_outputs_agree_on_damaged_files(seed, damage, data):
    text = synthetic_837(SynthConfig(claims=25, seed=seed)).decode()
    old, new = damage
    starts = [i for i in range(len(text)) if text.startswith(old, i)]
    for i in sorted(data.draw(st.sets(st.sampled_from(starts), max_size=3)), reverse=True):
        text = text[:i] + new + text[i + len(old) :]
    raw = text.encode()
    typed, table, a, b = read_both(raw, data.draw(st.sampled_from([1500, 1 << 20])))
    assert_frame_equal(table, typed)
    assert_same_reports(a, b)
    assert a.claims_seen == 25
    assert a.claims_read + len(a.quarantined) == a.claims_seen
