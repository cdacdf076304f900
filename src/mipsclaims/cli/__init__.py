"""The ``mipsclaims`` command line: one typer app, one module per command group.

Exit codes (shared by every command): 0 success; 1 the check found problems (``check``);
2 usage error, unreadable input, an output that cannot be written or no usable temporary
directory; 3 ``--strict`` and some claim could not be read; 130 Ctrl-C; 143 SIGTERM.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import typer

from .. import interrupt
from . import ingest_cmd, lines_cmd, report_cmd, score_cmd, specs_cmd, synth_cmd

app = typer.Typer(
    name="mipsclaims",
    help="MIPS quality reporting on Medicare Part B claims (X12 837P or claim-line exports).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"mipsclaims {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    specs_dir: Path = typer.Option(None, "--specs-dir", help=specs_cmd.SPECS_DIR_HELP),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """MIPS quality reporting on Medicare Part B claims (X12 837P or claim-line exports)."""
    specs_cmd.use_specs_dir(specs_dir)


app.add_typer(specs_cmd.app, name="specs")
app.command("score")(score_cmd.score)
app.command("report")(report_cmd.report)
app.command("gaps")(report_cmd.gaps)
app.command("check")(report_cmd.check)
app.command("ingest")(ingest_cmd.ingest)
app.command("lines")(lines_cmd.lines)
app.command("synth")(synth_cmd.synth)


def exit_on_sigterm() -> None:
    """Make SIGTERM (``kill``, ``timeout``, ``docker stop``) exit like an error, not die on
    the spot: temporary files, such as the engine's spilled facts (PHI), are then removed
    on the way out."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main() -> None:
    exit_on_sigterm()
    interrupt.install()
    try:
        app()
    except KeyboardInterrupt:
        pass  # the exit status is set below
    finally:
        if interrupt.interrupted():  # even when the KeyboardInterrupt was lost somewhere
            sys.stderr.write("interrupted\n")
            sys.exit(interrupt.EXIT_INTERRUPTED)
