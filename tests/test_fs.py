"""The shared filesystem pieces (``scratchspaces._fs``), on real files in ``tmp_path``.

Removal never follows a link out of the tree, removes read-only files and directories,
and renames a directory into the trash first; writes are atomic; directories are made
with an error naming the file in the way; sizes are apparent bytes.

The suite runs as root, which permission bits do not stop: tests that need permissions
to bind run their code in a subprocess without the capabilities that override them
(see ``DROP_OVERRIDE`` in ``tests/_venvs.py``) and are skipped where that is impossible.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import stat
import tempfile
import textwrap
import threading
import time
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _depots import refuse_unlink
from _depots import snapshot as snapshot_of
from _venvs import DROP_OVERRIDE, run_bound_by_permissions
from scratchspaces import DepotError, _fs

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

Snapshot = dict[str, tuple[str | int, ...]]


BINDS = pytest.mark.skipif(
    DROP_OVERRIDE is None, reason="root without setpriv: permissions never bind"
)


def snapshot(root: Path) -> Snapshot:
    """Every entry under ``root``, itself included, as :func:`_depots.snapshot` sees it."""
    return snapshot_of(root, itself=True)


def make_canary(canary: Path) -> Snapshot:
    """A read-only folder outside the tree being removed; return its snapshot.

    Its directories lack owner write, so removal that followed a link into it would
    change their modes (removal gives owner rwx) even before deleting anything.
    """
    (canary / "inner").mkdir(parents=True)
    (canary / "precious").write_bytes(b"precious\x00bytes")
    (canary / "inner" / "data").write_bytes(b"inner data")
    (canary / "precious").chmod(0o444)
    (canary / "inner" / "data").chmod(0o400)
    (canary / "inner").chmod(0o500)
    canary.chmod(0o555)
    return snapshot(canary)


def make_hostile_tree(top: Path, canary: Path) -> None:
    """Read-only files, 0o555 and 0o000 directories, links out to ``canary`` and nowhere."""
    (top / "ro" / "deeper").mkdir(parents=True)
    (top / "closed").mkdir()
    (top / "file").write_bytes(b"top")
    (top / "ro" / "deeper" / "file").write_bytes(b"deep")
    (top / "closed" / "file").write_bytes(b"closed")
    (top / "ro" / "to-canary").symlink_to(canary, target_is_directory=True)
    (top / "ro" / "deeper" / "to-precious").symlink_to(canary / "precious")
    (top / "relative-out").symlink_to(os.path.relpath(canary, top))
    (top / "dangling").symlink_to(top / "missing")
    for file in (top / "file", top / "ro" / "deeper" / "file", top / "closed" / "file"):
        file.chmod(0o444)
    (top / "ro" / "deeper").chmod(0o555)
    (top / "ro").chmod(0o555)
    (top / "closed").chmod(0o000)
    top.chmod(0o555)


REMOVERS: dict[str, Callable[[str, str], list[str]]] = {
    "rmtree_in_place": lambda path, _trash: _fs.rmtree_in_place(path),
    "remove_in_place": lambda path, _trash: _fs.remove_in_place(path),
    "remove_tree": _fs.remove_tree,
}


# ---------------------------------------------------------------------------------------
# Removal


@pytest.mark.parametrize("remover", sorted(REMOVERS))
def test_removal_takes_read_only_trees_and_never_follows_links(
    tmp_path: Path, remover: str
) -> None:
    """A read-only tree goes entirely; links in it go as links, their targets untouched."""
    canary = tmp_path / "canary"
    before = make_canary(canary)
    top = tmp_path / "work" / "top"
    top.mkdir(parents=True)
    make_hostile_tree(top, canary)
    trash = tmp_path / "work" / "trash"
    assert REMOVERS[remover](str(top), str(trash)) == []
    assert not os.path.lexists(top)
    assert not trash.exists()
    assert snapshot(canary) == before


@BINDS
@pytest.mark.parametrize("remover", sorted(REMOVERS))
def test_removal_takes_read_only_trees_when_permissions_bind(tmp_path: Path, remover: str) -> None:
    """Where permission bits bind, removal still takes read-only files and directories."""
    canary = tmp_path / "canary"
    before = make_canary(canary)
    top = tmp_path / "work" / "top"
    top.mkdir(parents=True)
    make_hostile_tree(top, canary)
    probe = run_bound_by_permissions(f"open({str(top / 'ro' / 'new')!r}, 'w')", tmp_path)
    assert probe.returncode != 0, "the permissions do not bind: the test would prove nothing"
    trash = tmp_path / "work" / "trash"
    call = {
        "rmtree_in_place": "_fs.rmtree_in_place(top)",
        "remove_in_place": "_fs.remove_in_place(top)",
        "remove_tree": "_fs.remove_tree(top, trash)",
    }[remover]
    code = textwrap.dedent(f"""
        import json
        from scratchspaces import _fs
        top, trash = {str(top)!r}, {str(trash)!r}
        print(json.dumps({call}))
    """)
    result = run_bound_by_permissions(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert not os.path.lexists(top)
    assert not trash.exists()
    assert snapshot(canary) == before


@pytest.mark.parametrize("remover", ["remove_in_place", "remove_tree"])
@pytest.mark.parametrize("kind", ["dir", "file"])
def test_a_link_given_as_the_path_is_unlinked_and_its_target_untouched(
    tmp_path: Path, remover: str, kind: str
) -> None:
    """Removing a symlink removes the link itself, never what it points to."""
    canary = tmp_path / "canary"
    before = make_canary(canary)
    link = tmp_path / "link"
    link.symlink_to(canary if kind == "dir" else canary / "precious")
    trash = tmp_path / "trash"
    assert REMOVERS[remover](str(link), str(trash)) == []
    assert not os.path.lexists(link)
    assert not trash.exists()
    assert snapshot(canary) == before


def test_rmtree_in_place_does_not_follow_a_link_given_as_the_path(tmp_path: Path) -> None:
    """rmtree_in_place removes a real directory only: a link to one is reported, not followed."""
    canary = tmp_path / "canary"
    before = make_canary(canary)
    link = tmp_path / "link"
    link.symlink_to(canary, target_is_directory=True)
    failed = _fs.rmtree_in_place(str(link))
    assert len(failed) == 1
    assert failed[0].startswith(f"{link}: ")
    assert snapshot(canary) == before


@pytest.mark.parametrize("remover", sorted(REMOVERS))
def test_removing_a_missing_path_is_no_error(tmp_path: Path, remover: str) -> None:
    """A path that does not exist is already removed: no failure, no trash folder made."""
    trash = tmp_path / "trash"
    assert REMOVERS[remover](str(tmp_path / "missing"), str(trash)) == []
    assert not trash.exists()


def test_remove_tree_removes_a_file(tmp_path: Path) -> None:
    """remove_tree takes a plain (read-only) file too, and leaves no trash folder."""
    file = tmp_path / "file"
    file.write_bytes(b"x")
    file.chmod(0o444)
    assert _fs.remove_tree(str(file), str(tmp_path / "trash")) == []
    assert not file.exists()
    assert not (tmp_path / "trash").exists()


def test_remove_tree_renames_into_the_trash_before_removing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real name is gone even if an entry cannot be removed: it stays in the trash."""
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    (top / "sub" / "stuck").write_bytes(b"stuck")
    (top / "sub" / "other").write_bytes(b"other")
    (top / "free").write_bytes(b"free")
    trash = tmp_path / "trash"
    refuse_unlink(monkeypatch, "stuck")
    failed = _fs.remove_tree(str(top), str(trash))
    monkeypatch.undo()
    assert not os.path.lexists(top)
    assert len(failed) == 1
    assert failed[0].startswith(str(trash / f"top.{os.getpid()}."))
    assert "stuck" in failed[0]
    (leftover,) = trash.iterdir()
    assert leftover.name.startswith(f"top.{os.getpid()}.")
    assert sorted(snapshot(leftover)) == [".", "sub", "sub/stuck"]
    assert (leftover / "sub" / "stuck").read_bytes() == b"stuck"


@BINDS
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_remove_tree_leaves_what_it_cannot_remove_in_the_trash(tmp_path: Path) -> None:
    """A real permission failure: reported, the real name gone, the rest in the trash."""
    top = tmp_path / "top"
    (top / "foreign").mkdir(parents=True)
    (top / "foreign" / "file").write_bytes(b"not ours")
    (top / "mine").write_bytes(b"ours")
    (top / "foreign").chmod(0o555)
    os.chown(top / "foreign", 65534, 65534)  # the subprocess may not chmod what is not ours
    trash = tmp_path / "trash"
    code = textwrap.dedent(f"""
        import json
        from scratchspaces import _fs
        print(json.dumps(_fs.remove_tree({str(top)!r}, {str(trash)!r})))
    """)
    result = run_bound_by_permissions(code, tmp_path)
    assert result.returncode == 0, result.stderr
    failed = json.loads(result.stdout)
    assert len(failed) == 1
    assert "foreign" in failed[0]
    assert not os.path.lexists(top)
    (leftover,) = trash.iterdir()
    assert sorted(p.name for p in leftover.iterdir()) == ["foreign"]
    assert (leftover / "foreign" / "file").read_bytes() == b"not ours"


def test_remove_tree_keeps_a_trash_folder_that_is_not_empty(tmp_path: Path) -> None:
    """The trash folder is removed only when empty: an earlier leftover keeps it."""
    top = tmp_path / "top"
    top.mkdir()
    trash = tmp_path / "trash"
    (trash / "earlier").mkdir(parents=True)
    assert _fs.remove_tree(str(top), str(trash)) == []
    assert not top.exists()
    assert [p.name for p in trash.iterdir()] == ["earlier"]


def test_move_to_trash(tmp_path: Path) -> None:
    """None for a missing path; otherwise the new path inside the trash, content moved."""
    trash = tmp_path / "trash"
    assert _fs.move_to_trash(str(tmp_path / "missing"), str(trash)) is None
    top = tmp_path / "top"
    top.mkdir()
    (top / "f").write_bytes(b"data")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    moved = _fs.move_to_trash(str(top), str(trash))
    assert moved is not None
    assert os.path.dirname(moved) == str(trash)
    assert os.path.basename(moved).startswith("top.")
    assert not top.exists()
    with open(os.path.join(moved, "f"), "rb") as f:
        assert f.read() == b"data"
    moved_link = _fs.move_to_trash(str(dangling), str(trash))
    assert moved_link is not None
    assert os.path.dirname(moved_link) == str(trash)
    assert not os.path.lexists(dangling)
    assert os.readlink(moved_link) == str(tmp_path / "nowhere")


@BINDS
def test_move_to_trash_returns_the_path_when_it_cannot_be_renamed(tmp_path: Path) -> None:
    """Under a read-only parent the path stays put, and move_to_trash says so."""
    parent = tmp_path / "parent"
    (parent / "top").mkdir(parents=True)
    parent.chmod(0o555)
    code = textwrap.dedent(f"""
        from scratchspaces import _fs
        print(_fs.move_to_trash({str(parent / "top")!r}, {str(tmp_path / "trash")!r}))
    """)
    result = run_bound_by_permissions(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(parent / "top")
    assert (parent / "top").is_dir()


def test_empty_trash_removes_every_leftover(tmp_path: Path) -> None:
    """Leftovers of any kind go, links without their targets; the trash folder stays."""
    canary = tmp_path / "canary"
    before = make_canary(canary)
    trash = tmp_path / "trash"
    (trash / "top.1.abcd").mkdir(parents=True)
    make_hostile_tree(trash / "top.1.abcd", canary)
    (trash / "file.2.ef01").write_bytes(b"x")
    (trash / "link.3.2345").symlink_to(canary, target_is_directory=True)
    assert _fs.empty_trash(str(trash)) == []
    assert list(trash.iterdir()) == []
    assert snapshot(canary) == before
    assert _fs.empty_trash(str(tmp_path / "missing")) == []


def test_listdir_and_make_dirs_writable(tmp_path: Path) -> None:
    """listdir of what cannot be listed is empty; make_dirs_writable gives owner rwx only."""
    assert _fs.listdir(str(tmp_path / "missing")) == []
    top = tmp_path / "top"
    (top / "a" / "b").mkdir(parents=True)
    (top / "f").write_bytes(b"x")
    (top / "f").chmod(0o444)
    (top / "a" / "b").chmod(0o500)
    (top / "a").chmod(0o050)
    _fs.make_dirs_writable(str(top))
    assert stat.S_IMODE((top / "a").stat().st_mode) == 0o750
    assert stat.S_IMODE((top / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE((top / "f").stat().st_mode) == 0o444
    assert sorted(_fs.listdir(str(top))) == ["a", "f"]


# ---------------------------------------------------------------------------------------
# Atomic writes


def test_atomic_file_readers_see_the_old_content_until_the_new_is_complete(
    tmp_path: Path,
) -> None:
    """While the block writes, the path holds the old bytes; after it, all the new ones."""
    target = tmp_path / "record"
    target.write_bytes(b"old content")
    with _fs.atomic_file(str(target)) as f:
        f.write(b"new ")
        f.flush()
        assert target.read_bytes() == b"old content"
        f.write(b"content, longer")
        f.flush()
        assert target.read_bytes() == b"old content"
    assert target.read_bytes() == b"new content, longer"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("record")] == ["record"]
    fresh = tmp_path / "fresh"
    with _fs.atomic_file(str(fresh)) as f:
        f.write(b"first")
        f.flush()
        assert not fresh.exists()
    assert fresh.read_bytes() == b"first"


def test_atomic_write_concurrent_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    """A reader looping while the file is rewritten sees only whole versions, never none."""
    target = tmp_path / "record"
    old, new = b"o" * 65536, b"n" * 131072
    _fs.atomic_write(str(target), old)
    seen: set[bytes] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.add(target.read_bytes())
            except OSError as exc:
                errors.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(30):
            _fs.atomic_write(str(target), new if i % 2 == 0 else old)
    finally:
        stop.set()
        reader.join()
    assert errors == []
    assert seen <= {old, new}
    assert target.read_bytes() == old


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
@pytest.mark.parametrize("existed", [True, False])
def test_atomic_file_leaves_the_original_and_no_temporary_when_the_block_raises(
    tmp_path: Path, error: type[BaseException], existed: bool
) -> None:
    """If the block raises (even KeyboardInterrupt), path is unchanged and no *.tmp-* stays."""
    folder = tmp_path / "folder"
    folder.mkdir()
    target = folder / "record"
    if existed:
        target.write_bytes(b"original")

    def write_half_then_fail() -> None:
        with _fs.atomic_file(str(target)) as f:
            f.write(b"half of the new")
            raise error

    with pytest.raises(error):
        write_half_then_fail()
    assert [p.name for p in folder.iterdir()] == (["record"] if existed else [])
    if existed:
        assert target.read_bytes() == b"original"


# ---------------------------------------------------------------------------------------
# Making directories


@pytest.mark.parametrize(
    ("blocker", "depth"),
    [
        ("file", 0),
        ("file", 2),
        ("link-to-file", 0),
        ("link-to-file", 2),
        # a dangling link at the path itself, or above it (it once escaped as a raw
        # FileNotFoundError)
        ("dangling-link", 0),
        ("dangling-link", 2),
    ],
)
def test_make_dirs_names_the_file_in_the_way(tmp_path: Path, blocker: str, depth: int) -> None:
    """A file, or a link to one or to nothing, where a directory should be is named."""
    in_the_way = tmp_path / "a" / "in-the-way"
    in_the_way.parent.mkdir()
    if blocker == "file":
        in_the_way.write_bytes(b"x")
    elif blocker == "link-to-file":
        (tmp_path / "real-file").write_bytes(b"x")
        in_the_way.symlink_to(tmp_path / "real-file")
    else:
        in_the_way.symlink_to(tmp_path / "nothing")
    wanted = in_the_way.joinpath(*["sub"] * depth)
    with pytest.raises(DepotError) as caught:
        _fs.make_dirs(str(wanted))
    assert caught.value.path == str(in_the_way)
    assert str(in_the_way) in str(caught.value)
    assert "not a directory" in str(caught.value)
    explained = _fs.explain_unusable(str(wanted))
    assert isinstance(explained, DepotError)
    assert explained.path == str(in_the_way)


def test_make_dirs_creates_parents_and_accepts_an_existing_directory(tmp_path: Path) -> None:
    """make_dirs makes every missing parent; an existing directory is fine."""
    wanted = tmp_path / "a" / "b" / "c"
    _fs.make_dirs(str(wanted))
    assert wanted.is_dir()
    _fs.make_dirs(str(wanted))
    (tmp_path / "real").mkdir()
    (tmp_path / "via-link").symlink_to(tmp_path / "real", target_is_directory=True)
    _fs.make_dirs(str(tmp_path / "via-link" / "x"))
    assert (tmp_path / "real" / "x").is_dir()


def test_explain_unusable_without_a_file_in_the_way_names_the_path(tmp_path: Path) -> None:
    """With only directories on the way, the error names the path itself."""
    wanted = tmp_path / "a" / "b"
    explained = _fs.explain_unusable(str(wanted))
    assert explained.path == str(wanted)
    assert "cannot be created" in explained.reason


# ---------------------------------------------------------------------------------------
# Sizes


def test_tree_size_counts_apparent_bytes(tmp_path: Path) -> None:
    """Sizes are file lengths (a sparse file counts whole), summed over the tree."""
    top = tmp_path / "top"
    (top / "a" / "b").mkdir(parents=True)
    (top / "one").write_bytes(b"x" * 10)
    (top / "a" / "two").write_bytes(b"y" * 1000)
    (top / "a" / "b" / "empty").write_bytes(b"")
    with open(top / "a" / "b" / "sparse", "wb") as f:
        f.truncate(5_000_000)
    (top / "unreadable").mkdir()
    assert _fs.tree_size(top) == 10 + 1000 + 5_000_000
    assert _fs.tree_size(str(top / "a" / "two")) == 1000
    assert _fs.tree_size(str(top / "missing")) == 0


def test_tree_size_counts_a_hard_linked_file_once(tmp_path: Path) -> None:
    """A file linked twice in the tree is counted once; one linked from outside, once."""
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    (top / "data").write_bytes(b"z" * 4096)
    os.link(top / "data", top / "sub" / "same-data")
    (tmp_path / "outside").write_bytes(b"w" * 300)
    os.link(tmp_path / "outside", top / "shared-with-outside")
    assert _fs.tree_size(top) == 4096 + 300


def test_tree_size_does_not_count_or_follow_links(tmp_path: Path) -> None:
    """Symlinks count nothing: not their text, not their targets, files or trees."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(b"b" * 100_000)
    top = tmp_path / "top"
    top.mkdir()
    (top / "small").write_bytes(b"s" * 7)
    (top / "to-file").symlink_to(outside / "big")
    (top / "to-dir").symlink_to(outside, target_is_directory=True)
    (top / "to-own-file").symlink_to("small")
    assert _fs.tree_size(top) == 7
    assert _fs.tree_size(top / "to-dir") == 0


def _lstat_walk_size(path: str) -> int:
    """The oracle: an ``lstat`` of every path under ``path``, as sizes were first counted."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            st = os.lstat(current)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
        elif stat.S_ISDIR(st.st_mode):
            with contextlib.suppress(OSError):
                stack.extend(os.path.join(current, name) for name in os.listdir(current))
    return total


# A tree as steps: (kind, folder index, size or the index of an earlier entry).
_TREE_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["dir", "file", "hardlink", "symlink", "outside-link", "fifo"]),
        st.integers(0, 7),
        st.integers(0, 5000),
    ),
    max_size=25,
)


def _build_tree(top: str, outside: str, steps: list[tuple[str, int, int]]) -> list[str]:
    folders, files, made = [top], list[str](), list[str]()
    for i, (kind, where, n) in enumerate(steps):
        path = os.path.join(folders[where % len(folders)], f"e{i}")
        if kind == "dir":
            os.mkdir(path)
            folders.append(path)
        elif kind == "file" or (kind == "hardlink" and not files):
            with open(path, "wb") as f:
                f.truncate(n)
            files.append(path)
        elif kind == "hardlink":
            os.link(files[n % len(files)], path)
        elif kind == "symlink":
            os.symlink(made[n % len(made)] if made else "dangling", path)
        elif kind == "outside-link":
            os.symlink(outside, path)
        else:
            os.mkfifo(path)
        made.append(path)
    return folders


@settings(max_examples=60, deadline=None)
@given(steps=_TREE_STEPS)
def test_tree_size_agrees_with_an_lstat_of_every_path(steps: list[tuple[str, int, int]]) -> None:
    """The walk by listings counts what an ``lstat`` of every path counts, in every folder.

    Hard links (counted once per walk, however many names in the tree), links to files,
    folders, nothing or outside (counting nothing), FIFOs, sparse files.
    """
    with tempfile.TemporaryDirectory() as tmp:
        outside = os.path.join(tmp, "outside")
        os.mkdir(outside)
        with open(os.path.join(outside, "big"), "wb") as f:
            f.truncate(10**6)
        top = os.path.join(tmp, "top")
        os.mkdir(top)
        for folder in _build_tree(top, outside, steps):
            assert _fs.tree_size(folder) == _lstat_walk_size(folder), folder
            assert _fs.dir_size(folder) == _lstat_walk_size(folder), folder


@BINDS
def test_tree_size_counts_nothing_it_cannot_read(tmp_path: Path) -> None:
    """A folder that cannot be listed, or whose entries cannot be looked at, counts nothing.

    The rest counts as the oracle counts it, where permissions bind.
    """
    top = tmp_path / "top"
    for mode in ("000", "100", "400", "500"):
        (top / mode / "deeper").mkdir(parents=True)
        (top / mode / "file").write_bytes(b"x" * 1000)
        (top / mode / "deeper" / "file").write_bytes(b"y" * 100)
    (top / "readable").write_bytes(b"z" * 10)
    for mode in ("000", "100", "400", "500"):
        (top / mode).chmod(int(mode, 8))
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_fs import _lstat_walk_size
        from scratchspaces import _fs
        top = {str(top)!r}
        print(json.dumps([_fs.tree_size(top), _fs.dir_size(top), _lstat_walk_size(top)]))
    """)
    try:
        result = run_bound_by_permissions(code, tmp_path)
    finally:
        for mode in ("000", "100", "400", "500"):
            (top / mode).chmod(0o755)
    assert result.returncode == 0, result.stderr
    # 000, 400: nothing under them; 100: nothing (it cannot be listed); 500: all of it.
    assert json.loads(result.stdout) == [10 + 1100, 10 + 1100, 10 + 1100]


# ---------------------------------------------------------------------------------------
# Where links lead


@pytest.mark.parametrize(
    ("rel", "target", "leaves"),
    [
        ("a/b", "../c", False),
        ("a", "../x", True),
        ("a/b", "../../x", True),
        ("a", "x", False),
        ("a", "x/../y", False),
        ("a", "x/../../y", True),
        ("a/b/c", "../../d/../e", False),
        ("a/b", "./../../x", True),
        ("a", "./x/./.", False),
        ("a", ".", False),
        ("a", "..", True),
        ("a/b", "..", False),
        ("a", "x//..//..", True),
        ("a", "x//y", False),
        # absolute-looking: the leading "/" is an empty part (callers refuse absolute
        # targets before asking), but a ".." after it still counts
        ("a", "/x", False),
        ("a", "/../x", True),
        ("a/b", "//..", False),
        ("a", "x/../../x/y", True),  # climbing out and back in is still out
    ],
)
def test_climbs_out(rel: str, target: str, leaves: bool) -> None:
    """A link leaves when its target, read part by part from the link's folder, climbs out."""
    assert _fs.climbs_out(rel, target) is leaves


_PARTS = st.sampled_from(["..", ".", "", "a", "b"])


@settings(max_examples=500)
@given(
    rel=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4).map("/".join),
    target=st.lists(_PARTS, min_size=1, max_size=8).map("/".join),
)
def test_climbs_out_agrees_with_normpath(rel: str, target: str) -> None:
    """climbs_out is True exactly when normpath of the joined path starts with ``..``."""
    joined = posixpath.join(posixpath.dirname(rel) or ".", target.lstrip("/"))
    resolved = posixpath.normpath(joined)
    assert _fs.climbs_out(rel, target) is (resolved == ".." or resolved.startswith("../"))


def test_within(tmp_path: Path) -> None:
    """within: the top itself and what is under it; not a sibling sharing a name prefix."""
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    (tmp_path / "topper").mkdir()
    cases = {
        top: True,
        top / "sub": True,
        top / "sub" / "not-yet-made": True,
        top / "sub" / ".." / "sub": True,
        top / "sub" / ".." / ".." / "topper": False,
        tmp_path / "topper": False,
        tmp_path: False,
    }
    assert {path: _fs.within(str(path), str(top)) for path in cases} == cases


def test_within_resolves_every_link(tmp_path: Path) -> None:
    """Links are followed on both sides: where a path really is decides."""
    top = tmp_path / "top"
    top.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (top / "out").symlink_to(outside, target_is_directory=True)
    (top / "loop").symlink_to(top, target_is_directory=True)
    (outside / "in").symlink_to(top, target_is_directory=True)
    (tmp_path / "top-alias").symlink_to(top, target_is_directory=True)
    assert not _fs.within(str(top / "out"), str(top))
    assert not _fs.within(str(top / "out" / "file"), str(top))
    assert _fs.within(str(top / "loop" / "x"), str(top))
    assert _fs.within(str(outside / "in" / "x"), str(top))
    assert _fs.within(str(top / "x"), str(tmp_path / "top-alias"))
    assert not _fs.within(str(outside), str(tmp_path / "top-alias"))


# ---------------------------------------------------------------------------------------
# Publishing and read-only trees


def test_publish_directory_renames_when_the_target_is_missing(tmp_path: Path) -> None:
    """The finished temporary becomes the target in one step: True, temporary gone."""
    tmp = tmp_path / "tmp-1234"
    (tmp / "sub").mkdir(parents=True)
    (tmp / "sub" / "f").write_bytes(b"content")
    expected = snapshot(tmp)
    target = tmp_path / "target"
    assert _fs.publish_directory(str(tmp), str(target)) is True
    assert not tmp.exists()
    assert snapshot(target) == expected


def test_publish_directory_yields_to_an_existing_target(tmp_path: Path) -> None:
    """An existing target wins: False, the (read-only) temporary removed, target untouched."""
    target = tmp_path / "target"
    target.mkdir()
    (target / "theirs").write_bytes(b"published first")
    (target / "theirs").chmod(0o444)
    before = snapshot(target)
    tmp = tmp_path / "tmp-5678"
    (tmp / "sub").mkdir(parents=True)
    (tmp / "sub" / "ours").write_bytes(b"published second")
    _fs.make_read_only(str(tmp))
    assert _fs.publish_directory(str(tmp), str(target)) is False
    assert not os.path.lexists(tmp)
    assert snapshot(target) == before


def test_publish_directory_raises_when_there_is_nothing_to_publish(tmp_path: Path) -> None:
    """A missing temporary and no target is a real error, not a lost race."""
    with pytest.raises(FileNotFoundError):
        _fs.publish_directory(str(tmp_path / "missing"), str(tmp_path / "target"))


def test_make_read_only(tmp_path: Path) -> None:
    """Files lose every write bit; directories get owner rwx; links are not followed."""
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    (outside / "theirs").write_bytes(b"t")
    (outside / "theirs").chmod(0o666)
    outside.chmod(0o575)
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    (top / "plain").write_bytes(b"p")
    (top / "plain").chmod(0o664)
    (top / "sub" / "tool").write_bytes(b"#!/bin/sh\n")
    (top / "sub" / "tool").chmod(0o775)
    (top / "sub" / "already").write_bytes(b"a")
    (top / "sub" / "already").chmod(0o444)
    (top / "to-file").symlink_to(outside / "theirs")
    (top / "to-dir").symlink_to(outside, target_is_directory=True)
    (top / "sub").chmod(0o555)
    top.chmod(0o050)
    _fs.make_read_only(str(top))
    modes = {p: stat.S_IMODE(os.lstat(top / p).st_mode) for p in ("plain", "sub/tool", "sub")}
    assert modes == {"plain": 0o444, "sub/tool": 0o555, "sub": 0o755}
    assert stat.S_IMODE(top.stat().st_mode) == 0o750
    assert stat.S_IMODE((top / "sub" / "already").stat().st_mode) == 0o444
    assert stat.S_IMODE((outside / "theirs").stat().st_mode) == 0o666
    assert stat.S_IMODE(outside.stat().st_mode) == 0o575


# ---------------------------------------------------------------------------------------
# Small helpers


def test_nearest_file(tmp_path: Path) -> None:
    """The file in the directory itself, else in the nearest directory above; else None."""
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    name = "scratchspaces-test-marker.toml"
    assert _fs.nearest_file(str(deep), name) is None
    (tmp_path / "a" / name).write_bytes(b"")
    assert _fs.nearest_file(str(deep), name) == str(tmp_path / "a" / name)
    (deep / name).mkdir()  # a directory of that name is no file: keep climbing
    assert _fs.nearest_file(str(deep), name) == str(tmp_path / "a" / name)
    (tmp_path / "a" / "b" / name).write_bytes(b"")
    assert _fs.nearest_file(str(deep), name) == str(tmp_path / "a" / "b" / name)
    assert _fs.nearest_file(str(tmp_path / "a"), name) == str(tmp_path / "a" / name)


def test_touch_creates_a_file_and_sets_the_given_time(tmp_path: Path) -> None:
    """touch makes a missing file empty, keeps an existing one's bytes, sets mtime to when."""
    fresh = tmp_path / "fresh"
    _fs.touch(str(fresh), 1_000_000_000.5)
    assert fresh.read_bytes() == b""
    assert fresh.stat().st_mtime == 1_000_000_000.5
    kept = tmp_path / "kept"
    kept.write_bytes(b"content")
    _fs.touch(str(kept), 1_200_000_000.0)
    assert kept.read_bytes() == b"content"
    assert kept.stat().st_mtime == 1_200_000_000.0


def test_touch_defaults_to_now(tmp_path: Path) -> None:
    """Without a time, touch sets the mtime to now."""
    file = tmp_path / "file"
    file.write_bytes(b"x")
    os.utime(file, (1_000_000_000, 1_000_000_000))
    before = time.time()
    _fs.touch(str(file))
    after = time.time()
    assert before - 1 <= file.stat().st_mtime <= after + 1
    assert file.read_bytes() == b"x"
