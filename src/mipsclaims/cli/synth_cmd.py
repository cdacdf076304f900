"""``mipsclaims synth``: write a synthetic 837P file aimed at a year's measures."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import fail


def synth(
    output: Path = typer.Option(..., "--output", "-o", help="File to write."),
    year: int = typer.Option(2025, "--year", "-y", help="Performance year of the measures."),
    claims: int = typer.Option(100, "--claims", "-n", min=0, help="Number of claims."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed (same seed, same file)."),
    lines_per_claim: int = typer.Option(
        3, "--lines-per-claim", min=1, help="Most encounter lines per claim (QDC lines add)."
    ),
    element: str = typer.Option("*", help="Element separator."),
    component: str = typer.Option(":", help="Component separator."),
    repetition: str = typer.Option("^", help="Repetition separator."),
    terminator: str = typer.Option("~", help="Segment terminator ('\\n' for newline)."),
    newline: bool = typer.Option(True, help="Write a newline after each terminator."),
    remit: Path | None = typer.Option(
        None,
        "--remit",
        help="Also write Medicare's answer with known losses: REMIT-1.835 and REMIT-2.835.",
    ),
) -> None:
    """Write a deterministic synthetic 837P (005010X222A1) file.

    Example: mipsclaims synth --year 2025 --claims 1000 --seed 7 -o synthetic.837
    Example: mipsclaims synth -n 500 -o year.837 --remit era   (writes era-1.835, era-2.835)
    """
    from .. import specs
    from ..synth import SynthConfig, write_synthetic_837  # polars only when run
    from ..x12 import Delimiters

    term = "\n" if terminator in ("\\n", "\n") else terminator
    try:
        config = SynthConfig(
            year=year,
            claims=claims,
            seed=seed,
            lines_per_claim=lines_per_claim,
            delimiters=Delimiters(element, component, repetition, term),
            newline="\n" if newline and term != "\n" else "",
        )
        written = write_synthetic_837(output, config)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    except (ValueError, specs.UnsupportedYearError) as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"wrote {claims} claims ({written} bytes) to {output}", err=True)
    if remit is not None:
        _write_remit(output, remit, year, seed)


def _write_remit(claims: Path, prefix: Path, year: int, seed: int) -> None:
    """The two 835s of :func:`mipsclaims.remit.synth.synthetic_835` for the file written."""
    from .. import api, atomicfile
    from ..remit.synth import RemitConfig, synthetic_835

    answer = synthetic_835(api.read_claim_lines(claims), year, RemitConfig(seed=seed))
    for n, data in enumerate(answer.files, start=1):
        target = prefix.with_name(f"{prefix.name}-{n}.835")
        try:
            atomicfile.write_bytes(target, data)
        except OSError as exc:
            raise fail(f"cannot write {target}: {exc.strerror or exc}") from None
        typer.echo(f"wrote {target}", err=True)
