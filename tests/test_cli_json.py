"""Every ``--json`` follows one schema, checked through the real console script.

One document on stdout, indented 2 spaces; listings are arrays of objects, reports one
object; snake_case keys; sizes are integer ``bytes`` or ``<what>_bytes``, never ``size``;
paths absolute; times ISO 8601 with an offset; a binding is ``{"file", "name"}`` in
``bound_by``; a report of deletions has ``dry_run``, ``deleted`` (``path``, ``bytes``),
``failed`` (``path``, ``error``) and ``freed_bytes``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import scratchspaces
from _depots import cache_store
from _fills import file_writer, fill_artifact
from _schema import check_schema
from scratchspaces import artifacts, cache, cli

SCRIPT = Path(sys.executable).with_name("scratchspaces")

# Each command that has --json, with arguments ({...}: from the depot _fill makes). Run
# each against a depot of its own, so a command that deletes changes no other's input.
COMMANDS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("du",), ()),
    (("info",), ()),
    (("config",), ()),
    (("config", "set"), ("gc.max-size", "2G")),
    (("config", "unset"), ("gc.max-size",)),
    (("gc",), ("--collect-delay", "0", "--dry-run")),
    (("gc",), ("--max-age", "1s", "--dry-run")),
    (("gc",), ("--collect-delay", "0")),
    (("gc",), ()),
    (("artifacts", "list"), ()),
    (("artifacts", "verify"), ()),
    (("artifacts", "verify"), ("{hash}",)),
    (("artifacts", "archive"), ("{hash}", "{tmp}/out.tar.gz")),
    (("artifacts", "publish"), ("{hash}", "{upload}")),
    (("artifacts", "install"), ("data", "--toml", "{toml}")),
    (("artifacts", "remove"), ("{loose}", "--dry-run")),
    (("artifacts", "remove"), ("{loose}",)),
    (("artifacts", "remove"), ("0" * 40,)),
    (("cache", "list"), ()),
    (("cache", "recycle"), ("--collect-delay", "0", "--dry-run")),
    (("cache", "recycle"), ("--collect-delay", "0")),
    (("list",), ()),
    (("list",), ("--sort", "size", "--filter", "size>10", "--limit", "5")),
    (("delete",), ("k", "--pkg", "stray-pkg", "--dry-run")),
    (("delete",), ("k", "--pkg", "stray-pkg")),
    (("delete",), ("missing", "--global")),
    (("clear",), ("stray-pkg", "--yes", "--dry-run")),
    (("clear",), ("stray-pkg", "--yes")),
    (("clear",), ("--yes",)),
]
LISTINGS = {("list",), ("artifacts", "list"), ("cache", "list"), ("config",)}
DELETES = {("gc",), ("artifacts", "remove"), ("cache", "recycle"), ("delete",), ("clear",)}


def _fill(depot: Path, tmp_path: Path) -> dict[str, str]:
    """Make a depot with something of every kind; return what the command lines name."""
    scratchspaces.get_scratch("used", "pkg")
    stray = depot / "scratchspaces" / "stray-pkg" / "k"
    stray.mkdir(parents=True)
    (stray / "blob").write_bytes(b"x" * 100)
    h = artifacts.create_artifact(fill_artifact)
    loose = artifacts.create_artifact(lambda d: fill_artifact(d, "loose"))
    upload = (tmp_path / "up").as_uri()
    url, sha256 = artifacts.publish_artifact(h, upload)
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", h, download_info=[(url, sha256)])
    entry = cache.create_my_artifact(file_writer(b"bound\n"))
    cache.bind_my_artifact(cache.my_artifacts_toml("pkg"), "f", entry)
    cache.create_my_artifact(file_writer(b"loose\n"))
    (depot / ".trash" / "left").mkdir(parents=True)
    (depot / ".trash" / "left" / "f").write_bytes(b"t" * 10)
    (cache_store(depot) / ".trash").mkdir()
    (depot / "logs").mkdir(exist_ok=True)
    (depot / "logs" / "gc_auto.log").write_text(
        json.dumps(
            {
                "started": "2024-05-01T10:00:00+00:00",
                "deleted": 3,
                "freed_bytes": 1536,
                "orphaned": 1,
                "warnings": ["a"],
            }
        )
        + "\n"
    )
    return {"hash": h, "loose": loose, "toml": str(toml), "tmp": str(tmp_path), "upload": upload}


@pytest.mark.parametrize(("command", "args"), COMMANDS, ids=[" ".join(c + a) for c, a in COMMANDS])
def test_json_follows_the_schema(
    command: tuple[str, ...], args: tuple[str, ...], depot: Path, tmp_path: Path
) -> None:
    names = _fill(depot, tmp_path)
    line = [*command, *(a.format(**names) for a in args), "--json"]
    result = subprocess.run([str(SCRIPT), *line], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert result.stdout == json.dumps(data, indent=2) + "\n"
    assert isinstance(data, list if command in LISTINGS else dict)
    if command in LISTINGS:
        assert data
        assert all(isinstance(item, dict) for item in data)
    if command in DELETES:
        assert isinstance(data, dict)
        assert {"dry_run", "deleted", "failed", "freed_bytes"} <= set(data)
        assert data["dry_run"] is ("--dry-run" in line)
        assert data["freed_bytes"] == sum(d["bytes"] for d in data["deleted"])
    check_schema(data)


def _commands_with_json(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for action in parser._actions:
        if "--json" in action.option_strings:
            found.add(path)
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _commands_with_json(sub, (*path, name))
    return found


def test_every_command_with_json_is_in_the_table() -> None:
    have = _commands_with_json(cli._parser())
    assert have == {command for command, _args in COMMANDS}


# --- what each report says --------------------------------------------------------------


def _run(*args: str, status: int = 0) -> Any:
    result = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, check=False)
    assert result.returncode == status, result.stderr
    return json.loads(result.stdout)


def test_verify_reports_each_artifact_and_exits_1_on_a_corrupt_one(depot: Path) -> None:
    h = artifacts.create_artifact(fill_artifact)
    target = depot / "artifacts" / h / "data" / "table.csv"
    target.chmod(0o644)
    target.write_text("tampered")
    data = _run("artifacts", "verify", "--json", status=1)
    [checked] = data["checked"]
    assert checked["hash"] == h
    assert checked["status"] == "corrupt"
    assert checked["content_hash"] not in {None, h}
    assert data["corrupt"] == 1


def test_install_says_whether_it_installed_or_repaired(depot: Path, tmp_path: Path) -> None:
    h = artifacts.create_artifact(fill_artifact)
    url, sha256 = artifacts.publish_artifact(h, (tmp_path / "up").as_uri())
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", h, download_info=[(url, sha256)])
    line = ("artifacts", "install", "data", "--toml", str(toml), "--json")
    there = _run(*line)
    assert (there["hash"], there["installed"], there["repaired"]) == (h, False, False)
    assert there["path"] == str(depot / "artifacts" / h)
    assert (there["file"], there["name"]) == (str(toml), "data")
    target = depot / "artifacts" / h / "data" / "table.csv"
    target.chmod(0o644)
    target.write_text("tampered")
    repaired = _run(*line)
    assert (repaired["installed"], repaired["repaired"]) == (True, True)
    assert repaired["bytes"] == there["bytes"] > 0


def test_a_dry_run_of_recycle_deletes_nothing(depot: Path) -> None:
    loose = cache.create_my_artifact(file_writer(b"loose\n"))
    path = str(cache.my_artifact_path(loose))
    data = _run("cache", "recycle", "--collect-delay", "0", "--dry-run", "--json")
    assert data["dry_run"] is True
    assert data["deleted"] == [{"path": path, "bytes": 6, "kind": "cache", "id": loose}]
    assert cache.my_artifact_exists(loose)
    assert _run("cache", "recycle", "--collect-delay", "0", "--json")["freed_bytes"] == 6
    assert not cache.my_artifact_exists(loose)


def test_config_set_and_unset_report_the_setting(depot: Path) -> None:
    source = str(depot / "config.toml")
    expected = {"key": "gc.max-size", "value": "2G", "source": source}
    assert _run("config", "set", "gc.max-size", "2G", "--json") == expected
    assert _run("config", "--json", "set", "gc.max-size", "2G") == expected
    unset = {"key": "gc.max-size", "value": "none", "source": "default"}
    assert _run("config", "unset", "gc.max-size", "--json") == unset
