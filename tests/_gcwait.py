"""Waiting for an automatic gc started in the background, without guessing from timing.

The caller hands the lock ``logs/gc_auto.lock`` to the gc it starts, and the gc logs
its run before it exits and so releases it: "the lock is free and nothing more is
logged" means no gc is running, and none was started since the count was taken.
"""

from __future__ import annotations

import fcntl
import os
import time

from scratchspaces import _autogc, _background


def logged_runs(depot: str | os.PathLike[str]) -> int:
    """Return how many runs the automatic gc has logged in ``depot``."""
    return len(_background.runs(os.fspath(depot)))


def lock_free(depot: str | os.PathLike[str]) -> bool:
    """Return whether no automatic gc holds ``logs/gc_auto.lock`` (taking it for an instant)."""
    try:
        fd = os.open(_autogc.lock_path(os.fspath(depot)), os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # releases the lock if it was taken
    return True


def runs_since(depot: str | os.PathLike[str], before: int) -> tuple[int, int, float]:
    """Return the runs logged after the first ``before``: how many, how many with an
    error, and their median duration in seconds."""
    import statistics

    runs = _background.runs(os.fspath(depot))[before:]
    errors = sum(1 for r in runs if "error" in r)
    return len(runs), errors, statistics.median(float(r["seconds"]) for r in runs)


def wait_for_gc(depot: str | os.PathLike[str], before: int = -1, timeout: float = 120.0) -> None:
    """Wait until the log has more than ``before`` runs (-1: any) and the lock is free."""
    deadline = time.monotonic() + timeout
    while logged_runs(depot) <= before or not lock_free(depot):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no automatic gc logged its run within {timeout:.0f} s")
        time.sleep(0.005)
