"""Hostile depots: whatever in a depot is a link, nothing outside the depot is removed.

Shared and site depots are written by other users, and one of them can put a link where
the depot keeps a folder of its own. Each test here puts a link to a *canary* folder
outside the depot in place of one of those folders, runs what deletes (gc, recycling
the content cache, the command line, ``delete_scratch``, ``clear_scratchspaces``,
``remove_artifact``) and checks the canary is byte-identical: same files, contents,
modes, mtimes and inodes, and the folder itself unchanged (nothing even created in it
and removed again). The canary holds what each sweep would take for its own: spaces,
trash entries, lock files, stale temporaries, entries of the content cache.

The rule the library follows: a link in place of a bookkeeping folder it empties
wholesale (a trash, the content cache's ``locks``) is removed as a link and the folder
made again, with a warning; anywhere else (a namespace, ``scratchspaces``, ``artifacts``,
the content cache's store) deletion through it is refused, with a warning, and the link
left alone.
"""

from __future__ import annotations

import errno
import os
import time
import warnings
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

import scratchspaces
from _cli import run_cli
from _depots import cache_store, snapshot
from _fills import dataset, file_writer, fill_artifact
from scratchspaces import ScratchspacesWarning, _fs, _owners, _remove, artifacts, cache
from scratchspaces.cache import _recycle

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

ZERO = timedelta(0)
HASH = "43563e7631a7eafae1f9f8d9d332e3de44ad7239"
ID = "ab" + "cd" * 31
DAY = 24 * 60 * 60


def _make_canary(canary: Path) -> None:
    """Fill ``canary`` with what every sweep of the library would take for its own."""
    old = time.time() - 30 * DAY
    files = {
        "precious.txt": b"the user's own data\n",
        "sub/deeper.bin": os.urandom(64),
        # shapes of spaces (namespace/key), artifacts and cache entries
        "ns/key/data.csv": b"1,2\n",
        "pkg/space/file": b"x",
        f"{HASH}/f": b"looks like an artifact\n",
        f"_cache/artifacts/{ID[:2]}/{ID}": b"looks like a cache entry\n",
        f"artifacts/{ID[:2]}/{ID}": b"looks like a cache entry\n",
        f"{ID[:2]}/{ID}": b"looks like a cache entry\n",
        ID: b"looks like a cache entry\n",
        # lock files and temporaries, old by their names and mtimes
        "usage.lock": b"",
        "url-0123.lock": b"",
        f".{HASH}.lock": b"",
        f"usage.toml.tmp-1-abcd@{os.uname().nodename}": b"half a write",
        "orphaned.toml.tmp-2-abcd@elsewhere": b"half a write",
        "Artifacts.toml.tmp-3-abcd": b"half a write",
        f"notes.tmp-999999-ab@{_owners.host()}": b"a dead writer's, on this machine",
        f".tmp-create-{int(old)}-abcdef/work/f": b"a temporary's content",
        "trashed.1234.abcd/f": b"looks like a trash entry",
    }
    for rel, data in files.items():
        path = canary / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (canary / "empty-folder").mkdir()
    (canary / "read-only.txt").write_bytes(b"read only")
    (canary / "read-only.txt").chmod(0o444)
    for path in sorted(canary.rglob("*"), reverse=True):
        os.utime(path, (old, old), follow_symlinks=False)
    os.utime(canary, (old, old))


@pytest.fixture
def canary(tmp_path: Path) -> Callable[[], None]:
    """A folder outside the depot full of bait; returns a check that it is unchanged."""
    folder = tmp_path / "canary"
    folder.mkdir()
    _make_canary(folder)
    before = snapshot(folder, itself=True)

    def unchanged() -> None:
        assert snapshot(folder, itself=True) == before

    return unchanged


def _link(path: Path, to: Path) -> None:
    """Put a link to ``to`` in place of the folder ``path`` (whatever was there goes)."""
    if path.is_dir() and not path.is_symlink():
        _fs.rmtree_in_place(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(to, target_is_directory=True)


def _orphan_space(depot: Path, namespace: str = "pkg", key: str = "orphan") -> Path:
    """A space never recorded: an orphan that ``gc(collect_delay=0)`` deletes."""
    space = depot / "scratchspaces" / namespace / key
    space.mkdir(parents=True)
    (space / "f").write_bytes(b"orphaned")
    return space


def _unbound_entry() -> Path:
    """A content-cache entry nothing binds: recycling with no delay deletes it."""
    return cache.my_artifact_path(cache.create_my_artifact(file_writer(b"unbound\n")))


def _warned(caught: list[warnings.WarningMessage], *words: str) -> bool:
    return any(
        issubclass(w.category, ScratchspacesWarning) and all(x in str(w.message) for x in words)
        for w in caught
    )


def _collect() -> list[warnings.WarningMessage]:
    """Run ``gc(collect_delay=0)`` and return the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scratchspaces.gc(collect_delay=ZERO)
    return caught


def _later() -> datetime:
    """A ``now`` three days ahead: everything left by crashes counts as stale."""
    return datetime.now(timezone.utc) + timedelta(days=3)


# --- bookkeeping folders: a link there is removed, as a link ---------------------------------


def test_a_link_in_place_of_the_depots_trash_is_removed_not_emptied(
    depot: Path, tmp_path: Path, canary: Callable[[], None]
) -> None:
    """``<depot>/.trash`` a link: gc removes the link, trashes into a real folder."""
    orphan = _orphan_space(depot)
    _link(depot / ".trash", tmp_path / "canary")
    caught = _collect()
    canary()
    assert not orphan.exists()
    assert not (depot / ".trash").is_symlink()
    assert _warned(caught, str(depot / ".trash"), "link")


def test_a_link_in_place_of_the_depots_trash_frees_nothing_in_the_report(
    depot: Path, tmp_path: Path, canary: Callable[[], None]
) -> None:
    """gc's report counts only what it deleted: nothing behind a link to a trash."""
    orphan = _orphan_space(depot)
    _link(depot / ".trash", tmp_path / "canary")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        report = scratchspaces.gc(collect_delay=ZERO)
    canary()
    assert set(report.deleted) == {orphan}


def test_a_link_in_place_of_the_depots_trash_survives_the_command_line(
    depot: Path, tmp_path: Path, canary: Callable[[], None]
) -> None:
    """The same through ``scratchspaces gc --collect-delay 0``, in a fresh process."""
    orphan = _orphan_space(depot)
    _link(depot / ".trash", tmp_path / "canary")
    done = run_cli("gc", "--collect-delay", "0")
    assert done.returncode == 0, done.stderr
    canary()
    assert not orphan.exists()
    assert not (depot / ".trash").is_symlink()


@pytest.mark.parametrize("how", ["gc", "find_orphanages", "recycle-later", "cli"])
def test_a_link_in_place_of_the_caches_trash_is_removed_not_emptied(
    how: str, tmp_path: Path, canary: Callable[[], None]
) -> None:
    """``<store>/.trash`` a link: recycling (however run) never empties what it points to."""
    entry = _unbound_entry()
    store = cache_store(scratchspaces.user_depot())
    _link(store / ".trash", tmp_path / "canary")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if how == "gc":
            scratchspaces.gc(collect_delay=ZERO)
        elif how == "find_orphanages":
            cache.find_orphanages(collect_delay=ZERO)
        elif how == "recycle-later":
            _recycle.recycle(str(store), collect_delay=ZERO, now=_later())
        else:
            done = run_cli("cache", "recycle", "--collect-delay", "0")
            assert done.returncode == 0, done.stderr
    canary()
    assert not entry.exists()
    assert not (store / ".trash").is_symlink()
    if how != "cli":
        assert _warned(caught, str(store / ".trash"), "link")


@pytest.mark.parametrize("how", ["gc", "recycle-later", "create"])
def test_a_link_in_place_of_the_caches_locks_is_never_swept(
    how: str, tmp_path: Path, canary: Callable[[], None]
) -> None:
    """``<store>/locks`` a link to old ``*.lock`` files: none of them is removed or touched.

    Recycling removes the link and sweeps nothing behind it; creating an entry makes a
    real ``locks`` folder first, so no lock file is even made behind the link.
    """
    entry = _unbound_entry()
    store = cache_store(scratchspaces.user_depot())
    _link(store / "locks", tmp_path / "canary")
    if how == "gc":
        _collect()
        assert not entry.exists()
    elif how == "recycle-later":
        _recycle.recycle(str(store), collect_delay=ZERO, now=_later())
        assert not entry.exists()
    else:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            cache.create_my_artifact(dataset)
    canary()
    assert not (store / "locks").is_symlink()


def test_a_link_in_place_of_an_artifacts_directorys_trash_is_removed_not_emptied(
    tmp_path: Path, canary: Callable[[], None]
) -> None:
    """Under ``with_artifacts_directory`` the trash is ``<root>/.trash``: never followed."""
    root = tmp_path / "store"
    with artifacts.with_artifacts_directory(root):
        h = artifacts.create_artifact(fill_artifact)
        _link(root / ".trash", tmp_path / "canary")
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            artifacts.remove_artifact(h)
        assert not artifacts.artifact_exists(h)
    canary()
    assert not (root / ".trash").is_symlink()


# --- the depot's other folders: nothing is deleted through a link ----------------------------


@pytest.mark.parametrize(
    "where",
    [
        "scratchspaces",  # canary/ns/key looks like a space never recorded
        "scratchspaces/ns",  # canary/key... : a namespace
        "artifacts",  # canary/<hash>: an artifact nothing binds; .tmp-create-*, .<hash>.lock
        "scratchspaces/scratchspaces",  # canary/_cache/artifacts/ab/<id>: a cache entry
        "scratchspaces/scratchspaces/_cache",  # canary/artifacts/ab/<id>, usage.lock
        "scratchspaces/scratchspaces/_cache/artifacts",  # canary/ab/<id>
        f"scratchspaces/scratchspaces/_cache/artifacts/{ID[:2]}",  # canary/<id>
        "logs",  # canary/notes.tmp-<dead pid>-ab@<this host>: a dead writer's temporary
    ],
)
def test_gc_deletes_nothing_through_a_link_in_place_of_a_depot_folder(
    where: str, depot: Path, tmp_path: Path, canary: Callable[[], None]
) -> None:
    """A link in place of any folder gc or recycling walks: what it points to stays whole.

    gc runs twice with no delay and with the cache recycled three days later, so that
    whatever is bait for a sweep (an orphan, an old temporary, an old lock file) is due.
    """
    depot.mkdir()
    if where.startswith("scratchspaces/scratchspaces"):
        _unbound_entry()
    _link(depot / where, tmp_path / "canary")
    _collect()
    _collect()
    canary()
    store = cache_store(depot)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        if _remove.linked_below(str(depot), str(store / "artifacts")):
            with pytest.raises(scratchspaces.DepotError, match="link") as refused:
                _recycle.recycle(str(store), collect_delay=ZERO, now=_later())
            assert refused.value.errno == errno.ELOOP
        else:
            _recycle.recycle(str(store), collect_delay=ZERO, now=_later())
    canary()
    assert (depot / where).is_symlink()  # not ours to remove: a user may have made it


def test_delete_scratch_refuses_a_space_reached_through_a_link(
    depot: Path, tmp_path: Path, canary: Callable[[], None]
) -> None:
    """``delete_scratch`` of a space whose namespace is a link raises; nothing is removed."""
    _link(depot / "scratchspaces" / "ns", tmp_path / "canary")
    for key in ("precious.txt", "sub"):  # a file, a folder
        with pytest.raises(scratchspaces.DepotError, match="link") as caught:
            scratchspaces.delete_scratch(key, "ns")
        assert isinstance(caught.value, OSError)
        assert caught.value.errno is not None
    canary()
    done = run_cli("delete", "sub", "--pkg", "ns")
    assert done.returncode == 1
    assert "link" in done.stderr
    assert "Traceback" not in done.stderr
    canary()


def test_clear_refuses_a_spaces_folder_that_is_a_link(
    depot: Path, tmp_path: Path, canary: Callable[[], None]
) -> None:
    """``<depot>/scratchspaces`` a link: clearing everything raises, and removes nothing."""
    depot.mkdir()
    _link(depot / "scratchspaces", tmp_path / "canary")
    with pytest.raises(scratchspaces.DepotError, match="still there") as caught:
        scratchspaces.clear_scratchspaces()
    assert caught.value.errno is not None
    with pytest.raises(scratchspaces.DepotError, match="link"):
        scratchspaces.clear_scratchspaces("pkg")
    canary()


def test_clear_removes_a_namespace_link_as_a_link(
    depot: Path, tmp_path: Path, canary: Callable[[], None]
) -> None:
    """Clearing a namespace that is a link removes the link itself, never its target."""
    _link(depot / "scratchspaces" / "ns", tmp_path / "canary")
    kept = scratchspaces.get_scratch("k", "other")
    scratchspaces.clear_scratchspaces("ns")
    assert not os.path.lexists(depot / "scratchspaces" / "ns")
    assert kept.is_dir()
    _link(depot / "scratchspaces" / "ns", tmp_path / "canary")
    scratchspaces.clear_scratchspaces()
    assert os.listdir(depot / "scratchspaces") == []
    canary()


def test_a_space_that_is_a_link_is_removed_as_a_link(
    depot: Path, tmp_path: Path, canary: Callable[[], None]
) -> None:
    """A space (the last part of the path) that is a link: gc leaves it or removes the link,
    delete removes the link; neither touches its target."""
    _link(depot / "scratchspaces" / "pkg" / "linked", tmp_path / "canary")
    _collect()
    canary()
    scratchspaces.delete_scratch("linked", "pkg")
    assert not os.path.lexists(depot / "scratchspaces" / "pkg" / "linked")
    canary()


def test_remove_artifact_refuses_an_artifacts_folder_that_is_a_link(
    depot: Path, tmp_path: Path, canary: Callable[[], None]
) -> None:
    """``remove_artifact`` of an artifact seen through a linked ``artifacts``: refused."""
    depot.mkdir()
    _link(depot / "artifacts", tmp_path / "canary")
    with pytest.raises(scratchspaces.DepotError, match="link"):
        artifacts.remove_artifact(HASH)
    canary()


def test_a_link_in_place_of_a_binding_space_is_not_swept(
    depot: Path, tmp_path: Path, canary: Callable[[], None]
) -> None:
    """A binding space beside the store that is a link: its stale temporaries are not ours."""
    _unbound_entry()
    spaces = cache_store(depot).parent
    _link(spaces / "evil", tmp_path / "canary")
    _recycle.recycle(str(cache_store(depot)), collect_delay=ZERO, now=_later())
    canary()


# --- the helpers themselves ---------------------------------------------------------------


def test_move_to_trash_refuses_a_path_below_a_link(tmp_path: Path) -> None:
    """``_fs.move_to_trash`` and ``remove_tree``: a link on the way is never followed."""
    top = tmp_path / "depot"
    top.mkdir()
    outside = tmp_path / "outside"
    (outside / "inner").mkdir(parents=True)
    (outside / "inner" / "f").write_bytes(b"keep")
    (top / "linked").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside, itself=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _fs.move_to_trash(str(top / "linked" / "inner"), str(top / ".trash")) is None
    assert _warned(caught, "link")
    failed = _fs.remove_tree(str(top / "linked" / "inner" / "f"), str(top / ".trash"))
    assert len(failed) == 1
    assert "link" in failed[0]
    assert isinstance(failed[0], _remove.Failure)
    assert failed[0].errno is not None
    assert snapshot(outside, itself=True) == before


def test_empty_trash_of_a_link_removes_the_link(tmp_path: Path) -> None:
    """``_fs.empty_trash`` of a link: the link goes, what it points to stays."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_bytes(b"keep")
    trash = tmp_path / "depot" / ".trash"
    trash.parent.mkdir()
    trash.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside, itself=True)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert _fs.empty_trash(str(trash)) == []
    assert not os.path.lexists(trash)
    assert snapshot(outside, itself=True) == before


def test_touch_never_follows_a_link(tmp_path: Path) -> None:
    """``_fs.touch`` of a link raises rather than change the mtime of its target."""
    target = tmp_path / "target"
    target.write_bytes(b"x")
    os.utime(target, (1, 1))
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OSError, match=r"link|Too many levels"):
        _fs.touch(str(tmp_path / "link"))
    assert target.stat().st_mtime == 1
    _fs.touch(str(tmp_path / "new"), when=5)
    assert (tmp_path / "new").stat().st_mtime == 5
