"""Every error class mipsclaims defines derives from MipsClaimsError (one base to catch)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import mipsclaims
from mipsclaims.errors import MipsClaimsError


def _library_modules() -> list[str]:
    names = [mipsclaims.__name__]
    for info in pkgutil.walk_packages(mipsclaims.__path__, prefix="mipsclaims."):
        # Optional extras (Spark) and the CLI import packages a library user may not have.
        if info.name.startswith(("mipsclaims.cli", "mipsclaims.spark", "mipsclaims.testing")):
            continue
        names.append(info.name)
    return names


def test_every_library_error_derives_from_the_one_base() -> None:
    found: dict[str, type] = {}
    for name in _library_modules():
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Exception)
                and obj.__module__.startswith("mipsclaims")
            ):
                found[f"{obj.__module__}.{attr}"] = obj
    assert "mipsclaims.x12.report.X12Error" in found  # the walk reached the subpackages
    strays = sorted(n for n, c in found.items() if not issubclass(c, MipsClaimsError))
    assert strays == []


def test_the_base_is_exported_at_the_top() -> None:
    assert mipsclaims.MipsClaimsError is MipsClaimsError


def test_one_input_error_for_every_reading_path(tmp_path) -> None:
    """Files, stores and tables fail with the same InputError (there used to be two)."""
    import polars as pl
    import pytest

    from mipsclaims import api, inputs
    from mipsclaims.errors import InputError

    missing = tmp_path / "nope.837"
    with pytest.raises(InputError, match="no such file"):
        inputs.iter_claim_lines([missing])
    with pytest.raises(InputError):
        inputs.sniff(missing)
    with pytest.raises(InputError, match="not a mipsclaims store"):
        api.evaluate(None, 2025, store=tmp_path)
    with pytest.raises(InputError, match="no such file"):
        api.evaluate([pl.DataFrame(), missing], 2025)  # a table beside a path
    assert issubclass(InputError, ValueError) and issubclass(InputError, MipsClaimsError)
