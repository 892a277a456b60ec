"""``gc``, ``du`` and ``info`` through the real console script: spaces in use, the trash.

``gc --dry-run`` says how many of the spaces it would delete are in use (``--max-age``
deletes those too); ``du`` and ``info`` count what a collection left in the trash.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import scratchspaces
from _depots import cache_store, write_access_log
from _fills import file_writer
from _tmpfs import mounted
from scratchspaces import cache
from scratchspaces.cli._reports import LEFT_IN_TRASH

SCRIPT = Path(sys.executable).with_name("scratchspaces")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result


def _json(*args: str) -> Any:
    return json.loads(_run(*args, "--json").stdout)


def _space(depot: Path, namespace: str, key: str, size: int) -> Path:
    space = depot / "scratchspaces" / namespace / key
    space.mkdir(parents=True)
    (space / "data").write_bytes(b"x" * size)
    return space


def _old_spaces(depot: Path, tmp_path: Path) -> tuple[list[Path], Path]:
    """Three spaces last used a year ago: two whose parent exists (in use), one whose is gone."""
    alive, gone = tmp_path / "project", tmp_path / "deleted-project"
    alive.mkdir()
    used = [_space(depot, "pkg", f"used-{i}", 1000) for i in range(2)]
    stray = _space(depot, "pkg", "stray", 24)
    then = datetime.now(timezone.utc) - timedelta(days=365)
    write_access_log(
        depot,
        [(p, then, [str(alive)]) for p in used] + [(stray, then, [str(gone)])],
    )
    return used, stray


# --- gc: the spaces in use it would delete ----------------------------------------------


def test_a_dry_run_says_how_many_spaces_it_would_delete_are_in_use(
    depot: Path, tmp_path: Path
) -> None:
    used, stray = _old_spaces(depot, tmp_path)
    out = _run("gc", "--max-age", "30d", "--dry-run").stdout.splitlines()
    assert out[-1] == "Would delete 3 scratch spaces (2.0 KiB); 2 of them in use"
    assert f"would delete {used[0]} (1000 B, in use)" in out
    assert f"would delete {stray} (24 B)" in out

    data = _json("gc", "--max-age", "30d", "--dry-run")
    assert data["dry_run"] is True
    assert data["in_use"] == 2
    assert {d["path"]: d["in_use"] for d in data["deleted"]} == {
        str(used[0]): True,
        str(used[1]): True,
        str(stray): False,
    }
    assert all(p.is_dir() for p in [*used, stray])


def test_a_dry_run_that_deletes_only_orphans_says_none_is_in_use(
    depot: Path, tmp_path: Path
) -> None:
    _used, stray = _old_spaces(depot, tmp_path)
    out = _run("gc", "--collect-delay", "0", "--dry-run").stdout.splitlines()
    assert out == [
        f"would delete {stray} (24 B)",
        "Would delete 1 scratch space (24 B); none of them in use",
    ]
    data = _json("gc", "--collect-delay", "0", "--dry-run")
    assert data["in_use"] == 0
    assert [(d["path"], d["kind"], d["in_use"]) for d in data["deleted"]] == [
        (str(stray), "space", False)
    ]


def test_a_real_run_reports_its_deletions_in_the_schema(depot: Path, tmp_path: Path) -> None:
    """Whether a deleted space was in use is not known after the log is rewritten: null."""
    used, stray = _old_spaces(depot, tmp_path)
    data = _json("gc", "--collect-delay", "0")
    assert data == {
        "dry_run": False,
        "deleted": [
            {
                "path": str(stray),
                "bytes": 24,
                "kind": "space",
                "namespace": "pkg",
                "key": "stray",
                "in_use": None,
            }
        ],
        "failed": [],
        "freed_bytes": 24,
        "in_use": None,
        "orphaned": [],
        "kept": [
            {"path": str(p), "kind": "space", "namespace": "pkg", "key": p.name} for p in used
        ],
    }


def test_gc_counts_what_it_empties_from_the_trash_apart(depot: Path) -> None:
    """Leftovers of an interrupted collection are not called scratch spaces."""
    scratchspaces.get_scratch("k", "pkg")
    (depot / ".trash" / "left-over").mkdir(parents=True)
    (depot / ".trash" / "left-over" / "f").write_bytes(b"x" * 100)
    out = _run("gc").stdout.splitlines()
    assert out[-1] == "Deleted 0 scratch spaces, 1 leftover in the trash (100 B)"
    assert not (depot / ".trash").exists()


def test_gc_counts_what_it_empties_from_the_content_caches_trash(depot: Path) -> None:
    """What an interrupted recycling left is freed by the next gc, and counted: not "0 B"."""
    scratchspaces.get_scratch("k", "pkg")
    cache.create_my_artifact(file_writer(b"an entry\n"))  # the cache's store exists
    left = cache_store(depot) / ".trash" / "left-over"
    left.mkdir(parents=True)
    (left / "f").write_bytes(b"x" * 300)
    out = _run("gc").stdout.splitlines()
    assert out[-1].startswith("Deleted 0 scratch spaces, 1 leftover in the trash (300 B)"), out
    assert not left.exists()
    (left / "g").parent.mkdir(parents=True)
    (left / "g").write_bytes(b"y" * 200)
    report = json.loads(_run("cache", "recycle", "--json").stdout)
    assert report["freed_bytes"] == 200
    assert report["deleted"] == [{"path": str(left), "bytes": 200, "kind": "trash"}]


def test_what_gc_could_not_remove_is_failed(depot: Path) -> None:
    """A leftover on a read-only mount stays in the trash: ``failed``, and a warning."""
    scratchspaces.get_scratch("k", "pkg")
    stuck = depot / ".trash" / "stuck"
    stuck.mkdir(parents=True)
    with mounted(stuck, size=2**20) as fs:
        (fs.path / "f").write_bytes(b"x" * 10)
        with fs.read_only_for():
            result = subprocess.run(
                [str(SCRIPT), "gc", "--json"], capture_output=True, text=True, check=False
            )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("scratchspaces: warning: gc could not remove")
    data = json.loads(result.stdout)
    assert data["failed"] == [{"path": str(stuck), "error": LEFT_IN_TRASH}]
    assert data["deleted"] == []


# --- du and info: the trash ------------------------------------------------------------


def _leave_in_trash(depot: Path) -> int:
    """Leave what a killed collection leaves: a tree in the depot's trash, a file in the cache's."""
    (depot / ".trash" / "space-1" / "sub").mkdir(parents=True)
    (depot / ".trash" / "space-1" / "sub" / "f").write_bytes(b"x" * 3000)
    store_trash = cache_store(depot) / ".trash"
    store_trash.mkdir(parents=True)
    (store_trash / "entry").write_bytes(b"y" * 96)
    return 3000 + 96


def test_du_counts_what_sits_in_the_trash(depot: Path) -> None:
    (scratchspaces.get_scratch("k", "pkg") / "f").write_bytes(b"z" * 1024)
    trashed = _leave_in_trash(depot)
    data = _json("du")
    assert data["trash"] == {"count": 2, "bytes": trashed}
    assert data["namespaces"] == [{"namespace": "pkg", "count": 1, "bytes": 1024}]
    assert data["total_bytes"] == 1024 + trashed
    lines = _run("du").stdout.splitlines()
    assert lines[-2].split() == ["(trash)", "2", "3.0", "KiB"]
    assert lines[-1].split() == ["total", "3", "4.0", "KiB"]


def test_info_counts_as_du_counts_the_trash_included(depot: Path) -> None:
    (scratchspaces.get_scratch("k", "pkg") / "f").write_bytes(b"z" * 1024)
    trashed = _leave_in_trash(depot)
    du = _json("du")
    sizes = _json("info")["sizes"]
    assert sizes == {
        "spaces": {"count": 1, "bytes": 1024},
        "artifacts": du["artifacts"],
        "cache": du["cache"],
        "trash": {"count": 2, "bytes": trashed},
        "total_bytes": du["total_bytes"],
    }
    shown = _run("info").stdout.splitlines()
    assert [line.split()[:2] for line in shown[-2:]] == [["trash", "2"], ["total", "3"]]
