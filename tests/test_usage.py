"""The access log: its shape, the once-a-day rule, failures that must not fail callers."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchspaces
from _depots import access_log
from scratchspaces import GLOBAL, ScratchspacesWarning, _accesslog, _identity, _records

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib


def _log(depot: Path) -> Path:
    return depot / "logs" / "scratch_usage.toml"


def _read(depot: Path) -> list[_records.Record]:
    return access_log(depot)


def test_record_shape_is_the_specs_toml(depot: Path) -> None:
    before = datetime.now(timezone.utc)
    space = scratchspaces.get_scratch("datasets", "scikit-learn")
    data = tomllib.loads(_log(depot).read_text())
    assert list(data) == [str(space)]
    [entry] = data[str(space)]
    assert set(entry) == {"time", "parent_projects"}
    assert before - timedelta(seconds=1) <= entry["time"] <= datetime.now(timezone.utc)
    assert entry["time"].utcoffset() == timedelta(0)
    # scikit-learn is not installed here: the caller's own parent is recorded instead.
    assert entry["parent_projects"] == [_identity.owner_of_file(__file__).parent]


paths = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\0"),
    min_size=1,
    max_size=40,
)


@given(space=paths, parents=st.lists(paths, min_size=1, max_size=3))
def test_written_records_read_back_exactly(space: str, parents: list[str]) -> None:
    """Any path (quotes, backslashes, control characters, non-ASCII) survives the log."""
    when = 1_790_000_000.123
    text = _accesslog.format_record(space, when, parents).decode()
    oracle = tomllib.loads(text)
    assert oracle[space][0]["parent_projects"] == parents
    [record] = _records.parse_log(text)
    assert record.key == space
    assert list(record.parents) == parents
    assert record.time == oracle[space][0]["time"]


def test_reader_accepts_other_writers_layout() -> None:
    """Julia's Pkg (and a human) may space and order things differently."""
    text = (
        '[["/d/scratchspaces/x/k"]]\n'
        'parent_projects = ["/p/one", "/p/two"]\n'
        "time = 2026-01-02T03:04:05.678Z\n\n"
        '[["/d/scratchspaces/x/k"]]\ntime = 2026-01-03T00:00:00Z\n'
        "parent_projects = ['/p/three']\n"
    )
    records = list(_records.parse_log(text))
    assert [r.parents for r in records] == [("/p/one", "/p/two"), ("/p/three",)]
    assert records[1].time == datetime(2026, 1, 3, tzinfo=timezone.utc)


def test_corrupt_records_are_skipped_with_one_warning() -> None:
    good = _accesslog.format_record("/d/scratchspaces/x/good", 1_790_000_000.0, ["/p"]).decode()
    other = _accesslog.format_record("/d/scratchspaces/x/other", 1_790_000_001.0, ["/q"]).decode()
    text = (
        '[["/d/scratchspaces/x/torn"]]\ntime = 2026-11-'  # cut mid-write
        + good
        + "\0" * 64  # a crash on a filesystem that zero-fills
        + '\n[["/d/scratchspaces/x/mangled"]]\ntime = yesterday\nparent_projects = "me"\n'
        + "garbage ]] [[ \n"
        + other
    )
    with pytest.warns(ScratchspacesWarning, match="skipped 2 unreadable record") as caught:
        records = list(_records.parse_log(text))
    assert len(caught) == 1
    assert [r.key for r in records] == ["/d/scratchspaces/x/good", "/d/scratchspaces/x/other"]


def test_same_process_touches_do_not_grow_the_log(depot: Path) -> None:
    for _ in range(500):
        scratchspaces.get_scratch("k", "dist")
        scratchspaces.get_scratch("k", GLOBAL)
    assert len(_read(depot)) == 2


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
    assert len(_read(depot)) == 1
    _accesslog.forget()
    _backdate_stamps(depot, 25)
    scratchspaces.get_scratch("k", "dist")
    assert len(_read(depot)) == 2


def test_a_parent_dropped_from_the_log_is_recorded_again_at_once(depot: Path) -> None:
    """gc drops a gone parent's records and their stamps; seen again, it is new."""
    scratchspaces.get_scratch("k", "dist")
    _log(depot).write_text("")
    for stamp in (depot / "logs" / "scratch_usage.d").rglob("*"):
        if stamp.is_file():
            stamp.unlink()
    _accesslog.forget()  # the next process
    scratchspaces.get_scratch("k", "dist")
    assert len(_read(depot)) == 1


def test_a_space_deleted_meanwhile_is_recreated_and_still_recorded(depot: Path) -> None:
    path = scratchspaces.get_scratch("k", "dist")
    scratchspaces.delete_scratch("k", "dist")
    assert scratchspaces.get_scratch("k", "dist") == path
    assert path.is_dir()
    assert len(_read(depot)) == 1


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
    assert len(_read(depot)) == 1


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
    assert _read(depot) == []


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
