"""The command line: path, list, delete, clear; exit codes and one-line errors."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

import scratchspaces
from scratchspaces import GLOBAL, cli

if TYPE_CHECKING:
    from pathlib import Path


def _cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scratchspaces", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
    )


def test_console_script_is_declared() -> None:
    [script] = [
        ep
        for ep in importlib.metadata.distribution("scratchspaces").entry_points
        if ep.group == "console_scripts"
    ]
    assert script.name == "scratchspaces"
    assert script.load() is cli.main


def test_path_creates_and_prints(depot: Path, tmp_path: Path) -> None:
    spaces = depot / "scratchspaces"
    result = _cli("path", "k", "--pkg", "Some_Pkg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{spaces / 'some-pkg' / 'k'}\n"
    assert (spaces / "some-pkg" / "k").is_dir()
    assert _cli("path", "g", "--global", cwd=tmp_path).stdout.strip() == str(
        spaces / "_global" / "g"
    )
    # No package named: the project of the current directory, else global.
    assert _cli("path", "h", cwd=tmp_path).stdout.strip() == str(spaces / "_global" / "h")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "here"\n')
    assert _cli("path", "h", cwd=tmp_path).stdout.strip() == str(spaces / "here" / "h")
    records = json.loads(_cli("list", "here", "--json", cwd=tmp_path).stdout)
    assert records[0]["parents"] == [{"path": str(tmp_path / "pyproject.toml"), "alive": True}]


def test_errors_are_one_line_and_exit_1(depot: Path, tmp_path: Path) -> None:
    for args in (
        ["path", "../x", "--global"],
        ["delete", "..", "--global"],
        ["path", "k", "--pkg", "a b"],
    ):
        result = _cli(*args, cwd=tmp_path)
        assert result.returncode == 1, args
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("scratchspaces: error: invalid")
        assert "Traceback" not in result.stderr
    depot.write_text("a file")
    result = _cli("list", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"scratchspaces: error: cannot use {str(depot)!r}: " + (
        "the depot path exists and is not a directory (check $SCRATCHSPACES_DEPOT_PATH)\n"
    )


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _cli(cwd=tmp_path).returncode == 2
    assert _cli("frobnicate", cwd=tmp_path).returncode == 2
    assert _cli("delete", "k", cwd=tmp_path).returncode == 2  # --pkg or --global required
    assert _cli("path", "k", "--pkg", "a", "--global", cwd=tmp_path).returncode == 2


def test_list_table_and_json(depot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list"]) == 0
    assert "No scratch spaces" in capsys.readouterr().out
    space = scratchspaces.get_scratch("datasets", "scikit-learn")
    (space / "blob").write_bytes(b"x" * 2048)
    (space / "hardlink").hardlink_to(space / "blob")  # counted once
    scratchspaces.get_scratch("shared", GLOBAL)
    (depot / "scratchspaces" / "manual" / "made-by-hand").mkdir(parents=True)

    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "KEY",
        "SIZE",
        "LAST",
        "ACCESS",
        "(UTC)",
        "PARENTS",
        "ALIVE",
        "STATUS",
    ]
    rows = {tuple(line.split()[:2]): line for line in lines[1:]}
    assert set(rows) == {
        ("_global", "shared"),
        ("manual", "made-by-hand"),
        ("scikit-learn", "datasets"),
    }
    assert "2.0 KiB" in rows[("scikit-learn", "datasets")]
    assert rows[("scikit-learn", "datasets")].endswith("1/1  in use")
    assert "never recorded" in rows[("manual", "made-by-hand")]
    assert rows[("manual", "made-by-hand")].endswith("0/0  unused")

    assert cli.main(["list", "Scikit_Learn", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["namespace"] == "scikit-learn"
    assert entry["key"] == "datasets"
    assert entry["path"] == str(space)
    assert entry["size"] == 2048
    assert entry["last_access"].endswith("+00:00")
    assert entry["parents"][0]["alive"] is True
    assert entry["status"] == "in use"
    assert entry["orphaned_since"] is None


def test_delete_one_space(depot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keep = scratchspaces.get_scratch("keep", "pkg")
    gone = scratchspaces.get_scratch("gone", "pkg")
    assert cli.main(["delete", "gone", "--pkg", "pkg"]) == 0
    assert not gone.exists()
    assert keep.exists()
    assert cli.main(["delete", "gone", "--pkg", "pkg"]) == 0  # already gone: fine
    g = scratchspaces.get_scratch("g", GLOBAL)
    assert cli.main(["delete", "g", "--global"]) == 0
    assert not g.exists()


def test_clear_a_namespace_or_everything(depot: Path, tmp_path: Path) -> None:
    a = scratchspaces.get_scratch("k", "a")
    b = scratchspaces.get_scratch("k", "b")
    g = scratchspaces.get_scratch("k", GLOBAL)
    assert _cli("clear", "a", cwd=tmp_path).returncode == 0
    assert not a.exists()
    assert b.exists()
    assert _cli("clear", "--global", cwd=tmp_path).returncode == 0
    assert not g.exists()

    # Everything needs a confirmation; with no terminal to ask on, it needs --yes.
    refused = _cli("clear", cwd=tmp_path, stdin="y\n")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert b.exists()
    done = _cli("clear", "--yes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Deleted 1 scratch space" in done.stdout
    assert not b.exists()
    assert _cli("clear", "--yes", cwd=tmp_path).stdout.startswith("No scratch spaces")


def test_version(tmp_path: Path) -> None:
    result = _cli("--version", cwd=tmp_path)
    assert result.stdout.strip() == f"scratchspaces {scratchspaces.__version__}"


@pytest.mark.parametrize(
    ("size", "text"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 2**30, "5.0 GiB")]
)
def test_format_bytes(size: int, text: str) -> None:
    assert cli.format_bytes(size) == text


def test_gc_command_dry_run_json_and_summary(depot: Path, tmp_path: Path) -> None:
    used = scratchspaces.get_scratch("used", "pkg")
    stray = depot / "scratchspaces" / "stray" / "k"
    stray.mkdir(parents=True)
    (stray / "blob").write_bytes(b"x" * 2048)

    result = _cli("gc", "--collect-delay", "0", "--dry-run", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dry_run"] is True
    assert data["deleted"] == {str(stray): 2048}
    assert data["kept"] == [str(used)]
    assert data["freed_bytes"] == 2048
    assert stray.exists()

    result = _cli("gc", cwd=tmp_path)  # default delay: orphaned, kept for a week
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Deleted 0 scratch spaces (0 B); 1 orphaned, kept until 20")
    listing = json.loads(_cli("list", "stray", "--json", cwd=tmp_path).stdout)
    assert listing[0]["status"].startswith("orphaned since 20")

    result = _cli("gc", "--collect-delay", "0s", cwd=tmp_path)
    assert result.stdout.splitlines() == [
        f"deleted {stray} (2.0 KiB)",
        "Deleted 1 scratch space (2.0 KiB)",
    ]
    assert not stray.exists()
    assert used.exists()


def test_gc_command_rejects_bad_durations_and_sizes(tmp_path: Path) -> None:
    for args in (
        ["--collect-delay", "7"],
        ["--collect-delay=-1d"],
        ["--max-age", "soon"],
        ["--max-size", "lots"],
        ["--max-size=-5M"],
    ):
        result = _cli("gc", *args, cwd=tmp_path)
        assert result.returncode == 2, args
        assert "invalid" in result.stderr


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0), ("30s", 30), ("15m", 900), ("12h", 43200), ("7d", 604800)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert cli.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 0), ("1048576", 2**20), ("500M", 500 * 2**20), ("2G", 2 * 2**30), ("1.5GiB", 3 * 2**29)],
)
def test_parse_size(text: str, size: int) -> None:
    assert cli.parse_size(text) == size


def test_du(depot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (scratchspaces.get_scratch("a", "pkg") / "f").write_bytes(b"x" * 1024)
    (scratchspaces.get_scratch("b", "pkg") / "f").write_bytes(b"x" * 1024)
    (scratchspaces.get_scratch("c", GLOBAL) / "f").write_bytes(b"x" * 512)
    assert cli.main(["du", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["namespaces"] == {
        "_global": {"spaces": 1, "bytes": 512},
        "pkg": {"spaces": 2, "bytes": 2048},
    }
    assert data["total_bytes"] == 2560
    assert cli.main(["du"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].split() == ["total", "3", "2.5", "KiB"]
