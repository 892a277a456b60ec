"""What every collector shares (``scratchspaces._collect``), on real files in ``tmp_path``.

The grace rule, the plan a collector settles, the orphanage file, the sweep through the
trash folder and the merged report, each checked against what its docstring promises.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import textwrap
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from _depots import refuse_unlink, snapshot
from _venvs import DROP_OVERRIDE, run_bound_by_permissions
from scratchspaces import ScratchspacesWarning, _collect
from scratchspaces._collect import GCReport, Grace, Plan, Sweep

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def doomed_trees(work: Path) -> tuple[str, str]:
    """Two trees to delete: ``a`` (2100 bytes, read-only parts, a link) and ``b`` (7 bytes)."""
    a, b = work / "a", work / "b"
    (a / "sub").mkdir(parents=True)
    (a / "one").write_bytes(b"1" * 100)
    (a / "sub" / "two").write_bytes(b"2" * 2000)
    (a / "sub" / "two").chmod(0o444)
    (a / "sub").chmod(0o555)
    (a / "link").symlink_to(work / "outside")
    b.mkdir()
    (b / "f").write_bytes(b"b" * 7)
    (work / "outside").write_bytes(b"o" * 50_000)
    return str(a), str(b)


# ---------------------------------------------------------------------------------------
# The grace rule


def test_a_new_orphan_is_first_seen_now_and_due_at_once_with_no_delay() -> None:
    """Zero delay: an orphan never seen before is due in the run that first sees it."""
    plan = Plan()
    assert Grace({}, T0, timedelta(0)).judge(plan, "k") is True
    assert plan.orphanage == {"k": T0}


def test_a_new_orphan_waits_out_the_delay() -> None:
    """With a delay, a new orphan is first seen now and is not due yet."""
    plan = Plan()
    assert Grace({}, T0, HOUR).judge(plan, "k") is False
    assert plan.orphanage == {"k": T0}


@pytest.mark.parametrize(
    ("age", "due"),
    [
        (timedelta(0), False),
        (HOUR - timedelta(microseconds=1), False),
        (HOUR, True),
        (HOUR + timedelta(seconds=1), True),
        (timedelta(days=400), True),
    ],
)
def test_an_orphan_is_due_once_it_has_been_one_for_the_delay(age: timedelta, due: bool) -> None:
    """A known orphan is due exactly when ``now - first >= delay``; its first time is kept."""
    plan = Plan()
    first = T0 - age
    assert Grace({"k": first}, T0, HOUR).judge(plan, "k") is due
    assert plan.orphanage == {"k": first}


@pytest.mark.parametrize("delay", [timedelta(0), HOUR])
def test_a_damaged_record_restarts_the_grace_and_is_never_due(delay: timedelta) -> None:
    """``damaged=True``: first seen now, whatever was known, and not due even with no delay."""
    plan = Plan()
    grace = Grace({"k": T0 - timedelta(days=30)}, T0, delay)
    assert grace.judge(plan, "k", damaged=True) is False
    assert plan.orphanage == {"k": T0}
    assert grace.judge(plan, "new", damaged=True) is False
    assert plan.orphanage == {"k": T0, "new": T0}


def test_the_orphanage_records_every_judged_key_and_only_those() -> None:
    """Every judged key, due or not, is in the plan's orphanage; an unjudged one is not."""
    known = {"old": T0 - 2 * HOUR, "young": T0 - timedelta(minutes=5), "used-again": T0 - HOUR}
    plan = Plan()
    grace = Grace(known, T0, HOUR)
    verdicts = {key: grace.judge(plan, key) for key in ("old", "young", "new")}
    assert verdicts == {"old": True, "young": False, "new": False}
    assert plan.orphanage == {"old": T0 - 2 * HOUR, "young": T0 - timedelta(minutes=5), "new": T0}


def test_a_negative_delay_is_refused() -> None:
    """A negative collect_delay raises ValueError."""
    with pytest.raises(ValueError, match="negative"):
        Grace({}, T0, -timedelta(microseconds=1))


def test_now_is_aware_utc() -> None:
    """Collections run at an aware UTC time."""
    assert _collect.now().utcoffset() == timedelta(0)


# ---------------------------------------------------------------------------------------
# The plan


def test_settle_sorts_keys_in_their_order() -> None:
    """Doomed keys are deleted and leave the orphanage; kept orphans are orphaned; others kept."""
    plan = Plan(orphanage={"o1": T0, "d1": T0, "o2": T0 - HOUR})
    plan.settle(["k1", "d1", "o2", "k2", "d2", "o1"], {"d1", "d2", "not-listed"})
    assert plan.delete == ["d1", "d2"]
    assert plan.orphaned == ["o2", "o1"]
    assert plan.kept == ["k1", "k2"]
    assert plan.orphanage == {"o1": T0, "o2": T0 - HOUR}


def test_grace_then_settle() -> None:
    """Judging then settling: what is due goes, the rest of the orphans wait, in order."""
    plan = Plan()
    grace = Grace({"old": T0 - 2 * HOUR}, T0, HOUR)
    doomed = {key for key in ("old", "new") if grace.judge(plan, key)}
    plan.settle(["used", "old", "new"], doomed)
    assert (plan.delete, plan.orphaned, plan.kept) == (["old"], ["new"], ["used"])
    assert plan.orphanage == {"new": T0}


# ---------------------------------------------------------------------------------------
# The orphanage file


def test_orphanage_round_trip_sorted_utc_to_the_millisecond(tmp_path: Path) -> None:
    """Written sorted by key, in UTC to the ms; read back as the same instants (aware, UTC)."""
    path = tmp_path / "orphanage.toml"
    plus_two = timezone(timedelta(hours=2))
    entries = {
        "/depot/z": datetime(2024, 1, 2, 3, 4, 5, 678_999, tzinfo=timezone.utc),
        "/depot/a": datetime(2024, 1, 2, 5, 4, 5, 123_456, tzinfo=plus_two),
        'odd "key" \\ é\t': datetime(2023, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
    }
    _collect.write_orphanage(str(path), entries)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == [
        '"/depot/a" = 2024-01-02T03:04:05.123Z',
        '"/depot/z" = 2024-01-02T03:04:05.678Z',
    ]
    assert len(lines) == 3
    assert lines == sorted(lines)
    read = _collect.read_orphanage(str(path))
    assert read == {
        key: when.replace(microsecond=when.microsecond // 1000 * 1000)
        for key, when in entries.items()
    }
    assert all(when.utcoffset() == timedelta(0) for when in read.values())
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == ["orphanage.toml"]


def test_write_orphanage_replaces_the_file(tmp_path: Path) -> None:
    """Writing again replaces every entry: an orphan used again is gone from the file."""
    path = str(tmp_path / "orphanage.toml")
    _collect.write_orphanage(path, {"a": T0, "b": T0})
    _collect.write_orphanage(path, {"b": T0})
    assert _collect.read_orphanage(path) == {"b": T0}
    _collect.write_orphanage(path, {})
    assert _collect.read_orphanage(path) == {}


def test_a_missing_orphanage_reads_as_empty_without_a_warning(tmp_path: Path) -> None:
    """No file yet: no orphans, nothing to warn about."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _collect.read_orphanage(str(tmp_path / "missing.toml")) == {}
    assert caught == []


@pytest.mark.parametrize(
    "content",
    [b'"a" = 2024-01-02T03:04:05Z\n"b" = [', b"\x00\xff\xfe\x80binary\x89PNG", b"= = ="],
    ids=["not-toml", "binary", "garbage"],
)
def test_a_damaged_orphanage_reads_as_empty_with_one_warning(
    tmp_path: Path, content: bytes
) -> None:
    """A damaged file is ``{}`` (every orphan starts anew), with exactly one warning."""
    path = tmp_path / "orphanage.toml"
    path.write_bytes(content)
    reads: list[dict[str, datetime]] = []

    def read_twice() -> None:
        reads.extend(_collect.read_orphanage(str(path)) for _ in range(2))

    with pytest.warns(ScratchspacesWarning, match="orphans start anew") as caught:
        read_twice()
    assert reads == [{}, {}]
    assert len(caught) == 1
    assert str(path) in str(caught[0].message)


def test_an_unreadable_orphanage_reads_as_empty_with_one_warning(tmp_path: Path) -> None:
    """A path that cannot be read as a file (a directory) is damage too."""
    path = tmp_path / "orphanage.toml"
    path.mkdir()
    with pytest.warns(ScratchspacesWarning, match="orphans start anew") as caught:
        assert _collect.read_orphanage(str(path)) == {}
    assert len(caught) == 1


def test_orphanage_values_naive_is_utc_and_others_ignored(tmp_path: Path) -> None:
    """A naive (local) date-time is read as UTC; values that are no date-time are ignored."""
    path = tmp_path / "orphanage.toml"
    path.write_text(
        textwrap.dedent("""
            "naive" = 2024-01-02T03:04:05.678
            "offset" = 2024-01-02T05:04:05+02:00
            "date" = 2024-01-02
            "time" = 03:04:05
            "text" = "2024-01-02T03:04:05Z"
            "number" = 1704164645
            "list" = [2024-01-02T03:04:05Z]
            [table]
            "inner" = 2024-01-02T03:04:05Z
        """),
        encoding="utf-8",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read = _collect.read_orphanage(str(path))
    assert caught == []
    assert read == {
        "naive": datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=timezone.utc),
        "offset": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    }
    assert read["naive"].tzinfo is not None


# ---------------------------------------------------------------------------------------
# The sweep


def test_a_dry_run_changes_nothing_and_reports_sizes(tmp_path: Path) -> None:
    """Dry: no rename, no removal, no trash emptied; sizes given are used, others measured."""
    work = tmp_path / "work"
    work.mkdir()
    a, b = doomed_trees(work)
    trash = work / "trash"
    (trash / "leftover.1.abcd").mkdir(parents=True)
    before = snapshot(work)
    sweep = Sweep(str(trash), dry_run=True)
    sweep.empty_trash()
    sweep.move([a, b], before=lambda path: os.chmod(path, 0o700))
    assert snapshot(work) == before
    assert sweep.finish([a, b], sizes={a: 4242}) == {Path(a): 4242, Path(b): 7}
    assert sweep.finish([a, b]) == {Path(a): 2100, Path(b): 7}
    assert snapshot(work) == before
    assert sweep.failures == []


def test_a_sweep_renames_into_the_trash_then_removes_it(tmp_path: Path) -> None:
    """Moved paths vanish at once; finish reports bytes measured in the trash, then removes it.

    A path gone before the move freed nothing here and is left out; sizes passed in are
    what a dry run would report, not what was deleted.
    """
    work = tmp_path / "work"
    work.mkdir()
    a, b = doomed_trees(work)
    outside_before = (work / "outside").read_bytes()
    trash = work / "trash"
    gone = str(work / "gone-before-the-move")
    sweep = Sweep(str(trash), dry_run=False)
    sweep.move([a, gone, b])
    assert not os.path.lexists(a)
    assert not os.path.lexists(b)
    assert sorted(sweep.moved) == sorted([a, b])
    assert all(os.path.dirname(where) == str(trash) for where in sweep.moved.values())
    assert sorted(os.listdir(trash)) == sorted(os.path.basename(w) for w in sweep.moved.values())
    # what is deleted is what is reported: grow a tree after the move
    with open(os.path.join(sweep.moved[b], "more"), "wb") as f:
        f.write(b"m" * 33)
    freed = sweep.finish([a, gone, b], sizes={a: 1, b: 1})
    assert freed == {Path(a): 2100, Path(b): 40}
    assert list(freed) == [Path(a), Path(b)]
    assert not trash.exists()
    assert sweep.failures == []
    assert (work / "outside").read_bytes() == outside_before


def test_empty_trash_removes_what_an_earlier_run_left(tmp_path: Path) -> None:
    """Leftovers of a crashed run (read-only trees, files, links) go; link targets stay."""
    work = tmp_path / "work"
    work.mkdir()
    a, _ = doomed_trees(work)
    trash = work / "trash"
    trash.mkdir()
    os.rename(a, trash / "a.99.0bad")
    (trash / "file.99.0bad").write_bytes(b"x")
    (trash / "link.99.0bad").symlink_to(work / "b", target_is_directory=True)
    sweep = Sweep(str(trash), dry_run=False)
    sweep.empty_trash()
    assert os.listdir(trash) == []
    assert sweep.failures == []
    assert (work / "b" / "f").read_bytes() == b"b" * 7
    assert sweep.finish([]) == {}
    assert not trash.exists()


def test_move_calls_the_hook_before_each_rename(tmp_path: Path) -> None:
    """``before(path)`` runs for each path in order, while it is still under its real name."""
    work = tmp_path / "work"
    work.mkdir()
    a, b = doomed_trees(work)
    Path(a).chmod(0o555)
    Path(b).chmod(0o555)
    calls: list[tuple[str, bool, list[str]]] = []
    sweep = Sweep(str(work / "trash"), dry_run=False)

    def before(path: str) -> None:
        calls.append((path, os.path.isdir(path), sorted(sweep.moved)))
        Path(path).chmod(0o755)

    sweep.move([a, b], before=before)
    assert calls == [(a, True, []), (b, True, [a])]
    assert sorted(sweep.moved) == [a, b]
    assert not os.path.lexists(a)
    assert not os.path.lexists(b)


@pytest.mark.skipif(DROP_OVERRIDE is None, reason="root without setpriv: permissions never bind")
def test_the_hook_makes_a_read_only_directory_renamable(tmp_path: Path) -> None:
    """Where permissions bind, a 0o555 directory moves to the trash only after the hook."""
    parent = tmp_path / "parent"
    for name in ("with-hook", "without-hook"):
        (parent / name).mkdir(parents=True)
        (parent / name / "f").write_bytes(b"x")
        (parent / name).chmod(0o555)
    trash = tmp_path / "trash"
    code = textwrap.dedent(f"""
        import os
        from scratchspaces._collect import Sweep
        parent, trash = {str(parent)!r}, {str(trash)!r}
        sweep = Sweep(trash, dry_run=False)
        sweep.move([os.path.join(parent, "without-hook")])
        sweep.move([os.path.join(parent, "with-hook")], before=lambda p: os.chmod(p, 0o755))
        for path, where in sorted(sweep.moved.items()):
            print(os.path.basename(path), os.path.dirname(where) == trash)
    """)
    result = run_bound_by_permissions(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["with-hook True", "without-hook False"]
    assert not (parent / "with-hook").exists()
    assert (parent / "without-hook" / "f").exists()


def test_warn_names_the_count_and_the_first_failure_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What could not be removed stays in the trash; one warning names how much and the first."""
    work = tmp_path / "work"
    work.mkdir()
    a, b = doomed_trees(work)
    trash = work / "trash"
    sweep = Sweep(str(trash), dry_run=False)
    sweep.move([a, b])
    refuse_unlink(monkeypatch, "one", "f")
    freed = sweep.finish([a, b])
    monkeypatch.undo()
    assert set(freed) == {Path(a), Path(b)}
    assert len(sweep.failures) == 2
    assert any("one" in failure for failure in sweep.failures)
    assert trash.is_dir()  # what failed stays for the next run

    def warn_twice() -> None:
        for _ in range(2):
            sweep.warn("test-sweep", "the test's gc", "they stay in the trash")

    with pytest.warns(ScratchspacesWarning) as caught:
        warn_twice()
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message == (
        f"the test's gc could not remove 2 entries (first: {sweep.failures[0]}); "
        "they stay in the trash"
    )
    again = Sweep(str(trash), dry_run=False)
    again.empty_trash()
    assert again.failures == []
    assert again.finish([]) == {}
    assert not trash.exists()


def test_warn_counts_one_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A single failure is "1 entry"."""
    work = tmp_path / "work"
    work.mkdir()
    _, b = doomed_trees(work)
    sweep = Sweep(str(work / "trash"), dry_run=False)
    sweep.move([b])
    refuse_unlink(monkeypatch, "f")
    sweep.finish([b])
    monkeypatch.undo()
    with pytest.warns(ScratchspacesWarning, match=r"could not remove 1 entry \(first: ") as caught:
        sweep.warn("test-sweep-one", "gc", "retried next time")
    assert len(caught) == 1


def test_warn_is_silent_without_failures(tmp_path: Path) -> None:
    """Nothing failed: no warning."""
    sweep = Sweep(str(tmp_path / "trash"), dry_run=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sweep.warn("test-sweep-quiet", "gc", "never said")
    assert caught == []


# ---------------------------------------------------------------------------------------
# Reports


def test_merge_concatenates_and_sums() -> None:
    """Deleted, orphaned and kept are concatenated in order; freed_bytes is their sum."""
    first = GCReport(
        deleted={Path("/d/1"): 10, Path("/d/2"): 20},
        orphaned=[Path("/o/1")],
        kept=[Path("/k/1"), Path("/k/2")],
        freed_bytes=30,
    )
    second = GCReport(
        deleted={Path("/d/3"): 5}, orphaned=[Path("/o/2"), Path("/o/3")], kept=[], freed_bytes=5
    )
    merged = GCReport.merge(report for report in (first, GCReport(), second))
    assert merged == GCReport(
        deleted={Path("/d/1"): 10, Path("/d/2"): 20, Path("/d/3"): 5},
        orphaned=[Path("/o/1"), Path("/o/2"), Path("/o/3")],
        kept=[Path("/k/1"), Path("/k/2")],
        freed_bytes=35,
    )
    assert list(merged.deleted) == [Path("/d/1"), Path("/d/2"), Path("/d/3")]
    assert GCReport.merge([]) == GCReport()


def test_paths_are_paths() -> None:
    """Keys become paths for a report, in their order, whenever the report is read."""
    made = GCReport(kept=_collect.paths(["/b", "/a"]), orphaned=_collect.paths(["/o"]))
    assert made == GCReport(kept=[Path("/b"), Path("/a")], orphaned=[Path("/o")])
    assert type(made.kept) is list
    assert all(type(p) is type(Path()) for p in made.kept + made.orphaned)
    merged = GCReport.merge([GCReport(kept=_collect.paths(["/c"])), made, GCReport()])
    assert merged.kept == [Path("/c"), Path("/b"), Path("/a")]
    assert merged.orphaned == [Path("/o")]
    assert pickle.loads(pickle.dumps(merged)) == merged  # noqa: S301 - our own bytes
    assert dataclasses.asdict(merged)["kept"] == merged.kept
    deleting = GCReport.merge([merged, GCReport(deleted={Path("/b"): 3})])
    assert deleting.kept == [Path("/c"), Path("/a")]
    assert deleting.freed_bytes == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        merged.kept = []  # type: ignore[misc] # frozen, as every report
