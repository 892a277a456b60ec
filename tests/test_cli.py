"""The command line (``scratchspaces.cli``): every command, exit codes and one-line errors.

Spaces (path, list, delete, clear), the depot (gc, du), artifacts and the content cache;
mostly run as ``python -m scratchspaces``, as users do.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import scratchspaces
from _artifacts import sha256_of
from _cli import cli_output, run_cli
from _depots import use_depots
from _fills import file_writer, fill_artifact, writer
from _git import blob_sha256
from scratchspaces import GLOBAL, _units, artifacts, cache, cli

if TYPE_CHECKING:
    from pathlib import Path


# --- spaces ------------------------------------------------------------------------------


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
    result = run_cli("path", "k", "--pkg", "Some_Pkg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{spaces / 'some-pkg' / 'k'}\n"
    assert (spaces / "some-pkg" / "k").is_dir()
    assert run_cli("path", "g", "--global", cwd=tmp_path).stdout.strip() == str(
        spaces / "_global" / "g"
    )
    # No package named: the project of the current directory, else global.
    assert run_cli("path", "h", cwd=tmp_path).stdout.strip() == str(spaces / "_global" / "h")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "here"\n')
    assert run_cli("path", "h", cwd=tmp_path).stdout.strip() == str(spaces / "here" / "h")
    records = json.loads(run_cli("list", "here", "--json", cwd=tmp_path).stdout)
    assert records[0]["parents"] == [{"path": str(tmp_path / "pyproject.toml"), "alive": True}]


def test_errors_are_one_line_and_exit_1(depot: Path, tmp_path: Path) -> None:
    for args in (
        ["path", "../x", "--global"],
        ["delete", "..", "--global"],
        ["path", "k", "--pkg", "a b"],
    ):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 1, args
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("scratchspaces: error: invalid")
        assert "Traceback" not in result.stderr
    depot.write_text("a file")
    result = run_cli("list", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"scratchspaces: error: cannot use {str(depot)!r}: " + (
        "the depot path exists and is not a directory (check $SCRATCHSPACES_DEPOT_PATH)\n"
    )


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run_cli(cwd=tmp_path).returncode == 2
    assert run_cli("frobnicate", cwd=tmp_path).returncode == 2
    assert run_cli("delete", "k", cwd=tmp_path).returncode == 2  # --pkg or --global required
    assert run_cli("path", "k", "--pkg", "a", "--global", cwd=tmp_path).returncode == 2


def test_list_table_and_json(depot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "No scratch spaces" in cli_output(capsys, "list")
    space = scratchspaces.get_scratch("datasets", "scikit-learn")
    (space / "blob").write_bytes(b"x" * 2048)
    (space / "hardlink").hardlink_to(space / "blob")  # counted once
    scratchspaces.get_scratch("shared", GLOBAL)
    (depot / "scratchspaces" / "manual" / "made-by-hand").mkdir(parents=True)

    lines = cli_output(capsys, "list").splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "KEY",
        "SIZE",
        "LAST",
        "ACCESS",
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

    [entry] = json.loads(cli_output(capsys, "list", "Scikit_Learn", "--json"))
    assert entry["namespace"] == "scikit-learn"
    assert entry["key"] == "datasets"
    assert entry["path"] == str(space)
    assert entry["bytes"] == 2048
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
    assert run_cli("clear", "a", "--yes", cwd=tmp_path).returncode == 0
    assert not a.exists()
    assert b.exists()
    assert run_cli("clear", "--global", "--yes", cwd=tmp_path).returncode == 0
    assert not g.exists()

    # Everything needs a confirmation; with no terminal to ask on, it needs --yes.
    refused = run_cli("clear", cwd=tmp_path, stdin="y\n")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert b.exists()
    done = run_cli("clear", "--yes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Deleted 1 scratch space" in done.stdout
    assert not b.exists()
    assert run_cli("clear", "--yes", cwd=tmp_path).stdout.startswith("No scratch spaces")


def test_version(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.stdout.strip() == f"scratchspaces {scratchspaces.__version__}"


@pytest.mark.parametrize(
    ("size", "text"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 2**30, "5.0 GiB")]
)
def test_format_bytes(size: int, text: str) -> None:
    assert cli.format_bytes(size) == text


# --- gc and du ---------------------------------------------------------------------------


def test_gc_command_dry_run_json_and_summary(depot: Path, tmp_path: Path) -> None:
    used = scratchspaces.get_scratch("used", "pkg")
    stray = depot / "scratchspaces" / "stray" / "k"
    stray.mkdir(parents=True)
    (stray / "blob").write_bytes(b"x" * 2048)

    result = run_cli("gc", "--collect-delay", "0", "--dry-run", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dry_run"] is True
    assert [(d["path"], d["bytes"]) for d in data["deleted"]] == [(str(stray), 2048)]
    assert [k["path"] for k in data["kept"]] == [str(used)]
    assert data["freed_bytes"] == 2048
    assert stray.exists()

    result = run_cli("gc", cwd=tmp_path)  # default delay: orphaned, kept for a week
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Deleted 0 scratch spaces (0 B); 1 orphaned, kept until 20")
    listing = json.loads(run_cli("list", "stray", "--json", cwd=tmp_path).stdout)
    assert listing[0]["status"] == "orphaned"
    assert listing[0]["orphaned_since"].startswith("20")

    result = run_cli("gc", "--collect-delay", "0s", cwd=tmp_path)
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
        result = run_cli("gc", *args, cwd=tmp_path)
        assert result.returncode == 2, args
        assert "invalid" in result.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("30s", 30),
        ("15m", 900),
        ("15min", 900),
        ("12h", 43200),
        ("7d", 604800),
        ("7 days", 604800),
        ("2W", 1209600),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert cli.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["6M", "6mo", "6 months", "1y", "2 years", "1Y"])
def test_durations_that_mean_different_things_to_different_people_are_refused(
    text: str, depot: Path
) -> None:
    """``--max-age 6M`` meant six minutes, and deleted every space: now nothing is deleted."""
    with pytest.raises(ValueError, match="ambiguous duration"):
        _units.parse_duration(text)
    space = scratchspaces.get_scratch("k", "pkg")
    result = subprocess.run(
        [str(Path(sys.executable).with_name("scratchspaces")), "gc", "--max-age", text],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "ambiguous duration" in result.stderr
    assert "Traceback" not in result.stderr
    assert space.is_dir()


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
    data = json.loads(cli_output(capsys, "du", "--json"))
    assert data["namespaces"] == [
        {"namespace": "_global", "count": 1, "bytes": 512},
        {"namespace": "pkg", "count": 2, "bytes": 2048},
    ]
    assert data["total_bytes"] == 2560
    lines = cli_output(capsys, "du").splitlines()
    assert lines[-1].split() == ["total", "3", "2.5", "KiB"]


# --- artifacts ---------------------------------------------------------------------------


def test_cli_list_verify_archive_publish_install(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = artifacts.create_artifact(fill_artifact)
    loose = artifacts.create_artifact(lambda d: fill_artifact(d, "loose"))
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", h)

    listing = run_cli("artifacts", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = {row["hash"]: row for row in json.loads(listing.stdout)}
    assert rows[h]["bound_by"] == [{"file": str(toml), "name": "data"}]
    assert rows[loose]["bound_by"] == []
    assert rows[h]["bytes"] > 0
    assert "(unbound)" in run_cli("artifacts", "list").stdout

    assert run_cli("artifacts", "verify").returncode == 0
    target = depot / "artifacts" / loose / "data" / "table.csv"
    target.chmod(0o644)
    target.write_text("tampered")
    verify = run_cli("artifacts", "verify")
    assert verify.returncode == 1
    assert f"CORRUPT  {loose}" in verify.stdout
    assert run_cli("artifacts", "verify", h).returncode == 0

    archived = run_cli("artifacts", "archive", h, str(tmp_path / "h.tar.gz"))
    assert archived.stdout.strip() == sha256_of(tmp_path / "h.tar.gz")

    published = run_cli("artifacts", "publish", h, (tmp_path / "up").as_uri())
    url, sha256 = published.stdout.split()
    assert sha256 == archived.stdout.strip()
    artifacts.bind_artifact(toml, "data", h, download_info=[(url, sha256)], force=True)

    fresh = tmp_path / "fresh"
    use_depots(monkeypatch, fresh)
    installed = run_cli("artifacts", "install", "data", "--toml", str(toml))
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.strip() == str(fresh / "artifacts" / h)

    missing = run_cli("artifacts", "archive", "0" * 40, str(tmp_path / "x.tar.gz"))
    assert missing.returncode == 1
    assert missing.stderr.startswith("scratchspaces: error: no artifact")
    assert "Traceback" not in missing.stderr


def test_du_counts_artifacts(depot: Path) -> None:
    artifacts.create_artifact(fill_artifact)
    out = run_cli("du", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["artifacts"]["count"] == 1
    assert data["artifacts"]["bytes"] == data["total_bytes"] > 0


# --- the content cache -------------------------------------------------------------------


def test_cli_lists_recycles_and_counts_the_cache(
    tmp_path: Path, depot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cache list --json`` shows kind, bytes and bindings (files through their directory),
    ``cache recycle --collect-delay 0`` frees an unbound entry, ``du --json`` counts the rest."""
    files = {"data.csv": b"a,b\n1,2\n", "run.sh": b"#!/bin/sh\n"}

    def fill(work: Path) -> None:
        writer(files)(work)
        (work / "run.sh").chmod(0o755)

    d = cache.create_my_artifact(fill)
    loose = cache.create_my_artifact(file_writer(b"loose\n"))
    toml = tmp_path / "Artifacts.toml"
    cache.bind_my_artifact(toml, "d", d)
    csv, run = blob_sha256(files["data.csv"]), blob_sha256(files["run.sh"]) + ".x"

    rows = {r["id"]: r for r in json.loads(cli_output(capsys, "cache", "list", "--json"))}
    assert set(rows) == {d, csv, run, loose}
    assert rows[d]["kind"] == "directory"
    assert rows[csv]["kind"] == "file"
    assert rows[run]["kind"] == "executable"
    assert rows[d]["bytes"] == len(files["data.csv"]) + len(files["run.sh"])
    assert rows[loose]["bytes"] == len(b"loose\n")
    assert rows[d]["bound_by"] == [{"file": str(toml), "name": "d"}]
    assert rows[csv]["bound_by"] == [{"file": str(toml), "name": "d", "through": d}]
    assert rows[loose]["bound_by"] == []
    assert "(unbound)" in cli_output(capsys, "cache", "list")

    out = json.loads(cli_output(capsys, "cache", "recycle", "--collect-delay", "0", "--json"))
    deleted = [(d["path"], d["bytes"]) for d in out["deleted"]]
    assert deleted == [(str(cache.my_artifact_path(loose)), len(b"loose\n"))]
    assert not cache.my_artifact_exists(loose)

    du = json.loads(cli_output(capsys, "du", "--json"))
    assert du["cache"] == {"count": 3, "bytes": len(files["data.csv"]) + len(files["run.sh"])}
    assert du["total_bytes"] >= du["cache"]["bytes"]


def test_install_repairs_a_corrupt_copy_and_remove_removes(tmp_path: Path, depot: Path) -> None:
    """``artifacts install`` never returns a copy ``verify`` calls corrupt; ``remove`` says what."""
    h = artifacts.create_artifact(fill_artifact)
    published = run_cli("artifacts", "publish", h, (tmp_path / "up").as_uri())
    url, sha256 = published.stdout.split()
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", h, download_info=[(url, sha256)])
    target = depot / "artifacts" / h / "data" / "table.csv"
    target.chmod(0o644)
    target.write_text("tampered")
    assert run_cli("artifacts", "verify", h).returncode == 1

    installed = run_cli("artifacts", "install", "data", "--toml", str(toml))
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.strip() == str(depot / "artifacts" / h)
    assert f"{h} was corrupt: installing it again" in installed.stderr
    assert run_cli("artifacts", "verify", h).returncode == 0

    dry = run_cli("artifacts", "remove", h, "--dry-run")
    assert dry.stdout.startswith(f"would remove {h} (")
    assert (depot / "artifacts" / h).is_dir()
    removed = run_cli("artifacts", "remove", h, "--json")
    assert removed.returncode == 0, removed.stderr
    report = json.loads(removed.stdout)
    assert [d["hash"] for d in report["deleted"]] == [h]
    assert report["freed_bytes"] > 0
    assert not (depot / "artifacts" / h).exists()
    again = run_cli("artifacts", "remove", h)
    assert again.returncode == 0
    assert again.stdout.startswith(f"nothing to remove: {h} is not in")
    hostile = run_cli("artifacts", "remove", "../../" + "0" * 34)
    assert hostile.returncode == 1
    assert hostile.stderr.startswith("scratchspaces: error:")


def test_a_corrupt_copy_in_a_read_only_depot_is_refused(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = artifacts.create_artifact(fill_artifact)
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", h)
    target = depot / "artifacts" / h / "data" / "table.csv"
    target.chmod(0o644)
    target.write_text("tampered")
    use_depots(monkeypatch, tmp_path / "mine", depot)  # the corrupt copy is read-only to us
    refused = run_cli("artifacts", "install", "data", "--toml", str(toml))
    assert refused.returncode == 1
    assert "is corrupt, in a depot this library never writes" in refused.stderr
    assert target.read_text() == "tampered"  # never written
    assert refused.stdout == ""


def test_archive_overwrites_and_creates_folders_only_when_forced(
    tmp_path: Path, depot: Path
) -> None:
    h = artifacts.create_artifact(fill_artifact)
    out = tmp_path / "h.tar.gz"
    out.write_text("mine")
    refused = run_cli("artifacts", "archive", h, str(out))
    assert refused.returncode == 1
    assert "exists; --force overwrites it" in refused.stderr
    assert out.read_text() == "mine"
    forced = run_cli("artifacts", "archive", h, str(out), "--force")
    assert forced.stdout.strip() == sha256_of(out)
    deep = tmp_path / "new" / "folder" / "h.tar.gz"
    missing = run_cli("artifacts", "archive", h, str(deep))
    assert missing.returncode == 1
    assert "--force creates it" in missing.stderr
    assert not (tmp_path / "new").exists()
    assert run_cli("artifacts", "archive", h, str(deep), "--force").returncode == 0
    assert deep.is_file()
