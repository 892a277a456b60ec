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

Reading the log is :mod:`._records`' job, kept apart so that its parsers cost the hot
path nothing at import.
"""

from __future__ import annotations

import contextlib
import os
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from ._depot import LOGS_DIR, SPACES_DIR

if TYPE_CHECKING:
    from filelock import BaseFileLock

DAY = 24 * 60 * 60
LOG_NAME = "scratch_usage.toml"
STAMPS_NAME = "scratch_usage.d"
LOCK_NAME = "scratch_usage.lock"
LOCK_TIMEOUT = 30.0

# Pairs verified recorded by this process: (space, parent) -> (time of the record, the
# Path to return). Caching the Path saves a third of a warm call.
_recorded: dict[tuple[str, str], tuple[float, Path]] = {}


def logs_dir(depot: str) -> str:
    """Return ``<depot>/logs``."""
    return os.path.join(depot, LOGS_DIR)


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


def toml_string(value: str) -> str:
    """Return ``value`` as a TOML basic string."""
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


def format_record(space: str, when: float, parents: list[str] | None = None) -> bytes:
    """Return one record in the log's shape, starting on a line of its own.

    Without ``parents``, a record of ``artifact_usage.toml``: a path and a time.
    """
    text = f"\n[[{toml_string(space)}]]\ntime = {format_time(when)}\n"
    if parents is not None:
        joined = ", ".join(toml_string(p) for p in parents)
        text += f"parent_projects = [{joined}]\n"
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


def ensure_space(depot: str, namespace: str, key: str, parent: str) -> Path:
    """Return space ``key`` of ``namespace``, created, and recorded for ``parent``.

    Never raises because of tracking: a failure costs one warning and the space is still
    created. Raises only when the space itself cannot be created.
    """
    now = time.time()
    space = os.path.join(depot, SPACES_DIR, namespace, key)
    memo = (space, parent)
    known = _recorded.get(memo)
    if known is not None and now - known[0] < DAY and os.path.isdir(space):
        return known[1]
    path = Path(space)
    stamp = stamp_path(depot, namespace, key, parent)
    if os.path.isdir(space):
        when = _fresh(stamp, now)
        if when is not None:
            _recorded[memo] = (when, path)
            return path
    try:
        _recorded[memo] = (_record(depot, space, stamp, parent, now), path)
    except Exception as exc:  # noqa: BLE001 - tracking must never fail the caller
        make_space(space)  # a space that cannot exist is the caller's error, not tracking's
        from ._warn import warn_once  # noqa: PLC0415 - failures only

        warn_once(
            "tracking",
            f"scratchspaces could not record the use of {space} in "
            f"{os.path.join(logs_dir(depot), LOG_NAME)} ({type(exc).__name__}: {exc}); "
            "the space works, but gc may treat it as unused",
        )
    return path


def _record(depot: str, space: str, stamp: str, parent: str, now: float) -> float:
    """Create ``space`` and append its record unless stamped; return the record's time."""
    logs = logs_dir(depot)
    os.makedirs(logs, exist_ok=True)
    from filelock import Timeout  # noqa: PLC0415 - only on the slow path

    try:
        with log_lock(depot):
            # Created under the lock, so gc never sees the space before its record.
            make_space(space)
            when = _fresh(stamp, now)
            if when is not None:
                return when
            # Stamp first, so that a stamp that cannot be written costs no record: else
            # every process start would append one.
            os.makedirs(os.path.dirname(stamp), exist_ok=True)
            with open(stamp, "wb"):
                pass
            os.utime(stamp, (0, 0))  # not fresh until the record is in the log
            try:
                append(os.path.join(logs, LOG_NAME), format_record(space, now, [parent]))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(stamp)
                raise
            os.utime(stamp, (now, now))
            return now
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
