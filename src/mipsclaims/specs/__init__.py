"""Measure specs: the normalised CMS measure data the engine and scoring run on.

``load(year)`` reads the user's imported spec of the year when there is one (``mipsclaims
specs import``, kept in :func:`user_specs_dir`), else ``measure_specs/<year>.json``
(shipped inside the wheel as ``mipsclaims/measure_specs``). Nothing at run time reads
CMS's raw files except the importer.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import pkgutil
from importlib import resources
from pathlib import Path

from ..errors import MipsClaimsError
from .builder import ALL_YEARS, LOGIC_YEARS
from .models import (
    Benchmark,
    EligibilityOption,
    ImportedFile,
    ImportInfo,
    Measure,
    PerformanceOption,
    ProcedureCode,
    QualityCode,
    Stratum,
    YearSpec,
    normalise_measure_id,
)

__all__ = [
    "ALL_YEARS",
    "LOGIC_YEARS",
    "SPECS_DIR_ENV",
    "Benchmark",
    "EligibilityOption",
    "ImportInfo",
    "ImportedFile",
    "Measure",
    "PerformanceOption",
    "ProcedureCode",
    "QualityCode",
    "SpecFileError",
    "Stratum",
    "UnsupportedYearError",
    "YearSpec",
    "imported_years",
    "load",
    "load_with_logic",
    "normalise_measure_id",
    "provisional_note",
    "reload",
    "source_line",
    "specs_dir",
    "supported_years",
    "user_specs_dir",
]


class UnsupportedYearError(MipsClaimsError, ValueError):
    """Raised for a performance year that has no measure spec."""


class SpecFileError(MipsClaimsError, ValueError):
    """An imported spec file exists but cannot be read (names the file)."""


#: Environment variable naming the per-user specs directory (imported specs).
SPECS_DIR_ENV = "MIPSCLAIMS_SPECS_DIR"


def specs_dir() -> Path:
    """Where the bundled specs live: inside the installed package, else the source checkout."""
    packaged = resources.files("mipsclaims") / "measure_specs"
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[3] / "measure_specs"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("measure_specs not found in the package or the source checkout")


def user_specs_dir() -> Path:
    """The per-user directory of imported specs.

    ``$MIPSCLAIMS_SPECS_DIR`` if set (the CLI's ``--specs-dir`` sets it), else
    ``$XDG_DATA_HOME/mipsclaims/specs``, else ``~/.local/share/mipsclaims/specs``.
    """
    explicit = os.environ.get(SPECS_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "mipsclaims" / "specs"


def imported_years() -> tuple[int, ...]:
    """Years with an imported spec in :func:`user_specs_dir`."""
    folder = user_specs_dir()
    if not folder.is_dir():
        return ()
    return tuple(sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()))


def supported_years(*, claims_logic_only: bool = False) -> tuple[int, ...]:
    """Bundled and imported years (every one of them has claims logic today)."""
    years = set(ALL_YEARS) | set(imported_years())
    if claims_logic_only:
        years = {y for y in years if _has_logic(y)}
    return tuple(sorted(years))


def _has_logic(year: int) -> bool:
    """An imported year that cannot be read does not stop the other years (using it does)."""
    try:
        return load(year).has_claims_logic
    except SpecFileError:
        return False


@functools.cache
def load(year: int) -> YearSpec:
    """The spec of one performance year (cached per process; :func:`reload` after an import).

    An imported spec (``mipsclaims specs import``) wins over the bundled one. 2026 is
    bundled as a provisional spec: 2026 metadata, benchmarks and programs, 2025 codes
    (``is_provisional``; :func:`provisional_note`).
    """
    user_file = user_specs_dir() / f"{year}.json"
    if user_file.is_file():
        try:
            return YearSpec.model_validate_json(user_file.read_bytes())
        except (ValueError, OSError) as exc:  # pydantic's ValidationError is a ValueError
            raise SpecFileError(
                f"{user_file}: not a readable mipsclaims spec ({type(exc).__name__}); "
                "import the year again with `mipsclaims specs import` or delete the file"
            ) from None
    if year not in ALL_YEARS:
        raise UnsupportedYearError(
            f"no measure spec for performance year {year}; supported years: "
            f"{', '.join(map(str, supported_years()))}. When CMS publishes the year's claims "
            f"single source, build it with `mipsclaims specs import --year {year} ...`"
        )
    path = specs_dir() / f"{year}.json"
    with path.open(encoding="utf-8") as fh:
        return YearSpec.model_validate(json.load(fh))


def load_with_logic(year: int) -> YearSpec:
    """:func:`load`, refusing a year without claims logic (what the engine counts with)."""
    spec = load(year)
    if not spec.has_claims_logic:
        raise UnsupportedYearError(
            f"performance year {year} has no claims logic; "
            f"supported: {', '.join(map(str, supported_years(claims_logic_only=True)))}; "
            f"import CMS's claims single source with `mipsclaims specs import --year {year}`"
        )
    return spec


def reload() -> None:
    """Forget every cached spec and everything the engine derived from one.

    Needed only when a process imports a spec (or changes ``MIPSCLAIMS_SPECS_DIR``) and then
    evaluates the same year: the engine caches its code tables per year.
    """
    load.cache_clear()
    from .. import engine

    for info in pkgutil.iter_modules(engine.__path__, engine.__name__ + "."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                callable(getattr(value, "cache_clear", None))
                and getattr(value, "__module__", "") == module.__name__
            ):
                value.cache_clear()


def provisional_note(spec: YearSpec) -> str | None:
    """The one sentence every output shows for a provisional spec; None otherwise."""
    if not spec.is_provisional:
        return None
    year, coding = spec.performance_year, spec.coding_year
    return (
        f"Provisional {year}: CMS has not published the {year} claims single source yet, so "
        f"claims are counted with the {coding} codes ({year} measures, benchmarks and "
        f"programs); when CMS posts it, run `mipsclaims specs import --year {year} "
        f"--single-source <{year}_Claims_SingleSource file>`."
    )


def source_line(spec: YearSpec) -> str:
    """Where a spec came from, in one line: imported files (sha256 prefix) and date, or the
    bundled CMS data."""
    if spec.imported:
        files = ", ".join(f"{f.name} (sha256 {f.sha256[:12]})" for f in spec.imported.files)
        line = f"imported {spec.imported.imported_at} from {files}"
        if spec.imported.inherited:
            line += f"; {spec.imported.inherited}"
        return line
    p = spec.provenance
    return f"bundled, built from {p.upstream_repository}@{p.upstream_commit[:12]}"
