"""The stamps' journal: gc reads the stamps written since it last ran, not all of them.

Each recorded (space, parent) leaves a stamp, and a note in ``logs/scratch_usage.new``
naming the stamp's folder. gc reads the stamps of the folders noted, and forgets those
notes once its log holds them; it reads every stamp where the log may have lost a record
(the log damaged or empty, the journal missing or damaged), and the stamps of any space
before it drops its record or judges it on the log alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

import scratchspaces
from _depots import access_log, access_log_file, parents_of
from scratchspaces import _accesslog, _inventory, _journal, _records
from scratchspaces.errors import ScratchspacesWarning

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def _journal_folder(depot: Path) -> Path:
    return depot / "logs" / "scratch_usage.new"


def _notes(depot: Path) -> list[str]:
    """What the journal notes, sorted; temporaries left out."""
    folder = _journal_folder(depot)
    return sorted(p.read_text() for p in folder.iterdir() if ".tmp-" not in p.name)


def _stamp(depot: Path, namespace: str, key: str) -> Path:
    [stamp] = (depot / "logs" / "scratch_usage.d" / namespace / key).iterdir()
    return stamp


def _later(stamp: Path) -> float:
    """Date ``stamp`` an hour later, by hand (noted by nobody); return its new time."""
    later = stamp.stat().st_mtime + 3600
    os.utime(stamp, (later, later))
    return later


def _logged(depot: Path, when: float) -> bool:
    return f"time = {_records.format_time(when)}\n".encode() in access_log_file(depot).read_bytes()


def _settled(depot: Path) -> None:
    """Two spaces recorded for the test's own parent; gc has read their stamps."""
    scratchspaces.get_scratch("a", "pkg")
    scratchspaces.get_scratch("b", "pkg")
    scratchspaces.gc()
    assert _notes(depot) == []


def test_each_record_notes_its_stamp_and_gc_forgets_the_notes(depot: Path, tmp_path: Path) -> None:
    scratchspaces.get_scratch("a", "pkg")
    scratchspaces.get_scratch("b", "pkg")
    scratchspaces.get_scratch("a", "pkg")  # stamped already: no record, no note
    other = tmp_path / "other-1.0.dist-info"
    other.mkdir()
    _accesslog.ensure_space(str(depot), "pkg", "a", str(other))  # a second stamp in pkg/a
    assert len(list((depot / "logs" / "scratch_usage.d" / "pkg" / "a").iterdir())) == 2
    assert _notes(depot) == ["pkg/a", "pkg/b"]  # one note per folder of stamps
    scratchspaces.gc()
    assert _notes(depot) == []
    assert _journal_folder(depot).is_dir()


def test_gc_reads_the_stamps_noted_and_no_other(depot: Path) -> None:
    """A stamp dated by hand, and noted by nobody, is not read; once noted, it is."""
    _settled(depot)
    stamp = _stamp(depot, "pkg", "a")
    later = _later(stamp)
    scratchspaces.gc()
    assert not _logged(depot, later)
    _journal.note(str(_journal_folder(depot)), "pkg/a")  # as a writer notes it
    scratchspaces.gc()
    assert _logged(depot, later)
    assert _notes(depot) == []


def _journal_missing(depot: Path) -> None:
    shutil.rmtree(_journal_folder(depot))


def _note_damaged(depot: Path) -> None:
    (_journal_folder(depot) / "0123456789abcdef").write_bytes(b"\xff\x00")


def _log_damaged(depot: Path) -> None:
    with access_log_file(depot).open("ab") as log:
        log.write(b'\n[["/half a record')


def _log_empty(depot: Path) -> None:
    os.truncate(access_log_file(depot), 0)


@pytest.mark.parametrize(
    "damage", [_journal_missing, _note_damaged, _log_damaged, _log_empty], ids=lambda f: f.__name__
)
def test_every_stamp_is_read_where_the_log_may_have_lost_records(
    depot: Path, damage: Callable[[Path], None]
) -> None:
    _settled(depot)
    later = _later(_stamp(depot, "pkg", "a"))
    damage(depot)
    scratchspaces.gc()
    assert _logged(depot, later)
    assert _notes(depot) == []  # the journal made again, or its damaged note forgotten
    scratchspaces.gc()  # and from then on, the journal is trusted again
    assert _logged(depot, later)


def test_a_record_the_log_lost_is_read_back_from_its_stamp(depot: Path) -> None:
    """A space whose record is lost, its stamp not noted, is neither orphaned nor deleted.

    As a condensing that a lock did not keep out leaves it: the log rewritten without the
    record, after an earlier gc forgot the note of its stamp.
    """
    _settled(depot)
    space = depot / "scratchspaces" / "pkg" / "a"
    (space / "data").write_text("kept")
    parents = parents_of(depot, space)
    log = access_log_file(depot)
    chunks = log.read_bytes().split(b"\n[[")
    log.write_bytes(b"\n[[".join(c for c in chunks if str(space).encode() not in c))
    assert parents_of(depot, space) == set()
    [listed] = [i for i in _inventory.inventory(str(depot)) if i.path == str(space)]
    assert listed.status == "in use"  # list reads its stamps too
    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert (space / "data").read_text() == "kept"
    assert space not in report.orphaned
    assert parents_of(depot, space) == parents  # the log has its record back


def test_a_note_written_while_gc_reads_stays_for_the_next(
    depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratchspaces.get_scratch("a", "pkg")
    scratchspaces.get_scratch("b", "pkg")
    read_journal = _journal.read_journal

    def then_a_note(journal: str, depth: int) -> _journal.Journal | None:
        found = read_journal(journal, depth)
        _journal.note(journal, "pkg/b")  # a process records pkg/b again
        return found

    monkeypatch.setattr(_journal, "read_journal", then_a_note)
    scratchspaces.gc()
    assert _notes(depot) == ["pkg/b"]


def test_a_stamp_that_cannot_be_noted_stays(depot: Path) -> None:
    """Its record is in the log: the log does not grow with process starts.

    gc, with no journal to trust, reads every stamp, and says it cannot make one.
    """
    (depot / "logs").mkdir(parents=True)
    _journal_folder(depot).write_text("in the journal's way")
    space = scratchspaces.get_scratch("a", "pkg")
    assert [r.key for r in access_log(depot)] == [str(space)]
    stamp = _stamp(depot, "pkg", "a")
    code = "import scratchspaces; scratchspaces.get_scratch('a', 'pkg')"
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ)
    assert len(access_log(depot)) == 1  # stamped already: not recorded again
    later = _later(stamp)
    with pytest.warns(ScratchspacesWarning, match="journal"):
        scratchspaces.gc(collect_delay=timedelta(0))
    assert space.is_dir()
    assert _logged(depot, later)  # every stamp was read


def test_gc_with_nothing_noted_opens_no_folder_of_stamps(depot: Path) -> None:
    """What keeps a daily gc over 100k spaces cheap: no stamp folder is listed."""
    _settled(depot)
    code = """
import os, sys, scratchspaces
opened = []
def hook(name, args):
    if name == "open" and args[0] in ("a", "b", "pkg"):
        opened.append(args[0])
sys.addaudithook(hook)
scratchspaces.gc()
print(opened)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=os.environ
    )
    assert done.stdout.strip() == "[]"
    _accesslog.forget()
    (depot / "logs" / "scratch_usage.toml").unlink()  # the log gone: every stamp is read
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=os.environ
    )
    assert sorted(eval(done.stdout)) == ["a", "b", "pkg"]  # noqa: S307 - a list the child printed
