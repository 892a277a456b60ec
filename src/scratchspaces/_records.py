"""Reading the access log, record by record, around whatever is torn or mangled.

The log is ours to parse: a streaming, line-based reader for the exact shape
:mod:`._usage` writes (a million records in seconds, in constant memory), and a real
TOML parser, one record at a time, for anything else (Julia's Pkg, a hand edit). What
neither can read is skipped and counted in one warning; it never aborts a read. The
space a damaged record names, when its header survived, is reported too, so that gc
never deletes a space because its record was unreadable.

Also here: the orphanage, ``logs/orphaned.toml``, where gc keeps when it first saw each
orphan, in Julia's shape (``"<path>" = <time>``).
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

from ._fs import atomic_write
from ._usage import LOG_NAME, format_time, logs_dir, toml_string

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


class Record(NamedTuple):
    """One record of the access log."""

    space: str
    time: datetime
    parents: tuple[str, ...]


class SpaceLog(NamedTuple):
    """What the log says about one space: its latest access and every parent."""

    latest: datetime
    parents: dict[str, None]
    """Every recorded parent, in first-recorded order (a dict used as an ordered set)."""


class LogSummary(NamedTuple):
    """The log condensed per space, and what could not be read."""

    spaces: dict[str, SpaceLog]
    """Normalized space path -> its condensed records."""
    damaged: set[str]
    """Normalized paths of spaces named by records that could not be read."""
    skipped: int
    """How many unreadable records (or debris) were skipped."""


_BLANK = " \t\r\n\x00"
_STRING = re.compile(r'"([^"\\\n]*)"')
_HEADER = re.compile(r'\s*\[\["((?:[^"\\\n]|\\.)*)"\]\]')
_TIME_PREFIX = "time = "
_PARENTS_PREFIX = "parent_projects = ["


def _parse_time(text: str) -> datetime:
    if text.endswith("Z"):  # fromisoformat reads "Z" only from 3.11
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def _canonical(text: str) -> bool:
    """Whether ``text`` is a time exactly as we write it: ``2026-11-21T10:00:00.123Z``.

    Such times sort as strings, so the reader compares them without parsing them.
    """
    return len(text) == 24 and text[23] == "Z" and text[19] == "." and text[10] == "T"


def _fast(chunk: str) -> tuple[str, str, tuple[str, ...], bool] | None:  # noqa: PLR0911 - one exit per check
    """Parse a record in exactly the shape we write: (space, time, parents, debris after).

    ``time`` is the text as written (canonical or not); None if the shape differs.
    """
    lines = chunk.split("\n", 3)
    if len(lines) < 3:
        return None
    header, time_line, parents_line = lines[0].rstrip(), lines[1].rstrip(), lines[2].rstrip()
    if not (header.startswith('[["') and header.endswith('"]]')):
        return None
    space = header[3:-3]
    if '"' in space or "\\" in space:
        return None
    if not (time_line.startswith(_TIME_PREFIX) and parents_line.startswith(_PARENTS_PREFIX)):
        return None
    inner = parents_line[len(_PARENTS_PREFIX) : -1]
    if not parents_line.endswith("]") or "\\" in inner:
        return None
    if inner.count('"') == 2 and inner.startswith('"') and inner.endswith('"'):
        parents: tuple[str, ...] = (inner[1:-1],)  # the common case: one parent
    else:
        parents = tuple(_STRING.findall(inner))
        if _STRING.sub("", inner).strip(", "):
            return None  # something besides basic strings: the TOML parser decides
    debris = len(lines) == 4 and bool(lines[3].strip(_BLANK))
    return space, time_line[len(_TIME_PREFIX) :], parents, debris


def _slow(chunk: str) -> list[Record] | None:
    """Parse one chunk with a real TOML parser; None if it is not a valid record."""
    from . import _toml  # noqa: PLC0415 - only for records the fast reader cannot read

    try:
        data = _toml.loads(chunk)
    except ValueError:
        return None
    found: list[Record] = []
    for space, entries in data.items():
        if not isinstance(entries, list):
            return None
        for entry in entries:
            if not isinstance(entry, dict):
                return None
            when = entry.get("time")
            parents = entry.get("parent_projects", [])
            if not isinstance(when, datetime) or not isinstance(parents, list):
                return None
            if not all(isinstance(p, str) for p in parents):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            found.append(Record(space, when, tuple(parents)))
    return found


def _split(text: str) -> list[str]:
    """Split log text into chunks, each starting at a line that begins with ``[[``."""
    parts = text.split("\n[[")
    return [parts[0], *("[[" + part for part in parts[1:])]


def _chunks_of_file(path: str) -> Iterator[str]:
    """Stream a log file as chunks, in blocks: memory does not grow with the log."""
    try:
        f = open(path, encoding="utf-8", errors="replace", newline="")  # noqa: SIM115 - a generator
    except FileNotFoundError:
        return
    with f:
        carry = ""
        while block := f.read(1 << 22):
            text = carry + block
            cut = text.rfind("\n[[")
            if cut < 0:
                carry = text
                continue
            carry = text[cut + 1 :]
            yield from _split(text[:cut])
        if carry:
            yield from _split(carry)


class _Reader:
    """Turns chunks into records, counting and naming what it cannot read."""

    def __init__(self) -> None:
        self.skipped = 0
        self.damaged: set[str] = set()

    def slow(self, chunk: str) -> list[Record]:
        """Parse what the fast reader could not: TOML, else count it as damaged."""
        if not chunk.strip(_BLANK):
            return []  # blank lines, or the NULs a crash leaves on some filesystems
        records = _slow(chunk.replace("\x00", ""))
        if records is not None:
            return records
        self.skipped += 1
        header = _HEADER.match(chunk)
        if header is not None:
            salvaged = _slow(f'[["{header.group(1)}"]]\ntime = 1970-01-01T00:00:00Z\n')
            if salvaged:
                self.damaged.add(os.path.normpath(salvaged[0].space))
        return []

    def records(self, chunks: Iterable[str]) -> Iterator[Record]:
        for chunk in chunks:
            fast = _fast(chunk)
            if fast is not None:
                try:
                    when = _parse_time(fast[1])
                except ValueError:
                    pass
                else:
                    # What follows a whole record on its own lines is the debris of a
                    # torn write (half a line): count it, keep the record.
                    self.skipped += fast[3]
                    yield Record(fast[0], when, fast[2])
                    continue
            yield from self.slow(chunk)

    def warn(self, source: str) -> None:
        if self.skipped:
            from ._warn import warn_once  # noqa: PLC0415 - damage only

            warn_once(
                "corrupt-log",
                f"skipped {self.skipped} unreadable record(s) in {source}; the rest was read",
            )


def parse_log(text: str, *, source: str = "the access log") -> list[Record]:
    """Return the records of a log's text, skipping (with one warning) what is unreadable."""
    reader = _Reader()
    records = list(reader.records(_split(text)))
    reader.warn(source)
    return records


def log_path(depot: str) -> str:
    """Return ``<depot>/logs/scratch_usage.toml``."""
    return os.path.join(logs_dir(depot), LOG_NAME)


def read_log(depot: str) -> list[Record]:
    """Return every readable record of the depot's access log (none if it is missing)."""
    return read_records(log_path(depot))


def read_records(path: str) -> list[Record]:
    """Return every readable record of a log in the access log's shape (none if missing).

    Also reads ``artifact_usage.toml``, whose records have no parents.
    """
    reader = _Reader()
    records = list(reader.records(_chunks_of_file(path)))
    reader.warn(path)
    return records


def summarize(depot: str) -> LogSummary:
    """Condense the depot's access log per space, streaming (memory grows with spaces).

    The hot loop of gc on a long log: records in our own shape are aggregated without
    building a Record or a datetime (canonical times compare as strings).
    """
    path = log_path(depot)
    reader = _Reader()
    latest: dict[str, str] = {}  # raw space path -> latest canonical time
    parents: dict[str, dict[str, None]] = {}
    for chunk in _chunks_of_file(path):
        fast = _fast(chunk)
        if fast is not None and _canonical(fast[1]):
            space, when, found, debris = fast
            reader.skipped += debris
            known = latest.get(space)
            if known is None:
                latest[space] = when
                parents[space] = dict.fromkeys(found)
                continue
            if when > known:
                latest[space] = when
            seen = parents[space]
            for parent in found:
                if parent not in seen:
                    seen[parent] = None
            continue
        for record in reader.records([chunk]):
            when = format_time(record.time.timestamp())
            if record.space not in latest:
                latest[record.space] = when
                parents[record.space] = {}
            elif when > latest[record.space]:
                latest[record.space] = when
            for parent in record.parents:
                parents[record.space].setdefault(parent, None)
    reader.warn(path)
    spaces: dict[str, SpaceLog] = {}
    for space, when in latest.items():
        key = os.path.normpath(space)
        entry = SpaceLog(_parse_time(when), parents[space])
        merged = spaces.get(key)  # two spellings of one path: merge them
        if merged is not None:
            entry = SpaceLog(max(merged.latest, entry.latest), {**merged.parents, **entry.parents})
        spaces[key] = entry
    return LogSummary(spaces, reader.damaged, reader.skipped)


# --- the orphanage ---------------------------------------------------------------------

ORPHANED_NAME = "orphaned.toml"


def orphanage_path(depot: str) -> str:
    """Return ``<depot>/logs/orphaned.toml``."""
    return os.path.join(logs_dir(depot), ORPHANED_NAME)


def read_orphanage(depot: str) -> dict[str, datetime]:
    """Return normalized path -> when it was first seen orphaned.

    A damaged file is read as empty, with one warning: every orphan then starts a new
    grace period, which errs on the side of keeping data.
    """
    return read_orphanage_file(orphanage_path(depot))


def read_orphanage_file(path: str) -> dict[str, datetime]:
    """Return key -> time from an orphanage file (the depot's or the content cache's)."""
    from . import _toml  # noqa: PLC0415

    try:
        with open(path, "rb") as f:
            data = _toml.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        from ._warn import warn_once  # noqa: PLC0415

        warn_once("corrupt-orphanage", f"cannot read {path} ({exc}); orphans start anew")
        return {}
    found: dict[str, datetime] = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            found[os.path.normpath(key)] = (
                value if value.tzinfo else value.replace(tzinfo=timezone.utc)
            )
    return found


def _toml_time(when: datetime) -> str:
    return format_time(when.timestamp())


def write_orphanage(depot: str, entries: dict[str, datetime]) -> None:
    """Atomically write the orphanage in Julia's shape: ``"<path>" = <time>``."""
    write_orphanage_file(orphanage_path(depot), entries)


def write_orphanage_file(path: str, entries: dict[str, datetime]) -> None:
    """Atomically write an orphanage file: ``"<key>" = <time>`` per line."""
    text = "".join(
        f"{toml_string(key)} = {_toml_time(when)}\n" for key, when in sorted(entries.items())
    )
    atomic_write(path, text.encode("utf-8"))
