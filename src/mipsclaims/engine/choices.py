"""Valid QDC choices that close a measure for a claim (for gaps and ``check_claim``)."""

from __future__ import annotations

import functools
import itertools

from pydantic import BaseModel, ConfigDict

from .. import specs
from ..specs.models import OptionType
from .codes import MARKER_OF_OPTION_TYPE, OptionMarker, marker_rank

_DESCRIPTIONS: dict[OptionMarker, str] = {
    "met": "performance met",
    "not_met": "performance not met",
    "exclusion": "denominator exclusion",
    "exception": "denominator exception",
}


class QdcChoice(BaseModel):
    """One QDC combination: every code in ``codes`` must be on the claim (``CODE-MOD`` form)."""

    model_config = ConfigDict(frozen=True)

    codes: list[str]
    option_type: OptionType
    meaning: OptionMarker
    description: str


@functools.cache
def _choices(year: int, measure_id: str, stratum: str | None) -> tuple[QdcChoice, ...]:
    measure = specs.load(year).measure(measure_id)
    groups = {stratum} if (measure.is_multi_rate and stratum) else set(measure.option_groups)
    seen: set[tuple[str, ...]] = set()
    out: list[QdcChoice] = []
    for option in measure.performance_options:
        if option.option_group not in groups:
            continue
        meaning = MARKER_OF_OPTION_TYPE[option.option_type]
        # A code listing several modifiers accepts any one of them: one choice per combination.
        alternatives = [
            [f"{q.code}-{m}" for m in q.modifiers] if q.modifiers else [q.code]
            for q in option.quality_codes
        ]
        for combo in itertools.product(*alternatives):
            key = (meaning, *combo)
            if key in seen:
                continue
            seen.add(key)
            out.append(
                QdcChoice(
                    codes=list(combo),
                    option_type=option.option_type,
                    meaning=meaning,
                    description=f"{_DESCRIPTIONS[meaning]}: report {' + '.join(combo)}",
                )
            )
    out.sort(key=lambda c: -marker_rank(c.meaning, measure.is_inverse))
    return tuple(out)


def closing_codes(year: int, measure_id: str, stratum: str | None = None) -> list[QdcChoice]:
    """The QDC choices of a measure (and stratum, for multi-rate measures), best first.

    Order follows the most-advantageous rule (inverse measures reversed), stable otherwise.
    """
    key = specs.normalise_measure_id(measure_id)
    return list(_choices(year, key, stratum or None))
