"""Installing artifacts (``scratchspaces.artifacts._install``): from real sources, checked, once.

Sources are tried in order (HTTP, ``file://``, dead and malformed ones) until one gives
a tarball whose sha256 and tree hash are right; when all fail, the error names each.
Processes installing one artifact take turns and download it once; a failed install
leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import runpy
import shutil
import stat
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, cast

import pytest

import scratchspaces
from _artifacts import (
    LINUX,
    MAC,
    OK_DATA,
    UP_TO_TMP,
    Site,
    hash_of_files,
    install_fails,
    install_in_subprocess,
    reg,
    sha256_of,
)
from _depots import names_in, use_depots
from _fills import fill_artifact
from _http import Server, dead_url
from _processes import running
from _venvs import DROP_OVERRIDE, run_bound_by_permissions
from scratchspaces import artifacts
from scratchspaces.artifacts import (
    ArchiveError,
    ArtifactNotFound,
    DownloadError,
    HashMismatch,
    UnsafeArchive,
    ensure_artifact_installed,
    verify_artifact,
)

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier


# --- the export flow of the original manual ----------------------------------------------


def test_export_flow_space_to_artifact_to_published_tarball_to_fresh_install(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = scratchspaces.get_scratch("cooked", "exporter")
    fill_artifact(space)
    h = artifacts.create_artifact(
        lambda d: shutil.copytree(space, d, symlinks=True, dirs_exist_ok=True)
    )
    assert h == artifacts.tree_hash(space)
    assert artifacts.artifact_path(h) == depot / "artifacts" / h

    uploads = tmp_path / "uploads"
    url, sha256 = artifacts.publish_artifact(h, uploads.as_uri())
    assert url == f"{uploads.as_uri()}/{h}.tar.gz"
    assert sha256_of(uploads / f"{h}.tar.gz") == sha256

    toml = tmp_path / "project" / "Artifacts.toml"
    toml.parent.mkdir()
    artifacts.bind_artifact(toml, "cooked", h, download_info=[(url, sha256)])

    fresh = tmp_path / "fresh-depot"
    use_depots(monkeypatch, fresh)
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
    assert names_in(fresh / "artifacts") == [h]  # no temporaries left behind
    # Installed and recorded: the fresh depot's gc keeps it.
    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert path in report.kept


# --- sources -----------------------------------------------------------------------------


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
    assert names_in(depot / "artifacts") == [h]
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
    assert names_in(depot / "artifacts") == []


def test_an_unbound_name_and_a_missing_file_are_lookup_errors(tmp_path: Path) -> None:
    toml = tmp_path / "Artifacts.toml"
    with pytest.raises(ArtifactNotFound, match="does not exist"):
        artifacts.ensure_artifact_installed("data", toml)
    artifacts.bind_artifact(toml, "data", "0" * 40, platform=MAC)
    with pytest.raises(LookupError, match="does not bind it for x86_64-linux"):
        artifacts.ensure_artifact_installed("data", toml, platform=LINUX)
    with pytest.raises(DownloadError, match="no download source"):
        artifacts.ensure_artifact_installed("data", toml, platform=MAC)


def test_wrong_sha256_refused(site: Site, ok_hash: str) -> None:
    url, sha = site.tarball("good.tar.gz", [reg("ok.txt")])
    wrong = hashlib.sha256(b"something else").hexdigest()
    site.bind(ok_hash, (url, wrong))
    info = install_fails(HashMismatch, site)
    exc = cast(HashMismatch, info.value)
    assert exc.expected == wrong
    assert exc.actual == sha
    assert url in str(exc)


def test_wrong_tree_hash_refused(site: Site, ok_hash: str) -> None:
    url, sha = site.tarball("other.tar.gz", [reg("ok.txt", b"other content\n")])
    site.bind(ok_hash, (url, sha))
    info = install_fails(HashMismatch, site)
    exc = cast(HashMismatch, info.value)
    assert exc.expected == ok_hash
    assert exc.actual != ok_hash
    assert "tree hash" in str(exc)
    assert url in str(exc)


Source: TypeAlias = tuple[type[Exception], str, str]


@pytest.fixture
def good_source(site: Site) -> tuple[str, str, str]:
    """(tree hash, url, sha256) of a good tarball."""
    url, sha = site.tarball("good.tar.gz", [reg("ok.txt")])
    h = hash_of_files(site.tmp / "good-tree", {"ok.txt": (OK_DATA, False)})
    return h, url, sha


def bad_sources(site: Site) -> dict[str, Source]:
    """Sources that fail, by kind: (the error, url, sha256)."""
    wrong = hashlib.sha256(b"wrong").hexdigest()
    misbound, _ = site.tarball("misbound.tar.gz", [reg("ok.txt")])
    unsafe = site.tarball("unsafe.tar.gz", [reg("ok.txt"), reg(f"{UP_TO_TMP}sentinel/evil")])
    other = site.tarball("other-tree.tar.gz", [reg("ok.txt", b"different\n")])
    junk = site.tmp / "junk.tar.gz"
    junk.write_bytes(b"junk")
    return {
        "missing": (DownloadError, (site.tmp / "missing.tar.gz").as_uri(), wrong),
        "wrong-sha256": (HashMismatch, misbound, wrong),
        "wrong-tree": (HashMismatch, *other),
        "unsafe": (UnsafeArchive, *unsafe),
        "unreadable": (ArchiveError, junk.as_uri(), sha256_of(junk)),
    }


@pytest.mark.parametrize("first", ["missing", "wrong-sha256", "wrong-tree", "unsafe", "unreadable"])
def test_second_source_used_when_first_fails(
    site: Site, good_source: tuple[str, str, str], first: str
) -> None:
    h, url, sha = good_source
    _, bad_url, bad_sha = bad_sources(site)[first]
    site.bind(h, (bad_url, bad_sha), (url, sha))
    path = ensure_artifact_installed("data", site.toml)
    assert path == site.depot / "artifacts" / h
    assert (path / "ok.txt").read_bytes() == OK_DATA
    assert sorted(os.listdir(site.depot / "artifacts")) == [h]
    site.assert_sentinel_untouched()
    assert verify_artifact(h)


ORDERS = [
    ["missing", "wrong-sha256", "unsafe"],
    ["unsafe", "missing", "wrong-sha256"],
    ["wrong-sha256", "unsafe", "missing"],
    ["missing", "wrong-tree", "unreadable"],
    ["unreadable", "unsafe"],
]


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(o) for o in ORDERS])
def test_all_sources_fail(site: Site, good_source: tuple[str, str, str], order: list[str]) -> None:
    h, _, _ = good_source
    bad = bad_sources(site)
    sources = [bad[kind] for kind in order]
    site.bind(h, *[(url, sha) for _, url, sha in sources])
    info = install_fails(sources[-1][0], site)
    message = str(info.value)
    for _, url, _ in sources:
        assert url in message, (url, message)


def test_single_missing_source(site: Site, ok_hash: str) -> None:
    url = (site.tmp / "nowhere.tar.gz").as_uri()
    site.bind(ok_hash, (url, "0" * 64))
    info = install_fails(DownloadError, site)
    assert url in str(info.value)


def test_overlong_member_name_tries_next_source(
    site: Site, good_source: tuple[str, str, str]
) -> None:
    h, url, sha = good_source
    bad = site.tarball("overlong.tar.gz", [reg("ok.txt"), reg("x" * 300)])
    site.bind(h, bad, (url, sha))
    assert ensure_artifact_installed("data", site.toml) == site.depot / "artifacts" / h


# --- processes and the store -------------------------------------------------------------


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
    procs = [install_in_subprocess(toml, "big", stdout=subprocess.PIPE) for _ in range(4)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert set(outputs) == {str(depot / "artifacts" / h)}
    assert names_in(depot / "artifacts") == [h]
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
    assert names_in(depot / "artifacts") == [h]
    assert artifacts.verify_artifact(h)


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
    before = names_in(root)
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
    assert names_in(root) == before


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
