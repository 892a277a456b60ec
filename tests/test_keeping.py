"""A depot that keeps itself: upgrades keep their caches, the size cap, uses, the policy.

Real environments and real pip for upgrades; real entries, artifacts and spaces for
the size cap, dated the way a use dates them.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import scratchspaces
from _cli import run_cli
from _depots import access_log, parents_of, write_access_log
from _fills import file_writer, writer
from _venvs import Venv, tiny_wheel
from scratchspaces import _policy, artifacts, cache
from scratchspaces.errors import DepotError, InvalidName, ScratchspacesWarning

ZERO = timedelta(0)
DAY = 86400.0


# --- upgrades keep their caches ----------------------------------------------------------


@pytest.mark.venv
def test_an_upgrade_keeps_the_old_versions_spaces_until_the_new_one_runs(
    venv: Venv, wheelhouse: Path, depot: Path
) -> None:
    venv.install(tiny_wheel(wheelhouse, "1.0.0"))
    venv.run("import tinymod")
    spaces = depot / "scratchspaces" / "tiny-pkg"
    old_only = spaces / "data-1.0"
    old = str(venv.site_packages / "Tiny_Pkg-1.0.0.dist-info")

    venv.install(tiny_wheel(wheelhouse, "1.1.0"))  # pip upgrades: 1.0.0's .dist-info is gone
    assert not os.path.exists(old)
    report = scratchspaces.gc(collect_delay=ZERO)  # any delay
    assert report.deleted == {}
    assert old_only in report.kept
    assert parents_of(depot, old_only) == {old}  # the condensed log keeps the old parent
    listed = run_cli("list", "--json")
    [row] = [r for r in json.loads(listed.stdout) if r["path"] == str(old_only)]
    assert row["status"] == "in use"

    venv.run("import tinymod")  # 1.1.0 runs and records what it uses
    report = scratchspaces.gc()  # the policy's delay: a week
    assert report.deleted == {}
    assert report.orphaned == [old_only]
    report = scratchspaces.gc(collect_delay=ZERO)
    assert set(report.deleted) == {old_only}
    assert {spaces / "data-1.1", spaces / "major-1", spaces / "from-sub"} <= set(report.kept)

    venv.uninstall("tiny-pkg")  # uninstalling still orphans at once
    report = scratchspaces.gc(collect_delay=ZERO)
    assert {spaces / "data-1.1", spaces / "major-1", spaces / "from-sub"} == set(report.deleted)


@pytest.mark.venv
def test_an_upgraded_package_in_a_deleted_environment_is_gone(
    venv: Venv, wheelhouse: Path, depot: Path
) -> None:
    venv.install(tiny_wheel(wheelhouse, "1.0.0"))
    venv.run("import tinymod")
    venv.install(tiny_wheel(wheelhouse, "1.1.0"))
    venv.uninstall("tiny-pkg")
    report = scratchspaces.gc(collect_delay=ZERO)
    assert depot / "scratchspaces" / "tiny-pkg" / "data-1.0" in report.deleted


# --- the size cap over spaces, artifacts and cache entries ---------------------------------


def _date(path: Path, days_ago: float) -> None:
    then = time.time() - days_ago * DAY
    os.utime(path, (then, then), follow_symlinks=False)


def test_the_size_cap_evicts_the_least_recently_used_of_every_kind(depot: Path) -> None:
    now = datetime.now(timezone.utc)
    old_space = scratchspaces.get_scratch("old", "pkg")
    recent_space = scratchspaces.get_scratch("recent", "pkg")
    for space in (old_space, recent_space):
        (space / "blob").write_bytes(b"s" * 1000)
    parent = access_log(depot)[0].parents[0]
    write_access_log(
        depot, [(old_space, now - timedelta(days=30), [parent]), (recent_space, now, [parent])]
    )
    old_artifact = artifacts.artifact_path(artifacts.create_artifact(writer({"f": b"a" * 1000})))
    mid_artifact = artifacts.artifact_path(artifacts.create_artifact(writer({"f": b"b" * 1000})))
    old_entry = cache.my_artifact_path(cache.create_my_artifact(file_writer(b"c" * 1000)))
    dir_entry = cache.my_artifact_path(
        cache.create_my_artifact(writer({"x": b"d" * 1000, "y": b"e" * 1000}))
    )
    dir_files = [Path(os.path.realpath(dir_entry / n)) for n in ("x", "y")]
    _date(old_artifact, 20)
    _date(mid_artifact, 10)
    _date(old_entry, 25)
    _date(dir_entry, 5)
    for file in dir_files:
        _date(file, 5)
    # 7000 bytes: two spaces, two artifacts, a file entry, a directory entry of two files.
    report = scratchspaces.gc(max_size=3500, dry_run=True)
    evicted = {old_space, old_entry, old_artifact, mid_artifact}  # oldest use first
    assert set(report.deleted) == evicted
    report = scratchspaces.gc(max_size=3500)
    assert set(report.deleted) == evicted
    assert report.freed_bytes == 4000
    assert not any(p.exists() for p in evicted)
    assert recent_space.is_dir()
    assert dir_entry.is_dir()

    report = scratchspaces.gc(max_size=0)
    assert set(report.deleted) == {dir_entry, *dir_files}  # a directory and its files
    assert recent_space.is_dir()  # used in the last day: never evicted
    assert report.kept == [recent_space]


def test_a_use_dates_an_artifact_or_entry_once_a_day(depot: Path) -> None:
    artifact = artifacts.artifact_path(artifacts.create_artifact(writer({"f": b"a"})))
    entry_id = cache.create_my_artifact(file_writer(b"c"))
    entry = cache.my_artifact_path(entry_id)
    for path in (artifact, entry):
        assert time.time() - path.lstat().st_mtime < 60  # created: used now
        _date(path, 10)
    assert artifacts.artifact_path(artifact.name) == artifact
    assert cache.my_artifact_path(entry_id) == entry
    for path in (artifact, entry):
        assert time.time() - path.lstat().st_mtime < 60
        _date(path, 0.5)
    before = {p: p.lstat().st_mtime for p in (artifact, entry)}
    artifacts.artifact_path(artifact.name)
    cache.my_artifact_path(entry_id)
    assert {p: p.lstat().st_mtime for p in (artifact, entry)} == before  # once a day at most


def test_the_size_cap_spares_what_was_used_since_it_was_measured(depot: Path) -> None:
    entry_id = cache.create_my_artifact(file_writer(b"c" * 100))
    entry = cache.my_artifact_path(entry_id)
    _date(entry, 10)
    from scratchspaces import _evict
    from scratchspaces.cache import _recycle, _store

    found = _evict.survey(str(depot), {}, set())
    [unit] = [u for u in found.units if u.kind == "cache"]
    cache.my_artifact_path(entry_id)  # used between the measuring and the eviction
    store = _store.store_of_depot(str(depot))
    report = _recycle.evict(store, {unit.path: unit.used}, {unit.path: 100}, dry_run=False)
    assert report.deleted == {}
    assert entry.exists()


# --- the policy ------------------------------------------------------------------------------


def test_gc_without_options_follows_the_policy(depot: Path) -> None:
    scratchspaces.get_scratch("k", "pkg")
    stray = depot / "scratchspaces" / "stray" / "k"
    stray.mkdir(parents=True)
    assert scratchspaces.gc().orphaned == [stray]  # default: a week's grace
    _policy.update(str(depot), "gc.collect-delay", "14d")
    done = run_cli("gc")
    until = datetime.now(timezone.utc) + timedelta(days=14)
    assert f"1 orphaned, kept until {until:%Y-%m-%d}" in done.stdout
    _policy.update(str(depot), "gc.collect-delay", "0")
    assert scratchspaces.gc(collect_delay=timedelta(days=7)).orphaned == [stray]  # overridden
    assert run_cli("gc", "--collect-delay", "7d", "--json").returncode == 0
    assert stray.is_dir()
    assert stray in scratchspaces.gc().deleted


def test_a_damaged_policy_stops_gc_with_its_name(depot: Path) -> None:
    scratchspaces.get_scratch("k", "pkg")
    (depot / "config.toml").write_bytes(b"[gc\x00")
    with pytest.raises(DepotError, match=r"config\.toml"):
        scratchspaces.gc()
    done = run_cli("gc")
    assert done.returncode == 1
    assert "config.toml" in done.stderr
    assert len(done.stderr.splitlines()) == 1


# --- CACHEDIR.TAG ------------------------------------------------------------------------------


def test_the_user_depot_is_tagged_as_a_cache(depot: Path, tmp_path: Path) -> None:
    scratchspaces.get_scratch("k", "pkg")
    tag = depot / "CACHEDIR.TAG"
    assert tag.read_bytes().startswith(b"Signature: 8a477f597d28d172789f06886806bc55")
    tag.unlink()
    scratchspaces.gc(dry_run=True)
    assert not tag.exists()  # a dry run writes nothing
    scratchspaces.gc()
    assert tag.is_file()
    tag.unlink()
    outside = tmp_path / "outside"
    tag.symlink_to(outside)
    scratchspaces.gc()
    assert tag.is_symlink()
    assert not outside.exists()  # never written through a link


# --- the library's own spaces ----------------------------------------------------------------


def test_the_librarys_own_spaces_are_not_listed_or_deleted_as_spaces(depot: Path) -> None:
    toml = cache.my_artifacts_toml("some-pkg")
    entry = cache.create_my_artifact(file_writer(b"kept\n"))
    cache.bind_my_artifact(toml, "kept", entry)
    mine = scratchspaces.get_scratch("k", "pkg")
    listed = json.loads(run_cli("list", "--json").stdout)
    assert [row["path"] for row in listed] == [str(mine)]
    with pytest.raises(InvalidName, match="the library's own spaces"):
        scratchspaces.delete_scratch("some-pkg", "scratchspaces")
    with pytest.raises(InvalidName, match="the library's own spaces"):
        scratchspaces.clear_scratchspaces("scratchspaces")
    done = run_cli("delete", "some-pkg", "--pkg", "scratchspaces")
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1
    scratchspaces.clear_scratchspaces()  # every space, but the library's own
    assert not mine.exists()
    assert toml.is_file()
    assert cache.my_artifact_hash("kept", toml) == entry
    assert cache.my_artifact_exists(entry)


def test_the_size_cap_never_evicts_through_a_link(depot: Path, tmp_path: Path) -> None:
    entry_id = cache.create_my_artifact(file_writer(b"c" * 100))
    namespace = depot / "scratchspaces" / "scratchspaces"
    outside = tmp_path / "outside"
    shutil.move(namespace, outside)
    namespace.symlink_to(outside)  # the store is now reached through a link
    entry = outside / "_cache" / "artifacts" / entry_id[:2] / entry_id
    _date(entry, 30)
    with pytest.warns(ScratchspacesWarning, match="content cache"):
        scratchspaces.gc(max_size=0)
    assert entry.read_bytes() == b"c" * 100
