"""What gc writes of the access log: the log condensed, and the stamps of what it drops.

Both judged on what gc read under the log's lock, and written only where something
changed: a gc with nothing to drop rewrites nothing (see :func:`._logformat.rewrite`).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from . import _accesslog, _depot, _journal, _logformat, _stamps

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from ._summary import LogSummary


def write_log(depot: str, log: dict[str, tuple[datetime, list[str]]]) -> None:
    """Write the condensed access log, unless it is what the log holds already.

    Each record as :func:`._accesslog.format_record` makes it; a list of parents that
    many spaces share is spelled once.
    """
    spelled: dict[tuple[str, ...], str] = {}

    def parents_of(parents: list[str]) -> str:
        key = tuple(parents)
        found = spelled.get(key)
        if found is None:
            found = spelled[key] = _logformat.toml_strings(parents)
        return found

    text = "".join(
        f"\n[[{_logformat.toml_string(path)}]]\ntime = {_logformat.format_datetime(when)}\n"
        f"parent_projects = {parents_of(parents)}\n"
        for path, (when, parents) in sorted(log.items())
    )
    _logformat.rewrite(_accesslog.log_path(depot), text.encode("utf-8"))


def prune_stamps(
    depot: str,
    log: Mapping[str, tuple[object, list[str]]],
    summary: LogSummary,
    left: _stamps.Leftovers | None,
) -> None:
    """Remove the stamps of the records the condensed log drops, as read by this gc.

    A stamp rewritten since (by a process recording it again) stays. Judged on what gc
    read, without walking the stamps again; what the walk ``left`` (temporaries of
    writers killed mid-write, folders left empty) goes too.
    """
    prefix = os.path.join(depot, _depot.SPACES_DIR, "")
    doomed: dict[tuple[str, ...], dict[str, float]] = {}
    # The stamp names of each list of parents, made once: the spaces of a package share one.
    names: dict[tuple[str, ...], set[str]] = {(): set()}
    for space, seen in summary.stamps.items():
        entry = log.get(space)
        parents = tuple(entry[1]) if entry is not None else ()
        kept = names.get(parents)
        if kept is None:
            kept = names[parents] = {_accesslog.stamp_name(p) for p in parents}
        drop = {name: mtime for name, mtime in seen if name not in kept}
        if drop and space.startswith(prefix):
            doomed[tuple(space[len(prefix) :].split(os.sep))] = drop
    _stamps.remove(_accesslog.stamps_dir(depot), 2, doomed, time.time(), left)


def forget_journal(depot: str, summary: LogSummary) -> None:
    """Forget the journal's notes ``summary`` read, now that the log holds their stamps.

    A journal that was missing is made: the stamps were all read, and from now on the
    journal notes each one written.
    """
    journal = _accesslog.journal_dir(depot)
    if summary.journal is None:
        os.makedirs(journal, exist_ok=True)
    else:
        _journal.forget(journal, summary.journal.notes, time.time())
