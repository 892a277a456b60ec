"""Locks and dated temporaries (``scratchspaces._locks``), as gc and recycling sweep them.

A sweep removes a lock file nobody holds and a temporary whose name dates it over a day
old; never a held lock, nor the temporary of a creator still at work, however old its
files look.
"""

from __future__ import annotations

import errno
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import scratchspaces
from _depots import snapshot
from _fills import dataset, fill_artifact
from scratchspaces import _locks, artifacts, cache
from scratchspaces.cache import _recycle, _store

WEEK = timedelta(days=7)


# --- the content cache's store -----------------------------------------------------------


def test_a_held_lock_file_is_not_swept(tmp_path: Path) -> None:
    """Recycling removes an old lock file only when nobody holds it."""
    from filelock import FileLock

    cache.create_my_artifact(dataset)  # makes the store
    store = _store.current_store()
    held = Path(store, "locks", "url-held.lock")
    idle = Path(store, "locks", "url-idle.lock")
    old = (datetime.now(timezone.utc) - timedelta(days=3)).timestamp()
    with FileLock(str(held)):
        idle.touch()
        for lock in (held, idle):
            os.utime(lock, (old, old))
        cache.find_orphanages()
        assert held.exists()
    assert not idle.exists()


def test_a_long_running_creator_keeps_its_temporary(tmp_path: Path) -> None:
    """A recycling a day later than fn started leaves fn's working directory alone."""
    store = _store.current_store()
    later = datetime.now(timezone.utc) + timedelta(hours=25)

    def slow(work: Path) -> None:
        (work / "part1").write_text("1")
        _recycle.recycle(store, collect_delay=WEEK, now=later)
        (work / "part2").write_text("2")

    h = cache.create_my_artifact(slow)
    assert sorted(p.name for p in cache.my_artifact_path(h).iterdir()) == ["part1", "part2"]


def test_stale_temporaries_of_a_crashed_creator_go(tmp_path: Path) -> None:
    """A temporary more than a day old whose lock nobody holds is removed."""
    cache.create_my_artifact(dataset)
    store = _store.current_store()
    born = int((datetime.now(timezone.utc) - timedelta(days=2)).timestamp())
    stale = Path(store, f".tmp-create-{born}-abcd")
    (stale / "work").mkdir(parents=True)
    (stale / "work" / "half.bin").write_bytes(b"half")
    cache.find_orphanages()
    assert not stale.exists()


# --- the artifact store ------------------------------------------------------------------


def test_gc_removes_install_locks_a_crash_left_and_keeps_held_ones(depot: Path) -> None:
    """An install killed mid-way leaves its lock file; gc removes it unless it is held."""
    from filelock import FileLock

    root = depot / "artifacts"
    root.mkdir(parents=True)
    left = root / f".{'a' * 40}.lock"
    left.touch()
    held = root / f".{'b' * 40}.lock"
    other = root / ".lock"  # not an install lock: not ours to remove
    other.touch()
    with FileLock(held):
        scratchspaces.gc(collect_delay=timedelta(0))
        assert held.exists()
    assert not left.exists()
    assert other.exists()


def test_gc_dates_temporaries_by_their_name_not_their_mtime(depot: Path) -> None:
    artifacts.create_artifact(fill_artifact)  # makes the store
    store = depot / "artifacts"
    young = store / ".tmp-create-9999999999-abcd"  # being filled: an old mtime copied in
    young.mkdir()
    os.utime(young, (0, 0))
    old = store / ".tmp-install-1000000000-efgh"  # a crash long ago
    (old / "tree").mkdir(parents=True)
    scratchspaces.gc()
    assert young.is_dir()
    assert not old.exists()


# --- locks that cannot be taken, sweeps that never follow a link -----------------------------


def test_a_lock_that_cannot_be_made_raises_depot_error_and_a_busy_one_timeout(
    tmp_path: Path,
) -> None:
    """A lock file that cannot be made is a DepotError (an OSError, with the errno and the
    cause); a lock held by someone else is still filelock's Timeout."""
    from filelock import Timeout

    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"x")
    with pytest.raises(scratchspaces.DepotError, match="cannot take the lock") as caught:
        _locks.lock(str(blocker / "x.lock")).acquire()
    assert caught.value.errno in {errno.ENOTDIR, errno.EEXIST}  # filelock makes parents
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == caught.value.errno
    path = str(tmp_path / "busy.lock")
    with _locks.lock(path), pytest.raises(Timeout):
        _locks.lock(path, timeout=0).acquire()
    with pytest.raises(scratchspaces.DepotError, match="not a directory") as made:
        _locks.new_temporary(str(blocker), "create")
    assert made.value.errno is not None


def test_sweeping_lock_files_never_follows_a_link(tmp_path: Path) -> None:
    """Old lock files are swept from a real folder only, and only regular files: a link in
    place of the folder or of a lock file leaves its target alone."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.lock").write_bytes(b"keep")
    old = (datetime.now(timezone.utc) - timedelta(days=3)).timestamp()
    os.utime(outside / "precious.lock", (old, old))
    before = snapshot(outside, itself=True)
    top = tmp_path / "store"
    (top / "locks").mkdir(parents=True)
    (top / "locks" / "stale.lock").touch()
    os.utime(top / "locks" / "stale.lock", (old, old))
    (top / "locks" / "linked.lock").symlink_to(outside / "precious.lock")
    (top / "linked-locks").symlink_to(outside, target_is_directory=True)
    now = datetime.now(timezone.utc).timestamp()
    paths = [
        str(top / "locks" / "stale.lock"),
        str(top / "locks" / "linked.lock"),
        str(top / "linked-locks" / "precious.lock"),
    ]
    _locks.sweep_lock_files(paths, now, min_age=_locks.STALE_AFTER)
    assert not (top / "locks" / "stale.lock").exists()
    assert (top / "locks" / "linked.lock").is_symlink()
    assert snapshot(outside, itself=True) == before


def test_abandoned_writes_are_swept_by_age_only_and_never_through_a_link(tmp_path: Path) -> None:
    """Temporaries of atomic writes go once a day old (by ctime), only regular files, and
    only from the folder itself, never through a link in its place."""
    top = tmp_path / "spaces"
    folder = top / "pkg"
    folder.mkdir(parents=True)
    names = {
        "Artifacts.toml.tmp-1-ab@host": "file",
        "usage.toml.tmp-99999999-cd": "file",  # an older version's name, no host
        ".tmp-create-1-ab": "dir",  # a creator's temporary: not a write's
        "Artifacts.toml": "file",
        "notes.tmp-x": "link",
    }
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Artifacts.toml.tmp-2-ef@host").write_bytes(b"keep")
    before = snapshot(outside, itself=True)
    for name, kind in names.items():
        if kind == "file":
            (folder / name).write_bytes(b"x")
        elif kind == "dir":
            (folder / name).mkdir()
        else:
            (folder / name).symlink_to(outside / "Artifacts.toml.tmp-2-ef@host")
    (top / "linked").symlink_to(outside, target_is_directory=True)
    now = datetime.now(timezone.utc).timestamp()
    for name in ("pkg", "linked"):
        _locks.sweep_abandoned_writes(str(top / name), str(top), now + 60)
    assert sorted(os.listdir(folder)) == sorted(names)  # a minute later: nothing is stale
    for name in ("pkg", "linked"):
        _locks.sweep_abandoned_writes(str(top / name), str(top), now + _locks.STALE_AFTER + 60)
    assert sorted(os.listdir(folder)) == [".tmp-create-1-ab", "Artifacts.toml", "notes.tmp-x"]
    assert snapshot(outside, itself=True) == before
