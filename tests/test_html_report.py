"""The HTML report: self-contained, escaped, and readable in a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mipsclaims.report import gaps as gaps_mod
from mipsclaims.report import html
from support_report import NPI_A, fake_closing, make_result

HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _closing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gaps_mod, "_default_closing", lambda: fake_closing)


def _render(**kwargs) -> str:
    return html.render_html(make_result(**kwargs))


def test_html_is_self_contained() -> None:
    page = _render()
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert page.count("<svg") >= 3 + 3  # a trend and a benchmark bar per measure row


def test_hostile_strings_are_escaped() -> None:
    page = _render(title_128=HOSTILE, code=HOSTILE, claim_id=HOSTILE, conflict=HOSTILE)
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    # Title and conflicting code are shown escaped; the hostile claim id never appears
    # (claims are shown by position and hash).
    assert page.count("&#34;&gt;&lt;img src=x onerror=alert(1)&gt;") == 2
    assert page.count("onerror") == 2


def test_trend_points_come_from_monthly_rows() -> None:
    result = make_result()
    monthly = result.monthly.filter(measure_id="128")
    t = html.trend(monthly, 0.75)
    # Month 1..3 at x = 8 + (m-1)*244/11; completeness 0.84 * 0.7 at month 1.
    assert [round(x, 1) for x, _ in t.completeness] == [8.0, 30.2, 52.4]
    assert round(t.completeness[0][1], 1) == round(8 + (1 - 0.84 * 0.7) * 50, 1)
    assert round(t.threshold_y, 1) == 20.5


def test_summary_lists_each_clinician_with_counts() -> None:
    page = _render()
    summary = page[page.index('id="summary"') : page.index('id="entity-1"')]
    cells = re.findall(r'<td class="num">(\d+)</td>', summary)
    # Clinician A: 2 measures, 1 complete (128), 1 with 20+ cases (128), 2 open gaps;
    # clinician B: 1 measure (181), complete, 20+ cases, no gaps.
    assert cells == ["2", "1", "1", "2", "1", "1", "1", "0"]
    assert '<a href="#entity-2">' in summary


def test_benchmark_bar_ticks_and_marker() -> None:
    from mipsclaims import specs

    bar = html.benchmark_bar(specs.load(2025).measure("134"), 0.9)
    assert bar.ticks[:3] == [(8.16, "1"), (86.58, "10"), (99.19, "20")]
    assert bar.marker == 90.0 and bar.inverse is False
    assert html.benchmark_bar(None, 0.5) is None


def test_scoring_projection_is_shown_per_clinician() -> None:
    from mipsclaims import scoring

    result = make_result()
    scores = scoring.score(result.rows, 2025, scoring.ScoringOptions())
    page = html.render_html(result, scores=scores)
    for p in scores.projections:
        assert f"projected final score <strong>{p.final_score:.1f}</strong>" in page
    m128 = next(m for m in scores.projections[0].quality.measures if m.measure_id == "128")
    assert m128.reason in page


def test_reporting_options_are_ranked_per_clinician() -> None:
    """The HTML report lists the options `score` ranks (traditional MIPS and each MVP the
    claims allow), in rank order, with what each would earn and the measures it uses."""
    from markupsafe import escape

    from mipsclaims import scoring

    result = make_result()
    scores = scoring.score(result.rows, 2025, scoring.ScoringOptions())
    page = html.render_html(result, scores=scores)
    p = scores.projections[0]
    assert len(p.reporting_options) > 1  # the fixture's 128 and 181 fit some MVPs
    section = page[page.index('id="entity-1"') : page.index('id="entity-2"')]
    options = section[section.index('<details class="options">') : section.index("</details>")]
    assert f"Reporting options the claims allow: {len(p.reporting_options)}," in options
    rows = re.findall(
        r'<tr><td class="num">(\d+)</td>\n<td>([^<]*)(?:<br>.*?)?</td>\n'
        r'<td class="num">([\d.]+)%</td><td class="num">([\d.]+)</td>\n<td>([^<]*)</td>',
        options,
    )
    expected = [
        (
            str(o.rank),
            "traditional MIPS" if o.kind == "traditional" else escape(f"{o.option} {o.title}"),
            f"{o.quality_score:.1f}",
            f"{o.final_score:.1f}",
            " ".join(o.uses) or html.NO_VALUE,
        )
        for o in p.reporting_options
    ]
    assert rows == expected
    assert [r[0] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]


def test_one_reporting_option_shows_no_ranking() -> None:
    from mipsclaims import scoring

    result = make_result()
    scores = scoring.score(result.rows, 2025, scoring.ScoringOptions())
    for p in scores.projections:
        del p.reporting_options[1:]
    assert '<details class="options">' not in html.render_html(result, scores=scores)


def test_report_specialty_keeps_the_mvps_cms_lists_for_it(tmp_path: Path) -> None:
    """`report --specialty` ranks, in the HTML, only the MVPs CMS lists for that specialty
    (the bundled physical-therapy clinic: M1370 and traditional MIPS, not 20 MVPs)."""
    from typer.testing import CliRunner

    from mipsclaims.cli import app

    example = REPO / "examples" / "pt-clinic-2026.837"
    pages = {}
    for extra in ([], ["--specialty", "physical therapy"]):
        page = tmp_path / f"r{len(extra)}.html"
        args = ["report", "-q", "-f", "html", "--year", "2026", "-o", str(page), *extra]
        out = CliRunner().invoke(app, [*args, str(example)])
        assert out.exit_code == 0, out.output
        pages[bool(extra)] = page.read_text()
    options = re.compile(r'<tr><td class="num">\d+</td>\n<td>(traditional MIPS|[GM]\d{4})')
    filtered = options.findall(pages[True])
    assert filtered and set(filtered) == {"M1370", "traditional MIPS"}
    assert len(set(options.findall(pages[False]))) > 2


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _browser(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary (CI: apt-get install -y chromium)")
    base = [
        binary, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120)


def test_report_in_a_real_browser(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(_render(title_128=HOSTILE), encoding="utf-8")
    dom = _browser(["--dump-dom", page.as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom.stdout))
    assert f"Clinician NPI {NPI_A}" in text
    assert "84.0% of 75.0%" in text  # 128 completeness vs threshold
    assert "Screening for Depression" in text
    assert "claim #7" in text
    # The browser parsed no injected element: the hostile title is text.
    assert "<img src=x" not in dom.stdout and "<script>alert" not in dom.stdout
    shot = tmp_path / "shot.png"
    out = _browser([f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()], tmp_path)
    assert out.returncode == 0 and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_autoescape_is_on_for_templates_and_strings() -> None:
    assert html._ENV.autoescape("report.html.j2") is True
    assert html._ENV.autoescape(None) is True  # templates made from strings too


def test_template_syntax_in_data_is_not_evaluated() -> None:
    """``{{7*7}}`` in a title, a code or a claim id is text: the page is the same as with
    ``{{7*8}}`` once the two strings are swapped, so nothing was evaluated."""
    pages = [
        _render(title_128=f"T {s}", code=s, claim_id="{{7*7}}", conflict=s)
        for s in ("{{7*7}}{% if 1 %}X{% endif %}", "{{7*8}}{% if 1 %}X{% endif %}")
    ]
    assert "{{7*7}}{% if 1 %}X{% endif %}" in pages[0]
    assert pages[0].replace("{{7*7}}", "{{7*8}}") == pages[1]


def test_hostile_strings_from_an_837_are_escaped_end_to_end(tmp_path: Path) -> None:
    """Hostile clinician NPIs and TINs (they label the report's sections) read from an
    837P through the CLI come out as text."""
    from typer.testing import CliRunner

    from mipsclaims.cli import app
    from mipsclaims.synth import SynthConfig, synthetic_837

    hostile = ("<script>alert(1)</script>", '"><img src=x onerror=alert(2)>', "{{7*7}}")
    text = synthetic_837(SynthConfig(claims=60, seed=3)).decode()
    tin = re.search(r"REF\*EI\*(\d+)", text).group(1)
    text = text.replace(f"REF*EI*{tin}", f"REF*EI*{hostile[1]}")
    text = re.sub(r"(NM1\*82\*1\*CLINICIAN\*DOC\*{4}XX\*)\d+", rf"\g<1>{hostile[0]}", text)
    text = re.sub(r"(NM1\*85\*2\*SYNTH CLINIC\*{5}XX\*)\d+", rf"\g<1>{hostile[2]}", text)
    src, page = tmp_path / "hostile.837", tmp_path / "r.html"
    src.write_text(text)
    out = CliRunner().invoke(app, ["report", "-q", "-f", "html", "-o", str(page), str(src)])
    assert out.exit_code == 0, out.output
    body = page.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in body
    assert "<script" not in body.lower() and "<img" not in body.lower()


def test_a_group_lists_the_first_gaps_shown_and_counts_them_all() -> None:
    """30 open gaps of one measure: the page lists the first GAPS_SHOWN by date and says 30
    (worklist rows are built only for the listed ones)."""
    import dataclasses
    import datetime as dt

    import polars as pl

    result = make_result()
    one = result.instances.filter(pl.col("instance_key") == "k1")
    many = pl.concat(
        one.with_columns(
            pl.lit(f"k{n}").alias("instance_key"),
            pl.lit(dt.date(2025, 1, 1) + dt.timedelta(days=29 - n)).alias("instance_date"),
            pl.lit([100 + n]).cast(pl.List(pl.Int64)).alias("claim_seqs"),
        )
        for n in range(30)
    )
    others = result.instances.filter(pl.col("instance_key") != "k1")
    result = dataclasses.replace(result, instances=pl.concat([many, others]))
    context = html.build_context(result)
    entity = next(e for e in context["entities"] if e["npi"] == NPI_A)
    group = next(g for g in entity["gaps"] if g["measure_id"] == "128")
    assert group["total"] == 30 and len(group["items"]) == html.GAPS_SHOWN
    dates = [item["instance_date"] for item in group["items"]]
    assert dates == sorted(dates) and dates[0] == dt.date(2025, 1, 1)
    assert group["items"][0]["claims"].startswith("claim #129 (")
    assert entity["gap_total"] == 30 + 1  # and the conflicting 134 instance
    measure = next(m for m in entity["measures"] if m["measure_id"] == "128")
    assert measure["open_gaps"] == 30


def test_scores_are_shown_only_for_a_scored_year_with_rows() -> None:
    import dataclasses

    from mipsclaims import scoring

    result = make_result()
    shown = html.shown_scores(result, scoring.ScoringOptions(small_practice=True))
    assert shown is not None and shown.options.small_practice
    assert shown.performance_year == 2025
    assert html.shown_scores(dataclasses.replace(result, rows=result.rows.clear())) is None
    assert html.shown_scores(dataclasses.replace(result, year=2022)) is None
