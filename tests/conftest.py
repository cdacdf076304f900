"""Shared fixtures: where the shared CMS data and 837 samples are (absent -> tests skip).

Hypothesis runs derandomized by default, so the suite (and CI) gives the same answer on every
run; ``HYPOTHESIS_PROFILE=explore`` draws new random examples (with the fuzz example count
raised, see docs/security.md) to look for new failures.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# Imported specs live in a per-user directory; the suite must never see the developer's own
# imports, so it starts with an empty one (tests that import point it elsewhere).
os.environ["MIPSCLAIMS_SPECS_DIR"] = tempfile.mkdtemp(prefix="mipsclaims-specs-")

settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CMS_DIR = SHARED / "cms"
X12_SAMPLES = SHARED / "x12-samples"


@pytest.fixture(scope="session")
def cms_dir() -> Path:
    if not (CMS_DIR / "SOURCE.md").is_file():
        pytest.skip("shared/cms is not present beside the checkout")
    return CMS_DIR


@pytest.fixture(scope="session")
def x12_samples() -> Path:
    if not X12_SAMPLES.is_dir():
        pytest.skip("shared/x12-samples is not present beside the checkout")
    return X12_SAMPLES


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts columnar-reader runs and kernel calls made by the 837P fast path, so a
    fallback cannot pass for the fast path or the other way round."""
    from mipsclaims.x12 import columnar, fast

    calls = {"columnar": 0, "kernel": 0}
    real_columnar, real_kernel = columnar.iter_claim_line_batches, fast.read_block

    def columnar_spy(*args, **kwargs):
        calls["columnar"] += 1
        return real_columnar(*args, **kwargs)

    def kernel_spy(*args, **kwargs):
        calls["kernel"] += 1
        return real_kernel(*args, **kwargs)

    monkeypatch.setattr(columnar, "iter_claim_line_batches", columnar_spy)
    monkeypatch.setattr(fast, "read_block", kernel_spy)
    return calls
