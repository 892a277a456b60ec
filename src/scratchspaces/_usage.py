"""The access log of scratch spaces: ``<user depot>/logs/scratch_usage.toml``.

Writing. A record is one TOML array-of-tables entry keyed by the space's path::

    [["/home/u/.cache/scratchspaces/scratchspaces/scikit-learn/datasets"]]
    time = 2026-11-21T10:00:00.123Z
    parent_projects = ["/home/u/venv/lib/python3.12/site-packages/scikit_learn-1.7.0.dist-info"]

At most one record per (space, parent) per 24 hours, across processes. Reading the log
on every process start would cost more as the log grows, so each recorded pair leaves a
*stamp*: an empty file ``logs/scratch_usage.d/<namespace>/<key>/<parent hash>`` whose
mtime is the time of the record. The warm path costs one ``stat`` of the space and one
of its stamp, takes no lock and imports nothing. Only when a pair is new or stale does
``get_scratch`` take the log's lock (the lock gc condenses under), create the space,
append the record with one ``os.write`` on an ``O_APPEND`` descriptor, then stamp it. gc
removes the stamps of the records it drops, so a parent dropped and seen again is
recorded at once.

Reading. :func:`read_log` parses the shape we write with a fast reader and falls back to
a TOML parser one record at a time; what neither can parse is skipped with one warning.
"""

from __future__ import annotations

import os
import re
import time
import zlib
from typing import TYPE_CHECKING, NamedTuple

from ._warn import warn_once

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from filelock import BaseFileLock

DAY = 24 * 60 * 60
LOG_NAME = "scratch_usage.toml"
STAMPS_NAME = "scratch_usage.d"
LOCK_NAME = "scratch_usage.lock"
LOCK_TIMEOUT = 30.0

# Records verified this process: (space, parent) -> time of the record.
_recorded: dict[tuple[str, str], float] = {}


def logs_dir(depot: str) -> str:
    """Return ``<depot>/logs``."""
    return os.path.join(depot, "logs")


def log_lock(depot: str, timeout: float = LOCK_TIMEOUT) -> BaseFileLock:
    """Return the lock that guards the access log and the spaces' creation against gc."""
    from filelock import FileLock  # noqa: PLC0415 - costs more than the whole warm path

    return FileLock(os.path.join(logs_dir(depot), LOCK_NAME), timeout=timeout)


def parent_hash(parent: str) -> str:
    """Return a 64-bit hex digest naming a parent's stamp (stable across processes)."""
    data = parent.encode("utf-8", "surrogatepass")
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def stamp_path(depot: str, namespace: str, key: str, parent: str) -> str:
    """Return the stamp file recording that (space, parent) is in the log."""
    return os.path.join(logs_dir(depot), STAMPS_NAME, namespace, key, parent_hash(parent))


def _toml_string(value: str) -> str:
    out = []
    for char in value:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def format_time(seconds: float) -> str:
    """Return ``seconds`` since the epoch as a TOML offset date-time in UTC, to the ms."""
    whole = int(seconds)
    millis = int((seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def format_record(space: str, when: float, parents: list[str]) -> bytes:
    """Return one record in the log's shape, starting on a line of its own."""
    joined = ", ".join(_toml_string(p) for p in parents)
    text = (
        f"\n[[{_toml_string(space)}]]\ntime = {format_time(when)}\nparent_projects = [{joined}]\n"
    )
    return text.encode("utf-8")


def append(path: str, data: bytes) -> None:
    """Append ``data`` to ``path`` in one ``write`` on an ``O_APPEND`` descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes (disk full?)")
    finally:
        os.close(fd)


def _fresh(stamp: str, now: float) -> float | None:
    try:
        mtime = os.stat(stamp).st_mtime
    except OSError:
        return None
    return mtime if now - mtime < DAY else None


def ensure_space(depot: str, namespace: str, key: str, space: str, parent: str) -> None:
    """Create ``space`` if missing and make sure the log records it for ``parent``.

    Never raises because of tracking: a failure costs one warning and the space is still
    created. Raises only when the space itself cannot be created.
    """
    now = time.time()
    memo = (space, parent)
    when = _recorded.get(memo)
    if when is not None and now - when < DAY and os.path.isdir(space):
        return
    stamp = stamp_path(depot, namespace, key, parent)
    if os.path.isdir(space):
        when = _fresh(stamp, now)
        if when is not None:
            _recorded[memo] = when
            return
    try:
        _record(depot, space, stamp, parent, now)
    except Exception as exc:  # noqa: BLE001 - tracking must never fail the caller
        make_space(space)  # a space that cannot exist is the caller's error, not tracking's
        warn_once(
            "tracking",
            f"scratchspaces could not record the use of {space} in "
            f"{os.path.join(logs_dir(depot), LOG_NAME)} ({type(exc).__name__}: {exc}); "
            "the space works, but gc may treat it as unused",
        )


def _record(depot: str, space: str, stamp: str, parent: str, now: float) -> None:
    logs = logs_dir(depot)
    os.makedirs(logs, exist_ok=True)
    from filelock import Timeout  # noqa: PLC0415 - only on the slow path

    try:
        with log_lock(depot):
            # Created under the lock, so gc never sees the space before its record.
            make_space(space)
            when = _fresh(stamp, now)
            if when is None:
                append(os.path.join(logs, LOG_NAME), format_record(space, now, [parent]))
                os.makedirs(os.path.dirname(stamp), exist_ok=True)
                with open(stamp, "wb"):
                    pass
                os.utime(stamp, (now, now))
                when = now
            _recorded[(space, parent)] = when
    except Timeout as exc:
        raise TimeoutError(f"the access log's lock was busy for {LOCK_TIMEOUT:.0f} s") from exc


def make_space(space: str) -> None:
    """Create the directory ``space`` with its parents, with a clear error if impossible."""
    try:
        os.makedirs(space, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        from ._depot import explain_unusable  # noqa: PLC0415 - error path only

        raise explain_unusable(space) from exc


def forget() -> None:
    """Forget this process's memory of recorded pairs (after gc or in tests)."""
    _recorded.clear()


# --- reading ---------------------------------------------------------------------------


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
