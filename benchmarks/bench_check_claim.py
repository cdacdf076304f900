"""p50/p95/p99 latency of ``check_claim`` after warm-up (target: p95 under 5 ms).

Run: ``.venv/bin/python benchmarks/bench_check_claim.py [--year 2025] [--n 2000]``.
Claims are varied visits (E/M, psychiatry, imaging, surgery) with diagnoses and some QDCs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time

from mipsclaims import check_claim
from mipsclaims.claims import Claim, Patient, ServiceLine

PROCEDURES = ["99213", "99214", "90791", "92012", "70486", "22526", "97802", "88305"]
QDCS = ["G8733", "G8536", "1123F", "M1211", "G9902", "G9906", "5015F", "G8431", "G8783"]
DIAGNOSES = ["E1010", "M4840XA", "I10", "Z0000", "F3010", "E785", "N8110", "H8110"]


def make_claim(rnd: random.Random, year: int, n: int) -> Claim:
    codes = rnd.sample(PROCEDURES, rnd.randint(1, 3)) + rnd.sample(QDCS, rnd.randint(0, 2))
    date = dt.date(year, rnd.randint(1, 12), rnd.randint(1, 28))
    return Claim(
        claim_id=f"BENCH{n}",
        filing_indicator="MB",
        tin="123456789",
        billing_npi="1234567893",
        place_of_service="11",
        patient=Patient(
            member_id=f"M{n}",
            birth_date=dt.date(rnd.randint(1930, 2005), rnd.randint(1, 12), 1),
            sex=rnd.choice("MF"),
        ),
        diagnosis_codes=rnd.sample(DIAGNOSES, rnd.randint(1, 4)),
        lines=[
            ServiceLine(line_number=i + 1, procedure_code=c, service_date=date, charge=0.0)
            for i, c in enumerate(codes)
        ],
        claim_seq=n,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    rnd = random.Random(5)
    claims = [make_claim(rnd, args.year, n) for n in range(args.n)]
    for c in claims[:50]:  # warm-up: builds the per-year index and choice cache
        check_claim(c, args.year)
    times = []
    for c in claims:
        start = time.perf_counter()
        check_claim(c, args.year)
        times.append((time.perf_counter() - start) * 1000)
    q = statistics.quantiles(times, n=100)
    print(
        f"check_claim {args.year}: n={len(times)} p50={q[49]:.3f} ms "
        f"p95={q[94]:.3f} ms p99={q[98]:.3f} ms max={max(times):.3f} ms"
    )


if __name__ == "__main__":
    main()
