"""Which ``Artifacts.toml`` files bind artifacts: ``<user depot>/logs/artifact_usage.toml``.

Every binding, and every install at most once a day, appends a record of the file in
the record-log format of :mod:`.._records` (a path and a time, no parents). gc keeps
the artifacts that a recorded file still binds, and condenses the log to one record
per file that exists. Bindings are written under the lock gc holds while it reads
them, so the two never interleave.
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

from .. import _accesslog, _depot, _logformat, _records, _stamps

if TYPE_CHECKING:
    from collections.abc import Iterator

USAGE_NAME = "artifact_usage.toml"
USAGE_STAMPS = "artifact_usage.d"


def usage_path(depot: str) -> str:
    """Return ``<depot>/logs/artifact_usage.toml``."""
    return os.path.join(_depot.logs_dir(depot), USAGE_NAME)


def stamps_dir(depot: str) -> str:
    """Return the folder of the stamps saying when each file was last recorded."""
    return os.path.join(_depot.logs_dir(depot), USAGE_STAMPS)


def format_record(toml: str, when: float) -> bytes:
    """Return one record: the ``Artifacts.toml`` and when it was seen in use."""
    return _records.format_record(toml, [("time", _records.format_time(when))])


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Hold the user depot's log lock: bindings and gc's reading of them never interleave.

    A depot that cannot hold a lock (read-only) costs a warning, not the binding.
    """
    depot = _depot.user_depot_string()
    lock = None
    try:
        os.makedirs(_depot.logs_dir(depot), exist_ok=True)
        lock = _accesslog.log_lock(depot)
        lock.acquire()
    except OSError as exc:
        lock = None
        from .._warn import warn_once  # noqa: PLC0415 - failures only

        warn_once("bind-lock", f"cannot lock {_depot.logs_dir(depot)} ({exc}); binding anyway")
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


class Recorded(NamedTuple):
    """The usage log condensed: each recorded file that exists, and the stamps read."""

    usage: dict[str, datetime]
    """Each recorded ``Artifacts.toml`` that still exists -> its latest record."""
    stamps: set[tuple[str, float]]
    """The (name, mtime) of every stamp read: only those may be pruned."""
    unknown: int
    """Unreadable records whose file could not be read either: they may name any."""
    left: _stamps.Leftovers
    """What the walk of the stamps passed over, for :func:`rewrite` to tidy."""


def recorded(depot: str) -> Recorded:
    """Return each recorded ``Artifacts.toml`` that still exists, from the log and its stamps.

    A stamp is a record too (see :mod:`.._stamps`): what the log lost, it still says.
    """
    latest: dict[str, datetime] = {}

    def add(toml: str, when: datetime) -> None:
        toml = os.path.normpath(toml)
        if toml not in latest or when > latest[toml]:
            latest[toml] = when

    path = usage_path(depot)
    reader = _records.Reader()
    for record in reader.records(_records.chunks_of_file(path)):
        add(record.key, record.time)
    reader.warn(path)
    lost = 0
    for toml in reader.damaged:
        if os.path.isfile(toml):  # its path survived: what it binds is still bound
            add(toml, datetime.now(timezone.utc))
        else:  # the damage may have changed the path itself: it may have named any
            lost += 1
    seen: set[tuple[str, float]] = set()
    left = _stamps.Leftovers([], [])
    for stamp in _stamps.walk(stamps_dir(depot), 0, left=left):
        if not stamp.temporary:
            seen.add((stamp.name, stamp.mtime))
            if stamp.content is not None:
                add(stamp.content, datetime.fromtimestamp(stamp.mtime, timezone.utc))
    usage = {toml: when for toml, when in latest.items() if os.path.isfile(toml)}
    return Recorded(usage, seen, reader.unknown + lost, left)


def record_usage(path: str, *, locked_already: bool = False, binding: bool = False) -> None:
    """Record in the usage log that the ``Artifacts.toml`` at ``path`` is in use.

    At most once a day per file, unless ``binding``; never raises (one warning instead).
    ``SCRATCHSPACES_TRACK_ACCESS=0`` turns off the records of use, not those of bindings:
    without them gc would take every bound artifact for an orphan.
    """
    if not binding and not _depot.tracking_enabled():
        return
    depot = _depot.user_depot_string()
    stamp = os.path.join(stamps_dir(depot), _accesslog.stamp_name(path))
    now = time.time()
    if not binding and _accesslog.fresh(stamp, now) is not None:
        return
    try:
        with contextlib.nullcontext() if locked_already else locked():
            log = usage_path(depot)
            _records.append_stamped(
                log, stamp, format_record(path, now), now, content=path, always=binding
            )
    except OSError as exc:
        from .._warn import warn_once  # noqa: PLC0415 - failures only

        warn_once(
            "tracking-artifacts",
            f"could not record the use of {path} in {usage_path(depot)} ({exc}); "
            "gc may treat its artifacts as unused",
        )


def rewrite(
    depot: str,
    usage: dict[str, datetime],
    seen: set[tuple[str, float]],
    left: _stamps.Leftovers | None = None,
) -> None:
    """Rewrite the log with one record per file still recorded; drop the others' stamps.

    Only stamps that were read (``seen``) and not dated since are dropped: a binding
    recorded meanwhile keeps its stamp; with them, what the walk that read them ``left``
    (see :func:`.._stamps.remove`). A log that holds exactly that already is left as it
    is. Hold the log's lock.
    """
    path = usage_path(depot)
    kept = {_accesslog.stamp_name(toml) for toml in usage}
    doomed = {name: mtime for name, mtime in seen if name not in kept}
    _stamps.remove(stamps_dir(depot), 0, {(): doomed} if doomed else {}, time.time(), left)
    if not usage and not os.path.exists(path):
        return
    records = (
        _logformat.format_record(toml, [("time", _logformat.format_datetime(when))])
        for toml, when in sorted(usage.items())
    )
    _logformat.rewrite(path, b"".join(records))
