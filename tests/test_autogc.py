"""Automatic gc: started in the background by the first use in a process, when it is due.

Real processes throughout. Whether a gc was started is never guessed from timing: the
caller hands its lock (``logs/gc_auto.lock``) to the gc it starts, and the gc logs its
run before it exits, so "the lock is free and nothing is logged" means none started.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import scratchspaces
from _depots import use_depots
from _gcwait import lock_free, wait_for_gc
from _tmpfs import mounted
from _venvs import Venv, tiny_wheel
from scratchspaces import _accesslog, _autogc, _background, _policy
from scratchspaces.errors import DepotError

if TYPE_CHECKING:
    from collections.abc import Iterator

WAIT = 120.0  # seconds: how long a gc may take on a loaded machine before a test fails


def _lock_is_free(depot: Path) -> bool:
    return lock_free(depot)


def _wait_until_done(depot: Path) -> None:
    """Wait until no automatic gc holds the depot's lock."""
    wait_for_gc(depot, timeout=WAIT)


def _runs(depot: Path) -> list[dict[str, object]]:
    return _background.runs(str(depot))


def _auto_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCRATCHSPACES_GC_AUTO")


@contextlib.contextmanager
def _gc_held_back(depot: Path) -> Iterator[None]:
    """Hold the lock gc condenses the access log under: a gc started now waits for it."""
    with _accesslog.log_lock(str(depot)):
        yield


def _setup_orphan(venv: Venv, wheelhouse: Path, depot: Path) -> tuple[Path, Path]:
    """A package that recorded a space and was uninstalled; another package, warm.

    Returns ``(the orphan, the other package's space)``. Nothing automatic ran yet.
    """
    venv.install(tiny_wheel(wheelhouse, "1.0.0"))
    venv.install(wheelhouse / "acme_alpha-1.0-py3-none-any.whl")
    venv.run("import tinymod, acme.alpha")  # SCRATCHSPACES_GC_AUTO=0 (conftest)
    venv.uninstall("tiny-pkg")
    orphan = depot / "scratchspaces" / "tiny-pkg" / "data-1.0"
    assert orphan.is_dir()
    return orphan, depot / "scratchspaces" / "acme-alpha" / "k"


CALLER = "import os, acme.alpha; print(os.getpid())"


def _caller(venv: Venv) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv.python), "-c", CALLER],
        capture_output=True,
        text=True,
        cwd=venv.path.parent,
        check=True,
        timeout=WAIT,
    )


@pytest.mark.venv
def test_an_uninstalled_packages_space_is_collected_in_the_background(
    venv: Venv, wheelhouse: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan, warm = _setup_orphan(venv, wheelhouse, depot)
    _policy.update(str(depot), "gc.collect-delay", "0")
    _policy.update(str(depot), "gc.interval", "0")
    _auto_on(monkeypatch)
    with _gc_held_back(depot):
        done = _caller(venv)
        # The caller has returned and exited while its gc cannot have deleted anything:
        # it never waited for the gc, and the gc runs on (holding the lock it was given).
        assert orphan.is_dir()
        assert not _lock_is_free(depot)
    caller_pid = int(done.stdout)
    assert done.stderr == ""
    _wait_until_done(depot)
    assert not orphan.exists()
    assert warm.is_dir()
    [run] = _runs(depot)
    assert run["pid"] != caller_pid
    assert run["deleted"] == 3  # data-1.0, major-1 and from-sub: every space only it used
    assert not orphan.parent.exists()
    assert "error" not in run


@pytest.mark.venv
@pytest.mark.parametrize("switch", ["environment", "policy", "policy by hand"])
def test_turned_off_nothing_is_collected(
    venv: Venv, wheelhouse: Path, depot: Path, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    orphan, _warm = _setup_orphan(venv, wheelhouse, depot)
    _policy.update(str(depot), "gc.collect-delay", "0")
    _policy.update(str(depot), "gc.interval", "0")
    if switch == "environment":
        monkeypatch.setenv("SCRATCHSPACES_GC_AUTO", "0")
    else:
        _auto_on(monkeypatch)
    if switch == "policy":
        _policy.update(str(depot), "gc.auto", "off")
    if switch == "policy by hand":  # the marker still says due: the gc started reads it
        config = depot / "config.toml"
        config.write_text(config.read_text().replace("[gc]", '[gc]\nauto = "off"'))
    done = _caller(venv)
    assert done.stderr == ""
    _wait_until_done(depot)
    assert orphan.is_dir()
    assert _runs(depot) == []
    if switch != "environment":  # the next check costs one stat for years
        assert (_autogc.due_at(str(depot)) or 0) > time.time() + 5 * 365 * 86400


BARRIER = textwrap.dedent(
    """
    import os, sys, time

    def hook(event, args):
        # Both callers reach the lock of the automatic gc before either takes it.
        if event != "fcntl.flock" or not os.readlink(f"/proc/self/fd/{args[0]}").endswith(
            "gc_auto.lock"
        ):
            return
        open(os.path.join(sys.argv[1], str(os.getpid())), "w").close()
        deadline = time.monotonic() + 60
        while len(os.listdir(sys.argv[1])) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)

    sys.addaudithook(hook)
    import scratchspaces
    scratchspaces.get_scratch("k", "racer")
    """
)


def test_two_processes_finding_gc_due_at_once_start_one(
    depot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratchspaces.get_scratch("k", "racer")  # the depot exists, the space is recorded
    _auto_on(monkeypatch)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen([sys.executable, "-c", BARRIER, str(barrier)], cwd=tmp_path)
        for _ in range(2)
    ]
    assert [p.wait(WAIT) for p in procs] == [0, 0]
    assert len(os.listdir(barrier)) == 2  # both met at the lock
    _wait_until_done(depot)
    assert len(_runs(depot)) == 1
    # The gc moved the next one a day ahead: a third process starts none.
    assert (_autogc.due_at(str(depot)) or 0) > time.time() + 23 * 3600
    subprocess.run(
        [sys.executable, "-c", "import scratchspaces; scratchspaces.get_scratch('k', 'racer')"],
        check=True,
        cwd=tmp_path,
    )
    _wait_until_done(depot)
    assert len(_runs(depot)) == 1


def _no_gc_started(depot: Path) -> None:
    assert not (depot / "logs" / "gc_auto.lock").exists()
    assert _runs(depot) == []


def test_skipped_under_overrides_and_for_other_interpreters(
    depot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratchspaces.get_scratch("k", "pkg")
    _autogc.forget()
    _auto_on(monkeypatch)
    with scratchspaces.with_scratch_directory(tmp_path / "override"):
        scratchspaces.get_scratch("k", "pkg")
    assert not _autogc.checked  # the first use of the user depot is still to come
    toml = tmp_path / "Artifacts.toml"
    toml.write_text(f'[x]\ngit-tree-sha1 = "{"ab" * 20}"\n')
    with (
        scratchspaces.artifacts.with_artifacts_directory(tmp_path / "store"),
        pytest.raises(scratchspaces.artifacts.DownloadError),  # no source: checked after
    ):
        scratchspaces.artifacts.ensure_artifact_installed("x", toml)
    assert not _autogc.checked
    for executable, frozen in [("", False), ("/usr/bin/blender", False), (sys.executable, True)]:
        with monkeypatch.context() as m:
            m.setattr(sys, "executable", executable)
            m.setattr(sys, "frozen", frozen, raising=False)
            _autogc.forget()
            scratchspaces.get_scratch("k", "pkg")
            assert _autogc.checked
    _no_gc_started(depot)


def test_skipped_on_a_read_only_depot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with mounted(tmp_path / "mnt", size=4 * 2**20) as fs:
        depot = fs.path / "depot"
        use_depots(monkeypatch, depot)
        scratchspaces.get_scratch("k", "pkg")
        _auto_on(monkeypatch)
        _autogc.forget()
        with fs.read_only_for():
            assert scratchspaces.get_scratch("k", "pkg").is_dir()
        _no_gc_started(depot)


def test_a_later_depot_is_never_collected(
    depot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = tmp_path / "later"
    stray = later / "scratchspaces" / "stray" / "k"
    stray.mkdir(parents=True)
    use_depots(monkeypatch, depot, later)
    scratchspaces.get_scratch("k", "pkg")
    _policy.update(str(depot), "gc.collect-delay", "0")
    _auto_on(monkeypatch)
    subprocess.run(
        [sys.executable, "-c", "import scratchspaces; scratchspaces.get_scratch('k', 'pkg')"],
        check=True,
        cwd=tmp_path,
    )
    _wait_until_done(depot)
    assert len(_runs(depot)) == 1
    assert stray.is_dir()
    assert not (later / "logs").exists()


def test_a_policy_that_cannot_be_read_is_logged_and_tried_a_day_later(depot: Path) -> None:
    scratchspaces.get_scratch("k", "pkg")
    stray = depot / "scratchspaces" / "stray" / "k"
    stray.mkdir(parents=True)
    (depot / "config.toml").write_text('[gc]\ncollect-delay = "soon"\n')
    with pytest.raises(DepotError, match=r"config\.toml"):
        scratchspaces.gc()
    entry = _background.run(str(depot))
    assert entry is not None
    assert "collect-delay" in str(entry["error"])
    assert stray.is_dir()
    assert (_autogc.due_at(str(depot)) or 0) > time.time() + 23 * 3600
    assert _runs(depot)[-1]["error"] == entry["error"]
    # Options given in full need no policy.
    report = scratchspaces.gc(collect_delay=timedelta(0), max_age=timedelta(days=1), max_size=1)
    assert stray in report.deleted


def test_the_log_keeps_the_last_runs_only(depot: Path) -> None:
    scratchspaces.get_scratch("k", "pkg")
    (depot / "logs" / "gc_auto.log").write_bytes(b"not json\n\x00\xff\n")
    for _ in range(3):
        _background.run(str(depot))
    assert len(_runs(depot)) == 3  # the damaged lines are read around
    big = {"started": "2026-01-01T00:00:00+00:00", "pad": "x" * 2000}
    for i in range(100):
        _background._append(str(depot), {**big, "n": i}, time.time())
    log = depot / "logs" / "gc_auto.log"
    assert log.stat().st_size <= _background.MAX_BYTES
    runs = _runs(depot)
    assert runs[-1]["n"] == 99
    assert len(runs) <= _background.KEEP
    assert all(json.loads(line) for line in log.read_text().splitlines())
