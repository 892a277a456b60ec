"""Full and read-only disks: every error is a ScratchspacesError, and reports are true.

A depot on a small real tmpfs (``_tmpfs``), filled by blocks (one big file), by inodes
(many empty files) or remounted read-only. Every operation of the API either works or
raises an error that derives from ``ScratchspacesError`` *and* ``OSError`` (so
``except OSError`` keeps working), with the operating system's ``errno`` and its
``OSError`` as the cause. Deleting needs no room, so it works on a full disk; on a
read-only one it fails loudly, in the API and in the command line, and never claims to
have deleted what is still there. Permissions (``EACCES``) are checked in a child
process that cannot override them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import warnings
from typing import TYPE_CHECKING

import pytest

import scratchspaces
from _cli import run_cli
from _depots import use_depots
from _fills import file_writer
from _tmpfs import Tmpfs, mounted
from _venvs import DROP_OVERRIDE, run_bound_by_permissions
from scratchspaces import ScratchspacesError, artifacts, cache

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

CONDITIONS = ["blocks", "inodes", "read-only"]
CODES = {"blocks": errno.ENOSPC, "inodes": errno.ENOSPC, "read-only": errno.EROFS}


@pytest.fixture
def small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tmpfs]:
    """A 4 MiB tmpfs of 300 inodes holding the user depot, ``<mount>/depot``."""
    with mounted(tmp_path / "mnt", size=4 * 2**20, nr_inodes=300) as fs:
        use_depots(monkeypatch, fs.path / "depot")
        yield fs


def _impose(fs: Tmpfs, condition: str) -> None:
    if condition == "blocks":
        fs.fill_blocks()
    elif condition == "inodes":
        fs.fill_inodes()
    else:
        fs.remount(read_only=True)


def _touch_fn(work: Path) -> None:
    """What ``fn`` writes: one empty file (an inode, no block)."""
    (work / "empty").touch()


class World:
    """What exists before the disk fills: spaces, an artifact, a cache entry, bindings."""

    def __init__(self, fs: Tmpfs, tmp_path: Path) -> None:
        self.fs = fs
        self.old = scratchspaces.get_scratch("old", "pkg")
        (self.old / "data").write_bytes(b"old data")
        self.other = scratchspaces.get_scratch("k", "other")
        self.hash = artifacts.create_artifact(_touch_fn)
        self.toml = fs.path / "project" / "Artifacts.toml"
        self.toml.parent.mkdir()
        artifacts.bind_artifact(self.toml, "here", self.hash)
        # An artifact to install from a file:// tarball kept off the tmpfs.
        with artifacts.with_artifacts_directory(tmp_path / "elsewhere"):
            remote = artifacts.create_artifact(lambda d: (d / "big").write_bytes(b"z" * 2**17))
            tarball = tmp_path / "remote.tar.gz"
            sha256 = artifacts.archive_artifact(remote, tarball)
        assert hashlib.sha256(tarball.read_bytes()).hexdigest() == sha256
        artifacts.bind_artifact(
            self.toml, "remote", remote, download_info=[(tarball.as_uri(), sha256)]
        )
        self.entry = cache.create_my_artifact(file_writer(b"cached\n"))
        self.cache_toml = cache.my_artifacts_toml("pkg")
        cache.bind_my_artifact(self.cache_toml, "entry", self.entry)

    def operations(self) -> dict[str, Callable[[], object]]:
        """Each operation of the API that writes, by name."""
        return {
            "get_scratch-new": lambda: scratchspaces.get_scratch("new", "pkg"),
            "get_scratch-new-namespace": lambda: scratchspaces.get_scratch("k", "fresh"),
            "get_scratch-old": lambda: scratchspaces.get_scratch("old", "pkg"),
            "delete_scratch": lambda: scratchspaces.delete_scratch("old", "pkg"),
            "clear_scratchspaces-pkg": lambda: scratchspaces.clear_scratchspaces("other"),
            "clear_scratchspaces-all": scratchspaces.clear_scratchspaces,
            "create_artifact": lambda: artifacts.create_artifact(lambda d: (d / "other").touch()),
            "remove_artifact": lambda: artifacts.remove_artifact(self.hash),
            "bind_artifact": lambda: artifacts.bind_artifact(
                self.toml, "again", self.hash, force=True
            ),
            "ensure_artifact_installed": lambda: artifacts.ensure_artifact_installed(
                "remote", self.toml
            ),
            "create_my_artifact": lambda: cache.create_my_artifact(lambda d: (d / "e").touch()),
            "bind_my_artifact": lambda: cache.bind_my_artifact(
                self.cache_toml, "again", self.entry, force=True
            ),
            "my_artifacts_toml": lambda: cache.my_artifacts_toml("another-pkg"),
        }


OPERATIONS = [
    "get_scratch-new",
    "get_scratch-new-namespace",
    "get_scratch-old",
    "delete_scratch",
    "clear_scratchspaces-pkg",
    "clear_scratchspaces-all",
    "create_artifact",
    "remove_artifact",
    "bind_artifact",
    "ensure_artifact_installed",
    "create_my_artifact",
    "bind_my_artifact",
    "my_artifacts_toml",
]


def _check_error(exc: BaseException, condition: str) -> None:
    """The error is ours and an OSError, with the disk's errno and its cause chained."""
    assert isinstance(exc, ScratchspacesError), f"{type(exc).__name__}: {exc}"
    assert isinstance(exc, OSError), f"{type(exc).__name__}: {exc}"
    assert exc.errno == CODES[condition], f"{type(exc).__name__}: {exc} ({exc.errno})"
    assert isinstance(exc.__cause__, OSError), f"{type(exc).__name__}: {exc} has no cause"
    assert os.strerror(CODES[condition]) in str(exc)


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("condition", CONDITIONS)
def test_every_operation_works_or_raises_a_scratchspaces_oserror(
    condition: str, operation: str, small: Tmpfs, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On a full or read-only depot, each operation works or raises one of our errors."""
    world = World(small, tmp_path)
    _impose(small, condition)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            world.operations()[operation]()
        except Exception as exc:  # noqa: BLE001 - any failure at all is checked below
            _check_error(exc, condition)


@pytest.mark.parametrize("condition", ["blocks", "inodes"])
def test_deleting_needs_no_room(condition: str, small: Tmpfs, tmp_path: Path) -> None:
    """On a full disk delete_scratch and clear_scratchspaces still delete, and say nothing."""
    world = World(small, tmp_path)
    _impose(small, condition)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scratchspaces.delete_scratch("old", "pkg")
        scratchspaces.clear_scratchspaces("other")
    assert not os.path.lexists(world.old)
    assert not os.path.lexists(world.other.parent)
    assert [str(w.message) for w in caught] == []
    depot = small.path / "depot"
    assert not os.path.lexists(depot / ".trash")  # nothing left behind either


def test_a_new_space_on_a_full_disk_is_refused_with_enospc(small: Tmpfs, tmp_path: Path) -> None:
    """With no inode left the space cannot be made: DepotError, errno ENOSPC."""
    World(small, tmp_path)
    small.fill_inodes()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with pytest.raises(scratchspaces.DepotError) as caught:
            scratchspaces.get_scratch("new", "pkg")
    _check_error(caught.value, "inodes")
    small.free()
    assert scratchspaces.get_scratch("new", "pkg").is_dir()


def test_read_only_depot_delete_and_clear_raise_and_keep_everything(
    small: Tmpfs, tmp_path: Path
) -> None:
    """On a read-only depot deleting raises EROFS, says it is still there, and is true."""
    world = World(small, tmp_path)
    small.remount(read_only=True)
    deletes: list[Callable[[], None]] = [
        lambda: scratchspaces.delete_scratch("old", "pkg"),
        lambda: scratchspaces.clear_scratchspaces("pkg"),
        scratchspaces.clear_scratchspaces,
    ]
    for delete in deletes:
        with pytest.raises(scratchspaces.DepotError, match="still there") as caught:
            delete()
        _check_error(caught.value, "read-only")
        assert ".trash" not in str(caught.value)
    assert (world.old / "data").read_bytes() == b"old data"
    assert world.other.is_dir()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert scratchspaces.get_scratch("old", "pkg") == world.old  # it exists: still usable


def test_read_only_depot_command_line_delete_and_clear_fail_truthfully(
    small: Tmpfs, tmp_path: Path
) -> None:
    """``delete`` and ``clear --yes`` exit 1 with one error line, and claim no deletion."""
    world = World(small, tmp_path)
    small.remount(read_only=True)
    for args in (("delete", "old", "--pkg", "pkg"), ("clear", "pkg", "--yes"), ("clear", "--yes")):
        done = run_cli(*args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "Deleted" not in done.stdout, (args, done.stdout)
        assert done.stderr.startswith("scratchspaces: error: "), (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert os.strerror(errno.EROFS) in done.stderr, (args, done.stderr)
        assert "still there" in done.stderr
        assert ".trash" not in done.stderr  # nothing was moved there
    assert (world.old / "data").read_bytes() == b"old data"


def test_clear_reports_only_what_it_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One namespace on a read-only mount of its own: ``clear --yes`` deletes the other,
    says so (1 of 2), and fails on the one still there."""
    depot = tmp_path / "depot"
    use_depots(monkeypatch, depot)
    scratchspaces.get_scratch("k", "free")
    with mounted(depot / "scratchspaces" / "stuck", size=2**20) as stuck:
        scratchspaces.get_scratch("k", "stuck")
        stuck.remount(read_only=True)
        done = run_cli("clear", "--yes")
        assert done.returncode == 1, done.stderr
        assert done.stdout.startswith("Deleted 1 scratch space ("), done.stdout
        assert done.stdout.rstrip().endswith("of 2."), done.stdout
        assert "stuck" in done.stderr
        assert "free" not in done.stderr
        assert not (depot / "scratchspaces" / "free").exists()
        assert (depot / "scratchspaces" / "stuck" / "k").is_dir()


def test_what_cannot_be_removed_after_the_rename_is_reported_where_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A space is gone from its name but part of it cannot go (here: a read-only mount in
    it): no error, and the warning names the trash, where those entries really are."""
    depot = tmp_path / "depot"
    use_depots(monkeypatch, depot)
    space = scratchspaces.get_scratch("k", "pkg")
    with mounted(space / "mounted", size=2**20) as inner:
        (inner.path / "kept").write_bytes(b"x")
        inner.remount(read_only=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scratchspaces.delete_scratch("k", "pkg")
        assert not os.path.lexists(space)
        [left] = [p for p in (depot / ".trash").iterdir() if p.name.startswith("k.")]
        inner.path = left / "mounted"  # so that it is unmounted from where it went
        [message] = [str(w.message) for w in caught]
        assert f"{space} is deleted" in message
        assert str(depot / ".trash") in message
        assert str(left / "mounted") in message


# --- permissions: a child process that cannot override them ---------------------------------

CHILD = """
import json, os, sys, warnings
warnings.simplefilter("ignore")
import scratchspaces
from scratchspaces import artifacts, cache
results = {}
def run(name, fn):
    try:
        fn()
        results[name] = None
    except Exception as exc:
        results[name] = [
            type(exc).__name__, isinstance(exc, scratchspaces.ScratchspacesError),
            isinstance(exc, OSError), getattr(exc, "errno", None),
            isinstance(exc.__cause__, OSError), str(exc),
        ]
run("get_scratch-new", lambda: scratchspaces.get_scratch("new", "pkg"))
run("delete_scratch", lambda: scratchspaces.delete_scratch("old", "pkg"))
run("clear_scratchspaces", scratchspaces.clear_scratchspaces)
run("create_artifact", lambda: artifacts.create_artifact(lambda d: (d / "e").touch()))
run("create_my_artifact", lambda: cache.create_my_artifact(lambda d: (d / "e").touch()))
run("bind_my_artifact", lambda: cache.bind_my_artifact(sys.argv[1], "n", sys.argv[2]))
print(json.dumps(results))
"""


@pytest.mark.skipif(
    not DROP_OVERRIDE or not hasattr(os, "chown"),
    reason="needs root (to give the depot to another user) and setpriv (to drop the override)",
)
def test_a_depot_we_may_not_write_raises_eacces(tmp_path: Path, depot: Path) -> None:
    """The depot's folders belong to another user and we may only read them: EACCES,
    as one of our errors, and nothing deleted."""
    old = scratchspaces.get_scratch("old", "pkg")
    (old / "f").write_bytes(b"x")
    entry = cache.create_my_artifact(file_writer(b"cached\n"))
    toml = cache.my_artifacts_toml("pkg")
    artifacts.create_artifact(_touch_fn)
    owned = [depot, *depot.rglob("*")]
    for path in owned:
        os.chown(path, 65534, 65534, follow_symlinks=False)
    try:
        code = CHILD.replace("sys.argv[1]", repr(str(toml))).replace("sys.argv[2]", repr(entry))
        done = run_bound_by_permissions(code, tmp_path)
    finally:
        for path in owned:
            os.chown(path, os.getuid(), os.getgid(), follow_symlinks=False)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for name, failure in results.items():
        if failure is None:
            continue
        kind, ours, is_os, code_, chained, message = failure
        assert ours, (name, kind, message)
        assert is_os, (name, kind, message)
        assert code_ == errno.EACCES, (name, kind, code_, message)
        assert chained, (name, kind, message)
    assert results["get_scratch-new"] is not None
    assert results["delete_scratch"] is not None
    assert results["clear_scratchspaces"] is not None
    assert (old / "f").read_bytes() == b"x"
