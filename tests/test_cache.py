"""The content cache's API (``scratchspaces.cache``): ids, bindings, downloads.

Entries are named by git's sha256 hashes (checked against git itself), files stored
once however many directories hold them, bindings forced or refused, and whatever fails
in a create or a download leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from _depots import cache_entries, cache_store, read_tree, snapshot, temporaries
from _fills import file_writer, writer
from _git import HAVE_GIT, Git, blob_sha256
from _http import Server, dead_url
from scratchspaces import cache
from scratchspaces.errors import (
    ArtifactNotFound,
    BindingExists,
    DownloadError,
    InvalidArtifactsToml,
    UnsupportedFile,
)

if TYPE_CHECKING:
    from collections.abc import Callable


IRIS = {
    "iris.csv": b"5.1,3.5,1.4,0.2,Iris-setosa\n4.9,3.0,1.4,0.2,Iris-setosa\n",
    "bezdekIris.csv": b"5.1,3.5,1.4,0.2,Iris-setosa\n4.9,3.1,1.5,0.2,Iris-setosa\n4.7\n",
    "iris.names": b"1. Title: Iris Plants Database\n\n2. Sources: R.A. Fisher, 1936\n",
}


# --- helpers -----------------------------------------------------------------------------


def _assert_nothing_stored(depot: Path) -> None:
    assert cache_entries(depot) == {}
    assert temporaries(cache_store(depot)) == []


@pytest.fixture
def git(tmp_path: Path) -> Git:
    if not HAVE_GIT:
        pytest.skip("git is not installed")
    return Git(tmp_path / "git")


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    for name, data in IRIS.items():
        (root / name).write_bytes(data)
    return root


# --- the walk-through --------------------------------------------------------------------


def test_iris_walk_through_from_download_to_recycling(depot: Path, www: Path, git: Git) -> None:
    """The README's flow: a directory entry and a file entry share a file; recycling frees
    what only the unbound directory held, keeps the still-bound file, and frees it too once
    unbound and past its grace period."""
    toml = cache.my_artifacts_toml()
    assert toml.name == "Artifacts.toml"
    assert toml.parent.parent == depot / "scratchspaces" / "scratchspaces"
    assert not toml.exists()  # created by the first binding

    with Server(www) as server:

        def fetch(work: Path) -> Path:
            for name in IRIS:
                with urllib.request.urlopen(f"{server.url}/{name}") as r:  # noqa: S310 - our own server on 127.0.0.1
                    (work / name).write_bytes(r.read())
            return work

        iris = cache.create_my_artifact(fetch)
        cache.bind_my_artifact(toml, "iris", iris)
        assert cache.my_artifact_hash("iris", toml) == iris
        entry = cache.my_artifact_path(iris)
        assert entry == cache_store(depot) / "artifacts" / iris[:2] / iris
        assert sorted(os.listdir(entry)) == sorted(IRIS)
        for name, data in IRIS.items():
            assert (entry / name).is_symlink()
            assert (entry / name).read_bytes() == data

        names = cache.download_my_artifact(f"{server.url}/iris.names", "iris.names", toml)
    assert names == git.hash_object(IRIS["iris.names"])
    assert os.path.realpath(entry / "iris.names") == str(cache.my_artifact_path(names))
    assert cache.my_artifact_path(names).read_bytes() == IRIS["iris.names"]

    csvs = {
        cache.my_artifact_path(blob_sha256(IRIS[n])): len(IRIS[n])
        for n in ("iris.csv", "bezdekIris.csv")
    }
    cache.unbind_my_artifact(toml, "iris")
    assert cache.my_artifact_hash("iris", toml) is None
    report = cache.find_orphanages(collect_delay=timedelta(0))
    assert set(report.deleted) == {entry, *csvs}
    for path, size in csvs.items():
        assert report.deleted[path] == size
    assert not entry.exists()
    assert not any(p.exists() for p in csvs)
    assert cache.my_artifact_exists(names)
    assert cache.my_artifact_path(names) in report.kept

    cache.unbind_my_artifact(toml, "iris.names")
    report = cache.find_orphanages()
    assert report.deleted == {}
    assert report.orphaned == [cache.my_artifact_path(names)]
    assert cache.my_artifact_exists(names)
    report = cache.find_orphanages(collect_delay=timedelta(0))
    assert report.deleted == {cache.my_artifact_path(names): len(IRIS["iris.names"])}
    assert report.freed_bytes == len(IRIS["iris.names"])
    assert not cache.my_artifact_exists(names)
    assert cache_entries(depot) == {}


def test_binding_files_live_in_a_space_per_package(tmp_path: Path, depot: Path) -> None:
    """``pkg`` names the binding file's namespace; a script outside any project gets
    ``_global``."""
    bindings = depot / "scratchspaces" / "scratchspaces"
    assert cache.my_artifacts_toml("pytest") == bindings / "pytest" / "Artifacts.toml"
    script = tmp_path / "script"
    script.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", "from scratchspaces import cache; print(cache.my_artifacts_toml())"],
        cwd=script,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(bindings / "_global" / "Artifacts.toml")


# --- ids and the store's layout ----------------------------------------------------------


def test_entry_ids_are_gits_sha256_hashes(tmp_path: Path, depot: Path, git: Git) -> None:
    """A directory's id is ``git write-tree``'s and a file's ``git hash-object``'s, in a
    sha256 repository; executables get their own ``.x`` entry, inner links are kept, file
    entries are read-only."""
    src = tmp_path / "src"
    files = {
        "top.txt": b"top\n",
        "a/b/c/deep.txt": b"deep down\n",
        "données/été.csv": "é,ü\n1,2\n".encode(),
        "日本語.txt": "こんにちは\n".encode(),
        "bin/tool": b"#!/bin/sh\necho tool\n",
        "bin/tool-copy": b"#!/bin/sh\necho tool\n",  # same content, not executable
    }
    writer(files)(src)
    (src / "bin" / "tool").chmod(0o755)
    (src / "latest").symlink_to("a/b/c/deep.txt")
    (src / "a" / "b" / "up").symlink_to("../../top.txt")
    (src / "empty").mkdir()

    id_ = cache.create_my_artifact(
        lambda w: shutil.copytree(src, w / "d", symlinks=True, copy_function=shutil.copy2)
    )
    assert id_ == git.write_tree(src)
    entry = cache.my_artifact_path(id_)
    assert os.readlink(entry / "latest") == "a/b/c/deep.txt"
    assert os.readlink(entry / "a" / "b" / "up") == "../../top.txt"
    assert (entry / "empty").is_dir()
    assert read_tree(entry) == {
        **files,
        "latest": files["a/b/c/deep.txt"],
        "a/b/up": files["top.txt"],
    }

    for rel, data in files.items():
        link = entry / rel
        depth = rel.count("/")
        target = os.readlink(link)
        expected = git.hash_object(data) + (".x" if rel == "bin/tool" else "")
        assert target == "../" * (depth + 2) + f"{expected[:2]}/{expected}"
        blob = Path(os.path.realpath(link))
        assert blob == cache.my_artifact_path(expected)
        mode = blob.stat().st_mode
        assert mode & 0o222 == 0, f"{rel} is writable"
        assert bool(mode & stat.S_IXUSR) == (rel == "bin/tool")
    tool = blob_sha256(files["bin/tool"])
    assert cache.my_artifact_exists(tool)
    assert cache.my_artifact_exists(tool + ".x")

    # a single file is a file entry, returned as an absolute or a relative path
    assert cache.create_my_artifact(file_writer(b"one file\n")) == git.hash_object(b"one file\n")

    def relative(work: Path) -> str:
        (work / "run").write_bytes(b"run\n")
        (work / "run").chmod(0o700)
        return "run"

    assert cache.create_my_artifact(relative) == git.hash_object(b"run\n") + ".x"


def test_shared_files_are_stored_once_and_a_moved_depot_still_resolves(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two directories holding one 1 MiB file store it once; after the whole depot is moved
    elsewhere their relative links still resolve and their bindings still hold them."""
    big = os.urandom(1 << 20)
    one = {"big.bin": big, "a.txt": b"only in one\n"}
    two = {"nested/deeper/big.bin": big, "b.txt": b"only in two\n"}
    first = cache.create_my_artifact(writer(one))
    second = cache.create_my_artifact(writer(two))
    toml = cache.my_artifacts_toml()
    cache.bind_my_artifact(toml, "one", first)
    cache.bind_my_artifact(toml, "two", second)

    found = cache_entries(depot)
    assert set(found) == {
        first,
        second,
        blob_sha256(big),
        blob_sha256(one["a.txt"]),
        blob_sha256(two["b.txt"]),
    }
    files = [p for p in found.values() if not p.is_dir()]
    assert sum(p.stat().st_size for p in files) == len(big) + len(one["a.txt"]) + len(two["b.txt"])
    a = os.stat(cache.my_artifact_path(first) / "big.bin")
    b = os.stat(cache.my_artifact_path(second) / "nested" / "deeper" / "big.bin")
    assert (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

    moved = tmp_path / "elsewhere" / "depot"
    moved.parent.mkdir()
    os.rename(depot, moved)
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", str(moved))
    assert cache.my_artifact_path(first) == cache_store(moved) / "artifacts" / first[:2] / first
    assert read_tree(cache.my_artifact_path(first)) == one
    assert read_tree(cache.my_artifact_path(second)) == two
    for entry in (first, second):
        for p in cache.my_artifact_path(entry).rglob("*"):
            if p.is_symlink():
                assert not os.path.isabs(os.readlink(p))
                assert os.path.realpath(p).startswith(str(moved))
    # the binding file moved with the depot: its bindings still hold every entry
    assert cache.find_orphanages(collect_delay=timedelta(0)).deleted == {}
    assert set(cache_entries(moved)) == set(found)


# --- binding -----------------------------------------------------------------------------


def test_a_forced_rebind_orphans_the_old_entry(tmp_path: Path, depot: Path) -> None:
    """Rebinding a name needs ``force``; then the old entry (and the file only it held) is
    freed, the new one and the shared file kept."""
    old = {"x.txt": b"only in the old\n", "shared.txt": b"shared\n"}
    new = {"x.txt": b"only in the new\n", "shared.txt": b"shared\n"}
    a = cache.create_my_artifact(writer(old))
    b = cache.create_my_artifact(writer(new))
    toml = tmp_path / "Artifacts.toml"
    cache.bind_my_artifact(toml, "data", a)
    text = toml.read_text()
    assert text == f'[data]\nsha256 = "{a}"\n'

    with pytest.raises(BindingExists):
        cache.bind_my_artifact(toml, "data", b)
    assert toml.read_text() == text
    cache.bind_my_artifact(toml, "data", b, force=True)
    assert cache.my_artifact_hash("data", toml) == b

    report = cache.find_orphanages(collect_delay=timedelta(0))
    path = cache.my_artifact_path
    assert set(report.deleted) == {path(a), path(blob_sha256(old["x.txt"]))}
    assert set(report.kept) == {
        path(b),
        path(blob_sha256(new["x.txt"])),
        path(blob_sha256(b"shared\n")),
    }
    assert set(cache_entries(depot)) == {b, blob_sha256(new["x.txt"]), blob_sha256(b"shared\n")}
    assert read_tree(path(b)) == new


def test_creating_content_that_exists_changes_nothing(depot: Path) -> None:
    """A second create of the same content returns the same id and leaves every entry's
    inode, mode and mtime as they were, with no new entry and no temporary left."""
    files = {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n"}
    d = cache.create_my_artifact(writer(files))
    f = cache.create_my_artifact(file_writer(b"alpha\n"))
    assert f == blob_sha256(b"alpha\n")
    before = snapshot(cache_store(depot) / "artifacts")
    time.sleep(0.01)
    assert cache.create_my_artifact(writer(files)) == d
    assert cache.create_my_artifact(file_writer(b"alpha\n", "other-name")) == f
    assert snapshot(cache_store(depot) / "artifacts") == before
    assert temporaries(cache_store(depot)) == []

    # a file entry gone missing under a directory entry is put back by the next create
    beta = cache.my_artifact_path(blob_sha256(b"beta\n"))
    beta.unlink()
    alpha = cache.my_artifact_path(f).lstat()
    assert cache.create_my_artifact(writer(files)) == d
    assert beta.read_bytes() == b"beta\n"
    assert cache.my_artifact_path(f).lstat().st_ino == alpha.st_ino  # the whole one untouched
    assert read_tree(cache.my_artifact_path(d)) == files


# --- errors ------------------------------------------------------------------------------


def _raise(work: Path) -> None:
    (work / "half.txt").write_bytes(b"half")
    raise RuntimeError("boom")


def _link_out(work: Path) -> None:
    (work / "ok.txt").write_bytes(b"ok")
    (work / "out").symlink_to("/etc/hostname")


def _link_up(work: Path) -> None:
    (work / "sub").mkdir()
    (work / "sub" / "out").symlink_to("../../elsewhere.txt")


def _result_link(work: Path) -> str:
    (work / "link").symlink_to(work.parent)
    return "link"


@pytest.mark.parametrize(
    ("fn", "error"),
    [
        pytest.param(lambda w: w.parent, ValueError, id="parent-absolute"),
        pytest.param(lambda w: "..", ValueError, id="parent-relative"),
        pytest.param(lambda w: "/etc/hostname", ValueError, id="elsewhere"),
        pytest.param(_result_link, ValueError, id="link-to-outside"),
        pytest.param(lambda w: "missing.txt", FileNotFoundError, id="missing"),
        pytest.param(lambda w: 42, TypeError, id="not-a-path"),
        pytest.param(_raise, RuntimeError, id="fn-raises"),
        pytest.param(_link_out, UnsupportedFile, id="absolute-link-out"),
        pytest.param(_link_up, UnsupportedFile, id="relative-link-out"),
    ],
)
def test_a_failed_create_raises_and_leaves_nothing(
    depot: Path, fn: Callable[[Path], object], error: type[Exception]
) -> None:
    """Whatever goes wrong in or after ``fn``, the error reaches the caller and the store
    holds no entry and no temporary directory."""
    with pytest.raises(error):
        cache.create_my_artifact(fn)  # type: ignore[arg-type] # bad returns on purpose
    _assert_nothing_stored(depot)


def test_binding_refuses_unknown_entries_and_malformed_files(tmp_path: Path, depot: Path) -> None:
    """Binding an id not in the store is ArtifactNotFound; a malformed binding file raises
    InvalidArtifactsToml and is never overwritten."""
    toml = tmp_path / "Artifacts.toml"
    with pytest.raises(ArtifactNotFound) as info:
        cache.bind_my_artifact(toml, "n", "ab" * 32)
    assert isinstance(info.value, LookupError)
    assert not toml.exists()

    id_ = cache.create_my_artifact(file_writer(b"data\n"))
    assert cache.my_artifact_hash("n", toml) is None
    for text in ("[broken\n", '[n]\nsha256 = "not a hash"\n', "n = 3\n"):
        toml.write_text(text)
        with pytest.raises(InvalidArtifactsToml):
            cache.bind_my_artifact(toml, "n", id_, force=True)
        with pytest.raises(InvalidArtifactsToml):
            cache.download_my_artifact("file:///nowhere", "n", toml, downloader=_no_download)
        if text == "[broken\n":
            with pytest.raises(InvalidArtifactsToml):
                cache.bind_my_artifact(toml, "other", id_)
        else:
            with pytest.raises(InvalidArtifactsToml):
                cache.my_artifact_hash("n", toml)
        assert toml.read_text() == text


def _no_download(url: str, dest: Path) -> None:
    raise AssertionError(f"downloaded {url}")


# --- downloads ---------------------------------------------------------------------------


def test_failed_downloads_raise_download_error_and_leave_nothing(
    tmp_path: Path, depot: Path, www: Path
) -> None:
    """A 404, a refused connection and a downloader writing nothing are DownloadErrors, with
    no entry, no temporary and no binding left."""
    toml = tmp_path / "Artifacts.toml"
    with Server(www) as server:
        with pytest.raises(DownloadError):
            cache.download_my_artifact(f"{server.url}/missing.csv", "m", toml)
        assert server.requests == ["/missing.csv"]
    with pytest.raises(DownloadError):
        cache.download_my_artifact(dead_url(), "m", toml)
    with pytest.raises(DownloadError):
        cache.download_my_artifact("https://example.org/x", "m", toml, downloader=lambda u, d: None)
    _assert_nothing_stored(depot)
    assert not toml.exists()


def test_downloads_use_the_given_downloader_and_skip_what_is_bound(
    tmp_path: Path, depot: Path, www: Path
) -> None:
    """A custom downloader replaces the built-in one; a name bound to an existing entry is
    not downloaded again unless ``force_bind``; one whose entry is gone is."""
    toml = tmp_path / "Artifacts.toml"
    calls: list[tuple[str, Path]] = []

    def downloader(url: str, dest: Path) -> None:
        calls.append((url, dest))
        dest.write_bytes(b"from the downloader\n")

    with Server(www) as server:
        url = f"{server.url}/iris.csv"
        got = cache.download_my_artifact(url, "custom", toml, downloader=downloader)
        assert got == blob_sha256(b"from the downloader\n")
        assert [u for u, _ in calls] == [url]
        assert server.requests == []

        id_ = cache.download_my_artifact(url, "iris", toml)
        assert id_ == blob_sha256(IRIS["iris.csv"])
        assert cache.download_my_artifact(url, "iris", toml) == id_
        assert server.requests == ["/iris.csv"]

        (www / "iris.csv").write_bytes(b"a new version\n")
        assert cache.download_my_artifact(url, "iris", toml) == id_  # still bound: no fetch
        assert server.requests == ["/iris.csv"]
        newer = cache.download_my_artifact(url, "iris", toml, force_bind=True)
        assert newer == blob_sha256(b"a new version\n")
        assert cache.my_artifact_hash("iris", toml) == newer
        assert server.requests == ["/iris.csv"] * 2

        cache.my_artifact_path(newer).unlink()  # gone from under its binding
        assert cache.download_my_artifact(url, "iris", toml) == newer
        assert cache.my_artifact_exists(newer)
        assert server.requests == ["/iris.csv"] * 3
    assert temporaries(cache_store(depot)) == []


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
