"""Record logs: the one format of the access log, the artifacts' and the cache's usage.

A log is a file of records appended by many processes, each record one TOML
array-of-tables entry keyed by what it is about, starting on a line of its own::

    [["/home/u/.cache/scratchspaces/scratchspaces/scikit-learn/datasets"]]
    time = 2026-11-21T10:00:00.123Z
    parent_projects = ["/home/u/venv/lib/python3.12/site-packages/scikit_learn-1.7.0.dist-info"]

Writing (:mod:`._logformat`). A record is appended in one ``write`` on an ``O_APPEND``
descriptor, so concurrent writers never interleave. A record made at most once a day
leaves a *stamp* (see :mod:`._stamps`), a file whose mtime is the record's time, so that
a process can tell with one ``stat`` that the record is there
(:func:`._accesslog.fresh`, on the warm path). A collector rewrites a log only when
what it condensed differs from what is there.

Reading. A streaming, line-based reader for the exact shape written here (a million
records in seconds, in constant memory), and a real TOML parser, one record at a time,
for anything else (Julia's Pkg, a hand edit). What neither can read is skipped and
counted in one warning; it never aborts a read. The key of a damaged record, when its
header survived, is reported too, so that no collector deletes what a record it could
not read was about.

Nothing here is on the warm path of ``get_scratch``, and ``datetime`` is imported only
where records are read.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, NamedTuple

# Writing is in ._logformat; its names stay importable from here (see __all__).
from ._logformat import (
    append,
    append_stamped,
    format_record,
    format_time,
    toml_string,
    toml_strings,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from datetime import datetime
    from typing import Any

# --- reading, whatever the shape -----------------------------------------------------------

_BLANK = " \t\r\n"
# Patterns as text: re compiles (and caches) them on first use, not at import.
_KEY = r'\[\[("(?:[^"\\\n]|\\.)*")\]\]'
_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]"  # we escape all
_LONE_CR = "\r(?!\n)"  # a CR comes only in a hand edit's CRLF
CANONICAL_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"
"""A time exactly as written here, as a pattern (see :func:`canonical`)."""
_compiled: dict[str, re.Pattern[str]] = {}


def pattern(text: str) -> re.Pattern[str]:
    """Return ``text`` compiled, once: the hot loops look it up for every record."""
    found = _compiled.get(text)
    if found is None:
        found = _compiled[text] = re.compile(text)
    return found


def split(text: str) -> list[str]:
    """Split log text into chunks, each starting at a line that begins with ``[[``."""
    parts = text.split("\n[[")
    return [parts[0], *("[[" + part for part in parts[1:])]


def chunks_of_file(path: str) -> Iterator[str]:
    """Stream a log file as chunks, in blocks: memory does not grow with the log.

    A missing file has none; any other ``OSError`` is raised.
    """
    try:
        f = open(path, encoding="utf-8", errors="replace", newline="")  # noqa: SIM115 - a generator owns it
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
            yield from split(text[:cut])
        if carry:
            yield from split(carry)
            if not carry.endswith("\n"):
                yield "\x00"  # cut mid-record (every record ends a line): damage


def parse_toml(chunk: str) -> dict[str, Any] | None:
    """Return one chunk parsed by a real TOML parser, None if it is not valid TOML."""
    from . import _toml  # noqa: PLC0415 - only for records the fast reader cannot read

    try:
        return _toml.loads(chunk)
    except ValueError:
        return None


def _decode(literal: str) -> str | None:
    parsed = parse_toml(f"v = {literal}")
    value = parsed.get("v") if parsed else None
    return value if isinstance(value, str) else None


def salvage_keys(chunk: str) -> list[str]:
    """Return the key of every ``[["<key>"]]`` header in a damaged chunk, wherever it is.

    A line break lost to damage merges two records into one chunk: both are named.
    """
    found = (_decode(m.group(1)) for m in re.finditer(_KEY, chunk))
    return [key for key in found if key is not None]


def attributed(chunk: str, keys: list[str]) -> bool:
    """Whether a damaged chunk is one record whose key survived, with room for no other.

    A header damaged past recognition merges its record into the one before it.
    """
    one = chunk.count("]]") == 1 and chunk.count("\ntime") <= 1
    return len(keys) == 1 and one and garbled(chunk) is None


def garbled(chunk: str) -> int | None:
    """Return where ``chunk`` holds what no writer writes; None if nowhere.

    NULs, control characters, bytes that were not UTF-8: such damage may have replaced
    records or changed a path into another, and nothing read through it is trusted.
    """
    found = pattern(_CONTROL).search(chunk)
    where = found.start() if found else None
    if "\r" in chunk:  # rare: two searches are faster than one of either
        cr = pattern(_LONE_CR).search(chunk)
        if cr is not None and (where is None or cr.start() < where):
            where = cr.start()
    return where


def salvage_field(chunk: str, name: str) -> str | None:
    """Return the string field ``name`` of a damaged record, if its line survived whole."""
    line = re.search(rf'^{re.escape(name)} = ("(?:[^"\\\n]|\\.)*")\r?$', chunk, re.MULTILINE)
    return _decode(line.group(1)) if line else None


def is_blank(chunk: str) -> bool:
    """Whether ``chunk`` is only blank lines.

    NULs are not blank: a crash leaves them where a record was being written, on
    filesystems that extend a file before its data reaches the disk.
    """
    return not chunk.strip(_BLANK)


def warn_skipped(kind: str, skipped: int, source: str, consequence: str = "") -> None:
    """Warn once that ``skipped`` unreadable records of ``source`` were passed over."""
    if skipped:
        from ._warn import warn_once  # noqa: PLC0415 - damage only

        warn_once(
            kind,
            f"skipped {skipped} unreadable record(s) in {source}; the rest was read{consequence}",
        )


# --- reading records of a path and a time --------------------------------------------------


class Record(NamedTuple):
    """One record of the access log (or of the artifacts' usage log: no parents)."""

    key: str
    time: datetime
    parents: tuple[str, ...]


_STRING = r'"([^"\\\n]*)"'
_ONE_PARENT = r'\[\["([^"\\\n]*)"\]\]\ntime = (\S+)\nparent_projects = \["([^"\\\n]*)"\]\n'
_TIME_PREFIX = "time = "
_PARENTS_PREFIX = "parent_projects = ["


def parse_time(text: str) -> datetime:
    """Return a TOML date-time as written here (``...Z``) as an aware datetime."""
    from datetime import datetime, timezone  # noqa: PLC0415 - readers only, see the module's docstring

    if text.endswith("Z"):  # fromisoformat reads "Z" only from 3.11
        text = text[:-1] + "+00:00"
    when = datetime.fromisoformat(text)
    # A time without an offset is UTC, as the TOML reader takes it; one that cannot be
    # given in seconds since the epoch (year 1) is no time for a record.
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    try:
        when.timestamp()
    except (OverflowError, OSError) as exc:
        raise ValueError(f"{text} is out of range") from exc
    return when


def valid_time(text: str) -> bool:
    """Whether the canonical ``text`` is a time :func:`parse_time` reads (no month 13).

    Without making a datetime: each date is checked once, the time of day by its fields.
    """
    day = text[:10]
    valid = _days.get(day)
    if valid is None:
        try:
            valid = bool(parse_time(f"{day}T00:00:00.000Z"))
        except ValueError:
            valid = False
        if len(_days) > 4096:
            _days.clear()
        _days[day] = valid
    return valid and text[11:13] < "24" and text[14:16] < "60" and text[17:19] < "60"


_days: dict[str, bool] = {}


def canonical(text: str) -> bool:
    """Whether ``text`` is a time exactly as written here: ``2026-11-21T10:00:00.123Z``.

    Such times sort as strings, so a reader can compare them without parsing them.
    """
    return pattern(CANONICAL_TIME).fullmatch(text) is not None


def fast(chunk: str) -> tuple[str, str, tuple[str, ...], bool] | None:  # noqa: PLR0911 - one exit per check
    """Parse a record in exactly the shape written here: (key, time, parents, debris after).

    ``time`` is the text as written (canonical or not); None if the shape differs.
    """
    one = pattern(_ONE_PARENT).match(chunk)
    if one is not None:  # the common case, in one step: one parent, no trailing blanks
        rest = chunk[one.end() :]
        return one[1], one[2], (one[3],), bool(rest) and not is_blank(rest)
    lines = chunk.split("\n", 3)
    if len(lines) < 3:
        return None
    header, time_line, parents_line = lines[0].rstrip(), lines[1].rstrip(), lines[2].rstrip()
    if not (header.startswith('[["') and header.endswith('"]]')):
        return None
    key = header[3:-3]
    if '"' in key or "\\" in key:
        return None
    if not (time_line.startswith(_TIME_PREFIX) and parents_line.startswith(_PARENTS_PREFIX)):
        return None
    inner = parents_line[len(_PARENTS_PREFIX) : -1]
    if not parents_line.endswith("]") or "\\" in inner:
        return None
    if inner.count('"') == 2 and inner.startswith('"') and inner.endswith('"'):
        parents: tuple[str, ...] = (inner[1:-1],)  # the common case: one parent
    else:
        parents = tuple(re.findall(_STRING, inner))
        if re.sub(_STRING, "", inner).strip(", "):
            return None  # something besides basic strings: the TOML parser decides
    debris = len(lines) == 4 and not is_blank(lines[3])
    return key, time_line[len(_TIME_PREFIX) :], parents, debris


def _slow(chunk: str) -> list[Record] | None:
    """Parse one chunk with a real TOML parser; None if it is not valid records."""
    from datetime import datetime, timezone  # noqa: PLC0415 - readers only

    data = parse_toml(chunk)
    if data is None:
        return None
    found: list[Record] = []
    for key, entries in data.items():
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
            found.append(Record(key, when, tuple(parents)))
    return found


class Reader:
    """Turns chunks into records, counting and naming what it cannot read."""

    def __init__(self) -> None:
        self.skipped = 0
        self.damaged: set[str] = set()
        """Normalized keys of the records that could not be read."""
        self.unknown = 0
        """Damage whose key could not be read: it may have named anything."""

    def debris(self) -> None:
        """Count what followed a whole record: the torn start of one whose key is lost."""
        self.skipped += 1
        self.unknown += 1

    def slow(self, chunk: str) -> list[Record]:
        """Parse what the fast reader could not: TOML, else count it as damaged."""
        if is_blank(chunk):
            return []
        records = _slow(chunk) if garbled(chunk) is None else None
        if records is not None:
            return records
        self.skipped += 1
        keys = salvage_keys(chunk)
        self.damaged.update(os.path.normpath(key) for key in keys)
        if not attributed(chunk, keys):
            self.unknown += 1
        return []

    def records(self, chunks: Iterable[str]) -> Iterator[Record]:
        """Yield the records of ``chunks``, the fast way where the shape allows."""
        for chunk in chunks:
            cut = garbled(chunk)
            if cut is not None:  # a whole record before the damage is read; the rest is debris
                whole = fast(chunk[:cut])
                parsed = (*whole[:3], True) if whole is not None and not whole[3] else None
            else:
                parsed = fast(chunk)
            if parsed is not None:
                try:
                    when = parse_time(parsed[1])
                except ValueError:
                    pass
                else:
                    # What follows a whole record on its own lines is the debris of a
                    # torn write (half a line, NULs): count it, keep the record.
                    if parsed[3]:
                        self.debris()
                    yield Record(parsed[0], when, parsed[2])
                    continue
            yield from self.slow(chunk)

    def warn(self, source: str) -> None:
        """Warn once if anything was skipped."""
        warn_skipped("corrupt-log", self.skipped, source)


def parse_log(text: str, *, source: str = "the access log") -> list[Record]:
    """Return the records of a log's text, skipping (with one warning) what is unreadable."""
    reader = Reader()
    records = list(reader.records(split(text)))
    reader.warn(source)
    return records


def read_records(path: str) -> list[Record]:
    """Return every readable record of a log in the access log's shape (none if missing).

    Also reads ``artifact_usage.toml``, whose records have no parents.
    """
    reader = Reader()
    records = list(reader.records(chunks_of_file(path)))
    reader.warn(path)
    return records


__all__ = [
    "CANONICAL_TIME",
    "Reader",
    "Record",
    "append",
    "append_stamped",
    "attributed",
    "canonical",
    "chunks_of_file",
    "fast",
    "format_record",
    "format_time",
    "garbled",
    "is_blank",
    "parse_log",
    "parse_time",
    "parse_toml",
    "pattern",
    "read_records",
    "salvage_field",
    "salvage_keys",
    "split",
    "toml_string",
    "toml_strings",
    "warn_skipped",
]
