"""Synthetic 835 remittances answering a synthetic (or any) 837, with known losses.

No public 835 carries N365, so tests and examples build their own: for each claim of a
claim-line table, Medicare's answer as an 835 in two files (the first remittance, then a
later one with reversals, corrections and re-adjudications), and the truth: the status
each QDC line of a standing claim must get. Claims are drawn one fate each (processed,
no 835 yet, denied, reversed, reversed and re-adjudicated) and QDC lines of processed
claims one fate each (confirmed with N365, denied with other codes, dropped). The walk
follows a claim id's claims in input order: a replacement (7) or void (8) reverses the
adjudication of the claim it supersedes. A CLM01 under which several claims stand gets
no 835 at all (their truth is ``no_remittance_yet``), so the truth never depends on
how ambiguous claims are matched.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..engine.codes import tables
from .reconcile import claims_of

__all__ = ["RemitConfig", "SyntheticRemit", "synthetic_835"]


@dataclass(frozen=True)
class RemitConfig:
    """Chances of each loss. Claim fates are drawn in this order, the rest is processed."""

    seed: int = 0
    missing: float = 0.08  # no 835 yet
    denied: float = 0.05  # CLP02 = 4
    reversed: float = 0.05  # adjudicated, then reversed and never re-adjudicated
    readjudicated: float = 0.05  # adjudicated with losses, reversed, re-adjudicated clean
    line_denied: float = 0.08  # a QDC line of a processed claim without N365
    line_dropped: float = 0.05  # a QDC line of a processed claim left out of the 835


@dataclass(frozen=True)
class SyntheticRemit:
    """The 835 files (first and later remittance) and the truth for the standing claims."""

    files: tuple[bytes, bytes]
    truth: pl.DataFrame  # claim_seq, line_number, status (every QDC line of a standing claim)


class _Era:
    """One 835 file being written: one transaction, claims in the order given."""

    def __init__(self, control: int, paid: dt.date) -> None:
        self.control = control
        self.paid = paid
        self.segments: list[list[str]] = []
        self.icn = 0

    def seg(self, *elements: object) -> None:
        self.segments.append(["" if e is None else str(e) for e in elements])

    def claim(
        self,
        claim: dict[str, Any],
        lines: list[dict[str, Any]],
        status: str,
        icn: str,
        fates: dict[int, str],
        negate: bool = False,
    ) -> None:
        sign = -1 if negate else 1
        charge = sum(line["charge"] or 0.0 for line in lines)
        paid = 0.0 if status == "4" else round(0.8 * charge, 2)
        self.seg("CLP", claim["claim_id"], status, f"{sign * charge:.2f}", f"{sign * paid:.2f}",
                 "", "MB", icn, "11", claim["frequency"] or "1")  # fmt: skip
        if status == "4":
            self.seg("CAS", "CO", "16", f"{sign * charge:.2f}")
        # Patient name and member id: PHI the reader must skip.
        self.seg("NM1", "QC", "1", "DOE", "PAT", "", "", "", "MI", "1EG4TE5MK73")
        if claim["rendering_npi"]:
            self.seg("NM1", "82", "1", "DOC", "", "", "", "", "XX", claim["rendering_npi"])
        if status == "4":
            self.seg("MOA", "", "", "MA130")
        self.seg("DTM", "232", claim["date"].strftime("%Y%m%d"))
        for line in lines:
            fate = fates.get(line["line_number"], "paid")
            if fate == "dropped":
                continue
            mods = ":".join(line["modifiers"] or [])
            composite = f"HC:{line['procedure_code']}" + (f":{mods}" if mods else "")
            amount = line["charge"] or 0.0
            line_paid = 0.0 if fate != "paid" or status == "4" else round(0.8 * amount, 2)
            self.seg("SVC", composite, f"{sign * amount:.2f}", f"{sign * line_paid:.2f}", "",
                     f"{line['units'] or 1:g}")  # fmt: skip
            self.seg("DTM", "472", line["service_date"].strftime("%Y%m%d"))
            if line["rendering_npi"] != claim["rendering_npi"]:
                self.seg("REF", "HPI", line["rendering_npi"])
            if status == "4":
                self.seg("CAS", "CO", "16", f"{sign * amount:.2f}")
            elif fate == "confirmed":
                self.seg("CAS", "CO", "246", "0")
                self.seg("LQ", "HE", "N365")
            elif fate == "denied":
                self.seg("CAS", "CO", "4", f"{sign * amount:.2f}")
                self.seg("LQ", "HE", "N519")
            elif amount:
                self.seg("CAS", "CO", "45", f"{sign * (amount - line_paid):.2f}")

    def render(self) -> bytes:
        c = f"{self.control:09d}"
        d = self.paid.strftime("%Y%m%d")
        head = [
            ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "MEDICARE".ljust(15), "ZZ",
             "PRACTICE".ljust(15), d[2:], "1200", "^", "00501", c, "0", "P", ":"],
            ["GS", "HP", "MEDICARE", "PRACTICE", d, "1200", str(self.control), "X", "005010X221A1"],
            ["ST", "835", "0001"],
            ["BPR", "I", "0", "C", "ACH", *[""] * 11, d],
            ["TRN", "1", f"EFT{self.control}", "1512345678"],
            ["N1", "PR", "MEDICARE PART B"],
            ["REF", "2U", "04412"],
            ["N1", "PE", "SYNTHETIC PRACTICE", "XX", "1999999984"],
            ["LX", "1"],
        ]  # fmt: skip
        body = head + self.segments
        tail = [
            ["SE", str(len(body) - 2 + 1), "0001"],
            ["GE", "1", str(self.control)],
            ["IEA", "1", c],
        ]
        return "".join("*".join(s) + "~\n" for s in body + tail).encode("latin-1")


def synthetic_835(
    lines: pl.DataFrame, year: int, config: RemitConfig | None = None
) -> SyntheticRemit:
    """Medicare's answer to the claims of ``lines`` (canonical claim-line table)."""
    cfg = config or RemitConfig()
    rng = random.Random(cfg.seed)
    qdc = tables(year).qdc_codes
    first = _Era(1, dt.date(year, 12, 31))
    later = _Era(2, dt.date(year + 1, 1, 31))
    standing = set(claims_of(lines)["claim_seq"].to_list())
    by_claim = lines.sort("claim_seq", "line_number").partition_by(
        "claim_seq", as_dict=True, maintain_order=True
    )
    heads = (
        lines.group_by("claim_seq", maintain_order=True)
        .agg(
            pl.col("claim_id").first(),
            pl.col("tin").first(),
            pl.col("frequency").first(),
            pl.col("rendering_npi").first(),
            pl.col("service_date").min().alias("date"),
        )
        .sort("claim_seq")
    )
    truth: list[tuple[int, int, str]] = []
    icn = 0

    def next_icn() -> str:
        nonlocal icn
        icn += 1
        return f"ICN{icn:08d}"

    groups = heads.partition_by("tin", "claim_id", maintain_order=True)
    for group in groups:
        rows = group.to_dicts()
        if sum(r["claim_seq"] in standing for r in rows) != 1:
            for r in rows:
                if r["claim_seq"] in standing:
                    truth += _all(by_claim, r["claim_seq"], qdc, "no_remittance_yet")
            continue
        # what a reversal cancels: claim, its lines, status, ICN, line fates
        live: tuple[dict[str, Any], list[dict[str, Any]], str, str, dict[int, str]] | None = None
        for i, r in enumerate(rows):
            seq = r["claim_seq"]
            claim_lines = by_claim[(seq,)].to_dicts()
            era = first if i == 0 else later
            if r["frequency"] in ("7", "8") and i > 0 and live is not None:
                c, ls, _, old_icn, fates = live
                later.claim(c, ls, "22", old_icn, fates, negate=True)
                live = None
            if r["frequency"] == "8":
                continue
            fate = rng.random()
            qdc_lines = [x["line_number"] for x in claim_lines if x["procedure_code"] in qdc]
            confirmed = dict.fromkeys(qdc_lines, "confirmed")
            if fate < cfg.missing:
                status = dict.fromkeys(qdc_lines, "no_remittance_yet")
            elif fate < cfg.missing + cfg.denied:
                live = (r, claim_lines, "4", next_icn(), {})
                era.claim(*live[:4], {})
                status = dict.fromkeys(qdc_lines, "claim_rejected")
            elif fate < cfg.missing + cfg.denied + cfg.reversed:
                live = (r, claim_lines, "1", next_icn(), confirmed)
                era.claim(*live[:4], confirmed)
                later.claim(r, claim_lines, "22", live[3], confirmed, negate=True)
                live = None
                status = dict.fromkeys(qdc_lines, "claim_rejected")
            elif fate < cfg.missing + cfg.denied + cfg.reversed + cfg.readjudicated:
                lossy = _line_fates(rng, qdc_lines, 0.5, 0.5)
                old = next_icn()
                era.claim(r, claim_lines, "1", old, lossy)
                later.claim(r, claim_lines, "22", old, lossy, negate=True)
                live = (r, claim_lines, "1", next_icn(), confirmed)
                later.claim(*live[:4], confirmed)
                status = confirmed
            else:
                fates = _line_fates(rng, qdc_lines, cfg.line_denied, cfg.line_dropped)
                live = (r, claim_lines, "1", next_icn(), fates)
                era.claim(*live[:4], fates)
                status = {n: ("not_in_835" if f == "dropped" else f) for n, f in fates.items()}
            if seq in standing:
                truth += [(seq, n, s) for n, s in status.items()]
    frame = pl.DataFrame(
        truth,
        schema={"claim_seq": pl.Int64, "line_number": pl.Int32, "status": pl.String},
        orient="row",
    ).sort("claim_seq", "line_number")
    return SyntheticRemit(files=(first.render(), later.render()), truth=frame)


def _line_fates(
    rng: random.Random, qdc_lines: list[int], denied: float, dropped: float
) -> dict[int, str]:
    fates = {}
    for n in qdc_lines:
        roll = rng.random()
        fates[n] = (
            "denied" if roll < denied else "dropped" if roll < denied + dropped else "confirmed"
        )
    return fates


def _all(
    by_claim: dict[tuple[Any, ...], pl.DataFrame], seq: int, qdc: frozenset[str], status: str
) -> list[tuple[int, int, str]]:
    return [
        (seq, n, status)
        for n, code in by_claim[(seq,)].select("line_number", "procedure_code").iter_rows()
        if code in qdc
    ]
