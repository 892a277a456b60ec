"""Reading the access log, record by record, around whatever is torn or mangled.

The log is ours to parse: a fast reader for the exact shape :mod:`._usage` writes, and a
real TOML parser, one record at a time, for anything else (Julia's Pkg, a hand edit).
What neither can read is skipped and counted in one warning; it never aborts a read.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, NamedTuple

from ._usage import LOG_NAME, logs_dir
from ._warn import warn_once

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime


class Record(NamedTuple):
    """One record of the access log."""

    space: str
    time: datetime
    parents: tuple[str, ...]


_FAST_RECORD = re.compile(
    r'\[\["((?:[^"\\\n])*)"\]\]\s*\n'
    r"time = (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))\s*\n"
    r'parent_projects = \[((?:\s*"[^"\\\n]*"\s*,?)*)\s*\]\s*'
)
_FAST_STRING = re.compile(r'"([^"\\\n]*)"')
_BLANK = " \t\r\n\x00"


def _parse_time(text: str) -> datetime:
    from datetime import datetime  # noqa: PLC0415 - not needed on the hot path

    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def _slow_records(chunk: str) -> list[Record] | None:
    """Parse one chunk with a real TOML parser; None if it is not valid."""
    from datetime import datetime, timezone  # noqa: PLC0415

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


def _chunks(text: str) -> Iterator[str]:
    """Split the log into chunks that each start at a line beginning with ``[[``."""
    start = 0
    for match in re.finditer(r"^\[\[", text, re.MULTILINE):
        if match.start() > start:
            yield text[start : match.start()]
        start = match.start()
    if start < len(text):
        yield text[start:]


def parse_log(text: str, *, source: str = "the access log") -> Iterator[Record]:
    """Yield the records of a log's text, skipping (with one warning) what is unreadable."""
    skipped = 0
    for chunk in _chunks(text):
        match = _FAST_RECORD.match(chunk)
        if match is not None:
            parents = tuple(_FAST_STRING.findall(match.group(3)))
            try:
                record = Record(match.group(1), _parse_time(match.group(2)), parents)
            except ValueError:
                pass
            else:
                yield record
                # What follows a whole record on its own lines is the debris of a torn
                # write (NULs after a crash, half a line): count it, keep the record.
                if chunk[match.end() :].strip(_BLANK):
                    skipped += 1
                continue
        if not chunk.strip(_BLANK):
            continue
        records = _slow_records(chunk)
        if records is None:
            skipped += 1
            continue
        yield from records
    if skipped:
        warn_once(
            "corrupt-log",
            f"skipped {skipped} unreadable record(s) in {source}; the rest was read",
        )


def read_log(depot: str) -> list[Record]:
    """Return every readable record of the user depot's access log (none if it is missing)."""
    path = os.path.join(logs_dir(depot), LOG_NAME)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    text = data.decode("utf-8", errors="replace")
    return list(parse_log(text, source=path))
