"""A collection with nothing to do changes nothing on disk.

A daily gc over a depot of many entries mostly finds nothing to delete: it reads the
logs, the stamps and the binding files, and then must not write a byte, rename a file
or remove a folder. Checked two ways: a snapshot of the whole depot (every file's
content, inode and mtime, every folder's mtime) before and after, and the audit events
of a child process running the collection (any write-like event but the locks').
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchspaces
from _depots import snapshot
from _fills import dataset, file_writer
from scratchspaces import _accesslog, _condense, _journal, _records, _summary, cache
from scratchspaces.artifacts import _usage

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

# A child that runs argv[1] ("gc" or "find_orphanages") and prints, as JSON, every audit
# event that writes, creates, renames or removes, but those of lock files (an event on a
# descriptor is named by the file it is open on). The lock library takes its first lock
# before the watching starts: on first use, it may probe the temporary folder.
_AUDITED = """
import json, os, sys
import scratchspaces
from scratchspaces import _accesslog, cache
with _accesslog.log_lock(os.environ["SCRATCHSPACES_DEPOT_PATH"]):
    pass
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
CHANGES = {
    "os.rename", "os.replace", "os.remove", "os.rmdir", "os.mkdir", "os.utime",
    "os.chmod", "os.truncate", "os.symlink", "os.link", "shutil.rmtree",
}
events = []
opened = {}
def named(file):
    return os.readlink(f"/proc/self/fd/{file}") if isinstance(file, int) else str(file)
def hook(name, args):
    if name == "open" and isinstance(args[2], int) and args[2] & WRITE:
        events.append([name, named(args[0])])
    elif name == "open":
        opened[named(args[0])] = opened.get(named(args[0]), 0) + 1
    elif name in CHANGES:
        events.append([name, named(args[0])])
sys.addaudithook(hook)
report = scratchspaces.gc() if sys.argv[1] == "gc" else cache.find_orphanages()
assert not report.deleted, report
print(json.dumps([e for e in events if not e[1].endswith(".lock")]))
print(json.dumps(opened))
"""


def _settled(depot: Path, tmp_path: Path) -> None:
    """A depot of every kind of record, in use, with orphans in their grace; gc run once."""
    scratchspaces.get_scratch("k", "pkg")
    scratchspaces.get_scratch("other", "pkg")
    (depot / "scratchspaces" / "stray" / "k").mkdir(parents=True)  # an orphan, kept 7 days
    toml = cache.my_artifacts_toml("some-package")
    cache.bind_my_artifact(toml, "dataset", cache.create_my_artifact(dataset))
    cache.bind_my_artifact(toml, "file", cache.create_my_artifact(file_writer(b"bound")))
    cache.create_my_artifact(file_writer(b"orphan"))  # unbound: kept 7 days
    artifacts_toml = tmp_path / "project" / "Artifacts.toml"
    artifacts_toml.parent.mkdir()
    artifacts_toml.write_text("")
    _usage.record_usage(str(artifacts_toml), binding=True)
    scratchspaces.gc()  # condenses the logs and writes the orphanages


def _quiet(depot: Path) -> dict[str, tuple[str | int, ...]]:
    """The depot's snapshot without its lock files (taking a lock opens its file)."""
    return {path: seen for path, seen in snapshot(depot).items() if not path.endswith(".lock")}


def _audited(what: str, depot: Path) -> tuple[list[list[str]], dict[str, int]]:
    """The write-like events of ``what`` in a child, but making a folder that exists.

    (Taking a lock makes its folder if missing: one there already is left as it was.)
    Also how many times each file was opened to be read, by the path or name it was.
    """
    folders = {str(depot / path) for path, seen in snapshot(depot).items() if seen[0] == "dir"}
    done = subprocess.run(
        [sys.executable, "-c", _AUDITED, what], check=True, capture_output=True, text=True
    )
    changes, opened = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    return [c for c in changes if not (c[0] == "os.mkdir" and c[1] in folders)], opened


def test_a_gc_with_nothing_to_do_writes_nothing(depot: Path, tmp_path: Path) -> None:
    _settled(depot, tmp_path)
    before = _quiet(depot)
    changes, opened = _audited("gc", depot)
    assert changes == []
    assert _quiet(depot) == before  # the logs, orphanages and stamps as they were
    # Each stamp is read once at most: tidying the stamps walks them no second time.
    stamps = {p.name for p in (depot / "logs").rglob("*") if p.is_file() and len(p.name) == 16}
    assert {name: n for name, n in opened.items() if name in stamps and n > 1} == {}


def test_recycling_with_nothing_to_do_writes_nothing(depot: Path, tmp_path: Path) -> None:
    _settled(depot, tmp_path)
    before = _quiet(depot)
    assert _audited("find_orphanages", depot)[0] == []
    assert _quiet(depot) == before


def test_what_changed_is_written(depot: Path, tmp_path: Path) -> None:
    """The check is for nothing but sameness: a record newer than the log's is written."""
    _settled(depot, tmp_path)
    log = depot / "logs" / "scratch_usage.toml"
    stale = log.read_bytes()
    os.truncate(log, 0)  # the stamps still say everything the log said
    scratchspaces.gc()
    assert log.read_bytes() == stale
    usage = depot / "scratchspaces" / "scratchspaces" / "_cache" / "usage.toml"
    records = usage.read_bytes()
    usage.write_bytes(records + records)  # every record twice: condensed to once
    cache.find_orphanages()
    assert usage.read_bytes() == records


_paths = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30)


@given(
    log=st.dictionaries(
        _paths,
        st.tuples(
            st.datetimes(
                min_value=datetime(1971, 1, 1),
                max_value=datetime(2099, 1, 1),
                timezones=st.just(timezone.utc),
            ).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)),
            st.lists(_paths, min_size=1, max_size=3),
        ),
        max_size=4,
    )
)
def test_the_condensed_log_is_written_record_by_record(
    log: dict[str, tuple[datetime, list[str]]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """gc writes each record exactly as ``get_scratch`` appends it, sorted by space."""
    depot = tmp_path_factory.mktemp("depot")
    (depot / "logs").mkdir()
    _condense.write_log(str(depot), log)
    expected = b"".join(
        _accesslog.format_record(space, when.timestamp(), parents)
        for space, (when, parents) in sorted(log.items())
    )
    assert (depot / "logs" / "scratch_usage.toml").read_bytes() == expected


def _records_of(log: bytes) -> list[bytes]:
    """The records of a log as gc writes it, each with its leading newline."""
    return [b"\n[[" + part for part in log.split(b"\n[[")[1:]]


def _spelled_twice(log: bytes) -> bytes:
    """The first record's space spelled with a ``/./`` in it, which normalizing drops."""
    first, *rest = _records_of(log)
    return first.replace(b'[["/', b'[["/./', 1) + b"".join(rest)


_LOOKS_CONDENSED: dict[str, Callable[[bytes], bytes]] = {
    "unsorted": lambda log: b"".join(reversed(_records_of(log))),
    "a record twice": lambda log: log + _records_of(log)[0],
    "no newline before the first record": lambda log: log[1:],
    "a blank line at the end": lambda log: log + b"\n",
    "a space spelled two ways": _spelled_twice,
    "a record's parents spelled as TOML may": lambda log: log.replace(b'["', b'[ "'),
}


@pytest.mark.parametrize("change", sorted(_LOOKS_CONDENSED))
def test_a_log_that_only_looks_condensed_is_condensed(
    depot: Path, tmp_path: Path, change: str
) -> None:
    """gc leaves the log as it is only when it is byte for byte what gc would write."""
    _settled(depot, tmp_path)
    log = depot / "logs" / "scratch_usage.toml"
    condensed = log.read_bytes()
    assert len(_records_of(condensed)) >= 3  # two spaces, and a binding file's space
    assert _summary.summarize(str(depot)).condensed
    log.write_bytes(_LOOKS_CONDENSED[change](condensed))
    assert log.read_bytes() != condensed
    assert not _summary.summarize(str(depot)).condensed
    scratchspaces.gc()
    assert log.read_bytes() == condensed


def test_a_stamp_newer_than_its_record_is_written(depot: Path, tmp_path: Path) -> None:
    """A log sorted and exact, but older than a stamp says, is not what gc writes."""
    _settled(depot, tmp_path)
    log = depot / "logs" / "scratch_usage.toml"
    stamps = [p for p in (depot / "logs" / "scratch_usage.d").rglob("*") if p.is_file()]
    later = stamps[0].stat().st_mtime + 3600
    os.utime(stamps[0], (later, later))
    folders = stamps[0].parent.relative_to(depot / "logs" / "scratch_usage.d").as_posix()
    _journal.note(_accesslog.journal_dir(str(depot)), folders)  # as a writer
    assert not _summary.summarize(str(depot)).condensed
    scratchspaces.gc()
    assert f"time = {_records.format_time(later)}\n".encode() in log.read_bytes()
    assert _summary.summarize(str(depot)).condensed
