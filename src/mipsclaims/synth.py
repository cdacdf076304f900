"""Synthetic 837P (005010X222A1) files aimed at a year's claims measures.

For tests, examples and benchmarks: encounters built from :func:`mipsclaims.specs.load`
(real eligible procedure codes, diagnoses, ages and sexes, and the measures' quality-data
codes) in every shape the engine must handle: eligible and ineligible encounters, every
QDC outcome, missing and conflicting QDCs, telehealth modifiers (GT/95/FQ) and places of
service (02/10), non-Part-B payers, replacement (7) and void (8) claims, several
clinicians and TINs (one billing by SSN), 2000C dependents, claim (2310B) and line
(2420A) rendering providers. Deterministic for a seed; streams to a file.

:func:`render_claims` writes typed :class:`~mipsclaims.claims.Claim` models as 837P, so
tests can round-trip any claim through the reader.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from dateutil.relativedelta import relativedelta

from . import specs
from .x12.envelope import Delimiters

__all__ = [
    "Delimiters",
    "SynthConfig",
    "iter_synthetic_837",
    "render_claims",
    "synthetic_837",
    "write_synthetic_837",
]

TELEHEALTH_MODIFIERS = ("GT", "95", "FQ")
TELEHEALTH_POS = ("02", "10")
NON_PART_B = ("CI", "MC", "16", "HM", "BL")
_LAST = ("SMITH", "JOHNSON", "GARCIA", "NGUYEN", "BROWN", "MILLER", "DAVIS", "LOPEZ", "KIM")
_FIRST = ("ALEX", "SAM", "JORDAN", "TAYLOR", "MORGAN", "CASEY", "RILEY", "JAMIE", "AVERY")


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. ``lines_per_claim`` bounds the encounter lines (QDC lines add more)."""

    year: int = 2025
    claims: int = 100
    seed: int = 0
    lines_per_claim: int = 3
    delimiters: Delimiters = field(default_factory=Delimiters)
    newline: str = "\n"  # written after every segment terminator ("" for one long line)
    claims_per_transaction: int = 2000
    clinicians: int = 6
    tins: int = 3
    patients: int | None = None  # default: about claims / 3

    def __post_init__(self) -> None:
        d = self.delimiters
        seps = [d.element, d.component, d.segment, d.repetition or d.element]
        if len({d.element, d.component, d.segment}) < 3 or any(
            len(s) != 1 or s.isalnum() or s == " " for s in seps
        ):
            raise ValueError(f"delimiters must be distinct single non-alphanumerics: {d}")
        if self.newline.strip(" \t\r\n"):
            raise ValueError("newline must be whitespace")
        if self.claims < 0 or self.lines_per_claim < 1:
            raise ValueError("claims must be >= 0 and lines_per_claim >= 1")


# Light records with the attribute names of mipsclaims.claims (the writer reads either).
@dataclass(slots=True)
class _Patient:
    member_id: str
    last_name: str
    first_name: str
    birth_date: dt.date | None
    sex: str | None
    is_dependent: bool = False


@dataclass(slots=True)
class _Line:
    line_number: int
    procedure_code: str
    modifiers: list[str]
    place_of_service: str | None
    charge: float | None
    units: float | None
    service_date: dt.date | None
    service_date_end: dt.date | None
    diagnosis_pointers: list[int]
    rendering_npi: str | None = None


@dataclass(slots=True)
class _Claim:
    claim_id: str
    frequency: str
    filing_indicator: str | None
    payer_id: str | None
    tin: str | None
    billing_npi: str | None
    rendering_npi: str | None
    place_of_service: str | None
    patient: _Patient
    diagnosis_codes: list[str]
    lines: list[_Line]
    billing_ssn: str | None = None


# ---------------------------------------------------------------- writing


def _num(value: float | None) -> str:
    if value is None:
        return ""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _d8(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


class _Writer:
    """Renders claims into an interchange, grouping HL loops and counting segments."""

    def __init__(self, d: Delimiters, newline: str, control: int = 1) -> None:
        self.d = d
        self.end = d.segment + newline
        self.control = f"{control:09d}"
        self.st = 0
        self.segs: list[str] = []
        self.count = 0  # segments of the open transaction
        self.hl = 0
        self.keys: tuple[Any, Any] = (None, None)
        self.hl20 = self.hl22 = 0

    def seg(self, *elements: str) -> None:
        self.segs.append(self.d.element.join(elements).rstrip(self.d.element))
        self.count += 1

    def header(self) -> str:
        d = self.d
        isa = d.element.join(
            [
                "ISA", "00", " " * 10, "00", " " * 10, "ZZ", "MIPSCLAIMS     ", "ZZ",
                "RECEIVER       ", "250101", "1200", d.repetition or "U", "00501",
                self.control, "0", "T", d.component,
            ]
        )  # fmt: skip
        gs = d.element.join(
            ["GS", "HC", "MIPSCLAIMS", "RECEIVER", "20250101", "1200", "1", "X", "005010X222A1"]
        )
        return isa + self.end + gs + self.end

    def trailer(self) -> str:
        e = self.d.element
        return f"GE{e}{self.st}{e}1{self.end}IEA{e}1{e}{self.control}{self.end}"

    def transaction(self, claims: Iterable[Any]) -> str:
        self.st += 1
        self.segs, self.count, self.hl, self.keys = [], 0, 0, (None, None)
        st = f"{self.st:04d}"
        self.seg("ST", "837", st, "005010X222A1")
        self.seg("BHT", "0019", "00", st, "20250101", "1200", "CH")
        self.seg("NM1", "41", "2", "MIPSCLAIMS SYNTH", "", "", "", "", "46", "SYNTH")
        self.seg("PER", "IC", "SUPPORT", "TE", "5555550100")
        self.seg("NM1", "40", "2", "RECEIVER", "", "", "", "", "46", "RECEIVER")
        for claim in claims:
            self.claim(claim)
        self.seg("SE", str(self.count + 1), st)
        return self.end.join(self.segs) + self.end

    def claim(self, c: Any) -> None:
        d, e = self.d, self.seg
        p = c.patient
        ssn = getattr(c, "billing_ssn", None)
        billing = (c.billing_npi, c.tin, ssn)
        subscriber: tuple[Any, ...] = (billing, p.member_id, c.filing_indicator, c.payer_id)
        if not p.is_dependent:
            subscriber += (p.last_name, p.first_name, p.birth_date, p.sex)
        if billing != self.keys[0]:
            self.hl += 1
            self.hl20 = self.hl
            e("HL", str(self.hl), "", "20", "1")
            e("NM1", "85", "2", "SYNTH CLINIC", "", "", "", "", "XX", c.billing_npi or "")
            e("N3", "1 MAIN ST")
            e("N4", "ANYTOWN", "MD", "20705")
            e("REF", "SY", ssn) if ssn else e("REF", "EI", c.tin or "")
            self.keys = (billing, None)
        if subscriber != self.keys[1] or p.is_dependent:
            self.hl += 1
            self.hl22 = self.hl
            e("HL", str(self.hl), str(self.hl20), "22", "1" if p.is_dependent else "0")
            e(
                "SBR",
                "P",
                "" if p.is_dependent else "18",
                "",
                "",
                "",
                "",
                "",
                "",
                c.filing_indicator or "",
            )
            if p.is_dependent:
                e("NM1", "IL", "1", "SUBSCRIBER", "PAT", "", "", "", "MI", p.member_id)
            else:
                e("NM1", "IL", "1", p.last_name, p.first_name, "", "", "", "MI", p.member_id)
                if p.birth_date or p.sex:
                    dob = _d8(p.birth_date) if p.birth_date else ""
                    e("DMG", "D8", dob, p.sex or "")
            e("NM1", "PR", "2", "PAYER", "", "", "", "", "PI", c.payer_id or "")
            self.keys = (billing, subscriber)
        if p.is_dependent:
            self.hl += 1
            e("HL", str(self.hl), str(self.hl22), "23", "0")
            e("PAT", "19")
            e("NM1", "QC", "1", p.last_name, p.first_name)
            if p.birth_date or p.sex:
                e("DMG", "D8", _d8(p.birth_date) if p.birth_date else "", p.sex or "")
            self.keys = (billing, None)
        total = sum(line.charge or 0 for line in c.lines)
        clm05 = d.component.join([c.place_of_service or "", "B", c.frequency])
        e("CLM", c.claim_id, _num(total), "", "", clm05, "Y", "A", "Y", "Y")
        if c.diagnosis_codes:
            quals = ["ABK", *["ABF"] * 11]
            e(
                "HI",
                *(
                    f"{q}{d.component}{code}"
                    for q, code in zip(quals, c.diagnosis_codes, strict=False)
                ),
            )
        if c.rendering_npi:
            e("NM1", "82", "1", "CLINICIAN", "DOC", "", "", "", "XX", c.rendering_npi)
        for line in c.lines:
            e("LX", str(line.line_number))
            sv101 = d.component.join(["HC", line.procedure_code, *line.modifiers])
            pointers = d.component.join(str(i) for i in line.diagnosis_pointers)
            e(
                "SV1", sv101, _num(line.charge), "UN", _num(line.units),
                line.place_of_service or "", "", pointers,
            )  # fmt: skip
            if line.service_date:
                end = line.service_date_end
                if end and end != line.service_date:
                    e("DTP", "472", "RD8", f"{_d8(line.service_date)}-{_d8(end)}")
                else:
                    e("DTP", "472", "D8", _d8(line.service_date))
            if line.rendering_npi:
                e("NM1", "82", "1", "CLINICIAN", "LINE", "", "", "", "XX", line.rendering_npi)


def render_claims(
    claims: Iterable[Any],
    delimiters: Delimiters | None = None,
    newline: str = "\n",
    *,
    claims_per_transaction: int = 50,
    control: int = 1,
) -> bytes:
    """Typed claims (``mipsclaims.claims.Claim``) as one 837P interchange."""
    w = _Writer(delimiters or Delimiters(), newline, control)
    parts = [w.header()]
    batch: list[Any] = []
    for claim in claims:
        batch.append(claim)
        if len(batch) == claims_per_transaction:
            parts.append(w.transaction(batch))
            batch = []
    if batch or w.st == 0:
        parts.append(w.transaction(batch))
    parts.append(w.trailer())
    return "".join(parts).encode("utf-8")


# ---------------------------------------------------------------- generating


@dataclass(frozen=True)
class _Target:
    """One eligibility option of a measure, flattened for fast random choice."""

    measure_id: str
    procedures: tuple[str, ...]
    diagnoses: tuple[str, ...]
    min_age: float | None
    max_age: float | None
    sex: str | None
    additional: tuple[str, ...]
    outcomes: dict[str, tuple[tuple[tuple[str, tuple[str, ...]], ...], ...]]


def _targets(year: int) -> list[_Target]:
    spec = specs.load(year)
    targets = []
    for mid, measure in sorted(spec.measures.items()):
        for opt in measure.eligibility_options:
            procs = tuple(p.code for p in opt.procedure_codes if not p.modifier_exclusions)
            procs = procs or tuple(p.code for p in opt.procedure_codes)
            if not procs:
                continue
            outcomes: dict[str, list[Any]] = {}
            for perf in measure.performance_options:
                if perf.option_group == opt.option_group:
                    codes = tuple((q.code, q.modifiers) for q in perf.quality_codes)
                    outcomes.setdefault(perf.option_type, []).append(codes)
            targets.append(
                _Target(
                    mid, procs, opt.diagnosis_codes, opt.min_age, opt.max_age, opt.sex,
                    opt.additional_procedure_codes,
                    {k: tuple(v) for k, v in outcomes.items()},
                )
            )  # fmt: skip
    if not targets:
        raise ValueError(f"no claims measures with procedure codes for {year}")
    return targets


class _Generator:
    def __init__(self, cfg: SynthConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.targets = _targets(cfg.year)
        rng = self.rng
        self.tins: list[tuple[str | None, str | None]] = [  # (tin, ssn)
            (f"{rng.randrange(10**8, 10**9)}", None) for _ in range(max(cfg.tins, 1))
        ]
        self.tins[-1] = (None, f"{rng.randrange(10**8, 10**9)}")  # one SSN-billed provider
        self.npis = [f"1{rng.randrange(10**8, 10**9)}" for _ in range(max(cfg.clinicians, 1))]
        n = cfg.patients or max(cfg.claims // 3, 1)
        self.patients = [self._patient(i) for i in range(n)]
        self.issued: list[tuple[str, str | None, str | None]] = []  # claim id, tin, ssn
        self.year_start = dt.date(cfg.year, 1, 1)

    def _patient(self, i: int) -> _Patient:
        rng = self.rng
        dependent = rng.random() < 0.08
        birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 80))
        return _Patient(
            member_id=f"{rng.randrange(10**9, 10**10)}A",
            last_name=rng.choice(_LAST),
            first_name=rng.choice(_FIRST),
            birth_date=birth,
            sex=rng.choice("MF"),
            is_dependent=dependent,
        )

    def _fit(self, p: _Patient, t: _Target, day: dt.date) -> _Patient:
        """A copy of ``p`` whose age and sex meet the target's option (eligible encounters)."""
        rng = self.rng
        lo = int(t.min_age or 0)
        hi = int(t.max_age) if t.max_age is not None else max(lo, 90)
        age = rng.randint(lo, max(lo, min(hi, 95)))
        birth = day - relativedelta(years=age) - dt.timedelta(days=rng.randrange(1, 300))
        return _Patient(
            p.member_id, p.last_name, p.first_name, birth, t.sex or p.sex, p.is_dependent
        )

    def claim(self, seq: int) -> _Claim:
        cfg, rng = self.cfg, self.rng
        t = rng.choice(self.targets)
        day = self.year_start + dt.timedelta(days=rng.randrange(0, 365))
        patient = rng.choice(self.patients)
        eligible = rng.random() < 0.8
        if eligible:
            patient = self._fit(patient, t, day)
        tin, ssn = rng.choice(self.tins)
        billing_npi = rng.choice(self.npis)
        dx = [rng.choice(t.diagnoses) if t.diagnoses and eligible else "Z0000"]
        dx += rng.sample(("I10", "E785", "Z23", "M545"), rng.randint(0, 2))
        pos = rng.choice(("11", "11", "11", "22", *TELEHEALTH_POS))
        codes: list[tuple[str, tuple[str, ...]]] = []
        for _ in range(rng.randint(1, cfg.lines_per_claim)):
            proc = rng.choice(t.procedures) if eligible else rng.choice(("99999", "0001U"))
            mods: tuple[str, ...] = ()
            if rng.random() < 0.1:
                mods = (rng.choice(TELEHEALTH_MODIFIERS),)
            codes.append((proc, mods))
        codes += [(c, ()) for c in t.additional if rng.random() < 0.5]
        roll = rng.random()
        if roll < 0.7 and t.outcomes:  # one outcome
            kind = rng.choice(sorted(t.outcomes))
            codes += [(c, m[:1]) for c, m in rng.choice(t.outcomes[kind])]
        elif roll < 0.8 and len(t.outcomes) > 1:  # conflicting outcomes
            for kind in rng.sample(sorted(t.outcomes), 2):
                codes += [(c, m[:1]) for c, m in rng.choice(t.outcomes[kind])]
        # else: no QDC at all
        rendering = rng.choice(self.npis) if rng.random() < 0.6 else None
        lines = []
        for n, (proc, mods) in enumerate(codes, start=1):
            end = day + dt.timedelta(days=rng.randint(1, 3)) if rng.random() < 0.05 else None
            lines.append(
                _Line(
                    line_number=n,
                    procedure_code=proc,
                    modifiers=list(mods),
                    place_of_service=rng.choice(TELEHEALTH_POS) if rng.random() < 0.05 else None,
                    charge=round(rng.uniform(0, 400), 2) if not proc[-1:].isalpha() else 0.0,
                    units=1.0,
                    service_date=day,
                    service_date_end=end,
                    diagnosis_pointers=list(range(1, min(len(dx), 4) + 1)),
                    rendering_npi=rng.choice(self.npis) if rng.random() < 0.1 else None,
                )
            )
        frequency, claim_id = "1", f"SYN{cfg.seed}X{seq}"
        if self.issued and rng.random() < 0.06:
            claim_id, tin, ssn = rng.choice(self.issued)
            frequency = rng.choice("78")
        else:
            self.issued.append((claim_id, tin, ssn))
            if len(self.issued) > 1000:
                self.issued.pop(rng.randrange(len(self.issued)))
        filing = "MB" if rng.random() < 0.85 else rng.choice(NON_PART_B)
        return _Claim(
            claim_id=claim_id,
            frequency=frequency,
            filing_indicator=filing,
            payer_id="MEDICARE" if filing == "MB" else "OTHERPAYER",
            tin=tin,
            billing_npi=billing_npi,
            rendering_npi=rendering,
            place_of_service=pos,
            patient=patient,
            diagnosis_codes=dx,
            lines=lines,
            billing_ssn=ssn,
        )


def _billing_key(claim: _Claim) -> tuple[str, str, str]:
    return (claim.tin or "", claim.billing_ssn or "", claim.billing_npi or "")


def iter_synthetic_837(config: SynthConfig) -> Iterator[str]:
    """The synthetic file as text chunks (one per transaction), for streaming writes."""
    gen = _Generator(config)
    w = _Writer(config.delimiters, config.newline)
    yield w.header()
    seq = 0
    while seq < config.claims or w.st == 0:
        n = min(config.claims_per_transaction, config.claims - seq)
        # A practice's file groups claims by billing provider (one 2000A loop each).
        claims = sorted((gen.claim(seq + i) for i in range(n)), key=_billing_key)
        yield w.transaction(claims)
        seq += max(n, 1)
    yield w.trailer()


def synthetic_837(config: SynthConfig) -> bytes:
    """The whole synthetic file in memory (small configurations)."""
    return "".join(iter_synthetic_837(config)).encode("utf-8")


def write_synthetic_837(target: str | os.PathLike[str] | IO[bytes], config: SynthConfig) -> int:
    """Stream the synthetic file to a path or binary file; return the bytes written."""
    written = 0
    if isinstance(target, str | os.PathLike):
        from .atomicfile import atomic_path

        with atomic_path(target) as path, open(path, "wb") as handle:
            return write_synthetic_837(handle, config)
    for chunk in iter_synthetic_837(config):
        data = chunk.encode("utf-8")
        target.write(data)
        written += len(data)
    return written
