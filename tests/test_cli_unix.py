"""The console script as a Unix tool: a reader that stops early, and one-line warnings.

Run through the real ``scratchspaces`` script of this environment, as users run it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scratchspaces.cli import BROKEN_PIPE_STATUS

SCRIPT = Path(sys.executable).with_name("scratchspaces")


def _many_spaces(depot: Path, count: int) -> None:
    for i in range(count):
        (depot / "scratchspaces" / "some-pkg" / f"space-{i:05d}").mkdir(parents=True)


def test_a_reader_that_stops_early_ends_the_command_quietly(depot: Path) -> None:
    """``list --json | head``: no "Broken pipe" message, the status of SIGPIPE."""
    _many_spaces(depot, 1500)  # well over a pipe's 64 KiB of JSON
    proc = subprocess.Popen(
        [str(SCRIPT), "list", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.read(100)
    proc.stdout.close()  # the reader goes away, as head does after its lines
    status = proc.wait(60)
    errors = proc.stderr.read().decode()
    proc.stderr.close()
    assert errors == ""
    assert status == BROKEN_PIPE_STATUS


def test_the_whole_output_still_reaches_a_reader_that_reads_it_all(depot: Path) -> None:
    _many_spaces(depot, 1500)
    result = subprocess.run(
        [str(SCRIPT), "list", "--json"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('"key": "space-') == 1500


def test_warnings_are_one_line_each(depot: Path) -> None:
    """A damaged access log: a warning worded for people, not a Python source line."""
    _many_spaces(depot, 1)
    (depot / "logs").mkdir(parents=True)
    (depot / "logs" / "scratch_usage.toml").write_bytes(b'[["x"]]\ntime = garbage\n\x00\x01\n')
    result = subprocess.run([str(SCRIPT), "list"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines
    assert all(line.startswith("scratchspaces: warning: ") for line in lines), lines
    assert "ScratchspacesWarning" not in result.stderr
    assert "sys.exit" not in result.stderr
