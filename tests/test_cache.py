"""The content cache (SPEC 6): entries named by git's sha256 hashes, bindings, recycling."""

from __future__ import annotations

import hashlib
import json
import os
import runpy
import shutil
import stat
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import scratchspaces
from _http import Server, dead_url
from _processes import stderr_on_a_terminal
from scratchspaces import cache, cli
from scratchspaces.cache import _store as store_module
from scratchspaces.errors import (
    ArtifactNotFound,
    BindingExists,
    DownloadError,
    InvalidArtifactsToml,
    InvalidHash,
    UnsupportedFile,
)

if TYPE_CHECKING:
    from collections.abc import Callable

IRIS = {
    "iris.csv": b"5.1,3.5,1.4,0.2,Iris-setosa\n4.9,3.0,1.4,0.2,Iris-setosa\n",
    "bezdekIris.csv": b"5.1,3.5,1.4,0.2,Iris-setosa\n4.9,3.1,1.5,0.2,Iris-setosa\n4.7\n",
    "iris.names": b"1. Title: Iris Plants Database\n\n2. Sources: R.A. Fisher, 1936\n",
}


# --- helpers -------------------------------------------------------------------------------


def _store(depot: Path) -> Path:
    return depot / "scratchspaces" / "scratchspaces" / "_cache"


def _on_disk(depot: Path) -> dict[str, Path]:
    """Return id -> path of every entry in the depot's store."""
    root = _store(depot) / "artifacts"
    if not root.exists():
        return {}
    return {p.name: p for folder in root.iterdir() for p in folder.iterdir()}


def _leftovers(depot: Path) -> list[str]:
    store = _store(depot)
    return [n for n in os.listdir(store) if n.startswith(".tmp-")] if store.exists() else []


def _assert_nothing_stored(depot: Path) -> None:
    assert _on_disk(depot) == {}
    assert _leftovers(depot) == []


def _blob(data: bytes) -> str:
    """Return git's sha256 blob hash of ``data`` (checked against git in a test below)."""
    return hashlib.sha256(b"blob %d\0" % len(data) + data).hexdigest()


def _writer(files: dict[str, bytes]) -> Callable[[Path], None]:
    """Return an ``fn`` for create_my_artifact writing ``files`` (relative paths) into it."""

    def fn(work: Path) -> None:
        for rel, data in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_bytes(data)

    return fn


def _file_fn(data: bytes, name: str = "f.bin") -> Callable[[Path], Path]:
    def fn(work: Path) -> Path:
        (work / name).write_bytes(data)
        return work / name

    return fn


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    return {
        str(p): (p.lstat().st_ino, p.lstat().st_mtime_ns, p.lstat().st_mode)
        for p in sorted(root.rglob("*"))
    }


def _read_tree(entry: Path) -> dict[str, bytes]:
    """Return relative path -> content of every file reached through a directory entry."""
    found: dict[str, bytes] = {}
    for p in sorted(entry.rglob("*")):
        if p.is_symlink() or p.is_file():
            found[p.relative_to(entry).as_posix()] = p.read_bytes()
    return found


def _write_orphanage(depot: Path, since: dict[str, datetime]) -> None:
    text = "".join(f'"{i}" = {t.strftime("%Y-%m-%dT%H:%M:%SZ")}\n' for i, t in since.items())
    (_store(depot) / "orphaned.toml").write_text(text)


def _days_ago(days: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)


class Git:
    """A sha256 git repository, to compare ids with what git itself computes."""

    def __init__(self, where: Path) -> None:
        self.dir = where / "repo.git"
        subprocess.run(
            ["git", "init", "-q", "--bare", "--object-format=sha256", str(self.dir)], check=True
        )

    def _run(self, *args: str, stdin: bytes | None = None, tree: Path | None = None) -> str:
        env = {**os.environ, "GIT_DIR": str(self.dir), "GIT_CONFIG_NOSYSTEM": "1"}
        if tree is not None:  # a fresh index per tree
            env["GIT_WORK_TREE"] = str(tree)
            env["GIT_INDEX_FILE"] = str(self.dir / f"index-{tree.name}")
        out = subprocess.run(
            ["git", "-c", "core.fileMode=true", "-c", "core.symlinks=true", *args],
            input=stdin,
            capture_output=True,
            check=True,
            env=env,
            cwd=tree or self.dir,
        )
        return out.stdout.decode().strip()

    def hash_object(self, data: bytes) -> str:
        return self._run("hash-object", "--stdin", stdin=data)

    def write_tree(self, tree: Path) -> str:
        self._run("add", "-A", tree=tree)
        return self._run("write-tree", tree=tree)


@pytest.fixture
def git(tmp_path: Path) -> Git:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return Git(tmp_path)


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    for name, data in IRIS.items():
        (root / name).write_bytes(data)
    return root


# --- the walk-through ----------------------------------------------------------------------


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
        assert entry == _store(depot) / "artifacts" / iris[:2] / iris
        assert sorted(os.listdir(entry)) == sorted(IRIS)
        for name, data in IRIS.items():
            assert (entry / name).is_symlink()
            assert (entry / name).read_bytes() == data

        names = cache.download_my_artifact(f"{server.url}/iris.names", "iris.names", toml)
    assert names == git.hash_object(IRIS["iris.names"])
    assert os.path.realpath(entry / "iris.names") == str(cache.my_artifact_path(names))
    assert cache.my_artifact_path(names).read_bytes() == IRIS["iris.names"]

    csvs = {
        cache.my_artifact_path(_blob(IRIS[n])): len(IRIS[n]) for n in ("iris.csv", "bezdekIris.csv")
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
    assert _on_disk(depot) == {}


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


# --- ids and the store's layout ------------------------------------------------------------


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
    _writer(files)(src)
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
    assert _read_tree(entry) == {
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
    tool = _blob(files["bin/tool"])
    assert cache.my_artifact_exists(tool)
    assert cache.my_artifact_exists(tool + ".x")

    # a single file is a file entry, returned as an absolute or a relative path
    assert cache.create_my_artifact(_file_fn(b"one file\n")) == git.hash_object(b"one file\n")

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
    first = cache.create_my_artifact(_writer(one))
    second = cache.create_my_artifact(_writer(two))
    toml = cache.my_artifacts_toml()
    cache.bind_my_artifact(toml, "one", first)
    cache.bind_my_artifact(toml, "two", second)

    found = _on_disk(depot)
    assert set(found) == {first, second, _blob(big), _blob(one["a.txt"]), _blob(two["b.txt"])}
    files = [p for p in found.values() if not p.is_dir()]
    assert sum(p.stat().st_size for p in files) == len(big) + len(one["a.txt"]) + len(two["b.txt"])
    a = os.stat(cache.my_artifact_path(first) / "big.bin")
    b = os.stat(cache.my_artifact_path(second) / "nested" / "deeper" / "big.bin")
    assert (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

    moved = tmp_path / "elsewhere" / "depot"
    moved.parent.mkdir()
    os.rename(depot, moved)
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", str(moved))
    assert cache.my_artifact_path(first) == _store(moved) / "artifacts" / first[:2] / first
    assert _read_tree(cache.my_artifact_path(first)) == one
    assert _read_tree(cache.my_artifact_path(second)) == two
    for entry in (first, second):
        for p in cache.my_artifact_path(entry).rglob("*"):
            if p.is_symlink():
                assert not os.path.isabs(os.readlink(p))
                assert os.path.realpath(p).startswith(str(moved))
    # the binding file moved with the depot: its bindings still hold every entry
    assert cache.find_orphanages(collect_delay=timedelta(0)).deleted == {}
    assert set(_on_disk(moved)) == set(found)


# --- binding and recycling -----------------------------------------------------------------


def test_a_forced_rebind_orphans_the_old_entry(tmp_path: Path, depot: Path) -> None:
    """Rebinding a name needs ``force``; then the old entry (and the file only it held) is
    freed, the new one and the shared file kept."""
    old = {"x.txt": b"only in the old\n", "shared.txt": b"shared\n"}
    new = {"x.txt": b"only in the new\n", "shared.txt": b"shared\n"}
    a = cache.create_my_artifact(_writer(old))
    b = cache.create_my_artifact(_writer(new))
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
    assert set(report.deleted) == {path(a), path(_blob(old["x.txt"]))}
    assert set(report.kept) == {path(b), path(_blob(new["x.txt"])), path(_blob(b"shared\n"))}
    assert set(_on_disk(depot)) == {b, _blob(new["x.txt"]), _blob(b"shared\n")}
    assert _read_tree(path(b)) == new


def test_a_file_reached_from_a_directory_is_never_deleted_before_it(
    tmp_path: Path, depot: Path
) -> None:
    """A file entry a bound directory links to survives losing its own binding; one an
    unbound directory links to waits for that directory's grace period too."""
    data = b"kept through the directory\n"
    d = cache.create_my_artifact(_writer({"f.txt": data, "g.txt": b"g\n"}))
    f = cache.create_my_artifact(_file_fn(data))
    assert f == _blob(data)
    toml = tmp_path / "Artifacts.toml"
    cache.bind_my_artifact(toml, "file", f)
    cache.bind_my_artifact(toml, "dir", d)
    cache.unbind_my_artifact(toml, "file")
    report = cache.find_orphanages(collect_delay=timedelta(0))
    assert report.deleted == {}
    assert cache.my_artifact_path(f) in report.kept
    assert cache.my_artifact_exists(f)

    # an unbound directory still in its grace period keeps its files past theirs
    loose = cache.create_my_artifact(_writer({"h.txt": b"h\n"}))
    h = _blob(b"h\n")
    _write_orphanage(depot, {loose: _days_ago(1), h: _days_ago(30)})
    report = cache.find_orphanages()
    assert report.deleted == {}
    assert {cache.my_artifact_path(loose), cache.my_artifact_path(h)} <= set(report.orphaned)
    _write_orphanage(depot, {loose: _days_ago(30), h: _days_ago(30)})
    report = cache.find_orphanages()
    assert set(report.deleted) == {cache.my_artifact_path(loose), cache.my_artifact_path(h)}
    assert cache.my_artifact_exists(f)
    assert cache.my_artifact_exists(d)


def test_creating_content_that_exists_changes_nothing(depot: Path) -> None:
    """A second create of the same content returns the same id and leaves every entry's
    inode, mode and mtime as they were, with no new entry and no temporary left."""
    files = {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n"}
    d = cache.create_my_artifact(_writer(files))
    f = cache.create_my_artifact(_file_fn(b"alpha\n"))
    assert f == _blob(b"alpha\n")
    before = _snapshot(_store(depot) / "artifacts")
    time.sleep(0.01)
    assert cache.create_my_artifact(_writer(files)) == d
    assert cache.create_my_artifact(_file_fn(b"alpha\n", "other-name")) == f
    assert _snapshot(_store(depot) / "artifacts") == before
    assert _leftovers(depot) == []

    # a file entry gone missing under a directory entry is put back by the next create
    beta = cache.my_artifact_path(_blob(b"beta\n"))
    beta.unlink()
    alpha = cache.my_artifact_path(f).lstat()
    assert cache.create_my_artifact(_writer(files)) == d
    assert beta.read_bytes() == b"beta\n"
    assert cache.my_artifact_path(f).lstat().st_ino == alpha.st_ino  # the whole one untouched
    assert _read_tree(cache.my_artifact_path(d)) == files


# --- errors --------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "g" * 64, "0" * 63, "0" * 65, "0" * 40, "0" * 64 + ".y", "0" * 64 + "x", 42],
)
def test_a_bad_id_is_invalid_hash(tmp_path: Path, bad: object) -> None:
    """Anything but 64 hex digits (optionally ``.x``) is refused by every call taking an id."""
    toml = tmp_path / "Artifacts.toml"
    for call in (
        lambda: cache.bind_my_artifact(toml, "n", bad),  # type: ignore[arg-type] # a wrong type on purpose
        lambda: cache.my_artifact_path(bad),  # type: ignore[arg-type] # a wrong type on purpose
        lambda: cache.my_artifact_exists(bad),  # type: ignore[arg-type] # a wrong type on purpose
    ):
        with pytest.raises(InvalidHash):
            call()
    assert not toml.exists()


def test_binding_refuses_unknown_entries_and_malformed_files(tmp_path: Path, depot: Path) -> None:
    """Binding an id not in the store is ArtifactNotFound; a malformed binding file raises
    InvalidArtifactsToml and is never overwritten."""
    toml = tmp_path / "Artifacts.toml"
    with pytest.raises(ArtifactNotFound) as info:
        cache.bind_my_artifact(toml, "n", "ab" * 32)
    assert isinstance(info.value, LookupError)
    assert not toml.exists()

    id_ = cache.create_my_artifact(_file_fn(b"data\n"))
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


# --- downloads -----------------------------------------------------------------------------


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
        assert got == _blob(b"from the downloader\n")
        assert [u for u, _ in calls] == [url]
        assert server.requests == []

        id_ = cache.download_my_artifact(url, "iris", toml)
        assert id_ == _blob(IRIS["iris.csv"])
        assert cache.download_my_artifact(url, "iris", toml) == id_
        assert server.requests == ["/iris.csv"]

        (www / "iris.csv").write_bytes(b"a new version\n")
        assert cache.download_my_artifact(url, "iris", toml) == id_  # still bound: no fetch
        assert server.requests == ["/iris.csv"]
        newer = cache.download_my_artifact(url, "iris", toml, force_bind=True)
        assert newer == _blob(b"a new version\n")
        assert cache.my_artifact_hash("iris", toml) == newer
        assert server.requests == ["/iris.csv"] * 2

        cache.my_artifact_path(newer).unlink()  # gone from under its binding
        assert cache.download_my_artifact(url, "iris", toml) == newer
        assert cache.my_artifact_exists(newer)
        assert server.requests == ["/iris.csv"] * 3
    assert _leftovers(depot) == []


def test_file_and_fsspec_urls_download_without_a_downloader(tmp_path: Path) -> None:
    """``file://`` is built in, and fsspec URLs (here ``memory://``) work once it is installed."""
    fsspec = pytest.importorskip("fsspec")
    toml = tmp_path / "Artifacts.toml"
    local = tmp_path / "local.bin"
    local.write_bytes(b"local bytes\n")
    assert cache.download_my_artifact(local.as_uri(), "local", toml) == _blob(b"local bytes\n")

    memory = fsspec.filesystem("memory")
    memory.pipe("/scratchspaces-test/remote.bin", b"remote bytes\n")
    try:
        got = cache.download_my_artifact("memory://scratchspaces-test/remote.bin", "r", toml)
    finally:
        memory.rm("/scratchspaces-test", recursive=True)
    assert got == _blob(b"remote bytes\n")
    assert cache.my_artifact_path(got).read_bytes() == b"remote bytes\n"


# --- damaged bookkeeping -------------------------------------------------------------------


def test_damaged_usage_records_and_unreadable_binding_files_are_read_around(
    tmp_path: Path, depot: Path
) -> None:
    """Garbage and a torn record in usage.toml cost a warning: records after them still
    count, nothing a damaged record names is deleted, and an unreadable binding file keeps
    its entries bound; an entry with no record at all is still freed."""
    toml = tmp_path / "Artifacts.toml"
    ids = {k: cache.create_my_artifact(_file_fn(k.encode())) for k in ("k1", "k2", "k3", "u")}
    torn = cache.create_my_artifact(_writer({"t1.txt": b"t1\n", "t2.txt": b"t2\n"}))
    usage = _store(depot) / "usage.toml"

    def append(text: str) -> None:
        with usage.open("a") as f:
            f.write(text)

    cache.bind_my_artifact(toml, "k1", ids["k1"])
    append("[[garbage\n\x00\x01 not toml at all = = =\n")
    cache.bind_my_artifact(toml, "k2", ids["k2"])
    append(f'[["{torn}"]]\ntoml = "{toml}"\nname = "to')  # a writer died mid-record
    cache.bind_my_artifact(toml, "k3", ids["k3"])

    unreadable = tmp_path / "other" / "Artifacts.toml"
    unreadable.parent.mkdir()
    held = cache.create_my_artifact(_file_fn(b"held by an unreadable file\n"))
    cache.bind_my_artifact(unreadable, "held", held)
    unreadable.write_text("[broken\n")

    with pytest.warns(scratchspaces.ScratchspacesWarning) as caught:
        report = cache.find_orphanages(collect_delay=timedelta(0))
    messages = " | ".join(str(w.message) for w in caught)
    assert "unreadable record" in messages
    assert "cannot be read" in messages

    path = cache.my_artifact_path
    assert report.deleted == {path(ids["u"]): 1}
    kept = {path(ids[k]) for k in ("k1", "k2", "k3")} | {path(held)}
    assert kept <= set(report.kept)
    assert path(torn) in report.orphaned
    assert _read_tree(path(torn)) == {"t1.txt": b"t1\n", "t2.txt": b"t2\n"}
    assert set(_on_disk(depot)) == set(ids.values()) - {ids["u"]} | {
        torn,
        held,
        _blob(b"t1\n"),
        _blob(b"t2\n"),
    }


# --- automatic recycling and gc ------------------------------------------------------------


def test_recycling_runs_by_itself_once_a_week_on_first_use(depot: Path) -> None:
    """With the stamp over a week old, the first cache call in a process deletes an orphan
    past its grace period; with a fresh stamp, or a second time in the process, it does not."""
    first = cache.create_my_artifact(_file_fn(b"first orphan\n"))
    second = cache.create_my_artifact(_file_fn(b"second orphan\n"))
    stamp = _store(depot) / "recycled"
    stamp.touch()
    _write_orphanage(depot, {first: _days_ago(30)})

    def age_stamp(days: float) -> None:
        then = time.time() - days * 86400
        os.utime(stamp, (then, then))

    age_stamp(1)
    store_module.forget()
    assert cache.my_artifact_exists(first)  # a fresh stamp: no recycling
    assert (_store(depot) / "orphaned.toml").read_text().count("=") == 1

    age_stamp(8)
    store_module.forget()
    assert not cache.my_artifact_exists(first)  # this very call recycled first
    assert cache.my_artifact_exists(second)  # orphaned just now, in its grace period
    assert time.time() - stamp.stat().st_mtime < 60

    age_stamp(8)
    _write_orphanage(depot, {second: _days_ago(30)})
    assert cache.my_artifact_exists(second)  # once per process
    cache.create_my_artifact(_file_fn(b"third\n"))
    assert cache.my_artifact_exists(second)


def test_gc_recycles_the_cache_after_the_spaces(tmp_path: Path, depot: Path) -> None:
    """``gc`` frees unbound entries and reports them; when it deletes the space of a package
    that is gone, that package's bindings release their entries in the same call; a dry run
    reports the same and changes nothing."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "leaving-pkg"\n')
    (project / "use.py").write_text(
        "from scratchspaces import cache\n"
        "TOML = cache.my_artifacts_toml()\n"
        "ID = cache.create_my_artifact(lambda d: (d / 'x.txt').write_text('leaving') and None)\n"
        "cache.bind_my_artifact(TOML, 'x', ID)\n"
    )
    used = runpy.run_path(str(project / "use.py"))
    leaving, leaving_toml = used["ID"], Path(used["TOML"])
    assert leaving_toml.parent.name == "leaving-pkg"

    toml = tmp_path / "Artifacts.toml"
    bound = cache.create_my_artifact(_file_fn(b"bound\n"))
    cache.bind_my_artifact(toml, "bound", bound)
    loose = cache.create_my_artifact(_file_fn(b"loose\n"))
    path = cache.my_artifact_path

    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert set(report.deleted) == {path(loose)}
    assert report.deleted[path(loose)] == len(b"loose\n")
    assert {path(bound), path(leaving)} <= set(report.kept)

    (project / "pyproject.toml").unlink()  # the package is gone: its space goes
    before = _snapshot(depot)
    report = scratchspaces.gc(collect_delay=timedelta(0), dry_run=True)
    assert {leaving_toml.parent, path(leaving)} <= set(report.deleted)
    assert _snapshot(depot) == before
    assert cache.my_artifact_exists(leaving)

    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert {leaving_toml.parent, path(leaving)} <= set(report.deleted)
    assert not leaving_toml.exists()
    assert not cache.my_artifact_exists(leaving)
    assert set(_on_disk(depot)) == {bound}


# --- the command line ----------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(list(args)) == 0
    return capsys.readouterr().out


def test_cli_lists_recycles_and_counts_the_cache(
    tmp_path: Path, depot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cache list --json`` shows kind, bytes and bindings (files through their directory),
    ``cache recycle --collect-delay 0`` frees an unbound entry, ``du --json`` counts the rest."""
    files = {"data.csv": b"a,b\n1,2\n", "run.sh": b"#!/bin/sh\n"}

    def fill(work: Path) -> None:
        _writer(files)(work)
        (work / "run.sh").chmod(0o755)

    d = cache.create_my_artifact(fill)
    loose = cache.create_my_artifact(_file_fn(b"loose\n"))
    toml = tmp_path / "Artifacts.toml"
    cache.bind_my_artifact(toml, "d", d)
    csv, run = _blob(files["data.csv"]), _blob(files["run.sh"]) + ".x"

    rows = {r["id"]: r for r in json.loads(_cli(capsys, "cache", "list", "--json"))}
    assert set(rows) == {d, csv, run, loose}
    assert rows[d]["kind"] == "directory"
    assert rows[csv]["kind"] == "file"
    assert rows[run]["kind"] == "executable"
    assert rows[d]["bytes"] == len(files["data.csv"]) + len(files["run.sh"])
    assert rows[loose]["bytes"] == len(b"loose\n")
    assert rows[d]["bound_as"] == [{"file": str(toml), "name": "d"}]
    assert rows[csv]["bound_as"] == [{"file": str(toml), "name": "d", "through": d}]
    assert rows[loose]["bound_as"] == []
    assert "(unbound)" in _cli(capsys, "cache", "list")

    out = json.loads(_cli(capsys, "cache", "recycle", "--collect-delay", "0", "--json"))
    assert out["deleted"] == {str(cache.my_artifact_path(loose)): len(b"loose\n")}
    assert not cache.my_artifact_exists(loose)

    du = json.loads(_cli(capsys, "du", "--json"))
    assert du["cache"] == {"count": 3, "bytes": len(files["data.csv"]) + len(files["run.sh"])}
    assert du["total_bytes"] >= du["cache"]["bytes"]


DOWNLOAD_SCRIPT = (
    "import sys; from scratchspaces import cache; "
    "print(cache.download_my_artifact(sys.argv[1], 'progress-demo', sys.argv[2]))"
)


def test_a_download_shows_progress_only_on_a_terminal(tmp_path: Path) -> None:
    """The built-in download draws a bar on a terminal's stderr and is silent on a pipe."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "big.bin").write_bytes(os.urandom(3 << 20))
    with Server(served) as server:
        url = f"{server.url}/big.bin"
        piped = subprocess.run(
            [sys.executable, "-c", DOWNLOAD_SCRIPT, url, str(tmp_path / "piped.toml")],
            capture_output=True,
            text=True,
            check=True,
        )
        assert piped.stderr == ""
        status, shown = stderr_on_a_terminal(
            [sys.executable, "-c", DOWNLOAD_SCRIPT, url, str(tmp_path / "tty.toml")]
        )
        assert status == 0
    assert b"progress-demo" in shown
    assert len(server.requests) == 2  # the second name was downloaded, not taken as bound
