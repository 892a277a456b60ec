"""Stamps (``scratchspaces._stamps``): records of their own, whole or absent, never followed.

A stamp says what it records and when; gc reads stamps as records, so a record a log
lost, or one whose writer was killed before appending, is still known. A crash leaves
no fresh stamp without its record, and a stamps folder that is a link is never emptied.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

import scratchspaces
from _depots import access_log, access_log_file, snapshot
from scratchspaces import _accesslog, _owners, _stamps

# A child that records (space "k" of "ns", for the parent given) and is SIGKILLed at the
# argv[3]-th audit event named argv[2] whose first argument ends in argv[4].
_KILLED_RECORDING = """
import os, signal, sys
from scratchspaces import _accesslog, _depot
event, nth, suffix = sys.argv[2], int(sys.argv[3]), sys.argv[4]
seen = 0
def hook(name, args):
    global seen
    if name == event and args and str(args[0]).endswith(suffix):
        seen += 1
        if seen == nth:
            os.kill(os.getpid(), signal.SIGKILL)
sys.addaudithook(hook)
_accesslog.ensure_space(_depot.user_depot_string(), "ns", "k", sys.argv[1])
"""


def _stamps_of(depot: Path) -> list[Path]:
    return sorted(p for p in (depot / "logs" / "scratch_usage.d").rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("event", "nth", "suffix"),
    [
        ("os.utime", 1, ""),  # dating the new stamp 1970, before anything is appended
        ("open", 1, "scratch_usage.toml"),  # appending the record
        ("os.utime", 2, ""),  # dating the stamp now: the record is in, the stamp not
        ("os.rename", 1, ""),  # renaming the dated stamp into place
    ],
    ids=["before-append", "at-append", "after-append", "at-rename"],
)
def test_a_writer_killed_anywhere_leaves_no_fresh_stamp_without_its_record(
    depot: Path, tmp_path: Path, event: str, nth: int, suffix: str
) -> None:
    parent = tmp_path / "pkg-1.0.dist-info"
    parent.mkdir()
    cmd = [sys.executable, "-c", _KILLED_RECORDING, str(parent), event, str(nth), suffix]
    result = subprocess.run(cmd, check=False, capture_output=True)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    assert not [s for s in _stamps_of(depot) if not _owners.is_temporary(s.name)]

    # The next process records (no fresh stamp stops it) and gc keeps the space.
    space = _accesslog.ensure_space(str(depot), "ns", "k", str(parent))
    assert any(r.key == str(space) and str(parent) in r.parents for r in access_log(depot))
    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert space.is_dir()
    assert not report.deleted
    assert [s.read_text() for s in _stamps_of(depot)] == [str(parent)]  # the crash's is gone


def test_a_stamp_left_by_a_gc_killed_before_pruning_still_keeps_its_space(
    depot: Path, tmp_path: Path
) -> None:
    """A gc that dropped a gone parent's record but not its stamp, then the parent back."""
    parent = tmp_path / "pkg-1.0.dist-info"
    parent.mkdir()
    space = _accesslog.ensure_space(str(depot), "ns", "k", str(parent))
    access_log_file(depot).write_bytes(b"")  # the condensed log, without the record
    _accesslog.forget()
    # The parent is back (reinstalled): the fresh stamp means nothing is appended...
    assert _accesslog.ensure_space(str(depot), "ns", "k", str(parent)) == space
    assert access_log(depot) == []
    # ...but the stamp is a record: gc keeps the space and writes the record back.
    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert space.is_dir()
    assert not report.deleted
    assert [(r.key, r.parents) for r in access_log(depot)] == [(str(space), (str(parent),))]


def test_stamps_are_dropped_with_their_records_and_kept_if_rewritten_since(
    depot: Path, tmp_path: Path
) -> None:
    gone, back = tmp_path / "gone.dist-info", tmp_path / "back.dist-info"
    gone.mkdir()
    back.mkdir()
    depot_str = str(depot)
    _accesslog.ensure_space(depot_str, "ns", "k", str(gone))
    _accesslog.ensure_space(depot_str, "ns", "k", str(back))
    gone.rmdir()
    back.rmdir()
    root = _accesslog.stamps_dir(depot_str)
    doomed: dict[tuple[str, ...], dict[str, float]] = {}
    for stamp in _stamps.walk(root, 2):
        doomed.setdefault(stamp.folders, {})[stamp.name] = stamp.mtime
    # One stamp is rewritten after it was judged: a process recorded it again.
    again = Path(_accesslog.stamp_path(depot_str, "ns", "k", str(back)))
    os.utime(again, (time.time() + 5, time.time() + 5))
    _stamps.remove(root, 2, doomed, time.time(), None)
    assert _stamps_of(depot) == [again]


def test_what_a_stamp_records_is_read_whole_or_not_at_all(tmp_path: Path) -> None:
    root = tmp_path / "stamps"
    root.mkdir()
    (root / "good").write_text("/a/parent")
    (root / "legacy").write_text("")  # an older version's empty stamp
    (root / "binary").write_bytes(b"/a\x00b")
    (root / "huge").write_text("x" * (_stamps.MAX_STAMP + 1))
    os.mkfifo(root / "fifo")  # would block a plain read forever
    (root / "linked").symlink_to(root / "good")
    (root / f"good{_owners.TMP_MARK}1-ab@host").write_text("/in/flight")
    found = {s.name: (s.content, s.temporary) for s in _stamps.walk(str(root), 0)}
    assert found == {
        "good": ("/a/parent", False),
        "legacy": (None, False),
        "binary": (None, False),
        "huge": (None, False),
        f"good{_owners.TMP_MARK}1-ab@host": (None, True),
    }


@pytest.mark.parametrize("folder", ["scratch_usage.d", "scratch_usage.d/ns", "artifact_usage.d"])
def test_a_stamps_folder_that_is_a_link_is_never_read_or_emptied(
    depot: Path, tmp_path: Path, folder: str
) -> None:
    canary = tmp_path / "canary"
    (canary / "k").mkdir(parents=True)
    (canary / "k" / "0123456789abcdef").write_text(str(tmp_path / "gone.dist-info"))
    (canary / "0123456789abcdef").write_text("precious")
    before = snapshot(canary)
    scratchspaces.get_scratch("k", "ns")
    link = depot / "logs" / folder
    if link.exists():
        for stamp in link.rglob("*"):
            if stamp.is_file():
                stamp.unlink()
        for sub in sorted(link.rglob("*"), reverse=True):
            sub.rmdir()
        link.rmdir()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(canary, target_is_directory=True)
    scratchspaces.gc(collect_delay=timedelta(0))
    scratchspaces.gc(collect_delay=timedelta(0))
    assert snapshot(canary) == before
    assert link.is_symlink()


def test_a_stamp_whose_record_the_reader_knows_is_not_read(tmp_path: Path) -> None:
    """A stamp is named by a digest of what it records: a reader knowing it spares a read."""
    folder = tmp_path / "stamps" / "ns" / "k"
    folder.mkdir(parents=True)
    (folder / "known").write_bytes(b"\0junk")  # read, it would record nothing
    (folder / "other").write_text("/b/parent")

    def known(folders: tuple[str, ...]) -> dict[str, str]:
        return {"known": "/a/parent"} if folders == ("ns", "k") else {}

    found = {s.name: s.content for s in _stamps.walk(str(tmp_path / "stamps"), 2, known=known)}
    assert found == {"known": "/a/parent", "other": "/b/parent"}


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize("noted", [True, False], ids=["after-a-walk", "without"])
def test_removing_stamps_tidies_what_the_walk_passed_over(tmp_path: Path, noted: bool) -> None:
    """Abandoned temporaries and empty folders go; a stamp dated since it was read stays."""
    root = tmp_path / "stamps"
    for folder in ("ns/k", "ns/gone", "ns/crashed", "ns/empty", "empty/k"):
        (root / folder).mkdir(parents=True)
    (root / "ns" / "k" / "kept").write_text("/p/kept")
    (root / "ns" / "k" / "dated-since").write_text("/p/again")
    (root / "ns" / "gone" / "dropped").write_text("/p/dropped")
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    crashed = f"x{_owners.TMP_MARK}{ended.stdout.strip()}-ab@{_owners.host()}"
    (root / "ns" / "crashed" / crashed).write_text("/p/half")
    live = f"y{_owners.TMP_MARK}{os.getpid()}-ab@{_owners.host()}"
    (root / "ns" / "k" / live).write_text("/p/in-flight")
    left = _stamps.Leftovers([], [])
    seen = {(s.folders, s.name): s.mtime for s in _stamps.walk(str(root), 2, left=left)}
    again = root / "ns" / "k" / "dated-since"
    os.utime(again, (time.time() + 5, time.time() + 5))
    doomed: dict[tuple[str, ...], dict[str, float]] = {
        ("ns", "gone"): {"dropped": seen[("ns", "gone"), "dropped"]},
        ("ns", "k"): {"dated-since": seen[("ns", "k"), "dated-since"]},
    }
    _stamps.remove(str(root), 2, doomed, time.time(), left if noted else None)
    assert _tree(root) == ["ns", "ns/k", "ns/k/dated-since", "ns/k/kept", f"ns/k/{live}"]
