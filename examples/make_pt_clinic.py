"""Generate the example practice: a physical-therapy clinic, one TIN, two clinicians.

    python examples/make_pt_clinic.py               # writes examples/pt-clinic-2025.837
    python examples/make_pt_clinic.py --year 2026   # writes examples/pt-clinic-2026.837

2026 is the year in progress (claims through November 30): until CMS publishes its
claims single source, mipsclaims counts it provisionally with the 2025 codes, which are
the codes used here. In 2026, 128 may be reported only inside an MVP (M1370,
Rehabilitative Support for Musculoskeletal Care, lists 128 and 134).

The claims are typed ``mipsclaims.claims.Claim`` models written as 837P by
``mipsclaims.synth.render_claims`` (``synth`` itself has no knob for one specialty's
measures). Deterministic (fixed seed), so the committed file can be checked against this
script. Every name, member id, TIN and NPI is invented. What is in it:

- Clinician 1 (physical therapist, NPI 1234567893): evaluations 97161-97163 and treatment
  visits 97110/97140; QDCs for 128 (BMI), 134 (depression screening), 181 (elder
  maltreatment, 60+), 226 (tobacco, three strata).
- Clinician 2 (physiatrist, NPI 1245319599): office visits 99203/99213; QDCs for 047
  (advance care plan, 65+), 128, 134, 181 and 226; eligible for 317 too, never reported.
- QDC capture improves through the year (about 55% of eligible visits in January, 95% in
  December), so the trend chart has something to show; conflicting QDCs on two claims,
  one replacement claim that adds a missing QDC, one voided claim and three claims to
  another payer (out of scope).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from pathlib import Path

from mipsclaims.claims import Claim, Patient, ServiceLine
from mipsclaims.synth import render_claims

SEED = 2025
YEAR = 2025
SEEDS = {2025: SEED, 2026: 2026}
#: The last service date of each example year (2026 is the year in progress).
THROUGH = {2025: dt.date(2025, 12, 31), 2026: dt.date(2026, 11, 30)}
TIN = "981234567"
BILLING_NPI = "1023456780"
PT_NPI = "1234567893"
MD_NPI = "1245319599"
OUT = Path(__file__).with_name("pt-clinic-2025.837")


def out_path(year: int) -> Path:
    return Path(__file__).with_name(f"pt-clinic-{year}.837")


LAST = ["ALDER", "BIRCH", "CEDAR", "DOGWOOD", "ELM", "FIR", "GINKGO", "HAZEL", "IVY", "JUNIPER"]
FIRST = ["ALEX", "BLAIR", "CASEY", "DREW", "EMERY", "FINLEY", "GRAY", "HAYDEN", "INDY", "JESSE"]
DIAGNOSES = ["M545", "M25561", "M1711", "M7541", "S83511A", "M5416", "G8929"]


def capture_chance(day: dt.date) -> float:
    """Share of eligible visits that get their QDCs: 55% in January up to 95% in December."""
    return 0.55 + 0.40 * (day.month - 1) / 11


def qdc_codes(rng: random.Random, age: int, smoker: bool, measures: set[str]) -> list[str]:
    """QDCs ("CODE" or "CODE-MOD") for the measures a visit is eligible for."""
    out: list[str] = []
    if "128" in measures:
        out.append(rng.choices(["G8420", "G8417", "G8419"], [6, 3, 1])[0])
    if "134" in measures:
        out.append(rng.choices(["G8510", "G8431", "G8432", "G8433"], [7, 2, 1, 0.3])[0])
    if "181" in measures and age >= 60:
        out.append(rng.choices(["G8733", "G8535"], [9, 1])[0])
    if "226" in measures:
        if smoker:
            out += ["G9902", rng.choices(["G9906", "G9908"], [3, 1])[0], "G0030"]
        else:
            out += ["G9903", "1036F"]
    if "047" in measures and age >= 65:
        out.append(rng.choices(["1123F", "1124F", "1123F-8P"], [5, 2, 1])[0])
    return out


def _line(n: int, code: str, charge: float, day: dt.date) -> ServiceLine:
    base, _, modifier = code.partition("-")
    return ServiceLine(
        line_number=n,
        procedure_code=base,
        modifiers=[modifier] if modifier else [],
        charge=charge,
        units=1,
        service_date=day,
        diagnosis_pointers=[1, 2],
    )


def _claim(claim_id: str, patient: Patient, dx: list[str], npi: str, lines: list[ServiceLine],
           payer: str = "MB", frequency: str = "1") -> Claim:  # fmt: skip
    return Claim(
        claim_id=claim_id,
        frequency=frequency,
        filing_indicator=payer,
        payer_id="00952" if payer == "MB" else "99999",
        tin=TIN,
        billing_npi=BILLING_NPI,
        rendering_npi=npi,
        place_of_service="11",
        patient=patient,
        diagnosis_codes=dx,
        lines=lines,
    )


def build(rng: random.Random, year: int = YEAR) -> list[Claim]:
    """The year's claims in date order, then a replacement and a void sent later."""
    claims: list[Claim] = []
    for i in range(150):
        birth = dt.date(rng.randint(1938, 1995), rng.randint(1, 12), rng.randint(1, 28))
        patient = Patient(
            member_id=f"9EX{i:04d}AA{rng.randint(10, 99)}",
            last_name=LAST[i % 10],
            first_name=FIRST[(i // 10) % 10],
            birth_date=birth,
            sex=rng.choice("FM"),
        )
        smoker = rng.random() < 0.15
        dx = rng.sample(DIAGNOSES, 2)
        physiatrist = i % 3 == 0
        start = dt.date(year, 1, 2) + dt.timedelta(days=rng.randint(0, 350))
        for k in range(rng.randint(1, 2) if physiatrist else rng.randint(2, 6)):
            day = start + dt.timedelta(days=7 * k)
            if day > THROUGH[year]:
                break
            if physiatrist:
                codes = [("99203" if k == 0 else "99213", 180.0)]
                measures = {"047", "128", "134", "181", "226"}
            elif k == 0:
                codes = [(rng.choice(["97161", "97162", "97163"]), 160.0)]
                measures = {"128", "134", "181", "226"}
            else:
                codes, measures = [("97110", 45.0), ("97140", 40.0)], set()
            if measures and rng.random() < capture_chance(day):
                age = (day - birth).days // 365
                codes += [(q, 0.0) for q in qdc_codes(rng, age, smoker, measures)]
            lines = [_line(n, c, charge, day) for n, (c, charge) in enumerate(codes, start=1)]
            npi = MD_NPI if physiatrist else PT_NPI
            claims.append(_claim(f"EX{i:04d}-{k + 1}", patient, dx, npi, lines))
    claims.sort(key=lambda c: (c.lines[0].service_date, c.claim_id))
    # Conflicting QDCs: a "not met" added to two evaluations that already say "met" for 134.
    evaluations = [c for c in claims if {"G8510", "G8431"} & {ln.procedure_code for ln in c.lines}]
    for c in evaluations[3:5]:
        day = c.lines[0].service_date
        c.lines.append(_line(len(c.lines) + 1, "G8432", 0.0, day))
    # Three claims to another payer: kept, reported as not Part B.
    for c in claims[40:43]:
        c.filing_indicator, c.payer_id = "CI", "99999"
    # Sent later: a replacement adding the missing 134 QDC, and a void.
    bare = next(c for c in claims if c.rendering_npi == PT_NPI and c.lines[0].procedure_code
                in {"97161", "97162", "97163"} and len(c.lines) == 1)  # fmt: skip
    fixed = [*bare.lines, _line(2, "G8510", 0.0, bare.lines[0].service_date)]
    claims.append(bare.model_copy(update={"frequency": "7", "lines": fixed}))
    claims.append(claims[100].model_copy(update={"frequency": "8"}))
    return claims


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, choices=sorted(SEEDS), default=YEAR)
    year = parser.parse_args().year
    data = render_claims(build(random.Random(SEEDS[year]), year))
    out = out_path(year)
    out.write_bytes(data)
    print(f"wrote {out} ({len(data):,} bytes)")


if __name__ == "__main__":
    main()
