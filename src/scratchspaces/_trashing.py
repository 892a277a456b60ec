"""gc's last step for a space: into the trash, unless its stamps say it was recorded since.

What gc judged it judged on the log and the stamps it read; a space is moved into the
trash only if no stamp says more, read just before the move and again just after it.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING

from . import _accesslog, _depot, _owners, _records, _stamps

if TYPE_CHECKING:
    from collections.abc import Container

    from ._collect import Sweep
    from ._summary import LogSummary


def stamps_of(depot: str, space: str) -> str:
    rel = os.path.relpath(space, os.path.join(depot, _depot.SPACES_DIR))
    return os.path.join(_accesslog.stamps_dir(depot), rel)


def recorded_since(depot: str, space: str, summary: LogSummary, now: float) -> bool:
    """Whether ``space`` was recorded since gc read the stamps, or is being recorded.

    Where locks exclude, nothing can be; where they hold on one machine only, a process
    elsewhere may be recording the space gc is about to delete, and its stamp says so.
    A stamp gc did not read says so too unless the log has its record (a parent it
    names, at that time or later).
    """
    seen = summary.stamps.get(space, [])
    known = summary.spaces.get(space)
    names = {_accesslog.stamp_name(p) for p in known.parents} if known else set()
    for stamp in _stamps.walk(stamps_of(depot, space), 0):
        if stamp.temporary:
            if not _owners.abandoned(stamp.name, stamp.changed, now):
                return True
            continue
        if (stamp.name, stamp.mtime) in seen:
            continue
        if known is None or stamp.name not in names:
            return True
        if _records.format_time(stamp.mtime) > known.when:
            return True
    return False


def move(
    depot: str,
    spaces: Container[str],
    doomed: list[str],
    sweep: Sweep,
    summary: LogSummary,
) -> None:
    """Move ``doomed`` (spaces, those in ``spaces``, and artifacts) into the trash.

    But no space recorded since it was judged: checked before each move and again
    after it, and a space recorded in between is put back.
    """
    now = time.time()
    artifacts = [p for p in doomed if p not in spaces]
    for path in (p for p in doomed if p in spaces):
        if recorded_since(depot, path, summary, now):
            continue
        sweep.move([path])
        trash = sweep.moved.get(path)
        if trash is not None and trash != path and recorded_since(depot, path, summary, now):
            with contextlib.suppress(OSError):  # recreated and written to already: it stays new
                os.rename(trash, path)
                del sweep.moved[path]
    sweep.move(artifacts)
