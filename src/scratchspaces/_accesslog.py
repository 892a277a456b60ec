"""The access log of scratch spaces: ``<user depot>/logs/scratch_usage.toml``.

A record says that a space was used for a parent (a ``.dist-info``, a ``pyproject.toml``,
an environment), in the record-log format of :mod:`._records`::

    [["/home/u/.cache/scratchspaces/scratchspaces/scikit-learn/datasets"]]
    time = 2026-11-21T10:00:00.123Z
    parent_projects = ["/home/u/venv/lib/python3.12/site-packages/scikit_learn-1.7.0.dist-info"]

At most one record per (space, parent) per 24 hours, across processes. Reading the log
on every process start would cost more as the log grows, so each recorded pair leaves a
stamp, ``logs/scratch_usage.d/<namespace>/<key>/<parent's stamp name>``, holding the
parent's path: gc reads stamps as records too (see :mod:`._stamps`), those the journal
``logs/scratch_usage.new`` notes as written since it last read them. The warm path
costs one ``stat`` of the space and one of its stamp, takes no lock and imports nothing.
Only when a pair is new or stale does ``get_scratch`` take the log's lock (the lock gc
condenses under), create the space and append the record. gc removes the stamps of the
records it drops, so a parent dropped and seen again is recorded at once.
"""

from __future__ import annotations

import os
import time
import zlib
from pathlib import Path

from ._depot import SPACES_DIR, logs_dir

TYPE_CHECKING = False  # not typing's: importing typing costs more than this module
if TYPE_CHECKING:
    from filelock import BaseFileLock

LOG_NAME = "scratch_usage.toml"
STAMPS_NAME = "scratch_usage.d"
JOURNAL_NAME = "scratch_usage.new"
LOCK_NAME = "scratch_usage.lock"
LOCK_TIMEOUT = 30.0
DAY = 24 * 60 * 60

# Pairs verified recorded by this process: (space, parent) -> (time of the record, the
# Path to return). Caching the Path saves a third of a warm call.
_recorded: dict[tuple[str, str], tuple[float, Path]] = {}


def log_path(depot: str) -> str:
    """Return ``<depot>/logs/scratch_usage.toml``."""
    return os.path.join(logs_dir(depot), LOG_NAME)


def log_lock(depot: str, timeout: float = LOCK_TIMEOUT) -> BaseFileLock:
    """Return the lock that guards the access log and the spaces' creation against gc."""
    from . import _locks  # noqa: PLC0415 - only when something is recorded or collected

    return _locks.lock(os.path.join(logs_dir(depot), LOCK_NAME), timeout)


def stamp_name(key: str) -> str:
    """Return a 64-bit hex digest naming the stamp of ``key`` (stable across processes)."""
    data = key.encode("utf-8", "surrogatepass")
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def fresh(stamp: str, now: float) -> float | None:
    """Return the time of the record ``stamp`` vouches for, if it is under a day old."""
    try:
        mtime = os.stat(stamp).st_mtime
    except OSError:
        return None
    return mtime if now - mtime < DAY else None


def stamps_dir(depot: str) -> str:
    """Return the folder of the access log's stamps, ``<namespace>/<key>/<parent's stamp>``."""
    return os.path.join(logs_dir(depot), STAMPS_NAME)


def journal_dir(depot: str) -> str:
    """Return the folder noting the folders of stamps written since gc last read them."""
    return os.path.join(logs_dir(depot), JOURNAL_NAME)


def stamp_path(depot: str, namespace: str, key: str, parent: str) -> str:
    """Return the stamp file recording that (space, parent) is in the log."""
    return os.path.join(stamps_dir(depot), namespace, key, stamp_name(parent))


def format_record(space: str, when: float, parents: list[str]) -> bytes:
    """Return one record of the access log, starting on a line of its own."""
    from . import _records  # noqa: PLC0415 - writing is not on the warm path

    fields = [
        ("time", _records.format_time(when)),
        ("parent_projects", _records.toml_strings(parents)),
    ]
    return _records.format_record(space, fields)


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
        when = fresh(stamp, now)
        if when is not None:
            _recorded[memo] = (when, path)
            return path
    try:
        _recorded[memo] = (
            _record(depot, space, stamp, parent, now, folders=f"{namespace}/{key}"),
            path,
        )
    except Exception as exc:  # noqa: BLE001 - tracking must never fail the caller
        from . import _fs  # noqa: PLC0415 - creating is not on the warm path
        from ._warn import warn_once  # noqa: PLC0415 - failures only

        _fs.make_dirs(space)  # a space that cannot exist is the caller's error, not tracking's

        warn_once(
            "tracking",
            f"scratchspaces could not record the use of {space} in {log_path(depot)} "
            f"({type(exc).__name__}: {exc}); the space works, but gc may treat it as unused",
        )
    return path


def _record(depot: str, space: str, stamp: str, parent: str, now: float, *, folders: str) -> float:
    """Create ``space`` and append its record unless stamped; return the record's time.

    ``folders``: those of its stamp below the stamps folder, as the journal notes them.
    """
    os.makedirs(logs_dir(depot), exist_ok=True)
    from filelock import Timeout  # noqa: PLC0415 - only on the slow path

    from . import _fs, _records  # noqa: PLC0415 - only on the slow path

    try:
        with log_lock(depot):
            # Created under the lock, so gc never sees the space before its record.
            _fs.make_dirs(space)
            _fs.tag_cache_directory(depot)
            when = fresh(stamp, now)
            if when is not None:
                return when
            _records.append_stamped(
                log_path(depot),
                stamp,
                format_record(space, now, [parent]),
                now,
                content=parent,
                journal=(journal_dir(depot), folders),
            )
            # Where locks hold on one machine only, a gc elsewhere may have taken the space
            # for an orphan as it was recorded: it is there, empty at worst, when returned.
            _fs.make_dirs(space)
            return now
    except Timeout as exc:
        raise TimeoutError(f"the access log's lock was busy for {LOCK_TIMEOUT:.0f} s") from exc


def forget() -> None:
    """Forget this process's memory of recorded pairs (after gc or in tests)."""
    _recorded.clear()
