"""mipsclaims: MIPS quality-measure reporting on Medicare Part B claims (X12 837P).

Reads the claims a practice sends, finds which are denominator-eligible for which claims
measure, which quality-data codes (QDCs) they carry, and turns that into data completeness,
performance rates, gaps and a projected score. See docs/architecture.md.
"""

__version__ = "0.1.0"

from .api import check_claim as check_claim
from .api import evaluate as evaluate
from .errors import MipsClaimsError as MipsClaimsError
