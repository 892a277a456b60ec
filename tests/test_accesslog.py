"""The access log (``scratchspaces._accesslog``): once a day, and failures that never fail callers.

A space is recorded once per parent and day, whatever the number of calls or processes;
a log or stamp that cannot be written costs one warning, never the space's path.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import scratchspaces
from _depots import access_log, access_log_file
from scratchspaces import GLOBAL, ScratchspacesWarning, _accesslog


def test_same_process_touches_do_not_grow_the_log(depot: Path) -> None:
    for _ in range(500):
        scratchspaces.get_scratch("k", "dist")
        scratchspaces.get_scratch("k", GLOBAL)
    assert len(access_log(depot)) == 2


def _backdate_stamps(depot: Path, hours: float) -> None:
    then = time.time() - hours * 3600
    for stamp in (depot / "logs" / "scratch_usage.d").rglob("*"):
        if stamp.is_file():
            os.utime(stamp, (then, then))


def test_one_record_per_space_and_parent_per_day(depot: Path) -> None:
    scratchspaces.get_scratch("k", "dist")
    _accesslog.forget()  # as a new process would
    _backdate_stamps(depot, 23)
    scratchspaces.get_scratch("k", "dist")
    assert len(access_log(depot)) == 1
    _accesslog.forget()
    _backdate_stamps(depot, 25)
    scratchspaces.get_scratch("k", "dist")
    assert len(access_log(depot)) == 2


def test_a_parent_dropped_from_the_log_is_recorded_again_at_once(depot: Path) -> None:
    """gc drops a gone parent's records and their stamps; seen again, it is new."""
    scratchspaces.get_scratch("k", "dist")
    access_log_file(depot).write_text("")
    for stamp in (depot / "logs" / "scratch_usage.d").rglob("*"):
        if stamp.is_file():
            stamp.unlink()
    _accesslog.forget()  # the next process
    scratchspaces.get_scratch("k", "dist")
    assert len(access_log(depot)) == 1


def test_a_space_deleted_meanwhile_is_recreated_and_still_recorded(depot: Path) -> None:
    path = scratchspaces.get_scratch("k", "dist")
    scratchspaces.delete_scratch("k", "dist")
    assert scratchspaces.get_scratch("k", "dist") == path
    assert path.is_dir()
    assert len(access_log(depot)) == 1


def test_track_access_0_disables_the_log(depot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRATCHSPACES_TRACK_ACCESS", "0")
    assert scratchspaces.get_scratch("k", "dist").is_dir()
    assert not (depot / "logs").exists()


def _break_logs_is_a_file(depot: Path) -> None:
    depot.mkdir()
    (depot / "logs").write_text("not a directory")


def _break_log_is_a_directory(depot: Path) -> None:
    (depot / "logs" / "scratch_usage.toml").mkdir(parents=True)


def _break_disk_full(depot: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    (depot / "logs").mkdir(parents=True)
    (depot / "logs" / "scratch_usage.toml").symlink_to("/dev/full")


@pytest.mark.parametrize(
    "breakage", [_break_logs_is_a_file, _break_log_is_a_directory, _break_disk_full]
)
def test_tracking_failure_costs_one_warning_and_never_the_path(
    breakage: object, depot: Path
) -> None:
    assert callable(breakage)
    breakage(depot)
    with pytest.warns(ScratchspacesWarning, match="could not record") as caught:
        paths = [scratchspaces.get_scratch("k", p) for p in ("a", "b", "c", "d", GLOBAL)]
    assert len(caught) == 1
    assert caught[0].filename == __file__  # it points at the caller's line, not at us
    assert all(p.is_dir() for p in paths)


def test_an_unreadable_project_costs_one_warning(tmp_path: Path, depot: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project\nname = broken")
    (project / "mod.py").write_text(
        "import scratchspaces\ndef use(): return scratchspaces.get_scratch('k')\n"
    )
    spec = importlib.util.spec_from_file_location("broken_mod", project / "mod.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _break_log_is_a_directory(depot)
    with pytest.warns(ScratchspacesWarning) as caught:
        path, _ = module.use(), module.use()
    assert len(caught) == 1
    assert "cannot read" in str(caught[0].message)
    assert path == depot / "scratchspaces" / "_global" / "k"


def test_new_processes_do_not_grow_the_log(depot: Path, tmp_path: Path) -> None:
    code = "import scratchspaces; scratchspaces.get_scratch('k', 'dist')"
    for _ in range(4):
        subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    assert len(access_log(depot)) == 1


def test_a_stamp_that_cannot_be_written_costs_no_record(depot: Path) -> None:
    """Else every process start would append a record: the log must not grow with them."""
    (depot / "logs").mkdir(parents=True)
    (depot / "logs" / "scratch_usage.d").write_text("not a directory")

    def three_process_starts() -> list[Path]:
        found = []
        for _ in range(3):
            _accesslog.forget()  # as a new process would
            found.append(scratchspaces.get_scratch("k", "dist"))
        return found

    with pytest.warns(ScratchspacesWarning, match="could not record"):
        paths = three_process_starts()
    assert all(p.is_dir() for p in paths)
    assert access_log(depot) == []


def test_warnings_turned_into_errors_never_fail_get_scratch(depot: Path, tmp_path: Path) -> None:
    _break_log_is_a_directory(depot)
    code = "import scratchspaces; print(scratchspaces.get_scratch('k', 'dist'))"
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(depot / "scratchspaces" / "dist" / "k")
