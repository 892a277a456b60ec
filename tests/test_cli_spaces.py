"""``delete`` and ``clear`` through the console script, and the global ``--depot`` option.

They say what they deleted and its size, or that there was nothing; ``--dry-run`` says
what would go and deletes nothing; ``--json`` prints one report; what could not be
removed exits 1 with one error line. Clearing a whole namespace asks on a terminal (a
real pseudo-terminal here) and needs ``--yes`` without one, as clearing everything does.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import scratchspaces
from _cli import SCRIPT, run_script
from _depots import cache_store, use_depots
from _processes import drain
from _tmpfs import mounted

if TYPE_CHECKING:
    import pytest

    from scratchspaces._identity import PkgSpec

REPORT_KEYS = ["dry_run", "deleted", "failed", "freed_bytes"]


def report(*args: str) -> dict[str, Any]:
    """Run a command with ``--json``; check it printed one report and return it."""
    done = run_script(*args, "--json")
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    assert list(data) == REPORT_KEYS
    assert done.stdout.endswith("}\n")
    return data


def on_a_terminal(args: list[str], answer: str) -> tuple[int, str, str]:
    """Run the script with stdin and stderr on a pseudo-terminal, typing ``answer`` there.

    Returns the exit status, stdout (a pipe), and what the terminal showed.
    """
    leader, follower = os.openpty()
    try:
        proc = subprocess.Popen(
            [str(SCRIPT), *args], stdin=follower, stdout=subprocess.PIPE, stderr=follower
        )
    finally:
        os.close(follower)
    os.write(leader, answer.encode())  # kept by the terminal until the command reads it
    shown = drain(leader)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(60), out, shown.decode(errors="replace")


def space(key: str, pkg: PkgSpec, size: int = 0) -> Path:
    found = scratchspaces.get_scratch(key, pkg)
    if size:
        (found / "data").write_bytes(b"x" * size)
    return found


# --- delete ----------------------------------------------------------------------------------


def test_delete_says_what_it_deleted_and_its_size(depot: Path) -> None:
    gone = space("cache", "mypkg", 2048)
    kept = space("other", "mypkg")
    done = run_script("delete", "cache", "--pkg", "MyPkg")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Deleted scratch space mypkg/cache (2.0 KiB).\n"
    assert done.stderr == ""
    assert not gone.exists()
    assert kept.exists()

    again = run_script("delete", "cache", "--pkg", "mypkg")
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"No scratch space mypkg/cache in {depot}; nothing to delete.\n"

    shared = space("shared", scratchspaces.GLOBAL, 10)
    done = run_script("delete", "shared", "--global")
    assert done.stdout == "Deleted scratch space _global/shared (10 B).\n"
    assert not shared.exists()


def test_delete_dry_run_deletes_nothing(depot: Path) -> None:
    kept = space("cache", "mypkg", 1536)
    done = run_script("delete", "cache", "--pkg", "mypkg", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Would delete scratch space mypkg/cache (1.5 KiB).\n"
    assert (kept / "data").stat().st_size == 1536

    assert report("delete", "cache", "--pkg", "mypkg", "--dry-run") == {
        "dry_run": True,
        "deleted": [
            {
                "path": str(kept),
                "bytes": 1536,
                "kind": "space",
                "namespace": "mypkg",
                "key": "cache",
            }
        ],
        "failed": [],
        "freed_bytes": 1536,
    }
    assert kept.exists()
    nothing = run_script("delete", "nope", "--pkg", "mypkg", "--dry-run")
    assert nothing.stdout == f"No scratch space mypkg/nope in {depot}; nothing to delete.\n"


def test_delete_json_reports_what_was_deleted(depot: Path) -> None:
    gone = space("cache", "mypkg", 100)
    assert report("delete", "cache", "--pkg", "mypkg") == {
        "dry_run": False,
        "deleted": [
            {"path": str(gone), "bytes": 100, "kind": "space", "namespace": "mypkg", "key": "cache"}
        ],
        "failed": [],
        "freed_bytes": 100,
    }
    assert not gone.exists()
    assert report("delete", "cache", "--pkg", "mypkg") == {
        "dry_run": False,
        "deleted": [],
        "failed": [],
        "freed_bytes": 0,
    }


def test_the_librarys_own_namespace_is_out_of_reach_even_for_a_dry_run(depot: Path) -> None:
    store = cache_store(depot)
    (store / "ab").mkdir(parents=True)
    for args in (
        ["delete", "_cache", "--pkg", "scratchspaces", "--dry-run"],
        ["delete", "_cache", "--pkg", "scratchspaces"],
        ["clear", "scratchspaces", "--dry-run"],
        ["clear", "scratchspaces", "--yes"],
    ):
        done = run_script(*args)
        assert done.returncode == 1, args
        assert done.stdout == ""
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert "the library's own spaces" in done.stderr
    done = run_script("clear", "--yes")
    assert done.stdout == f"No scratch spaces in {depot}; nothing to delete.\n"
    assert (store / "ab").is_dir()


def test_what_cannot_be_deleted_is_one_error_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mounted(tmp_path / "mnt", size=2**20) as fs:
        depot = fs.path / "depot"
        use_depots(monkeypatch, depot)
        kept = space("cache", "mypkg", 100)
        with fs.read_only_for():
            done = run_script("delete", "cache", "--pkg", "mypkg")
            assert done.returncode == 1
            assert done.stdout == ""
            [line] = done.stderr.splitlines()
            assert line.startswith(f"scratchspaces: error: cannot use {str(kept)!r}: ")
            assert "it is still there" in line
            assert os.strerror(errno.EROFS) in line

            failed = run_script("delete", "cache", "--pkg", "mypkg", "--json")
            assert failed.returncode == 1
            data = json.loads(failed.stdout)
            assert data["deleted"] == []
            assert data["freed_bytes"] == 0
            [problem] = data["failed"]
            assert problem["path"] == str(kept)
            assert "it is still there" in problem["error"]
            assert len(failed.stderr.splitlines()) == 1
        assert (kept / "data").stat().st_size == 100


# --- clear -----------------------------------------------------------------------------------


def test_clearing_a_namespace_without_a_terminal_needs_yes(depot: Path) -> None:
    spaces = [space("a", "mypkg", 1024), space("b", "mypkg", 1024)]
    shared = space("shared", scratchspaces.GLOBAL, 1)
    for args in (["clear", "mypkg"], ["clear", "--global"], ["clear", "mypkg", "--json"]):
        refused = run_script(*args)
        assert refused.returncode == 2, args
        assert refused.stdout == ""
        [line] = refused.stderr.splitlines()
        assert "without --yes (stdin is not a terminal)" in line
    assert all(s.exists() for s in [*spaces, shared])
    assert (
        "refusing to delete 2 scratch spaces (2.0 KiB) of mypkg in "
        in run_script("clear", "mypkg").stderr
    )

    done = run_script("clear", "mypkg", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Deleted 2 scratch spaces (2.0 KiB) of mypkg in {depot}.\n"
    assert not any(s.exists() for s in spaces)
    done = run_script("clear", "--global", "--yes")
    assert done.stdout == f"Deleted 1 scratch space (1 B) of _global in {depot}.\n"
    assert not shared.exists()
    nothing = run_script("clear", "mypkg")  # nothing to delete: nothing to ask
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stdout == f"No scratch spaces of mypkg in {depot}; nothing to delete.\n"


def test_clearing_a_namespace_asks_on_a_terminal(depot: Path) -> None:
    spaces = [space("a", "mypkg", 1024), space("b", "mypkg", 1024)]
    status, out, shown = on_a_terminal(["clear", "mypkg"], "n\n")
    assert status == 1
    assert out == "Nothing deleted.\n"
    assert f"Delete 2 scratch spaces (2.0 KiB) of mypkg in {depot}? [y/N]" in shown
    assert all(s.exists() for s in spaces)

    status, out, shown = on_a_terminal(["clear", "mypkg"], "y\n")
    assert status == 0, shown
    assert out == f"Deleted 2 scratch spaces (2.0 KiB) of mypkg in {depot}.\n"
    assert not any(s.exists() for s in spaces)


def test_clear_dry_run_says_what_would_go_and_deletes_nothing(depot: Path) -> None:
    a = space("a", "mypkg", 1024)
    b = space("b", "other", 2048)
    done = run_script("clear", "mypkg", "--dry-run")  # no terminal, no --yes: nothing is deleted
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "would delete mypkg/a (1.0 KiB)",
        f"Would delete 1 scratch space (1.0 KiB) of mypkg in {depot}.",
    ]
    assert report("clear", "--dry-run") == {
        "dry_run": True,
        "deleted": [
            {"path": str(a), "bytes": 1024, "kind": "space", "namespace": "mypkg", "key": "a"},
            {"path": str(b), "bytes": 2048, "kind": "space", "namespace": "other", "key": "b"},
        ],
        "failed": [],
        "freed_bytes": 3072,
    }
    assert a.exists()
    assert b.exists()


def test_clear_json_reports_what_it_deleted(depot: Path) -> None:
    a = space("a", "mypkg", 1024)
    b = space("b", "other", 2048)
    assert report("clear", "mypkg", "--yes") == {
        "dry_run": False,
        "deleted": [
            {"path": str(a), "bytes": 1024, "kind": "space", "namespace": "mypkg", "key": "a"}
        ],
        "failed": [],
        "freed_bytes": 1024,
    }
    assert not a.exists()
    assert b.exists()
    assert report("clear", "mypkg", "--yes")["deleted"] == []


def test_clear_reports_what_it_deleted_and_what_is_still_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    depot = tmp_path / "depot"
    use_depots(monkeypatch, depot)
    free = space("k", "free", 10)
    with mounted(depot / "scratchspaces" / "stuck", size=2**20) as stuck:
        kept = space("k", "stuck", 20)
        stuck.remount(read_only=True)
        done = run_script("clear", "--yes", "--json")
        assert done.returncode == 1
        data = json.loads(done.stdout)
        assert data["deleted"] == [
            {"path": str(free), "bytes": 10, "kind": "space", "namespace": "free", "key": "k"}
        ]
        assert data["freed_bytes"] == 10
        [problem] = data["failed"]
        assert problem["path"] == str(kept)
        assert "it is still there" in problem["error"]
        assert os.strerror(errno.EROFS) in problem["error"]
        [line] = done.stderr.splitlines()
        assert line.startswith("scratchspaces: error: ")
        assert "stuck" in line
        assert not free.exists()
        assert (kept / "data").is_file()


# --- --depot -----------------------------------------------------------------------------------


def test_the_depot_option_makes_a_depot_the_user_depot(tmp_path: Path, depot: Path) -> None:
    """Two depots: the variable names one, ``--depot`` the other, and only it is touched."""
    mine = space("k", "mypkg", 10)
    other = tmp_path / "other"
    made = run_script("--depot", str(other), "path", "k", "--pkg", "mypkg")
    assert made.returncode == 0, made.stderr
    theirs = other / "scratchspaces" / "mypkg" / "k"
    assert made.stdout == f"{theirs}\n"
    (theirs / "data").write_bytes(b"y" * 30)

    assert run_script("--depot", str(other), "list", "-q").stdout == f"{theirs}\n"
    assert run_script("list", "-q").stdout == f"{mine}\n"
    listed = json.loads(run_script("--depot", str(other), "list", "--json").stdout)
    assert [(r["path"], r["bytes"], r["status"]) for r in listed] == [(str(theirs), 30, "in use")]
    assert (other / "logs").is_dir()  # its own access log recorded the space
    du = json.loads(run_script("--depot", str(other), "du", "--json").stdout)
    assert du["total_bytes"] == 30

    relative = run_script("--depot", "other", "delete", "k", "--pkg", "mypkg", cwd=tmp_path)
    assert relative.stdout == "Deleted scratch space mypkg/k (30 B).\n"
    assert not theirs.exists()
    assert (mine / "data").is_file()  # the depot of the variable is untouched
    gone = run_script("--depot", str(other), "clear", "--yes")
    assert gone.stdout == f"No scratch spaces in {other}; nothing to delete.\n"
    assert mine.exists()


def test_a_depot_option_that_cannot_be_a_depot_is_a_usage_error(tmp_path: Path) -> None:
    for value in ("", f"a{os.pathsep}b"):
        done = run_script("--depot", value, "list")
        assert done.returncode == 2
        assert "--depot" in done.stderr.splitlines()[-1]
    file = tmp_path / "a-file"
    file.write_text("x")
    done = run_script("--depot", str(file), "list")
    assert done.returncode == 1
    assert "not a directory" in done.stderr
