"""mipsclaims: MIPS quality-measure reporting on Medicare Part B claims (X12 837P).

Reads the claims a practice sends, finds which are denominator-eligible for which claims
measure, which quality-data codes (QDCs) they carry, and turns that into data completeness,
performance rates, gaps and a projected score. See docs/architecture.md.
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from .errors import MipsClaimsError as MipsClaimsError

if TYPE_CHECKING:
    from .api import check_claim as check_claim
    from .api import evaluate as evaluate


def __getattr__(name: str) -> Any:
    """``evaluate`` and ``check_claim`` are imported on first use: importing the package (as
    ``mipsclaims --help`` does) must not load polars and numpy."""
    if name in ("evaluate", "check_claim"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
