"""``mipsclaims --help`` and ``--version`` start without polars and numpy (issue 17): the
command modules import them inside the commands that read or count claims."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Runs the CLI's entry point in a fresh interpreter, then reports the heavy modules loaded.
WRAPPER = """
import json, sys
sys.argv = ["mipsclaims", *sys.argv[1:]]
from mipsclaims.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
loaded = [m for m in ("polars", "numpy", "pyarrow") if m in sys.modules]
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def _start(*args: str) -> tuple[str, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, timeout=120
    )
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [("--help",), ("--version",)])
def test_help_and_version_load_neither_polars_nor_numpy(args):
    out, seen = _start(*args)
    assert seen == {"code": 0, "loaded": []}
    assert "mipsclaims" in out


def test_version_prints_the_package_version():
    from mipsclaims import __version__

    out, _ = _start("--version")
    assert out.strip() == f"mipsclaims {__version__}"


def test_the_wrapper_sees_polars_when_a_command_reads_claims(tmp_path):
    """The check above could pass for a wrapper that sees nothing: a real read loads them."""
    target = tmp_path / "s.837"
    _, seen = _start("synth", "-n", "2", "-o", str(target))
    assert seen["code"] == 0 and target.stat().st_size > 0
    assert "polars" in seen["loaded"]


def test_the_package_api_is_still_there():
    import mipsclaims

    assert callable(mipsclaims.evaluate) and callable(mipsclaims.check_claim)
    with pytest.raises(AttributeError):
        _ = mipsclaims.no_such_name
