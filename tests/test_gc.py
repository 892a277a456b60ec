"""Garbage collection (``scratchspaces._gc``): the spaces nobody uses any more, nothing else."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import scratchspaces
from _cli import run_cli
from _depots import access_log, read_orphanage, snapshot, write_access_log, write_orphanage
from _venvs import DROP_OVERRIDE, Venv, run_bound_by_permissions, tiny_wheel
from scratchspaces import GLOBAL, ScratchspacesWarning, _accesslog, _owners, _warn

ZERO = timedelta(0)


def _fill(path: Path, size: int = 1000) -> None:
    (path / "blob").write_bytes(b"x" * size)


# --- real environments -------------------------------------------------------------------


@pytest.mark.venv
def test_uninstall_orphans_then_the_delay_frees(venv: Venv, wheelhouse: Path, depot: Path) -> None:
    venv.install(tiny_wheel(wheelhouse, "1.0.0"))
    venv.run(
        "import tinymod as t\n"
        "for s in (t.VERSION_SPACE, t.MAJOR_SPACE, t.GLOBAL_SPACE, t.SUB_SPACE):\n"
        "    (s / 'blob').write_bytes(b'x' * 4096)\n"
    )
    spaces = depot / "scratchspaces"
    tiny = {spaces / "tiny-pkg" / k for k in ("data-1.0", "major-1", "from-sub")}
    shared = spaces / "_global" / "shared"

    report = scratchspaces.gc()
    assert report.deleted == {}
    assert report.orphaned == []
    assert set(report.kept) == tiny | {shared}

    venv.uninstall("tiny-pkg")
    report = scratchspaces.gc()
    assert report.deleted == {}
    assert set(report.orphaned) == tiny  # orphaned, but kept for now
    assert report.kept == [shared]
    assert all(p.is_dir() for p in tiny)
    assert set(read_orphanage(depot)) == {str(p) for p in tiny}

    # A week later (the orphanage says so), the next gc frees them.
    week_ago = datetime.now(timezone.utc) - timedelta(days=7, minutes=1)
    write_orphanage(depot, {str(p): week_ago for p in tiny})
    report = scratchspaces.gc()
    assert set(report.deleted) == tiny
    assert all(size == 4096 for size in report.deleted.values())
    assert report.freed_bytes == sum(report.deleted.values()) == 3 * 4096
    assert not (spaces / "tiny-pkg").exists()  # the empty namespace goes too
    assert shared.is_dir()
    assert report.kept == [shared]
    assert read_orphanage(depot) == {}
    assert [r.key for r in access_log(depot)] == [str(shared)]


@pytest.mark.venv
def test_upgrade_frees_the_old_versions_space_only(
    venv: Venv, wheelhouse: Path, depot: Path
) -> None:
    venv.install(tiny_wheel(wheelhouse, "1.0.0"))
    venv.run("import tinymod")
    venv.install(tiny_wheel(wheelhouse, "1.1.0"))
    venv.run("import tinymod")
    report = scratchspaces.gc(collect_delay=ZERO)
    spaces = depot / "scratchspaces" / "tiny-pkg"
    assert set(report.deleted) == {spaces / "data-1.0"}
    assert {spaces / "data-1.1", spaces / "major-1", spaces / "from-sub"} <= set(report.kept)
    # major-1 keeps only the parent that still exists
    [entry] = [r for r in access_log(depot) if r.key == str(spaces / "major-1")]
    assert entry.parents == (str(venv.site_packages / "Tiny_Pkg-1.1.0.dist-info"),)


@pytest.mark.venv
def test_deleting_the_environment_frees_its_global_space(
    venv: Venv, wheelhouse: Path, depot: Path
) -> None:
    venv.install(tiny_wheel(wheelhouse, "1.0.0"))
    venv.run("import tinymod")
    mine = scratchspaces.get_scratch("mine", GLOBAL)  # used by this environment too
    shutil.rmtree(venv.path)
    report = scratchspaces.gc(collect_delay=ZERO)
    spaces = depot / "scratchspaces"
    assert spaces / "_global" / "shared" in report.deleted
    assert spaces / "tiny-pkg" / "data-1.0" in report.deleted
    assert report.kept == [mine]


# --- the rules ---------------------------------------------------------------------------


def test_a_space_never_recorded_is_an_orphan_and_use_revives_it(depot: Path) -> None:
    stray = depot / "scratchspaces" / "stray" / "k"
    stray.mkdir(parents=True)
    report = scratchspaces.gc()
    assert report.orphaned == [stray]
    assert str(stray) in read_orphanage(depot)
    scratchspaces.get_scratch("k", "stray")
    report = scratchspaces.gc(collect_delay=ZERO)
    assert report.kept == [stray]
    assert report.deleted == {}
    assert read_orphanage(depot) == {}


def test_zero_delay_deletes_in_the_call_that_first_sees_it(depot: Path, tmp_path: Path) -> None:
    stray = depot / "scratchspaces" / "stray" / "k"
    (stray / "sub").mkdir(parents=True)
    _fill(stray / "sub", 10)
    (stray / "sub").chmod(0o500)
    home = tmp_path / "home"
    (home / "precious").write_text("keep")
    (stray / "to-home").symlink_to(home)
    report = scratchspaces.gc(collect_delay=ZERO)
    assert report.deleted == {stray: 10}
    assert not stray.exists()
    assert (home / "precious").read_text() == "keep"  # links are removed, never followed
    assert not (depot / ".trash").exists()


def test_max_age_deletes_even_live_spaces(depot: Path) -> None:
    old = scratchspaces.get_scratch("old", "pkg")
    fresh = scratchspaces.get_scratch("fresh", "pkg")
    parent = access_log(depot)[0].parents[0]
    now = datetime.now(timezone.utc)
    write_access_log(depot, [(old, now - timedelta(days=100), [parent]), (fresh, now, [parent])])
    report = scratchspaces.gc(max_age=timedelta(days=90))
    assert set(report.deleted) == {old}
    assert report.kept == [fresh]


def test_max_size_deletes_oldest_first_and_spares_recent(depot: Path) -> None:
    now = datetime.now(timezone.utc)
    ages = {"d30": 30, "d20": 20, "d10": 10, "recent": 0}
    paths = {name: scratchspaces.get_scratch(name, "pkg") for name in ages}
    for path in paths.values():
        _fill(path, 1000)
    parent = access_log(depot)[0].parents[0]
    write_access_log(
        depot, [(paths[n], now - timedelta(days=d), [parent]) for n, d in ages.items()]
    )

    report = scratchspaces.gc(max_size=2500, dry_run=True)
    assert set(report.deleted) == {paths["d30"], paths["d20"]}  # the two oldest fit it
    report = scratchspaces.gc(max_size=0)
    assert set(report.deleted) == {paths["d30"], paths["d20"], paths["d10"]}
    assert report.kept == [paths["recent"]]  # recorded in the last 24 hours: spared
    assert paths["recent"].is_dir()


def test_dry_run_changes_nothing_at_all(depot: Path) -> None:
    used = scratchspaces.get_scratch("used", "pkg")
    _fill(used)
    stray = depot / "scratchspaces" / "stray" / "k"
    stray.mkdir(parents=True)
    _fill(stray, 7)
    scratchspaces.gc()  # the orphanage and the condensed log exist
    (depot / "logs" / "scratch_usage.lock").unlink(missing_ok=True)
    before = snapshot(depot)
    report = scratchspaces.gc(collect_delay=ZERO, max_age=timedelta(0), max_size=0, dry_run=True)
    assert report.deleted == {stray: 7, used: 1000}  # max_age=0 takes the live one too
    assert report.freed_bytes == 1007
    assert snapshot(depot) == before  # disk and logs byte-identical, no lock file either


def test_condensation_leaves_one_record_with_live_parents(depot: Path, tmp_path: Path) -> None:
    space = scratchspaces.get_scratch("k", "pkg")
    live = [tmp_path / f"live-{i}" for i in range(3)]
    for path in live:
        path.write_text("")
    now = datetime.now(timezone.utc)
    records = [
        (space, now - timedelta(minutes=i), [str(live[i % 3]), str(tmp_path / f"gone-{i}")])
        for i in range(300)
    ]
    write_access_log(depot, records)
    scratchspaces.gc()
    [record] = access_log(depot)
    assert record.key == str(space)
    assert set(record.parents) == {str(p) for p in live}
    assert abs(record.time - now) < timedelta(seconds=1)
    assert (depot / "logs" / "scratch_usage.toml").stat().st_size < 400


def test_a_corrupt_log_never_costs_a_live_space(depot: Path) -> None:
    live = scratchspaces.get_scratch("live", "pkg")
    named = depot / "scratchspaces" / "pkg" / "named-by-damage"
    named.mkdir()
    healthy = (depot / "logs" / "scratch_usage.toml").read_bytes()
    (depot / "logs" / "scratch_usage.toml").write_bytes(
        b"\x00" * 100
        + b'\n[["'
        + str(named).encode()
        + b'"]]\ntime = 2026-13-45T99:00:00Z\nparent_projects = ["/x"\n'
        + b"\xff\xfe garbage [[ not toml\n"
        + healthy
        + b'[["/torn/at/the/end'
    )
    with pytest.warns(ScratchspacesWarning, match="unreadable record"):
        report = scratchspaces.gc(collect_delay=ZERO)
    assert live.is_dir()
    assert report.kept == [live]
    # the space a damaged record named gets a full grace period, not a verdict
    assert named.is_dir()
    assert report.orphaned == [named]


def test_a_parent_gc_dropped_is_recorded_again_at_once(tmp_path: Path, depot: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    script = project / "use.py"
    script.write_text("import scratchspaces; scratchspaces.get_scratch('k')\n")
    (project / "pyproject.toml").write_text('[project]\nname = "proj"\n')
    subprocess.run([sys.executable, str(script)], check=True, cwd=tmp_path)
    (project / "pyproject.toml").unlink()
    report = scratchspaces.gc()
    space = depot / "scratchspaces" / "proj" / "k"
    assert report.orphaned == [space]
    (project / "pyproject.toml").write_text('[project]\nname = "proj"\n')
    subprocess.run([sys.executable, str(script)], check=True, cwd=tmp_path)  # within 24 h
    report = scratchspaces.gc(collect_delay=ZERO)
    assert report.kept == [space]


def test_only_the_user_depot_unless_asked(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site-depot"
    (site / "scratchspaces" / "admin" / "k").mkdir(parents=True)
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", os.pathsep.join([str(depot), str(site)]))
    stray = depot / "scratchspaces" / "stray" / "k"
    stray.mkdir(parents=True)
    before = snapshot(site)
    report = scratchspaces.gc(collect_delay=ZERO)
    assert set(report.deleted) == {stray}
    assert snapshot(site) == before
    report = scratchspaces.gc(collect_delay=ZERO, all_depots=True)
    assert set(report.deleted) == {site / "scratchspaces" / "admin" / "k"}


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="negative"):
        scratchspaces.gc(collect_delay=timedelta(days=-1))
    with pytest.raises(ValueError, match="negative"):
        scratchspaces.gc(max_size=-1)


# --- crashes -----------------------------------------------------------------------------


def test_a_gc_killed_mid_sweep_leaves_nothing_half_deleted(depot: Path, tmp_path: Path) -> None:
    big = depot / "scratchspaces" / "stray" / "big"
    for d in range(200):
        sub = big / f"d{d}"
        sub.mkdir(parents=True)
        for f in range(200):
            (sub / f"f{f}").write_bytes(b"x")
    code = "import datetime, scratchspaces; scratchspaces.gc(collect_delay=datetime.timedelta(0))"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path)
    trash = depot / ".trash"
    deadline = time.monotonic() + 60
    try:
        # Kill it once the tree is in the trash and some of it is removed.
        while not (trash.is_dir() and any(len(os.listdir(t)) < 200 for t in trash.iterdir())):
            assert proc.poll() is None, "gc finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert not big.exists()  # gone from its real name in one step
    [leftover] = list(trash.iterdir())
    assert sum(1 for _ in leftover.rglob("f*")) < 200 * 200  # killed mid-deletion

    report = scratchspaces.gc()
    assert not trash.exists()  # the next gc finishes the job, and counts what it freed
    assert report.deleted == {leftover: report.freed_bytes}
    assert 0 < report.freed_bytes < 200 * 200


def test_paths_are_compared_as_paths(depot: Path, tmp_path: Path) -> None:
    space = scratchspaces.get_scratch("k", "pkg")
    sibling = depot / "scratchspaces" / "pkg" / "k2"  # shares a string prefix with k
    sibling.mkdir()
    parent = tmp_path / "dist-1.0.dist-info"
    parent.mkdir()
    spelled = f"{depot}/scratchspaces/./pkg//k"  # the same space, spelled differently
    write_access_log(depot, [(Path(spelled), datetime.now(timezone.utc), [str(parent)])])
    report = scratchspaces.gc(collect_delay=ZERO)
    assert report.kept == [space]
    assert set(report.deleted) == {sibling}  # a prefix of a live space's path keeps nothing


@pytest.mark.skipif(DROP_OVERRIDE is None, reason="root without setpriv: permissions never bind")
def test_gc_warns_and_continues_past_what_it_cannot_remove(depot: Path, tmp_path: Path) -> None:
    stuck = depot / "scratchspaces" / "a" / "stuck"
    (stuck / "locked").mkdir(parents=True)
    (stuck / "locked" / "file").write_text("x")
    other = depot / "scratchspaces" / "b" / "other"
    other.mkdir(parents=True)
    os.chown(stuck / "locked", 65534, 65534)  # not ours: we may not chmod it back
    (stuck / "locked").chmod(0o555)
    code = (
        "import datetime, warnings, scratchspaces\n"
        "warnings.simplefilter('always')\n"
        "r = scratchspaces.gc(collect_delay=datetime.timedelta(0))\n"
        "print(sorted(str(p) for p in r.deleted))\n"
    )
    try:
        result = run_bound_by_permissions(code, tmp_path)
    finally:
        (stuck / "locked").chmod(0o755) if stuck.exists() else None
    assert result.returncode == 0, result.stderr
    assert "could not remove 1 entry" in result.stderr  # the file; its parents follow
    assert result.stdout.strip() == str(sorted([str(stuck), str(other)]))
    assert not stuck.exists()  # gone from its real name; the leftover waits in the trash
    assert not other.exists()
    [leftover] = (depot / ".trash").iterdir()
    (leftover / "locked").chmod(0o755)
    scratchspaces.gc()  # once removable, the next gc finishes the job
    assert not (depot / ".trash").exists()


def test_temporaries_of_crashed_writers_are_removed_and_those_in_flight_kept(
    depot: Path,
) -> None:
    scratchspaces.get_scratch("k", "pkg")
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    logs = depot / "logs"
    crashed = logs / f"orphaned.toml.tmp-{ended.stdout.strip()}-deadbeef@{_owners.host()}"
    crashed.write_text("half of an orphanage")
    # Another machine's (locks may not reach it), and a live writer's, are left alone.
    elsewhere = logs / "scratch_usage.toml.tmp-1-deadbeef@another-node"
    elsewhere.write_text("in flight")
    live = logs / f"scratch_usage.toml.tmp-{os.getpid()}-deadbeef@{_owners.host()}"
    live.write_text("in flight")
    scratchspaces.gc()
    assert not crashed.exists()
    assert sorted(p.name for p in logs.iterdir() if p.is_file()) == sorted(
        ["orphaned.toml", "scratch_usage.lock", "scratch_usage.toml", elsewhere.name, live.name]
    )


# --- damaged files: read around, never trusted, never a deletion of what they name ------


def _recorded_by_log_only(depot: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A space recorded for a live parent, whose only record is the log's last one."""
    parent = tmp_path / "pkg-1.0.dist-info"
    parent.mkdir()
    other = scratchspaces.get_scratch("other", "pkg")
    space = _accesslog.ensure_space(str(depot), "pkg", "k", str(parent))
    shutil.rmtree(depot / "logs" / "scratch_usage.d")
    assert access_log(depot)[-1].key == str(space)
    return other, space


def test_a_nul_filled_last_record_deletes_nothing(depot: Path, tmp_path: Path) -> None:
    """Some filesystems extend a file before its data lands: a crash leaves NULs."""
    other, space = _recorded_by_log_only(depot, tmp_path)
    log = depot / "logs" / "scratch_usage.toml"
    text = log.read_bytes()
    last = text.rindex(b"\n[[")
    log.write_bytes(text[:last] + b"\0" * (len(text) - last))
    with pytest.warns(ScratchspacesWarning, match="unreadable record"):
        report = scratchspaces.gc(collect_delay=timedelta(0))
    assert report.deleted == {}
    assert space.is_dir()
    assert other.is_dir()
    assert space in report.orphaned  # its grace starts now: the next gc judges it


def test_a_bad_character_in_a_time_is_read_around(depot: Path, tmp_path: Path) -> None:
    other, space = _recorded_by_log_only(depot, tmp_path)
    log = depot / "logs" / "scratch_usage.toml"
    for bad in ("2026-11-2x", "2026-13-21", "2026-11-2\u0663"):
        text = log.read_text()
        start = text.rindex("time = ") + len("time = ")
        log.write_text(text[:start] + bad + text[start + 10 :])
        with pytest.warns(ScratchspacesWarning, match="unreadable record"):
            report = scratchspaces.gc(collect_delay=timedelta(0))
        assert report.deleted == {}
        assert space.is_dir()
        assert other.is_dir()
        _accesslog.ensure_space(str(depot), "pkg", "k", str(tmp_path / "pkg-1.0.dist-info"))
        shutil.rmtree(depot / "logs" / "scratch_usage.d")
        _warn.reset()
    result = run_cli("list")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("where", ["log", "orphanage", "artifact_usage"])
def test_deeply_nested_brackets_are_damage_not_a_crash(
    depot: Path, tmp_path: Path, where: str
) -> None:
    other, space = _recorded_by_log_only(depot, tmp_path)
    nested = "[" * 6000 + "\n"
    name = {"log": "scratch_usage.toml", "orphanage": "orphaned.toml"}.get(where, where + ".toml")
    target = depot / "logs" / name
    target.write_text((target.read_text() if target.exists() else "") + nested)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScratchspacesWarning)
        report = scratchspaces.gc(collect_delay=timedelta(0))
    assert report.deleted == {}
    assert space.is_dir()
    assert other.is_dir()
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
