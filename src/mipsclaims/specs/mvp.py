"""MIPS Value Pathways of a year: which quality measures each MVP lets a clinician count.

Built from CMS's ``mvp/mvp-YYYY.json`` into ``measure_specs/mvp-YYYY.json`` by the spec
builder (deterministic, so the drift test covers it); scoring reads only the built file.
An MVP lists many quality measures; the ones a claims tool can score are those that are
also Medicare Part B claims measures of the year (``claims_measure_ids``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .models import SourceFile, YearSpec, normalise_measure_id

LOCAL_PATH = "mvp/mvp-{y}.json"
UPSTREAM_PATH = "mvp/{y}/mvp.json"
FILE_NAME = "mvp-{y}.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Mvp(_Frozen):
    """One MVP of one year, reduced to what quality scoring needs."""

    mvp_id: str
    title: str
    quality_measure_ids: tuple[str, ...] = Field(
        description="Every quality measure the MVP offers (any collection type)."
    )
    claims_measure_ids: tuple[str, ...] = Field(
        description="Those that are Medicare Part B claims measures of the year."
    )
    foundation_quality_measure_ids: tuple[str, ...] = Field(
        description="Population health measures CMS calculates from administrative claims."
    )
    specialties: tuple[str, ...] = Field(
        default=(), description="CMS's specialtiesMostApplicableTo (who the MVP is for)."
    )

    def fits(self, specialty: str) -> bool:
        """Whether ``specialty`` names one the MVP is for (case-insensitive, part of a name)."""
        wanted = specialty.strip().lower()
        return bool(wanted) and any(wanted in s.lower() for s in self.specialties)


class MvpSet(_Frozen):
    """All MVPs of one performance year (``measure_specs/mvp-YYYY.json``)."""

    performance_year: int
    mvps: dict[str, Mvp]
    source: SourceFile

    def mvp(self, mvp_id: str) -> Mvp:
        """Look an MVP up by id (case-insensitive); the error lists the year's MVPs."""
        key = mvp_id.strip().upper()
        try:
            return self.mvps[key]
        except KeyError:
            raise KeyError(
                f"no MVP {mvp_id!r} in {self.performance_year}; MVPs: {', '.join(self.mvps)}"
            ) from None


def mvps_from_cms(raw: Any, spec: YearSpec, source: SourceFile) -> MvpSet:
    """Normalise CMS's MVP list (``mvp/YYYY/mvp.json``) against the year's claims measures."""
    mvps: dict[str, Mvp] = {}
    for entry in sorted(raw, key=lambda e: e["mvpId"]):
        quality = tuple(normalise_measure_id(m) for m in entry.get("qualityMeasureIds", []))
        mvps[entry["mvpId"]] = Mvp(
            mvp_id=entry["mvpId"],
            title=" ".join(str(entry.get("title", entry["mvpId"])).split()),
            quality_measure_ids=quality,
            claims_measure_ids=tuple(sorted(m for m in set(quality) if m in spec.measures)),
            foundation_quality_measure_ids=tuple(
                normalise_measure_id(m) for m in entry.get("foundationQualityMeasureIds", [])
            ),
            specialties=tuple(
                " ".join(str(x).split()) for x in entry.get("specialtiesMostApplicableTo") or []
            ),
        )
    return MvpSet(performance_year=spec.performance_year, mvps=mvps, source=source)


def build_mvps(cms_dir: Path, spec: YearSpec) -> MvpSet:
    """The MVPs of ``spec``'s year from the shared CMS folder (for the bundled specs)."""
    year = spec.performance_year
    local = LOCAL_PATH.format(y=year)
    path = Path(cms_dir) / local
    source = SourceFile(
        path=local,
        upstream_path=UPSTREAM_PATH.format(y=year),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )
    return mvps_from_cms(json.loads(path.read_text(encoding="utf-8")), spec, source)


def render(mvps: MvpSet) -> str:
    """The exact text written to ``measure_specs/mvp-YYYY.json``."""
    return json.dumps(mvps.model_dump(mode="json"), indent=1, sort_keys=True) + "\n"


def build_files(cms_dir: Path, spec: YearSpec) -> dict[str, str]:
    """{file name: text} of the year's MVP file; empty for a year CMS has no MVPs for."""
    if not (Path(cms_dir) / LOCAL_PATH.format(y=spec.performance_year)).is_file():
        return {}
    return {FILE_NAME.format(y=spec.performance_year): render(build_mvps(cms_dir, spec))}


#: CMS's MVP file a user imported with ``specs import --mvp`` (in the per-user spec folder).
IMPORTED_NAME = "mvp-{y}.cms.json"


@functools.cache
def _imported(path: str, mtime_ns: int, year: int) -> MvpSet:
    from . import load  # late: the package imports this module

    data = Path(path).read_bytes()
    source = SourceFile(
        path=Path(path).name, upstream_path="imported", sha256=hashlib.sha256(data).hexdigest()
    )
    return mvps_from_cms(json.loads(data), load(year), source)


@functools.cache
def _bundled(path: str) -> MvpSet:
    return MvpSet.model_validate_json(Path(path).read_text(encoding="utf-8"))


def load_mvps(year: int) -> MvpSet | None:
    """The MVPs of a year: an imported CMS MVP file first, else the bundled one, else None.

    An imported file is matched against the year's spec as loaded (imported or bundled).
    """
    from . import specs_dir, user_specs_dir  # late: the package imports this module

    imported = user_specs_dir() / IMPORTED_NAME.format(y=year)
    if imported.is_file():
        return _imported(str(imported), imported.stat().st_mtime_ns, year)
    bundled = specs_dir() / FILE_NAME.format(y=year)
    return _bundled(str(bundled)) if bundled.is_file() else None
