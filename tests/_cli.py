"""Running the command line: as ``python -m scratchspaces``, or in this process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from scratchspaces import cli

if TYPE_CHECKING:
    import pytest


def run_cli(
    *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m scratchspaces args`` in a fresh interpreter; never raise on failure.

    ``cwd``: its working directory (this process's if None); ``stdin``: what it reads.
    """
    return subprocess.run(
        [sys.executable, "-m", "scratchspaces", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
    )


SCRIPT = Path(sys.executable).with_name("scratchspaces")
"""The console script of this environment, as users run it."""


def run_script(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the console script with stdin not a terminal; never raise on failure."""
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env=env,
        check=False,
        timeout=120,
    )


def cli_output(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run ``cli.main(args)`` in this process; check it succeeds and return what it printed."""
    assert cli.main(list(args)) == 0
    return capsys.readouterr().out
