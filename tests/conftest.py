"""Shared fixtures: where the shared CMS data and 837 samples are (absent -> tests skip)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
