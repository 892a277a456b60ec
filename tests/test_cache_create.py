"""Creating cache entries (``scratchspaces.cache._create``): what ``fn`` makes, safely stored.

Read-only folders, hard links from outside, links out of the tree (alone or in chains)
and a working directory swapped for a link: each case a review found, each test failing
on the code before its fix.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from _fills import dataset
from _git import blob_sha256
from _venvs import DROP_OVERRIDE, run_bound_by_permissions
from scratchspaces import cache
from scratchspaces.cache import _create, _recycle, _store
from scratchspaces.errors import UnsupportedFile

WEEK = timedelta(days=7)


def test_creating_an_old_orphan_again_gives_it_a_new_grace_period(tmp_path: Path) -> None:
    """Create, orphaned for 8 days, create again, then bind: a recycle between keeps it."""
    store = _store.current_store()
    start = datetime.now(timezone.utc)
    h = cache.create_my_artifact(dataset)
    _recycle.recycle(store, collect_delay=WEEK, now=start)  # an orphan from now on
    assert cache.create_my_artifact(dataset) == h  # exists: a new grace period
    _recycle.recycle(store, collect_delay=WEEK, now=start + timedelta(days=8))
    assert cache.my_artifact_exists(h)
    cache.bind_my_artifact(tmp_path / "Artifacts.toml", "data", h)


CODE_READ_ONLY_SOURCE = """
import os, shutil
from pathlib import Path
from scratchspaces import cache

src = Path("src")
(src / "sub").mkdir(parents=True)
(src / "sub" / "x.txt").write_text("x")
(src / "top.txt").write_text("top")
os.chmod(src / "sub", 0o555)

def copy(d: Path) -> str:
    shutil.copytree(src, d / "copy")  # keeps the 0555 folder
    return "copy"

h = cache.create_my_artifact(copy)
print((cache.my_artifact_path(h) / "sub" / "x.txt").read_text())
"""


@pytest.mark.skipif(DROP_OVERRIDE is None, reason="root without setpriv: permissions never bind")
def test_a_copy_of_read_only_folders_can_be_stored(tmp_path: Path) -> None:
    """Files are moved out of what fn made even when fn made read-only folders."""
    result = run_bound_by_permissions(CODE_READ_ONLY_SOURCE, tmp_path)
    os.chmod(tmp_path / "src" / "sub", 0o700)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "x\n"


# --- hard links --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_a_hard_link_from_outside_is_copied_before_it_is_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A file fn hard-links in from outside is stored as a copy made before the hash.

    A writer through the outside name right after the hash (made to happen here) neither
    reaches the entry nor makes its bytes differ from its name, and the outside file
    stays the writer's: its own inode, still writable.
    """
    outside = tmp_path / "shared.bin"
    original = b"the bytes that were hashed\n"
    outside.write_bytes(original)

    def write_outside() -> None:
        with outside.open("ab") as f:
            f.write(b"written through the other link after the hash\n")

    def fn(work: Path) -> str:
        if kind == "file":
            os.link(outside, work / "x.bin")
            return "x.bin"
        (work / "d").mkdir()
        os.link(outside, work / "d" / "x.bin")
        return "d"

    if kind == "file":
        import scratchspaces._treehash as treehash

        real_blob = treehash.blob_hash_of_file

        def blob_then_write(path: str, algorithm: str) -> bytes:
            digest = real_blob(path, algorithm)  # type: ignore[arg-type] # passed through as received
            write_outside()
            return digest

        monkeypatch.setattr(treehash, "blob_hash_of_file", blob_then_write)
    else:
        real_hash = _create.hash_directory

        def hash_then_write(path: str, during: object = None) -> object:
            listing = real_hash(path, during)  # type: ignore[arg-type] # passed through as received
            write_outside()
            return listing

        monkeypatch.setattr(_create, "hash_directory", hash_then_write)

    h = cache.create_my_artifact(fn)
    stored = cache.my_artifact_path(h)
    if kind == "directory":
        stored = stored / "x.bin"
    assert stored.read_bytes() == original
    blob = blob_sha256(original)
    assert stored.resolve().name == blob
    assert os.stat(stored).st_ino != os.stat(outside).st_ino
    assert outside.read_bytes().startswith(original)
    assert outside.stat().st_mode & 0o200  # not made read-only


def test_copying_a_hard_linked_file_never_takes_a_name_of_fn(tmp_path: Path) -> None:
    """The private copy of a hard-linked ``x`` is made under a fresh name, not ``x.copy``."""
    outside = tmp_path / "shared.bin"
    outside.write_bytes(b"shared\n")

    def fn(work: Path) -> None:
        os.link(outside, work / "x")
        (work / "x.copy").write_bytes(b"fn's own file\n")

    entry = cache.my_artifact_path(cache.create_my_artifact(fn))
    assert sorted(p.name for p in entry.iterdir()) == ["x", "x.copy"]
    assert (entry / "x").read_bytes() == b"shared\n"
    assert (entry / "x.copy").read_bytes() == b"fn's own file\n"


# --- links out of the tree ---------------------------------------------------------------


def test_a_symlink_chain_out_of_the_directory_is_refused() -> None:
    """Links that each look inside but lead out together are refused."""

    def chain(work: Path) -> None:
        (work / "y").mkdir()
        (work / "y" / "z").symlink_to("..")
        (work / "x").symlink_to("y/z/..")

    with pytest.raises(UnsupportedFile, match="out of the directory"):
        cache.create_my_artifact(chain)


def test_a_working_directory_replaced_by_a_link_moves_nothing_of_yours(tmp_path: Path) -> None:
    """fn swapping its working directory for a link to your folder is refused, files kept."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("my data")

    def swap(work: Path) -> str | None:
        work.rmdir()
        work.symlink_to(mine)
        return None

    def swap_and_pick(work: Path) -> str:
        swap(work)
        return "precious.txt"

    for fn in (swap, swap_and_pick):
        with pytest.raises(ValueError, match="replaced its working directory"):
            cache.create_my_artifact(fn)
        assert (mine / "precious.txt").read_text() == "my data"
        assert os.access(mine / "precious.txt", os.W_OK)


@pytest.mark.parametrize(
    ("link", "target"),
    [("l", "../work/a"), ("data/l", "../../work/data/a"), ("data/sub/l", "../../../work/a")],
)
def test_a_link_climbing_out_through_the_top_folder_is_refused(link: str, target: str) -> None:
    """``../work/a`` resolves inside fn's folder, but the top is renamed in the store."""

    def fn(work: Path) -> None:
        (work / "data" / "sub").mkdir(parents=True)
        (work / "a").write_text("A")
        (work / "data" / "a").write_text("A")
        (work / link).symlink_to(target)

    with pytest.raises(UnsupportedFile, match="a symlink out of the directory"):
        cache.create_my_artifact(fn)


def test_links_that_stay_inside_are_kept_and_resolve_in_the_store() -> None:
    """Climbing up and down again inside the tree is fine, at any depth."""

    def fn(work: Path) -> None:
        (work / "data" / "sub").mkdir(parents=True)
        (work / "a").write_text("A")
        (work / "data" / "up").symlink_to("../a")
        (work / "data" / "sub" / "round").symlink_to("../../data/./sub/../up")

    entry = cache.my_artifact_path(cache.create_my_artifact(fn))
    assert (entry / "data" / "up").read_text() == "A"
    assert (entry / "data" / "sub" / "round").read_text() == "A"
