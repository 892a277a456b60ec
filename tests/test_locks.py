"""Locks and dated temporaries (``scratchspaces._locks``), as gc and recycling sweep them.

A sweep removes a lock file nobody holds and a temporary whose name dates it over a day
old; never a held lock, nor the temporary of a creator still at work, however old its
files look.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import scratchspaces
from _fills import dataset, fill_artifact
from scratchspaces import artifacts, cache
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
