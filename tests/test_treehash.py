"""Tree hashes (``scratchspaces._treehash``): ``tree_hash`` equals ``git write-tree``.

The oracle is real git: the tree is built outside any repository, copied (symlinks
kept as symlinks) into a fresh ``git init`` with the object format under test, then
``git add -A && git write-tree`` (see ``_git.py``). Blobs are checked against
``git hash-object``, and tree listings against the paths they list.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _git import HAVE_GIT, git, git_write_tree
from scratchspaces import _treehash
from scratchspaces._treehash import (
    Algorithm,
    blob_hash_of_bytes,
    blob_hash_of_file,
    tree_hash,
    tree_listing,
)
from scratchspaces.errors import UnsupportedFile

pytestmark = pytest.mark.skipif(not HAVE_GIT, reason="git is the oracle")

ALGORITHMS: tuple[Algorithm, ...] = ("sha1", "sha256")
EMPTY_TREE_SHA1 = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
MIB = 1 << 20


# -- a fixed tree with every trap at once --------------------------------------------------


def _write(path: Path, data: bytes, *, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o755 if executable else 0o644)


def build_fixed_tree(root: Path) -> None:
    """Sort-order traps, empty things, symlinks, exec bits, odd names, large files."""
    root.mkdir()
    # git sorts "a" the directory as "a/": after "a-" and "a.b", before "a0" and "a_".
    for name in ("a-", "a.b", "a.txt", "a0", "a_", "b"):
        _write(root / name, name.encode())
    _write(root / "a" / "inside", b"in a/\n")
    _write(root / "a" / "a", b"a/a\n")
    # ... and the other way round one level down: "a" a file, "a-", "a.b", "a0" directories.
    _write(root / "sub" / "a", b"file a\n")
    _write(root / "sub" / "a-" / "x", b"x\n")
    _write(root / "sub" / "a0" / "x", b"x0\n")
    (root / "sub" / "a.b" / "only" / "empty").mkdir(parents=True)  # left out by git
    (root / "empty").mkdir()
    (root / "only-empty" / "e1" / "e2").mkdir(parents=True)
    (root / "only-empty" / "e3").mkdir()
    # exec bits and sizes around the reader's boundaries
    _write(root / "run.sh", b"#!/bin/sh\necho hi\n", executable=True)
    _write(root / "empty-file", b"")
    _write(root / "empty-exec", b"", executable=True)
    _write(root / "odd-mode", b"group exec only")
    (root / "odd-mode").chmod(0o610)  # git looks at the owner's bit only
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    small = _treehash._SMALL
    for size in (small - 1, small, small + 1, MIB, MIB + 1):
        _write(root / "sizes" / f"s{size}", rng.randbytes(size))
    # large files: enough bytes that the thread pool hashes them
    _write(root / "big" / "one", rng.randbytes(3 * MIB))
    _write(root / "big" / "two", rng.randbytes(5 * MIB + 7))
    _write(root / "big" / "exec", rng.randbytes(2 * MIB), executable=True)
    # symlinks, never followed
    links = root / "links"
    links.mkdir()
    os.symlink("../a.txt", links / "relative")
    os.symlink("nowhere/at/all", links / "dangling")
    os.symlink("../a", links / "to-dir")
    os.symlink(".", links / "to-self")
    os.symlink("/etc/passwd", links / "absolute")
    os.symlink("é/日本", links / "non-ascii-target")
    os.symlink("../sub", root / "a.link")  # a link to a directory sorts as a file
    # names: non-ASCII, not UTF-8 at all, spaces and a newline
    _write(root / "é.txt", "é".encode())
    _write(root / "日本" / "語", "語".encode())
    _write(root / "Ä" / "z", b"z")
    _write(root / os.fsdecode(b"latin1-\xe9"), b"not utf-8")
    _write(root / "with space", b" ")
    _write(root / "new\nline", b"\n")


@pytest.fixture(scope="module")
def fixed_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fixed") / "tree"
    build_fixed_tree(root)
    return root


@pytest.fixture(scope="module", params=ALGORITHMS)
def fixed_expected(
    request: pytest.FixtureRequest, fixed_tree: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Algorithm, str]:
    algorithm: Algorithm = request.param
    scratch = tmp_path_factory.mktemp(f"git-{algorithm}") / "repo"
    return algorithm, git_write_tree(fixed_tree, scratch, algorithm)


@pytest.mark.parametrize("threads", [None, 1, 4])
def test_fixed_tree_equals_git(
    fixed_tree: Path, fixed_expected: tuple[Algorithm, str], threads: int | None
) -> None:
    algorithm, expected = fixed_expected
    assert len(expected) == (40 if algorithm == "sha1" else 64)
    assert tree_hash(fixed_tree, algorithm, threads=threads) == expected
    assert tree_hash(str(fixed_tree), algorithm, threads=threads) == expected


def test_fixed_tree_holds_what_it_claims(fixed_tree: Path) -> None:
    """Guard the fixture: the symlinks are symlinks and the big files are big."""
    assert (fixed_tree / "links" / "to-dir").is_symlink()
    assert not (fixed_tree / "links" / "dangling").exists()
    assert os.access(fixed_tree / "run.sh", os.X_OK)
    big = sum(p.stat().st_size for p in (fixed_tree / "big").iterdir())
    assert big >= _treehash._PARALLEL_MIN_BYTES


def test_a_change_changes_the_hash(tmp_path: Path) -> None:
    """Content, exec bit, name and a link's target all count; an empty directory does not."""
    root = tmp_path / "t"
    _write(root / "f", b"x")
    os.symlink("f", root / "l")
    seen = {tree_hash(root)}

    def relink() -> None:
        (root / "l").unlink()
        os.symlink("g2", root / "l")

    (root / "e" / "e").mkdir(parents=True)
    assert tree_hash(root) in seen
    for change in (
        lambda: (root / "f").write_bytes(b"y"),
        lambda: (root / "f").chmod(0o755),
        lambda: (root / "f").rename(root / "g"),
        relink,
    ):
        change()
        digest = tree_hash(root)
        assert digest not in seen
        seen.add(digest)


# -- blobs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_hashes_equal_git_hash_object(tmp_path: Path, algorithm: Algorithm) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", f"--object-format={algorithm}")
    rng = random.Random(3)  # noqa: S311 - test data, not secrets
    small = _treehash._SMALL
    for size in (0, 1, 4095, small, small + 1, 3 * MIB + 5):
        data = rng.randbytes(size)
        path = repo / f"f{size}"
        path.write_bytes(data)
        expected = git(repo, "hash-object", "--no-filters", path.name)
        assert blob_hash_of_file(str(path), algorithm).hex() == expected
        assert blob_hash_of_bytes(data, algorithm).hex() == expected


# -- the empty tree and errors -------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_empty_directory_is_gits_empty_tree(tmp_path: Path, algorithm: Algorithm) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    expected = git_write_tree(empty, tmp_path / "repo", algorithm)
    assert tree_hash(empty, algorithm) == expected
    if algorithm == "sha1":
        assert expected == EMPTY_TREE_SHA1
    (empty / "a" / "b").mkdir(parents=True)
    assert tree_hash(empty, algorithm) == expected  # only empty directories: still empty


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("threads", [None, 1])
def test_fifo_is_unsupported(tmp_path: Path, threads: int | None) -> None:
    root = tmp_path / "t"
    _write(root / "sub" / "f", b"x")
    fifo = root / "sub" / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UnsupportedFile) as info:
        tree_hash(root, threads=threads)  # must not block opening the FIFO either
    assert info.value.path == str(fifo)
    assert str(fifo) in str(info.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_blob_of_a_fifo_is_unsupported(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    errors: list[BaseException] = []

    def hash_it() -> None:
        try:
            blob_hash_of_file(str(fifo))
        except BaseException as e:  # noqa: BLE001 - handed to the test's thread
            errors.append(e)

    thread = threading.Thread(target=hash_it, daemon=True)
    thread.start()
    thread.join(timeout=10)
    if thread.is_alive():  # blocked opening the FIFO: a writer lets it go
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join()
        pytest.fail("opening a FIFO waited for a writer")
    assert len(errors) == 1
    assert isinstance(errors[0], UnsupportedFile)


def _stale_fstat(monkeypatch: pytest.MonkeyPatch, shrink: int) -> None:
    """Make ``os.fstat`` report sizes ``shrink`` bytes short, as if files grew since."""
    real = os.fstat

    def stale(fd: int) -> os.stat_result:
        fields = list(real(fd))
        fields[6] -= shrink  # st_size
        return os.stat_result(fields)

    monkeypatch.setattr(os, "fstat", stale)


def test_a_small_file_that_grew_is_hashed_as_it_is_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "t"
    data = bytes(range(256)) * 10
    _write(root / "f", data)
    expected = tree_hash(root)
    _stale_fstat(monkeypatch, 100)
    assert tree_hash(root, threads=1) == expected
    assert blob_hash_of_file(str(root / "f")) == blob_hash_of_bytes(data)


@pytest.mark.parametrize("shrink", [10, -10])
def test_a_large_file_that_changed_size_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shrink: int
) -> None:
    root = tmp_path / "t"
    _write(root / "f", b"x" * (_treehash._SMALL + 1000))
    _stale_fstat(monkeypatch, shrink)
    # the size went into the blob header before the content was read: no way to absorb it
    with pytest.raises(OSError, match="changed size"):
        tree_hash(root, threads=1)


def test_not_a_directory(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="file"):
        tree_hash(file)
    with pytest.raises(NotADirectoryError):
        tree_hash(tmp_path / "missing")


def test_tree_listing_cuts_paths_right_whatever_the_spelling(tmp_path: Path) -> None:
    """``a//b/`` and ``a/b`` give the same relative paths."""
    (tmp_path / "t" / "a" / "b").mkdir(parents=True)
    (tmp_path / "t" / "a" / "b" / "f").write_text("f")
    plain = tree_listing(tmp_path / "t")
    odd = tree_listing(str(tmp_path) + "//t//")
    assert plain == odd
    assert plain.dirs == [b"a", b"a/b"]


def test_bad_algorithm(tmp_path: Path) -> None:
    for call in (
        lambda: tree_hash(tmp_path, "md5"),  # type: ignore[arg-type] # a bad value on purpose
        lambda: blob_hash_of_bytes(b"", "SHA1"),  # type: ignore[arg-type] # on purpose
    ):
        with pytest.raises(ValueError, match="algorithm"):
            call()


# -- random trees --------------------------------------------------------------------------


@dataclass(frozen=True)
class File:
    content: bytes
    executable: bool


@dataclass(frozen=True)
class Link:
    target: str


Node: TypeAlias = "File | Link | dict[str, Node]"

# A small alphabet, so that names collide and sort against each other: "-" and "." sort
# before "/" (a directory's implied suffix), "0" and "_" after it, "é" is two high bytes.
NAMES = st.text(alphabet="a-.0_é", min_size=1, max_size=3).filter(lambda n: n not in {".", ".."})
FILES = st.builds(File, st.binary(max_size=200), st.booleans())
LINKS = st.builds(Link, st.sampled_from(["a", "../a", "a/b", ".", "..", "nowhere", "/abs", "é"]))
TREES: st.SearchStrategy[dict[str, Node]] = st.recursive(
    st.dictionaries(NAMES, FILES | LINKS, max_size=4),
    lambda children: st.dictionaries(NAMES, FILES | LINKS | children, max_size=4),
    max_leaves=24,
)


def materialize(path: Path, tree: dict[str, Node]) -> None:
    path.mkdir()
    for name, node in tree.items():
        if isinstance(node, File):
            _write(path / name, node.content, executable=node.executable)
        elif isinstance(node, Link):
            os.symlink(node.target, path / name)
        else:
            materialize(path / name, node)


@settings(max_examples=40, deadline=None)
@given(TREES)
def test_random_trees_equal_git(tree: dict[str, Node]) -> None:
    """Any tree of files, symlinks and directories: ``tree_hash`` is ``git write-tree``."""
    # not tmp_path: Hypothesis runs many examples in one call of the test function
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        materialize(root, tree)
        for algorithm in ALGORITHMS:
            expected = git_write_tree(root, Path(tmp) / f"repo-{algorithm}", algorithm)
            assert tree_hash(root, algorithm) == expected
            assert tree_hash(root, algorithm, threads=1) == expected


def test_entries_named_git_are_left_out_as_pkg_does(tmp_path: Path) -> None:
    """Ported from Pkg.jl ``test/new.jl``, "Test for directory with .git hashing" (commit
    e52498951d11): ``Foo`` and ``FooGit``, which also holds ``.git/foo``, hash alike, to
    the hash Pkg gives; a ``.git`` file deeper down is left out too, and git agrees."""
    for name in ("Foo", "FooGit"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "foo").write_text("foo")
    (tmp_path / "FooGit" / ".git").mkdir()
    (tmp_path / "FooGit" / ".git" / "foo").write_text("foo")
    expected = "2f42e2c1c1afd4ef8c66a2aaba5d5e1baddcab33"
    assert tree_hash(tmp_path / "Foo") == tree_hash(tmp_path / "FooGit") == expected
    deeper = tmp_path / "deeper"
    (deeper / "sub").mkdir(parents=True)
    (deeper / "sub" / "a.txt").write_text("a")
    (deeper / "sub" / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git file
    (deeper / ".gitignore").write_text("x\n")  # only the exact name is left out
    without = tmp_path / "without"
    shutil.copytree(deeper, without)
    (without / "sub" / ".git").unlink()
    assert tree_hash(deeper) == git_write_tree(without, tmp_path / "git", "sha1")
