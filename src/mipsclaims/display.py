"""How a number is written for a person: one percent formatter and the "no value" symbols.

Every rendered output (terminal tables, the HTML report, the score command, the reasons in
a score) writes its percentages with :func:`pct`. Where a value is missing (a rate with no
cases, a category not scored) each kind of output has one symbol, chosen by the ``none``
argument; the outputs are recorded byte for byte (tests/golden), so the three symbols
they used before stay, each in its own place (docs/architecture.md, "Rendering"):

- :data:`NO_VALUE` (an en dash) in the report's, gaps' and remittance tables and the HTML
  report, where a cell is empty;
- :data:`NO_VALUE_ASCII` (``-``) in ``mipsclaims score``'s tables, written in plain ASCII;
- :data:`NO_VALUE_WORD` (``n/a``) inside a sentence, such as a measure's scoring reason.
"""

from __future__ import annotations

#: An empty cell of a report table or of the HTML report.
NO_VALUE = "–"
#: An empty cell of ``mipsclaims score``'s tables.
NO_VALUE_ASCII = "-"
#: A missing value inside a sentence (a score's ``reason``).
NO_VALUE_WORD = "n/a"


def pct(value: float | None, *, none: str = NO_VALUE, digits: int = 1, scale: float = 100.0) -> str:
    """``value`` as a percent with ``digits`` decimals (``92.3%``), or ``none`` when missing.

    ``value`` is a fraction (0.923) unless ``scale=1`` says it is a percent already (a
    category score of 73.25).
    """
    return none if value is None else f"{value * scale:.{digits}f}%"
