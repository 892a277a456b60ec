"""The content cache where things go wrong: races, crashes, damage, odd inputs.

Each test here pins down a case a review found and fails on the code before its fix,
except the one showing that a crashed creator's temporaries still go.
"""

from __future__ import annotations

import errno
import hashlib
import os
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import scratchspaces
from _venvs import DROP_OVERRIDE, run_bound_by_permissions
from scratchspaces import _records, cache
from scratchspaces._treehash import tree_listing
from scratchspaces.cache import _bindings, _create, _recycle, _store
from scratchspaces.errors import DownloadError, ScratchspacesWarning, UnsupportedFile

WEEK = timedelta(days=7)
ZERO = timedelta(0)


def _dataset(working_dir: Path) -> None:
    (working_dir / "a.csv").write_text("1,2\n")
    (working_dir / "b.csv").write_text("3,4\n")


def test_creating_an_old_orphan_again_gives_it_a_new_grace_period(tmp_path: Path) -> None:
    """Create, orphaned for 8 days, create again, then bind: a recycle between keeps it."""
    store = _store.current_store()
    start = datetime.now(timezone.utc)
    h = cache.create_my_artifact(_dataset)
    _recycle.recycle(store, collect_delay=WEEK, now=start)  # an orphan from now on
    assert cache.create_my_artifact(_dataset) == h  # exists: a new grace period
    _recycle.recycle(store, collect_delay=WEEK, now=start + timedelta(days=8))
    assert cache.my_artifact_exists(h)
    cache.bind_my_artifact(tmp_path / "Artifacts.toml", "data", h)


def test_a_record_is_written_before_its_binding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the record cannot be written (a full disk), the binding file is not either."""
    toml = tmp_path / "Artifacts.toml"
    h = cache.create_my_artifact(_dataset)

    def full(path: str, record: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_records, "append", full)
    with pytest.raises(OSError, match="No space"):
        cache.bind_my_artifact(toml, "data", h)
    assert cache.my_artifact_hash("data", toml) is None


def test_a_damaged_record_still_says_which_file_to_read(tmp_path: Path) -> None:
    """A binding file outside the usual place, named only by a damaged record, keeps its entry."""
    toml = tmp_path / "project" / "Artifacts.toml"
    toml.parent.mkdir()
    h = cache.create_my_artifact(_dataset)
    cache.bind_my_artifact(toml, "data", h)
    usage = Path(_bindings.usage_path(_store.current_store()))
    usage.write_text(usage.read_text().replace("time = ", "time = not a time "))
    start = datetime.now(timezone.utc)
    with pytest.warns(ScratchspacesWarning, match="unreadable record"):
        _recycle.recycle(_store.current_store(), collect_delay=WEEK, now=start)
    _recycle.recycle(_store.current_store(), collect_delay=WEEK, now=start + timedelta(days=8))
    assert cache.my_artifact_exists(h)
    records = _bindings.read_usage(_store.current_store()).records
    assert _bindings.Use(str(toml), "data") in records[h]  # written back whole


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


def test_later_depots_are_searched_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry a site depot holds is found, bound and reused; the user depot stays empty."""
    user, site = tmp_path / "user", tmp_path / "site"
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", str(site))
    h = cache.create_my_artifact(_dataset)
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", os.pathsep.join([str(user), str(site)]))
    _store.forget()
    assert cache.my_artifact_exists(h)
    assert site in cache.my_artifact_path(h).parents
    assert cache.create_my_artifact(_dataset) == h  # found whole in the site depot
    toml = tmp_path / "Artifacts.toml"
    cache.bind_my_artifact(toml, "data", h)
    assert (cache.my_artifact_path(h) / "a.csv").read_text() == "1,2\n"
    cache.unbind_my_artifact(toml, "data")
    cache.find_orphanages(collect_delay=ZERO)
    assert cache.my_artifact_exists(h)  # a read-only depot is never collected
    assert not Path(_store.entry_path(_store.store_of_depot(str(user)), h)).exists()


def test_a_held_lock_file_is_not_swept(tmp_path: Path) -> None:
    """Recycling removes an old lock file only when nobody holds it."""
    from filelock import FileLock

    cache.create_my_artifact(_dataset)  # makes the store
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
    cache.create_my_artifact(_dataset)
    store = _store.current_store()
    born = int((datetime.now(timezone.utc) - timedelta(days=2)).timestamp())
    stale = Path(store, f".tmp-create-{born}-abcd")
    (stale / "work").mkdir(parents=True)
    (stale / "work" / "half.bin").write_bytes(b"half")
    cache.find_orphanages()
    assert not stale.exists()


def test_a_symlink_chain_out_of_the_directory_is_refused() -> None:
    """Links that each look inside but lead out together are refused."""

    def chain(work: Path) -> None:
        (work / "y").mkdir()
        (work / "y" / "z").symlink_to("..")
        (work / "x").symlink_to("y/z/..")

    with pytest.raises(UnsupportedFile, match="out of the directory"):
        cache.create_my_artifact(chain)


def test_gc_survives_a_blocked_store(depot: Path) -> None:
    """A file where the store should be costs gc a warning, not the spaces' report."""
    scratchspaces.get_scratch("k", "some-package")
    store = Path(_store.store_of_depot(str(depot)))
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("in the way")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = scratchspaces.gc(collect_delay=ZERO)
    assert any("content cache" in str(w.message) for w in caught)
    assert report.kept == [depot / "scratchspaces" / "some-package" / "k"]


def test_tree_listing_cuts_paths_right_whatever_the_spelling(tmp_path: Path) -> None:
    """``a//b/`` and ``a/b`` give the same relative paths."""
    (tmp_path / "t" / "a" / "b").mkdir(parents=True)
    (tmp_path / "t" / "a" / "b" / "f").write_text("f")
    plain = tree_listing(tmp_path / "t")
    odd = tree_listing(str(tmp_path) + "//t//")
    assert plain == odd
    assert plain.dirs == [b"a", b"a/b"]


def test_a_failing_downloader_is_a_download_error(tmp_path: Path) -> None:
    """Whatever a custom downloader raises reaches the caller as a DownloadError."""

    def broken(url: str, dest: Path) -> None:
        dest.write_bytes(b"partial")
        raise ConnectionResetError("peer went away")

    with pytest.raises(DownloadError, match="peer went away"):
        cache.download_my_artifact(
            "https://example.invalid/x", "x", tmp_path / "A.toml", downloader=broken
        )
    assert not (tmp_path / "A.toml").exists()


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
    blob = hashlib.sha256(b"blob %d\0" % len(original) + original).hexdigest()
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
