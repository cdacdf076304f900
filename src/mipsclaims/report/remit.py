"""What CMS received: counts on confirmed QDCs only beside the as-sent counts, and the
worklist of QDCs at risk (``report --remit``, ``gaps --remit``, the HTML section).

A QDC is *at risk* when its 835 shows it lost (``denied``, ``claim_rejected``,
``not_in_835``) and *pending* when no 835 came back for its claim yet
(``no_remittance_yet``); the confirmed-only counts leave out both (docs/remittance.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..display import pct
from ..engine import EngineResult, Level, evaluate_lines
from ..remit.reconcile import STATUSES, confirmed_only, reconcile_lines, unmatched_remittances
from ..schema import short_hash
from .terminal import print_tables

__all__ = [
    "AT_RISK",
    "REMIT_ROW_COLUMNS",
    "RemitReport",
    "at_risk_frame",
    "at_risk_tables",
    "print_at_risk",
    "print_remit",
    "remit_csv",
    "remit_json",
    "remit_report",
    "remit_tables",
    "status_counts",
    "with_remit_section",
]

WORKLIST_SHOWN = 50  # at-risk QDCs listed in the HTML report; all of them: `gaps --remit`

AT_RISK = ("denied", "claim_rejected", "not_in_835")
_KEYS = ["tin", "npi", "measure_id", "stratum"]

#: Columns of a ``report --remit`` row, after the contract keys of the as-sent row.
REMIT_ROW_COLUMNS = (
    "confirmed_performance_met",
    "confirmed_performance_not_met",
    "confirmed_not_reported",
    "confirmed_data_completeness",
    "confirmed_performance_rate",
    "confirmed_meets_data_completeness",
    "qdc_sent",
    "qdc_confirmed",
    "qdc_at_risk",
    "qdc_pending",
)


@dataclass(frozen=True)
class RemitReport:
    """As-sent rows with the confirmed-only figures beside them, and the line table."""

    sent: EngineResult  # the as-sent evaluation
    rows: pl.DataFrame  # contract keys (as sent), then REMIT_ROW_COLUMNS
    reconciled: pl.DataFrame  # remit.reconcile.RECONCILED_LINE_SCHEMA
    unmatched: pl.DataFrame  # 835 claims for no claim sent


def _qdc_counts(reconciled: pl.DataFrame, level: Level) -> pl.DataFrame:
    by = ["tin", "npi", "measure_id"] if level == "tin-npi" else ["tin", "measure_id"]
    status = pl.col("status").cast(pl.String)
    counts = (
        reconciled.explode("measure_ids")
        .rename({"measure_ids": "measure_id"})
        .group_by(by)
        .agg(
            pl.len().alias("qdc_sent"),
            (status == "confirmed").sum().alias("qdc_confirmed"),
            status.is_in(AT_RISK).sum().alias("qdc_at_risk"),
            (status == "no_remittance_yet").sum().alias("qdc_pending"),
        )
    )
    if level != "tin-npi":
        counts = counts.with_columns(pl.lit(None, dtype=pl.String).alias("npi"))
    return counts


def remit_report(
    lines: pl.DataFrame, remit: pl.DataFrame, year: int, level: Level = "tin-npi"
) -> RemitReport:
    """Evaluate ``lines`` as sent and as CMS will count them (confirmed QDCs only)."""
    result = evaluate_lines(lines, year, level=level, spill=False)
    reconciled = reconcile_lines(lines, remit, year, result=result if level == "tin-npi" else None)
    sent = result.rows
    confirmed = evaluate_lines(
        confirmed_only(lines, reconciled),
        year,
        level=level,
        spill=False,
    ).rows
    mine = confirmed.select(
        *_KEYS,
        pl.col("performance_met").alias("confirmed_performance_met"),
        pl.col("performance_not_met").alias("confirmed_performance_not_met"),
        pl.col("not_reported").alias("confirmed_not_reported"),
        pl.col("data_completeness").alias("confirmed_data_completeness"),
        pl.col("performance_rate").alias("confirmed_performance_rate"),
        pl.col("meets_data_completeness").alias("confirmed_meets_data_completeness"),
    )
    counts = pl.col("qdc_sent", "qdc_confirmed", "qdc_at_risk", "qdc_pending")
    rows = (
        sent.join(mine, on=_KEYS, how="left", nulls_equal=True, maintain_order="left")
        .join(
            _qdc_counts(reconciled, level),
            on=["tin", "npi", "measure_id"],
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
        .with_columns(counts.fill_null(0).cast(pl.Int64))
        .sort(_KEYS, nulls_last=True)
    )
    return RemitReport(result, rows, reconciled, unmatched_remittances(lines, remit))


def _ref(seq: pl.Expr, claim_id: pl.Expr) -> pl.Expr:
    digest = claim_id.map_elements(short_hash, return_dtype=pl.String)
    return pl.format("claim #{} ({})", seq, digest)


def at_risk_frame(
    reconciled: pl.DataFrame, *, show_phi: bool = False, measures: list[str] | None = None
) -> pl.DataFrame:
    """The QDC lines not confirmed (at risk, then pending), one row each, with what to do.

    Claims are ``claim #position (hash of CLM01)``; the raw CLM01 only with ``show_phi``.
    """
    frame = reconciled.filter(pl.col("status") != "confirmed")
    if measures:
        frame = frame.filter(pl.col("measure_ids").list.set_intersection(measures).list.len() > 0)
    claim = pl.col("claim_id") if show_phi else _ref(pl.col("claim_seq"), pl.col("claim_id"))
    return frame.sort("status", "claim_seq", "line_number").select(
        claim.alias("claim"),
        "tin",
        "npi",
        pl.col("measure_ids").list.join(" ").alias("measures"),
        "service_date",
        "line_number",
        (
            pl.col("procedure_code")
            + pl.when(pl.col("modifiers").list.len() > 0)
            .then(pl.lit("-") + pl.col("modifiers").list.join("-"))
            .otherwise(pl.lit(""))
        ).alias("qdc"),
        pl.col("status").cast(pl.String),
        pl.col("codes").list.join(" ").alias("codes"),
        "action",
    )


def remit_tables(report: RemitReport) -> list[Table]:
    """Terminal tables, one per entity: per measure, as sent beside confirmed by an 835."""
    year = report.sent.year
    tables = []
    for (tin, npi), group in report.rows.group_by(["tin", "npi"], maintain_order=True):
        who = f"Clinician NPI {npi}, TIN {tin}" if npi else f"Group TIN {tin}"
        table = Table(title=Text(f"{who}: what CMS confirmed, {year}"), title_justify="left")
        table.caption = (
            "sent = as sent · CMS = confirmed QDCs only (835 remark N365) · "
            "risk = QDCs lost · wait = no 835 yet"
        )
        table.add_column("measure", no_wrap=True)
        for header in ("elig.", "compl. sent", "CMS", "rate sent", "CMS", "QDCs", "ok"):
            table.add_column(header, justify="right")
        table.add_column("risk", justify="right")
        table.add_column("wait", justify="right")
        for r in group.iter_rows(named=True):
            ok = r["confirmed_meets_data_completeness"]
            table.add_row(
                Text(r["measure_id"] + (f"/{r['stratum']}" if r.get("stratum") else "")),
                str(r["eligible_population"]),
                pct(r["data_completeness"]),
                Text(pct(r["confirmed_data_completeness"]), style="green" if ok else "red"),
                pct(r["performance_rate"]),
                pct(r["confirmed_performance_rate"]),
                str(r["qdc_sent"]),
                str(r["qdc_confirmed"]),
                Text(str(r["qdc_at_risk"]), style="red" if r["qdc_at_risk"] else ""),
                str(r["qdc_pending"]),
            )
        tables.append(table)
    return tables


def at_risk_tables(worklist: pl.DataFrame, title: str) -> list[Table]:
    """The :func:`at_risk_frame` worklist for the terminal: one table per clinician, what
    to do listed once per status under it (CSV has it on every row)."""
    tables = []
    columns = ("claim", "measures", "service_date", "qdc", "status", "codes")
    for (tin, npi), group in worklist.group_by(["tin", "npi"], maintain_order=True):
        who = f"NPI {npi}, TIN {tin}" if npi else f"TIN {tin}"
        table = Table(title=Text(f"{title}: {who} ({group.height})"), title_justify="left")
        for c in columns:
            table.add_column(c.replace("_", " "), overflow="fold")
        for row in group.select(columns).iter_rows():
            table.add_row(*(Text("" if v is None else str(v)) for v in row))
        legend = group.select("status", "action").unique(maintain_order=True)
        table.caption = Text("\n".join(f"{s}: {a}" for s, a in legend.iter_rows()), justify="left")
        tables.append(table)
    return tables


def status_counts(reconciled: pl.DataFrame) -> dict[str, int]:
    """QDC lines per status, every status in the order of ``reconcile.STATUSES`` (zeros
    included), so that a JSON report's keys do not depend on hashing order."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in reconciled["status"].cast(pl.String).value_counts().iter_rows():
        counts[status] = int(n)
    return counts


def remit_csv(report: RemitReport) -> str:
    """``report --remit --format csv``: the rows with their confirmed-only figures."""
    from .export import csv_with_spec, ordered_rows

    return csv_with_spec(ordered_rows(report.rows), report.sent.year)


def remit_json(report: RemitReport) -> str:
    """``report --remit --format json``: the rows with their confirmed-only figures, the
    QDC lines per status and how many 835 claims answer no claim sent."""
    from .export import ordered_rows, spec_info

    year = report.sent.year
    payload = {
        "performance_year": year,
        "level": report.sent.level,
        "spec": spec_info(year),
        "rows": ordered_rows(report.rows).to_dicts(),
        "qdc_status": status_counts(report.reconciled),
        "remittances_for_no_claim_sent": report.unmatched.height,
    }
    return json.dumps(payload, indent=2, default=str) + "\n"


def with_remit_section(html: str, report: RemitReport) -> str:
    """``html`` (the report) with the remittance section before its closing body tag."""
    from .html import _ENV

    year = report.sent.year
    counts = status_counts(report.reconciled)
    worklist = at_risk_frame(report.reconciled)
    worklist = worklist.sort(pl.col("status") == "no_remittance_yet", maintain_order=True)
    section = _ENV.get_template("remit.html.j2").render(
        year=year,
        rows=report.rows.to_dicts(),
        status=counts,
        at_risk=sum(counts[s] for s in AT_RISK),
        unmatched=report.unmatched.height,
        worklist=worklist.head(WORKLIST_SHOWN).to_dicts(),
        more=max(0, worklist.height - WORKLIST_SHOWN),
    )
    head, sep, tail = html.rpartition("</body>")
    return head + section + sep + tail if sep else html + section


def print_remit(report: RemitReport, console: Console) -> None:
    """``report --remit``'s terminal view: per entity, as sent beside confirmed."""
    print_tables(remit_tables(report), report.sent.year, console)


def print_at_risk(worklist: pl.DataFrame, year: int, console: Console) -> None:
    """``gaps --remit``'s terminal view of an :func:`at_risk_frame` worklist."""
    at_risk = worklist.filter(pl.col("status") != "no_remittance_yet").height
    pending = worklist.height - at_risk
    print_tables(
        at_risk_tables(worklist, f"QDCs CMS has not confirmed, {year}"),
        year,
        console,
        f"{at_risk} QDCs at risk, {pending} waiting for an 835.",
    )
