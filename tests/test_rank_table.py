"""The rank table (engine/codes.py): every way the engine names or ranks a marker agrees."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mipsclaims.engine.codes import (
    MARKER_OF_OPTION_TYPE,
    MARKERS,
    RANK_ORDER,
    RANKS,
    marker_expr,
    marker_of_rank,
    marker_rank,
)


def test_ranks_follow_measure_logic_section_4() -> None:
    # Normal measures: met > exclusion > exception > not met; inverse: reversed meaning.
    assert [marker_of_rank(r, False) for r in (4, 3, 2, 1, 0)] == [
        "met", "exclusion", "exception", "not_met", "none",
    ]  # fmt: skip
    assert [marker_of_rank(r, True) for r in (4, 3, 2, 1, 0)] == [
        "not_met", "exception", "exclusion", "met", "none",
    ]  # fmt: skip
    assert marker_rank("none", False) == marker_rank("none", True) == 0


@pytest.mark.parametrize("inverse", [False, True])
def test_rank_and_marker_are_inverse_functions(inverse: bool) -> None:
    for marker in MARKERS:
        assert marker_of_rank(marker_rank(marker, inverse), inverse) == marker
    assert sorted(marker_rank(m, inverse) for m in MARKERS) == [0, 1, 2, 3, 4]


def test_marker_names_are_spelled_once() -> None:
    from mipsclaims.engine import choices, counts
    from mipsclaims.report import gaps

    options = set(MARKER_OF_OPTION_TYPE.values())
    assert set(MARKERS) == {*options, "none"}
    for order in RANK_ORDER.values():
        assert sorted(order) == sorted(options)
    # Every table keyed by marker covers exactly the markers (types check the spelling).
    assert set(counts._COUNTS) == set(MARKERS)
    assert set(choices._DESCRIPTIONS) == set(gaps.MEANING_LABEL) == set(gaps.MEANING_ORDER)
    assert set(gaps.MEANING_ORDER) == options


def test_the_join_table_is_the_rank_table() -> None:
    expected = {(inv, m, marker_rank(m, inv)) for inv in (False, True) for m in MARKERS[:4]}
    assert set(RANKS.iter_rows()) == expected
    assert RANKS.schema == pl.Schema(
        {"is_inverse": pl.Boolean(), "marker": pl.String(), "rank": pl.Int8()}
    )


@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.integers(-1, 5)), st.one_of(st.none(), st.booleans())),
        max_size=60,
    )
)
def test_the_polars_expression_names_ranks_as_python_does(pairs) -> None:
    frame = pl.DataFrame(
        {"rank": [r for r, _ in pairs], "is_inverse": [i for _, i in pairs]},
        schema={"rank": pl.Int8(), "is_inverse": pl.Boolean()},
    )
    named = frame.select(marker_expr(pl.col("rank"), pl.col("is_inverse")).alias("m"))["m"]
    # A null rank is no marker; a null direction reads as a normal measure.
    expected = [marker_of_rank(r or 0, bool(i)) if (r or 0) <= 4 else "none" for r, i in pairs]
    assert named.to_list() == expected
