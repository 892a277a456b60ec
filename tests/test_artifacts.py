"""Artifacts: the store, Artifacts.toml, installs from real sources, gc and the CLI."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import runpy
import shutil
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import scratchspaces
from _http import Server, dead_url
from _processes import running, stderr_on_a_terminal
from _venvs import DROP_OVERRIDE, run_bound_by_permissions
from scratchspaces import artifacts
from scratchspaces.artifacts import (
    ArtifactNotFound,
    BindingExists,
    DownloadError,
    InvalidArtifactsToml,
    InvalidHash,
    Platform,
    UnsupportedFile,
)

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier

LINUX = Platform("linux", "x86_64", "glibc")
MAC = Platform("macos", "aarch64")


def _fill(d: Path, tag: str = "") -> None:
    (d / "data").mkdir(exist_ok=True)
    (d / "data" / "table.csv").write_text(f"a,b\n1,2\n{tag}")
    (d / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (d / "run.sh").chmod(0o755)
    (d / "latest").symlink_to("data/table.csv")
    (d / "empty").mkdir(exist_ok=True)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entries(root: Path) -> list[str]:
    return sorted(os.listdir(root)) if root.exists() else []


def _use_depot(monkeypatch: pytest.MonkeyPatch, *depots: Path) -> None:
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", os.pathsep.join(str(d) for d in depots))


INSTALL_SCRIPT = (
    "import sys; from scratchspaces import artifacts; "
    "print(artifacts.ensure_artifact_installed(sys.argv[1], sys.argv[2]))"
)


def _install_in_subprocess(toml: Path, name: str, **popen: Any) -> subprocess.Popen[str]:
    """Run ``ensure_artifact_installed(name, toml)`` in a fresh interpreter (prints the path)."""
    cmd = [sys.executable, "-c", INSTALL_SCRIPT, name, str(toml)]
    return subprocess.Popen(cmd, text=True, **popen)


# --- the export flow of the original manual -----------------------------------------------


def test_export_flow_space_to_artifact_to_published_tarball_to_fresh_install(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = scratchspaces.get_scratch("cooked", "exporter")
    _fill(space)
    h = artifacts.create_artifact(
        lambda d: shutil.copytree(space, d, symlinks=True, dirs_exist_ok=True)
    )
    assert h == artifacts.tree_hash(space)
    assert artifacts.artifact_path(h) == depot / "artifacts" / h

    uploads = tmp_path / "uploads"
    url, sha256 = artifacts.publish_artifact(h, uploads.as_uri())
    assert url == f"{uploads.as_uri()}/{h}.tar.gz"
    assert _sha256(uploads / f"{h}.tar.gz") == sha256

    toml = tmp_path / "project" / "Artifacts.toml"
    toml.parent.mkdir()
    artifacts.bind_artifact(toml, "cooked", h, download_info=[(url, sha256)])

    fresh = tmp_path / "fresh-depot"
    _use_depot(monkeypatch, fresh)
    assert not artifacts.artifact_exists(h)
    path = artifacts.ensure_artifact_installed("cooked", toml)
    assert path == fresh / "artifacts" / h
    assert artifacts.tree_hash(path) == h
    assert artifacts.verify_artifact(h)
    assert (path / "latest").is_symlink()
    assert (path / "latest").read_text() == (space / "data" / "table.csv").read_text()
    assert os.access(path / "run.sh", os.X_OK)
    # Published files are read-only; directories stay removable.
    assert stat.S_IMODE((path / "data" / "table.csv").stat().st_mode) & 0o222 == 0
    assert stat.S_IMODE((path / "data").stat().st_mode) & 0o700 == 0o700
    assert _entries(fresh / "artifacts") == [h]  # no temporaries left behind
    # Installed and recorded: the fresh depot's gc keeps it.
    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert path in report.kept


# --- sources -----------------------------------------------------------------------------


@pytest.fixture
def published(tmp_path: Path) -> tuple[str, str, Path]:
    """An artifact archived into a served directory, then removed from the depot."""
    h = artifacts.create_artifact(_fill)
    served = tmp_path / "served"
    served.mkdir()
    sha256 = artifacts.archive_artifact(h, served / "a.tar.gz")
    artifacts.remove_artifact(h)
    return h, sha256, served


def test_install_over_http_falls_back_from_dead_sources(
    tmp_path: Path, depot: Path, published: tuple[str, str, Path]
) -> None:
    h, sha256, served = published
    toml = tmp_path / "Artifacts.toml"
    with Server(served) as server:
        sources: list[artifacts.DownloadInfo] = [
            (dead_url(), sha256),
            (f"{server.url}/missing.tar.gz", sha256),
            (f"{server.url}/a.tar.gz", sha256, 10),  # wrong size: refused before extracting
            (f"{server.url}/a.tar.gz", sha256),
        ]
        artifacts.bind_artifact(toml, "data", h, download_info=sources)
        path = artifacts.ensure_artifact_installed("data", toml)
        assert server.requests == ["/missing.tar.gz", "/a.tar.gz", "/a.tar.gz"]
    assert artifacts.tree_hash(path) == h
    assert _entries(depot / "artifacts") == [h]
    # Installed once: a second call downloads nothing.
    assert artifacts.ensure_artifact_installed("data", toml) == path


def test_every_source_failing_raises_the_last_error_naming_each(
    tmp_path: Path, depot: Path, published: tuple[str, str, Path]
) -> None:
    h, sha256, served = published
    toml = tmp_path / "Artifacts.toml"
    with Server(served) as server:
        dead = dead_url()
        missing = f"{server.url}/missing.tar.gz"
        artifacts.bind_artifact(toml, "data", h, download_info=[(dead, sha256), (missing, sha256)])
        with pytest.raises(DownloadError) as info:
            artifacts.ensure_artifact_installed("data", toml)
    message = str(info.value)
    assert dead in message
    assert missing in message
    assert "HTTP 404" in message
    assert isinstance(info.value, OSError)
    assert _entries(depot / "artifacts") == []


def test_an_unbound_name_and_a_missing_file_are_lookup_errors(tmp_path: Path) -> None:
    toml = tmp_path / "Artifacts.toml"
    with pytest.raises(ArtifactNotFound, match="does not exist"):
        artifacts.ensure_artifact_installed("data", toml)
    artifacts.bind_artifact(toml, "data", "0" * 40, platform=MAC)
    with pytest.raises(LookupError, match="does not bind it for x86_64-linux"):
        artifacts.ensure_artifact_installed("data", toml, platform=LINUX)
    with pytest.raises(DownloadError, match="no download source"):
        artifacts.ensure_artifact_installed("data", toml, platform=MAC)


def test_two_processes_installing_the_same_artifact_both_succeed_with_one_copy(
    tmp_path: Path, depot: Path
) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(4):
        (big / f"part{i}").write_bytes(os.urandom(2 << 20))
    h = artifacts.create_artifact(lambda d: shutil.copytree(big, d, dirs_exist_ok=True))
    sha256 = artifacts.archive_artifact(h, tmp_path / "big.tar.gz")
    artifacts.remove_artifact(h)
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(
        toml, "big", h, download_info=[((tmp_path / "big.tar.gz").as_uri(), sha256)]
    )
    procs = [_install_in_subprocess(toml, "big", stdout=subprocess.PIPE) for _ in range(4)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert set(outputs) == {str(depot / "artifacts" / h)}
    assert _entries(depot / "artifacts") == [h]
    assert artifacts.verify_artifact(h)


def _install_at_once(barrier: Barrier, toml: str, out: str) -> None:
    barrier.wait(60)
    Path(out).write_text(str(artifacts.ensure_artifact_installed("data", toml)))


def test_processes_installing_one_artifact_download_it_once(
    tmp_path: Path, depot: Path, published: tuple[str, str, Path]
) -> None:
    """Four processes start installing one artifact at the same moment over HTTP.

    Each GET is answered after 0.5 s, so without the install lock all four would
    download. With it, one downloads and the others wait, then find its copy: one
    request, one copy, every process given its path, and no lock file left behind.
    """
    h, sha256, served = published
    toml = tmp_path / "Artifacts.toml"
    outs = [tmp_path / f"installed-{i}.txt" for i in range(4)]
    barrier = multiprocessing.get_context("spawn").Barrier(len(outs))
    with Server(served, delay=0.5) as server:
        artifacts.bind_artifact(toml, "data", h, download_info=[(f"{server.url}/a.tar.gz", sha256)])
        with running(_install_at_once, [(barrier, str(toml), str(o)) for o in outs]) as procs:
            pass
    assert [p.exitcode for p in procs] == [0] * len(outs)
    assert {o.read_text() for o in outs} == {str(depot / "artifacts" / h)}
    assert server.requests == ["/a.tar.gz"]
    assert _entries(depot / "artifacts") == [h]
    assert artifacts.verify_artifact(h)


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


@pytest.mark.skipif(DROP_OVERRIDE is None, reason="root without setpriv: permissions never bind")
def test_a_store_we_may_not_write_is_a_depot_error(
    tmp_path: Path, depot: Path, published: tuple[str, str, Path]
) -> None:
    """Installing into a read-only store raises DepotError naming it, and changes nothing."""
    h, sha256, served = published
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(
        toml, "data", h, download_info=[((served / "a.tar.gz").as_uri(), sha256)]
    )
    root = depot / "artifacts"
    before = _entries(root)
    root.chmod(0o555)
    code = (
        "from scratchspaces import artifacts, errors\n"
        "try:\n"
        f"    artifacts.ensure_artifact_installed('data', {str(toml)!r})\n"
        "except errors.DepotError as exc:\n"
        "    print(exc)\n"
    )
    try:
        result = run_bound_by_permissions(code, tmp_path)
    finally:
        root.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert f"cannot use {str(root)!r}: cannot take the install lock" in result.stdout
    assert _entries(root) == before


def test_artifact_finds_artifacts_toml_above_the_calling_module(
    tmp_path: Path, published: tuple[str, str, Path]
) -> None:
    h, sha256, served = published
    project = tmp_path / "project"
    (project / "pkg" / "sub").mkdir(parents=True)
    tarball = (served / "a.tar.gz").as_uri()
    artifacts.bind_artifact(
        project / "Artifacts.toml", "data", h, download_info=[(tarball, sha256)]
    )
    module = project / "pkg" / "sub" / "mod.py"
    module.write_text("from scratchspaces import artifacts\nPATH = artifacts.artifact('data')\n")
    assert runpy.run_path(str(module))["PATH"] == artifacts.artifact_path(h)
    orphan = tmp_path / "elsewhere" / "mod.py"
    orphan.parent.mkdir()
    orphan.write_text(module.read_text())
    with pytest.raises(ArtifactNotFound, match=r"no Artifacts\.toml"):
        runpy.run_path(str(orphan))


# --- the store ---------------------------------------------------------------------------


def test_create_artifact_is_idempotent_and_leaves_nothing_on_failure(depot: Path) -> None:
    h = artifacts.create_artifact(_fill)
    before = (depot / "artifacts" / h).stat().st_mtime_ns
    assert artifacts.create_artifact(_fill) == h
    assert (depot / "artifacts" / h).stat().st_mtime_ns == before
    assert _entries(depot / "artifacts") == [h]

    def fails(d: Path) -> None:
        _fill(d, "other")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        artifacts.create_artifact(fails)

    def fifo(d: Path) -> None:
        os.mkfifo(d / "pipe")

    with pytest.raises(UnsupportedFile):
        artifacts.create_artifact(fifo)
    with pytest.raises(NotADirectoryError):
        artifacts.create_artifact(lambda d: d.rmdir())
    assert _entries(depot / "artifacts") == [h]


def test_create_artifact_accepts_a_directory_made_anew(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    _fill(source)

    def copy(d: Path) -> None:  # the original's idiom: rm(artifact_dir); cp(src, artifact_dir)
        d.rmdir()
        shutil.copytree(source, d, symlinks=True)

    assert artifacts.create_artifact(copy) == artifacts.tree_hash(source)


def test_hashes_are_checked(tmp_path: Path) -> None:
    for bad in ("abc", "g" * 40, "0" * 41, 42):
        with pytest.raises(InvalidHash):
            artifacts.artifact_exists(bad)  # type: ignore[arg-type] # a wrong type on purpose
    with pytest.raises(InvalidHash):
        artifacts.bind_artifact(tmp_path / "Artifacts.toml", "x", "0" * 39)
    assert not (tmp_path / "Artifacts.toml").exists()
    assert artifacts.artifact_exists("A" * 40) is False  # upper case names the same tree


def test_later_depots_are_searched_never_written(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    _use_depot(monkeypatch, site)
    h = artifacts.create_artifact(_fill)
    _use_depot(monkeypatch, depot, site)
    assert artifacts.artifact_path(h) == site / "artifacts" / h
    assert artifacts.artifact_exists(h)
    assert artifacts.verify_artifact(h)
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", h)  # no sources needed: a depot has it
    assert artifacts.ensure_artifact_installed("data", toml) == site / "artifacts" / h
    with pytest.raises(scratchspaces.DepotError, match="read-only depot"):
        artifacts.remove_artifact(h)
    assert artifacts.artifact_exists(h)
    assert not (depot / "artifacts").exists()


def test_with_artifacts_directory_replaces_the_search(tmp_path: Path, depot: Path) -> None:
    h = artifacts.create_artifact(_fill)
    elsewhere = tmp_path / "elsewhere"
    with artifacts.with_artifacts_directory(elsewhere) as root:
        assert root == elsewhere
        assert not artifacts.artifact_exists(h)  # the depot is not searched
        assert artifacts.create_artifact(_fill) == h
        assert artifacts.artifact_path(h) == elsewhere / h
        artifacts.remove_artifact(h)
        assert not (elsewhere / h).exists()
    assert artifacts.artifact_path(h) == depot / "artifacts" / h


# --- Artifacts.toml ----------------------------------------------------------------------

# As Julia's Pkg writes it (from a real JLL package), with keys this library ignores.
JULIA_TOML = """\
[[libfoo]]
arch = "x86_64"
git-tree-sha1 = "1b8ac71e0e9a1c3e4b3c0a2d1e6f9b8c7d6e5f40"
libc = "glibc"
os = "linux"
cxxstring_abi = "cxx11"

    [[libfoo.download]]
    sha256 = "5d8d4c6b3e2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f60"
    url = "https://example.org/libfoo.v1.0.0.x86_64-linux-gnu-cxx11.tar.gz"
[[libfoo]]
arch = "aarch64"
git-tree-sha1 = "2b8ac71e0e9a1c3e4b3c0a2d1e6f9b8c7d6e5f40"
os = "macos"

    [[libfoo.download]]
    sha256 = "6d8d4c6b3e2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f60"
    url = "https://example.org/libfoo.v1.0.0.aarch64-apple-darwin.tar.gz"

[dataset]
git-tree-sha1 = "43563e7631a7eafae1f9f8d9d332e3de44ad7239"
lazy = true

    [[dataset.download]]
    sha256 = "7d8d4c6b3e2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f60"
    url = "https://example.org/dataset.tar.gz"
    size = 1234
"""


def test_a_file_written_by_julia_reads_and_survives_our_writes(tmp_path: Path) -> None:
    from scratchspaces._toml import loads

    toml = tmp_path / "Artifacts.toml"
    toml.write_text(JULIA_TOML)
    assert artifacts.artifact_hash("libfoo", toml, platform=LINUX) == "1b8ac71e" + (
        "0e9a1c3e4b3c0a2d1e6f9b8c7d6e5f40"
    )
    assert artifacts.artifact_hash("libfoo", toml, platform=MAC) == "2b8ac71e" + (
        "0e9a1c3e4b3c0a2d1e6f9b8c7d6e5f40"
    )
    assert artifacts.artifact_hash("libfoo", toml, platform=Platform("windows", "x86_64")) is None
    meta = artifacts.artifact_meta("dataset", toml)
    assert meta is not None
    assert meta["lazy"] is True
    assert meta["download"][0]["size"] == 1234
    before = loads(toml.read_text())
    artifacts.bind_artifact(toml, "extra", "3" * 40, lazy=True)
    after = loads(toml.read_text())
    assert after.pop("extra") == {"git-tree-sha1": "3" * 40, "lazy": True}
    assert after == before  # every key kept, cxxstring_abi included
    text = toml.read_text()
    assert "    [[libfoo.download]]\n    sha256 = " in text  # Pkg's shape, not inline tables


def test_platform_entries_force_and_unbind(tmp_path: Path) -> None:
    toml = tmp_path / "Artifacts.toml"
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    artifacts.bind_artifact(
        toml, "lib", a, platform=LINUX, download_info=[("file:///x", "0" * 64, 3)]
    )
    artifacts.bind_artifact(toml, "lib", b, platform=MAC)
    assert artifacts.artifact_hash("lib", toml, platform=LINUX) == a
    assert artifacts.artifact_hash("lib", toml, platform=MAC) == b
    assert artifacts.artifact_hash("lib", toml, platform=Platform("linux", "x86_64")) == a
    assert (
        artifacts.artifact_hash("lib", toml, platform=Platform("linux", "x86_64", "musl")) is None
    )
    with pytest.raises(BindingExists, match="force=True"):
        artifacts.bind_artifact(toml, "lib", c, platform=LINUX)
    with pytest.raises(BindingExists):
        artifacts.bind_artifact(toml, "lib", c)  # a platform-independent binding over them
    artifacts.bind_artifact(toml, "lib", c, platform=LINUX, force=True)
    assert artifacts.artifact_hash("lib", toml, platform=LINUX) == c
    assert artifacts.artifact_hash("lib", toml, platform=MAC) == b
    artifacts.unbind_artifact(toml, "lib", platform=LINUX)
    assert artifacts.artifact_hash("lib", toml, platform=LINUX) is None
    assert artifacts.artifact_hash("lib", toml, platform=MAC) == b
    artifacts.bind_artifact(toml, "lib", a, force=True)
    assert artifacts.artifact_hash("lib", toml, platform=MAC) == a
    artifacts.unbind_artifact(toml, "lib")
    artifacts.unbind_artifact(toml, "lib")  # twice: no error
    assert artifacts.artifact_meta("lib", toml) is None


def test_host_platform_uses_julias_names() -> None:
    host = Platform.host()
    assert host.os in {"linux", "macos", "windows", "freebsd"}
    assert host.arch in {"x86_64", "aarch64", "i686", "armv7l", "powerpc64le"}
    if host.os == "linux":
        assert host.libc in {"glibc", "musl"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('data = "oops"\n', "entry 'data' of .*: neither a table nor an array of tables"),
        ("[data]\nlazy = true\n", "entry 'data' of .*: no git-tree-sha1"),
        ('[data]\ngit-tree-sha1 = "abc"\n', "entry 'data' of .*: git-tree-sha1 'abc' is not 40"),
        (
            f'[data]\ngit-tree-sha1 = "{"a" * 40}"\n[[data.download]]\nurl = "u"\nsha256 = "x"\n',
            "entry 'data' of .*: download 'u': sha256 is not 64",
        ),
        (f'[[data]]\ngit-tree-sha1 = "{"a" * 40}"\n', "entry 'data' .*needs os and arch"),
        ("[data\n", "Artifacts.toml: not valid TOML"),
    ],
)
def test_malformed_files_name_the_file_and_the_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    toml = tmp_path / "Artifacts.toml"
    toml.write_text(text)
    with pytest.raises(InvalidArtifactsToml, match=message) as info:
        artifacts.artifact_hash("data", toml)
    assert str(toml) in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidArtifactsToml):  # not overwritten either
        artifacts.bind_artifact(toml, "data", "a" * 40, force=True)
    assert toml.read_text() == text


def test_binding_is_recorded_in_the_usage_log(tmp_path: Path, depot: Path) -> None:
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", "a" * 40)
    log = (depot / "logs" / "artifact_usage.toml").read_text()
    assert f'[["{toml}"]]\ntime = ' in log


# --- gc ----------------------------------------------------------------------------------


def test_gc_collects_unbound_artifacts_and_keeps_bound_ones_until_their_file_goes(
    tmp_path: Path, depot: Path
) -> None:
    bound = artifacts.create_artifact(_fill)
    loose = artifacts.create_artifact(lambda d: _fill(d, "loose"))
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", bound)

    report = scratchspaces.gc()  # the default delay: the loose one waits in the orphanage
    assert report.orphaned == [depot / "artifacts" / loose]
    assert report.kept == [depot / "artifacts" / bound]
    assert report.deleted == {}

    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert list(report.deleted) == [depot / "artifacts" / loose]
    assert report.freed_bytes > 0
    assert _entries(depot / "artifacts") == [bound]

    toml.unlink()
    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert list(report.deleted) == [depot / "artifacts" / bound]
    assert _entries(depot / "artifacts") == []
    assert (depot / "logs" / "artifact_usage.toml").read_text() == ""


def test_gc_deletes_no_artifact_while_a_recorded_file_is_unreadable(
    tmp_path: Path, depot: Path
) -> None:
    h = artifacts.create_artifact(_fill)
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", "a" * 40)
    toml.write_text("[broken\n")
    with pytest.warns(scratchspaces.ScratchspacesWarning, match="cannot be read"):
        report = scratchspaces.gc(collect_delay=timedelta(0))
    assert report.deleted == {}
    assert artifacts.artifact_exists(h)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.lstat().st_mode, p.lstat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_gc_never_touches_a_read_only_second_depot(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    _use_depot(monkeypatch, site)
    h = artifacts.create_artifact(_fill)  # unbound: an orphan, were it in the user depot
    before = _snapshot(site)
    _use_depot(monkeypatch, depot, site)
    scratchspaces.gc(collect_delay=timedelta(0))
    assert _snapshot(site) == before
    assert artifacts.artifact_exists(h)


# --- the command line --------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scratchspaces", "artifacts", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_list_verify_archive_publish_install(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = artifacts.create_artifact(_fill)
    loose = artifacts.create_artifact(lambda d: _fill(d, "loose"))
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", h)

    listing = _cli("list", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = {row["hash"]: row for row in json.loads(listing.stdout)}
    assert rows[h]["bound_by"] == [f"{toml}: data"]
    assert rows[loose]["bound_by"] == []
    assert rows[h]["bytes"] > 0
    assert "(unbound)" in _cli("list").stdout

    assert _cli("verify").returncode == 0
    target = depot / "artifacts" / loose / "data" / "table.csv"
    target.chmod(0o644)
    target.write_text("tampered")
    verify = _cli("verify")
    assert verify.returncode == 1
    assert f"CORRUPT  {loose}" in verify.stdout
    assert _cli("verify", h).returncode == 0

    archived = _cli("archive", h, str(tmp_path / "h.tar.gz"))
    assert archived.stdout.strip() == _sha256(tmp_path / "h.tar.gz")

    published = _cli("publish", h, (tmp_path / "up").as_uri())
    url, sha256 = published.stdout.split()
    assert sha256 == archived.stdout.strip()
    artifacts.bind_artifact(toml, "data", h, download_info=[(url, sha256)], force=True)

    fresh = tmp_path / "fresh"
    _use_depot(monkeypatch, fresh)
    installed = _cli("install", "data", "--toml", str(toml))
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.strip() == str(fresh / "artifacts" / h)

    missing = _cli("archive", "0" * 40, str(tmp_path / "x.tar.gz"))
    assert missing.returncode == 1
    assert missing.stderr.startswith("scratchspaces: error: no artifact")
    assert "Traceback" not in missing.stderr


def test_du_counts_artifacts(depot: Path) -> None:
    artifacts.create_artifact(_fill)
    out = subprocess.run(
        [sys.executable, "-m", "scratchspaces", "du", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["artifacts"]["count"] == 1
    assert data["artifacts"]["bytes"] == data["total_bytes"] > 0


def test_a_progress_bar_only_when_stderr_is_a_terminal(
    tmp_path: Path, depot: Path, published: tuple[str, str, Path]
) -> None:

    h, sha256, served = published
    toml = tmp_path / "Artifacts.toml"
    with Server(served) as server:
        url = f"{server.url}/a.tar.gz"
        artifacts.bind_artifact(toml, "progress-demo", h, download_info=[(url, sha256)])
        piped = _install_in_subprocess(
            toml, "progress-demo", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _out, err = piped.communicate(timeout=60)
        assert piped.returncode == 0
        assert err == ""  # not a terminal: silent
        artifacts.remove_artifact(h)

        status, shown = stderr_on_a_terminal(
            [sys.executable, "-c", INSTALL_SCRIPT, "progress-demo", str(toml)]
        )
        assert status == 0
    assert b"progress-demo" in shown
    assert artifacts.verify_artifact(h)


def test_installs_are_readable_by_all_whatever_the_umask(
    tmp_path: Path, depot: Path, published: tuple[str, str, Path]
) -> None:
    h, sha256, served = published
    url = (served / "a.tar.gz").as_uri()
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", h, download_info=[(url, sha256, 1)])
    with pytest.raises(DownloadError, match="expected 1"):  # the size is checked too
        artifacts.ensure_artifact_installed("data", toml)
    artifacts.bind_artifact(toml, "data", h, download_info=[(url, sha256)], force=True)
    old = os.umask(0o077)
    try:
        path = artifacts.ensure_artifact_installed("data", toml)
    finally:
        os.umask(old)
    for d in (path, path / "data", path / "empty"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o755
    assert stat.S_IMODE((path / "data" / "table.csv").stat().st_mode) == 0o444
    # archive_artifact makes the tarball's directory
    assert artifacts.archive_artifact(h, tmp_path / "new" / "dir" / "a.tar.gz") == sha256


# --- regressions from the review --------------------------------------------------------


def test_gc_all_depots_never_collects_artifacts_of_a_later_depot(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    _use_depot(monkeypatch, site)
    bound = artifacts.create_artifact(_fill)
    loose = artifacts.create_artifact(lambda d: _fill(d, "loose"))
    _use_depot(monkeypatch, depot, site)
    artifacts.bind_artifact(tmp_path / "Artifacts.toml", "data", bound)
    before = _snapshot(site / "artifacts")
    scratchspaces.gc(collect_delay=timedelta(0), all_depots=True)
    assert _snapshot(site / "artifacts") == before
    assert artifacts.artifact_exists(bound)
    assert artifacts.artifact_exists(loose)


def test_gc_dates_temporaries_by_their_name_not_their_mtime(depot: Path) -> None:
    artifacts.create_artifact(_fill)  # makes the store
    store = depot / "artifacts"
    young = store / ".tmp-create-9999999999-abcd"  # being filled: an old mtime copied in
    young.mkdir()
    os.utime(young, (0, 0))
    old = store / ".tmp-install-1000000000-efgh"  # a crash long ago
    (old / "tree").mkdir(parents=True)
    scratchspaces.gc()
    assert young.is_dir()
    assert not old.exists()


def test_bindings_are_recorded_even_with_tracking_off(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRATCHSPACES_TRACK_ACCESS", "0")
    h = artifacts.create_artifact(_fill)
    artifacts.bind_artifact(tmp_path / "Artifacts.toml", "data", h)
    scratchspaces.gc(collect_delay=timedelta(0))
    assert artifacts.artifact_exists(h)


def test_a_malformed_url_is_a_failed_source_like_any_other(
    tmp_path: Path, published: tuple[str, str, Path]
) -> None:
    h, sha256, served = published
    toml = tmp_path / "Artifacts.toml"
    good = (served / "a.tar.gz").as_uri()
    bad = ["http://[::1/x", "http://127.0.0.1:abc/x", "nonsense", "file://host/x"]
    sources: list[artifacts.DownloadInfo] = [(url, sha256) for url in bad]
    artifacts.bind_artifact(toml, "data", h, download_info=[*sources, (good, sha256)])
    assert artifacts.tree_hash(artifacts.ensure_artifact_installed("data", toml)) == h


@pytest.mark.parametrize(
    "info",
    [("u", "0" * 64, -5), ("u", "0" * 64, True), ("u", "0" * 64, "12"), ("u",), ("u", "x")],
)
def test_bind_refuses_download_info_it_could_not_read_back(tmp_path: Path, info: object) -> None:
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", "a" * 40)
    before = toml.read_text()
    with pytest.raises(InvalidArtifactsToml, match="entry 'data'"):
        artifacts.bind_artifact(toml, "data", "a" * 40, download_info=[info], force=True)  # type: ignore[list-item] # a wrong shape on purpose
    assert toml.read_text() == before
    with pytest.raises(scratchspaces.DepotError):
        artifacts.artifact_hash("data", tmp_path)  # a directory, not a file


def test_an_artifact_that_could_not_be_installed_is_not_archived(tmp_path: Path) -> None:
    h = artifacts.create_artifact(lambda d: (d / "tz").symlink_to("/usr/share/zoneinfo/UTC"))
    with pytest.raises(artifacts.UnsafeArchive, match="outside the artifact"):
        artifacts.archive_artifact(h, tmp_path / "a.tar.gz")
    assert not (tmp_path / "a.tar.gz").exists()
    colon = artifacts.create_artifact(lambda d: (d / "a:b").write_text("fine on POSIX"))
    sha256 = artifacts.archive_artifact(colon, tmp_path / "c.tar.gz")
    artifacts.remove_artifact(colon)
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(
        toml, "c", colon, download_info=[((tmp_path / "c.tar.gz").as_uri(), sha256)]
    )
    assert (artifacts.ensure_artifact_installed("c", toml) / "a:b").read_text() == "fine on POSIX"


def test_verify_reports_a_fifo_as_corrupt(depot: Path) -> None:
    h = artifacts.create_artifact(_fill)
    os.mkfifo(depot / "artifacts" / h / "pipe")
    assert artifacts.verify_artifact(h) is False
    result = _cli("verify")
    assert result.returncode == 1
    assert f"CORRUPT  {h}" in result.stdout
