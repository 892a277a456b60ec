"""The automatic gc's own process, and its log ``<depot>/logs/gc_auto.log``.

Started detached by :mod:`._autogc`, holding the lock it was handed. It schedules the
next run first (so a gc that crashes is not retried by every process), runs gc on the
user depot under the depot's policy, and appends one line of JSON to the log: when, its
pid, what it freed, any error and warning. The log keeps its last 50 runs, in 64 KiB at most.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from datetime import datetime, timezone
from typing import Any

from . import _autogc, _fs, _policy
from ._depot import LOGS_DIR
from .errors import DepotError

LOG_NAME = "gc_auto.log"
KEEP = 50
MAX_BYTES = 64 * 1024
RETRY_AFTER = 24 * 60 * 60  # a policy that cannot be read is tried again a day later


def log_path(depot: str) -> str:
    """Return ``<depot>/logs/gc_auto.log``."""
    return os.path.join(depot, LOGS_DIR, LOG_NAME)


def main(depot: str) -> None:
    """Run the automatic gc of ``depot`` in this (detached) process."""
    with contextlib.suppress(OSError):
        os.nice(10)  # the user's own work first
    run(depot)


def run(depot: str) -> dict[str, Any] | None:
    """Run gc as the automatic gc does; return what it logged (None: the policy says off)."""
    started = time.time()
    entry: dict[str, Any] = {"started": _iso(started), "pid": os.getpid()}
    try:
        # The depot's own policy: SCRATCHSPACES_GC_AUTO was the caller's to read.
        policy = _policy.policy(depot, environment=False)
    except DepotError as exc:
        _autogc.schedule(depot, started, started + RETRY_AFTER)
        entry["error"] = str(exc)
        _append(depot, entry, started)
        return entry
    if not policy.auto:
        _autogc.schedule(depot, started, started + _autogc.OFF_FOR)
        return None
    _autogc.schedule(depot, started, started + policy.interval.total_seconds())
    from ._gc import gc  # noqa: PLC0415 - the collectors only once gc is on

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            report = gc()  # the depot is this process's user depot; the options its policy
        except Exception as exc:  # noqa: BLE001 - logged: nobody else would ever see it
            entry["error"] = f"{type(exc).__name__}: {exc}"
        else:
            entry["deleted"] = len(report.deleted)
            entry["freed_bytes"] = report.freed_bytes
            entry["orphaned"] = len(report.orphaned)
    entry["warnings"] = [str(w.message) for w in caught]
    _append(depot, entry, started)
    return entry


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")


def _append(depot: str, entry: dict[str, Any], started: float) -> None:
    """Append ``entry`` to the log; past its size, keep the last :data:`KEEP` runs."""
    entry["seconds"] = round(time.time() - started, 3)
    line = json.dumps(entry, sort_keys=True) + "\n"
    path = log_path(depot)
    with contextlib.suppress(OSError):  # a full disk: the run is still done
        if os.path.isfile(path) and os.path.getsize(path) + len(line) > MAX_BYTES:
            kept = [line.encode(), *(x.encode() for x in reversed(_lines(path)))]
            while len(kept) > KEEP or sum(map(len, kept)) > MAX_BYTES // 2:
                kept.pop()  # the oldest first; the newest run always stays
                if len(kept) == 1:
                    break
            _fs.atomic_write(path, b"".join(reversed(kept)))
            return
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(line)


def _lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line for line in f if line.endswith("\n")]
    except OSError:
        return []


def runs(depot: str) -> list[dict[str, Any]]:
    """Return the logged runs, oldest first; lines that cannot be read are skipped."""
    found = []
    for line in _lines(log_path(depot)):
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and isinstance(entry.get("started"), str):
                found.append(entry)
    return found
