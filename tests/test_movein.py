"""Moving an old cache folder into a space: ``get_scratch(key, move_from=old)``.

On real filesystems: a rename where the depot and the old folder share one, a copy then
a removal across a tmpfs the test mounts (``_tmpfs``), a tmpfs that fills up during the
copy, read-only ones, permissions that bind (a child without ``CAP_DAC_OVERRIDE``), and
two processes racing to move the same folder. What a killed move leaves is in
``test_movein_crashes.py``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from typing import TYPE_CHECKING, Any

import pytest

import scratchspaces
from _oldcache import fingerprint, make_old
from _processes import modules_after, running
from _tmpfs import Tmpfs, mounted
from _venvs import DROP_OVERRIDE, run_bound_by_permissions
from scratchspaces import ScratchspacesWarning, _movein

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

NS = "mypkg"

# --- an old cache, and what it holds -------------------------------------------------------


def same_file(a: Path, b: Path) -> bool:
    return os.path.samestat(a.lstat(), b.lstat())


def leftovers(space: Path, old: Path) -> list[str]:
    """What a finished move must not leave: the old folder and its marked name, the note,
    temporaries."""
    found = [p for p in (old, old.with_name(old.name + _movein.MOVED)) if os.path.lexists(p)]
    found += [space / _movein.NOTE] if os.path.lexists(space / _movein.NOTE) else []
    found += [p for p in space.parent.iterdir() if p.name.startswith(".tmp-")]
    return [str(p) for p in found]


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """An old cache on the same filesystem as the depot."""
    path = tmp_path / "home" / ".cache" / "mypkg"
    make_old(path, tmp_path / "outside.txt")
    return path


@pytest.fixture
def other_fs(tmp_path: Path) -> Iterator[Tmpfs]:
    """A tmpfs: another filesystem than the depot's."""
    with mounted(tmp_path / "other", size=16 * 2**20, nr_inodes=2000) as fs:
        yield fs


@pytest.fixture
def old_elsewhere(other_fs: Tmpfs, tmp_path: Path) -> Path:
    """An old cache on another filesystem than the depot's."""
    path = other_fs.path / "cache" / "mypkg"
    make_old(path, tmp_path / "outside.txt")
    return path


# --- moving ----------------------------------------------------------------------------------


def test_on_one_filesystem_the_folder_is_renamed_into_the_space(old: Path, tmp_path: Path) -> None:
    before, inode = fingerprint(old), old.lstat()
    space = scratchspaces.get_scratch("data", NS, move_from=old)
    assert fingerprint(space) == before
    assert os.path.samestat(space.lstat(), inode)  # renamed, not copied
    assert leftovers(space, old) == []
    assert (tmp_path / "outside.txt").read_bytes() == b"not ours"
    assert not (space.parents[2] / "logs" / ".movein.lock").exists()
    # Once moved, the same call changes nothing.
    (space / "new.txt").write_bytes(b"new")
    assert scratchspaces.get_scratch("data", NS, move_from=old) == space
    assert (space / "new.txt").read_bytes() == b"new"


def test_across_filesystems_the_folder_is_copied_then_removed(
    old_elsewhere: Path, tmp_path: Path, depot: Path
) -> None:
    old = old_elsewhere
    assert old.stat().st_dev != tmp_path.stat().st_dev
    before = fingerprint(old)
    space = scratchspaces.get_scratch("data", NS, move_from=old)
    assert fingerprint(space) == before  # modes, dates, links as links
    assert same_file(space / "a.txt", space / "sub" / "hard")  # a hard link stays one
    assert leftovers(space, old) == []
    assert list(old.parent.iterdir()) == []
    assert (tmp_path / "outside.txt").read_bytes() == b"not ours"
    assert (depot / "logs" / _movein.LOCK_FILE).is_file()  # kept, as the access log's lock is


def test_a_tilde_is_the_home_folder(tmp_path: Path) -> None:
    make_old(tmp_path / "home" / ".cache" / "tilde", tmp_path / "outside.txt")
    space = scratchspaces.get_scratch("data", NS, move_from="~/.cache/tilde/")
    assert (space / "a.txt").read_bytes() == b"a\n"
    assert not (tmp_path / "home" / ".cache" / "tilde").exists()


def test_an_empty_old_folder_is_moved_too(tmp_path: Path) -> None:
    old = tmp_path / "empty-old"
    old.mkdir()
    space = scratchspaces.get_scratch("data", NS, move_from=old)
    assert space.is_dir()
    assert list(space.iterdir()) == []
    assert not old.exists()


def test_nothing_there_is_nothing_to_do(tmp_path: Path, depot: Path) -> None:
    space = scratchspaces.get_scratch("data", NS, move_from=tmp_path / "never")
    assert space.is_dir()
    assert not (depot / "logs" / _movein.LOCK_FILE).exists()  # no lock taken


def test_under_an_override_the_lock_file_goes_with_the_move(
    old_elsewhere: Path, tmp_path: Path
) -> None:
    with scratchspaces.with_scratch_directory(tmp_path / "override") as root:
        space = scratchspaces.get_scratch("data", NS, move_from=old_elsewhere)
    assert space == root / NS / "data"
    assert (space / "sub" / "deep" / "b.bin").is_file()
    assert sorted(os.listdir(root)) == [NS]


def test_moving_loads_nothing_until_a_move_is_due(tmp_path: Path) -> None:
    """Without ``move_from`` nothing new is loaded; with it, once moved, one small module."""
    code = (
        "import sys, scratchspaces\n"
        "scratchspaces.get_scratch('k', 'p'{})\n"
        'print(" ".join(sorted(sys.modules)))'
    )
    plain = modules_after(code.format(""), tmp_path)
    moved = modules_after(code.format(f", move_from={str(tmp_path / 'gone')!r}"), tmp_path)
    assert "scratchspaces._movein" not in plain
    assert moved - plain == {"scratchspaces._movein"}


# --- refusals: nothing moved, one warning, the space returned --------------------------------


def test_a_space_holding_data_is_never_merged_into(old: Path, depot: Path) -> None:
    space = scratchspaces.get_scratch("data", NS)
    (space / "a.txt").write_bytes(b"the space's own")
    before = fingerprint(old)
    with pytest.warns(ScratchspacesWarning, match="already holds data"):
        assert scratchspaces.get_scratch("data", NS, move_from=old) == space
    assert not (depot / "logs" / _movein.LOCK_FILE).exists()  # told without the lock
    assert fingerprint(old) == before
    assert [p.name for p in space.iterdir()] == ["a.txt"]
    assert (space / "a.txt").read_bytes() == b"the space's own"


def test_an_old_path_that_is_a_link_is_left_alone(old: Path, tmp_path: Path) -> None:
    link = tmp_path / "linked-cache"
    link.symlink_to(old)
    before = fingerprint(old)
    with pytest.warns(ScratchspacesWarning, match="is a link"):
        space = scratchspaces.get_scratch("data", NS, move_from=link)
    assert not (space.parents[2] / "logs" / _movein.LOCK_FILE).exists()
    assert list(space.iterdir()) == []
    assert link.is_symlink()
    assert fingerprint(old) == before


def test_an_old_path_that_is_a_file_is_left_alone(tmp_path: Path) -> None:
    old = tmp_path / "cache.db"
    old.write_bytes(b"db")
    with pytest.warns(ScratchspacesWarning, match="not a folder"):
        space = scratchspaces.get_scratch("data", NS, move_from=old)
    assert space.is_dir()
    assert old.read_bytes() == b"db"


def test_a_folder_holding_the_space_is_left_alone(depot: Path) -> None:
    scratchspaces.get_scratch("first", NS)
    with pytest.warns(ScratchspacesWarning, match="holds the space"):
        space = scratchspaces.get_scratch("data", NS, move_from=depot)
    assert space.is_dir()
    assert (depot / "scratchspaces" / NS / "first").is_dir()


def test_a_fifo_cannot_be_copied_and_nothing_moves(old_elsewhere: Path) -> None:
    os.mkfifo(old_elsewhere / "pipe")
    before = fingerprint(old_elsewhere)
    with pytest.warns(ScratchspacesWarning, match="not a file, a folder or a link"):
        space = scratchspaces.get_scratch("data", NS, move_from=old_elsewhere)
    assert fingerprint(old_elsewhere) == before
    assert list(space.iterdir()) == []
    assert [p.name for p in space.parent.iterdir()] == ["data"]  # the copy is gone


def test_the_warning_is_given_once_per_process(old: Path) -> None:
    (scratchspaces.get_scratch("data", NS) / "x").touch()
    with pytest.warns(ScratchspacesWarning) as caught:
        [scratchspaces.get_scratch("data", NS, move_from=old) for _ in range(3)]
    assert len(caught) == 1


# --- full, read-only and forbidden disks -------------------------------------------------------


def test_a_disk_full_during_the_copy_loses_nothing(tmp_path: Path, old: Path) -> None:
    (old / "big.bin").write_bytes(b"\x5a" * 3 * 2**20)
    before = fingerprint(old)
    with (
        mounted(tmp_path / "small", size=2 * 2**20) as small,
        scratchspaces.with_scratch_directory(small.path / "spaces"),
    ):
        with pytest.warns(ScratchspacesWarning, match="No space left"):
            space = scratchspaces.get_scratch("data", NS, move_from=old)
        assert fingerprint(old) == before
        assert list(space.iterdir()) == []
        assert [p.name for p in space.parent.iterdir()] == ["data"]  # the copy is gone
        (space / "usable.txt").write_bytes(b"the space works")
        (space / "usable.txt").unlink()
        # Room made (the big file was not needed after all): the next call moves.
        (old / "big.bin").unlink()
        space = scratchspaces.get_scratch("data", NS, move_from=old)
        assert (space / "sub" / "deep" / "b.bin").is_file()
        assert leftovers(space, old) == []


def test_an_old_folder_on_a_read_only_disk_is_left_alone(
    old_elsewhere: Path, other_fs: Tmpfs
) -> None:
    before = fingerprint(old_elsewhere)
    with other_fs.read_only_for():
        with pytest.warns(ScratchspacesWarning, match="read-only"):
            space = scratchspaces.get_scratch("data", NS, move_from=old_elsewhere)
        assert list(space.iterdir()) == []
        assert [p.name for p in space.parent.iterdir()] == ["data"]
    assert fingerprint(old_elsewhere) == before
    space = scratchspaces.get_scratch("data", NS, move_from=old_elsewhere)  # writable again
    assert fingerprint(space) == before


def test_a_read_only_depot_leaves_the_old_folder_alone(
    tmp_path: Path, old: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = fingerprint(old)
    with mounted(tmp_path / "ro", size=2**20) as fs:
        monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", str(fs.path / "depot"))
        space = scratchspaces.get_scratch("data", NS)  # made before the disk turned read-only
        with fs.read_only_for():
            with pytest.warns(ScratchspacesWarning, match="Read-only file system"):
                assert scratchspaces.get_scratch("data", NS, move_from=old) == space
            assert list(space.iterdir()) == []
    assert fingerprint(old) == before


CHILD = """
import json, sys, warnings
import scratchspaces
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    space = scratchspaces.get_scratch("data", "mypkg", move_from=sys.argv[1])
print(json.dumps({"space": str(space), "warnings": [str(w.message) for w in caught]}))
"""


@pytest.mark.skipif(not DROP_OVERRIDE, reason="needs setpriv to make permissions bind as root")
def test_a_folder_we_may_not_remove_from_is_left_alone(old: Path, tmp_path: Path) -> None:
    before = fingerprint(old)
    old.parent.chmod(0o555)  # the old folder cannot leave its parent
    try:
        done = run_bound_by_permissions(CHILD.replace("sys.argv[1]", repr(str(old))), tmp_path)
    finally:
        old.parent.chmod(0o755)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    [warning] = result["warnings"]
    assert "Permission denied" in warning
    assert "nothing of it was lost" in warning
    assert fingerprint(old) == before
    assert os.listdir(result["space"]) == []


# --- resuming what a killed move left ----------------------------------------------------------


def test_a_marked_old_folder_is_removed_and_the_note_with_it(old: Path) -> None:
    """Killed while removing the old folder, after the copy was whole: the removal ends."""
    space = scratchspaces.get_scratch("data", NS)
    (space / "a.txt").write_bytes(b"a\n")
    (space / _movein.NOTE).write_text(str(old))
    marked = old.with_name(old.name + _movein.MOVED)
    old.rename(marked)
    (marked / "sub" / "deep" / "b.bin").unlink()  # half removed
    assert scratchspaces.get_scratch("data", NS, move_from=old) == space
    assert [p.name for p in space.iterdir()] == ["a.txt"]
    assert leftovers(space, old) == []


def test_an_old_folder_already_copied_whole_is_removed(old: Path) -> None:
    """Killed after the copy was renamed onto the space: the old folder is not copied again."""
    space = scratchspaces.get_scratch("data", NS)
    (space / "copied.txt").write_bytes(b"the copy")
    (space / _movein.NOTE).write_text(str(old))
    assert scratchspaces.get_scratch("data", NS, move_from=old) == space
    assert [p.name for p in space.iterdir()] == ["copied.txt"]
    assert leftovers(space, old) == []


def test_a_note_naming_another_folder_is_no_licence(old: Path, tmp_path: Path) -> None:
    space = scratchspaces.get_scratch("data", NS)
    (space / _movein.NOTE).write_text(str(tmp_path / "another"))
    with pytest.warns(ScratchspacesWarning, match="already holds data"):
        scratchspaces.get_scratch("data", NS, move_from=old)
    assert (old / "a.txt").is_file()


def test_a_killed_copy_is_swept_and_the_move_starts_again(old_elsewhere: Path) -> None:
    space = scratchspaces.get_scratch("data", NS)
    stale = space.parent / ".tmp-movein-1700000000-0123456789ab" / "data"
    stale.mkdir(parents=True)
    (stale / "a.txt").write_bytes(b"half")
    before = fingerprint(old_elsewhere)
    assert scratchspaces.get_scratch("data", NS, move_from=old_elsewhere) == space
    assert fingerprint(space) == before
    assert leftovers(space, old_elsewhere) == []


# --- two processes at once ---------------------------------------------------------------------


def _race(barrier: Any, old: str, out: str) -> None:
    """Move ``old`` in once every racer has found it there; record what this one did."""
    import sys
    import warnings

    did: list[str] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        path = args[0] if args and isinstance(args[0], str | bytes | os.PathLike) else None
        where = os.fsdecode(path) if path is not None else ""
        if event == "open" and where.endswith(_movein.LOCK_FILE) and not did:
            did.append("waited")
            barrier.wait(60)  # every racer found the old folder and goes for the lock
        elif event == "os.rename" and where == old:
            did.append(f"renamed to {os.path.basename(os.fsdecode(args[1]))}")
        elif event == "os.mkdir" and os.path.basename(where).startswith(".tmp-movein-"):
            did.append("copied")

    sys.addaudithook(hook)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        space = scratchspaces.get_scratch("data", NS, move_from=old)
    result = {"did": did, "files": fingerprint(space), "warnings": [str(w.message) for w in caught]}
    with open(out, "w") as f:
        json.dump(result, f, default=repr)


@pytest.mark.parametrize("where", ["same filesystem", "across filesystems"])
def test_two_processes_at_once_move_it_once(
    where: str, tmp_path: Path, old: Path, request: pytest.FixtureRequest
) -> None:
    if where != "same filesystem":
        old = request.getfixturevalue("old_elsewhere")
    expected = json.loads(json.dumps(fingerprint(old), default=repr))
    barrier = multiprocessing.get_context("spawn").Barrier(2)
    outs = [tmp_path / f"racer-{i}.json" for i in range(2)]
    with running(_race, [(barrier, str(old), str(out)) for out in outs]) as procs:
        pass
    assert [p.exitcode for p in procs] == [0, 0]
    results = [json.loads(out.read_text()) for out in outs]
    assert [r["warnings"] for r in results] == [[], []]
    # Both found the old folder and raced for the lock; one moved it, the other waited.
    mover, waiter = sorted((r["did"] for r in results), key=len, reverse=True)
    assert waiter == ["waited"]
    if where == "same filesystem":
        assert mover == ["waited", "renamed to data"]
    else:  # a rename refused (EXDEV), one copy, then the old folder renamed to be removed
        assert mover == ["waited", "renamed to data", "copied", f"renamed to mypkg{_movein.MOVED}"]
    assert [r["files"] for r in results] == [expected, expected]
    assert leftovers(scratchspaces.scratch_path("data", NS), old) == []
