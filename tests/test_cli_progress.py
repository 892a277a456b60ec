"""Progress bars: drawn by the console script on a terminal, never when piped, never by the API.

The terminal is a real pseudo-terminal: the command's stderr is its far end, and what
the command draws there is read back whole.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

from _fills import file_writer, fill_artifact
from _processes import stderr_on_a_terminal
from scratchspaces import artifacts, cache

SCRIPT = Path(sys.executable).with_name("scratchspaces")


def _spaces(depot: Path, pkg: str, count: int) -> None:
    for i in range(count):
        space = depot / "scratchspaces" / pkg / f"space-{i:03d}"
        space.mkdir(parents=True)
        (space / "data").write_bytes(b"x" * 100)


def _on_a_terminal(command: list[str], tmp_path: Path) -> tuple[int, str, str]:
    """Run ``command`` with stderr on a pseudo-terminal; return status, stdout, what it drew."""
    with (tmp_path / "stdout").open("w+b") as out:
        status, drawn = stderr_on_a_terminal(command, stdout=out)
        out.seek(0)
        return status, out.read().decode(), drawn.decode(errors="replace")


def test_clear_draws_a_bar_counting_the_spaces_on_a_terminal(depot: Path, tmp_path: Path) -> None:
    _spaces(depot, "big-pkg", 30)
    status, _out, drawn = _on_a_terminal([str(SCRIPT), "clear", "big-pkg", "--yes"], tmp_path)
    assert status == 0, drawn
    assert "Deleting spaces" in drawn
    assert "30/30" in drawn  # every space counted
    assert not (depot / "scratchspaces" / "big-pkg").exists()


def test_clear_draws_nothing_when_stderr_is_not_a_terminal(depot: Path) -> None:
    _spaces(depot, "big-pkg", 30)
    result = subprocess.run(
        [str(SCRIPT), "clear", "big-pkg", "--yes"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert not (depot / "scratchspaces" / "big-pkg").exists()


def test_the_library_draws_nothing_even_on_a_terminal(depot: Path, tmp_path: Path) -> None:
    """A package calling the API, or gc in the background, prints no bar."""
    _spaces(depot, "big-pkg", 30)
    code = "import scratchspaces; scratchspaces.clear_scratchspaces('big-pkg')"
    status, out, drawn = _on_a_terminal([sys.executable, "-c", code], tmp_path)
    assert status == 0, drawn
    assert (out, drawn) == ("", "")
    assert not (depot / "scratchspaces" / "big-pkg").exists()


def test_a_report_piped_away_stays_clean_while_the_terminal_shows_the_bar(
    depot: Path, tmp_path: Path
) -> None:
    _spaces(depot, "big-pkg", 30)
    command = [str(SCRIPT), "clear", "big-pkg", "--yes", "--json"]
    status, out, drawn = _on_a_terminal(command, tmp_path)
    assert status == 0, drawn
    assert "Deleting spaces" in drawn
    assert len(json.loads(out)["deleted"]) == 30  # the JSON, whole, and nothing else


def test_verify_draws_a_bar_counting_the_artifacts(depot: Path, tmp_path: Path) -> None:
    for tag in ("a", "b", "c"):
        artifacts.create_artifact(functools.partial(fill_artifact, tag=tag))
    status, out, drawn = _on_a_terminal([str(SCRIPT), "artifacts", "verify"], tmp_path)
    assert status == 0, drawn
    assert "Verifying artifacts" in drawn
    assert "3/3" in drawn
    assert out.count("ok ") == 3


def test_gc_draws_a_bar_counting_what_it_deletes(depot: Path, tmp_path: Path) -> None:
    _spaces(depot, "gone-pkg", 20)  # never recorded: orphans, deleted with no delay
    command = [str(SCRIPT), "gc", "--collect-delay", "0"]
    status, out, drawn = _on_a_terminal(command, tmp_path)
    assert status == 0, drawn
    assert "Collecting" in drawn
    assert "20/20" in drawn
    namespace = depot / "scratchspaces" / "gone-pkg"
    assert not namespace.exists() or not any(namespace.iterdir()), out


def test_cache_recycle_draws_a_bar_counting_the_entries(depot: Path, tmp_path: Path) -> None:
    for i in range(4):
        cache.create_my_artifact(file_writer(f"unbound {i}\n".encode()))
    command = [str(SCRIPT), "cache", "recycle", "--collect-delay", "0"]
    status, _out, drawn = _on_a_terminal(command, tmp_path)
    assert status == 0, drawn
    assert "Recycling the content cache" in drawn
    assert "4/4" in drawn
