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


def _fast(lines: list[str]) -> tuple[Record | None, bool]:  # noqa: PLR0911 - one exit per check
    """Parse a chunk in exactly the shape we write; return (record, debris after it)."""
    if len(lines) < 3:
        return None, False
    header, time_line, parents_line = lines[0].rstrip(), lines[1].rstrip(), lines[2].rstrip()
    if not (header.startswith('[["') and header.endswith('"]]')):
        return None, False
    space = header[3:-3]
    if '"' in space or "\\" in space:
        return None, False
    if not (time_line.startswith(_TIME_PREFIX) and parents_line.startswith(_PARENTS_PREFIX)):
        return None, False
    inner = parents_line[len(_PARENTS_PREFIX) :]
    if not inner.endswith("]") or "\\" in inner:
        return None, False
    parents = tuple(_STRING.findall(inner))
    if _STRING.sub("", inner[:-1]).strip(", "):
        return None, False  # something besides basic strings: the TOML parser decides
    try:
        when = _parse_time(time_line[len(_TIME_PREFIX) :])
    except ValueError:
        return None, False
    debris = any(line.strip(_BLANK) for line in lines[3:])
    return Record(space, when, parents), debris


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


class _Reader:
    """Turns lines into records, counting and naming what it cannot read."""

    def __init__(self) -> None:
        self.skipped = 0
        self.damaged: set[str] = set()

    def chunk(self, lines: list[str]) -> list[Record]:
        record, debris = _fast(lines)
        if record is not None:
            # What follows a whole record on its own lines is the debris of a torn
            # write (half a line): count it, keep the record.
            self.skipped += debris
            return [record]
        text = "".join(lines)
        if not text.strip(_BLANK):
            return []  # blank lines, or the NULs a crash leaves on some filesystems
        records = _slow(text.replace("\x00", ""))
        if records is not None:
            return records
        self.skipped += 1
        header = _HEADER.match(text)
        if header is not None:
            salvaged = _slow(f'[["{header.group(1)}"]]\ntime = 1970-01-01T00:00:00Z\n')
            if salvaged:
                self.damaged.add(os.path.normpath(salvaged[0].space))
        return []

    def records(self, lines: Iterable[str]) -> Iterator[Record]:
        chunk: list[str] = []
        for line in lines:
            if line.startswith("[[") and chunk:
                yield from self.chunk(chunk)
                chunk = []
            chunk.append(line)
        if chunk:
            yield from self.chunk(chunk)

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
    records = list(reader.records(text.splitlines(keepends=True)))
    reader.warn(source)
    return records


def log_path(depot: str) -> str:
    """Return ``<depot>/logs/scratch_usage.toml``."""
    return os.path.join(logs_dir(depot), LOG_NAME)


def _lines(path: str) -> Iterator[str]:
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            yield from f
    except FileNotFoundError:
        return


def read_log(depot: str) -> list[Record]:
    """Return every readable record of the depot's access log (none if it is missing)."""
    path = log_path(depot)
    reader = _Reader()
    records = list(reader.records(_lines(path)))
    reader.warn(path)
    return records


def summarize(depot: str) -> LogSummary:
    """Condense the depot's access log per space, streaming (memory grows with spaces)."""
    path = log_path(depot)
    reader = _Reader()
    spaces: dict[str, SpaceLog] = {}
    normalized: dict[str, str] = {}
    for record in reader.records(_lines(path)):
        space = normalized.get(record.space)
        if space is None:
            space = normalized[record.space] = os.path.normpath(record.space)
        known = spaces.get(space)
        if known is None:
            spaces[space] = SpaceLog(record.time, dict.fromkeys(record.parents))
            continue
        for parent in record.parents:
            known.parents.setdefault(parent, None)
        if record.time > known.latest:
            spaces[space] = SpaceLog(record.time, known.parents)
    reader.warn(path)
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
    from . import _toml  # noqa: PLC0415

    path = orphanage_path(depot)
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
    text = "".join(
        f"{toml_string(path)} = {_toml_time(when)}\n" for path, when in sorted(entries.items())
    )
    atomic_write(orphanage_path(depot), text.encode("utf-8"))
