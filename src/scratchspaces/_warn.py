"""Warnings that cost bookkeeping, never a result: at most one per kind per process."""

from __future__ import annotations

import contextlib
import sys
import warnings

from .errors import ScratchspacesWarning

_warned: set[str] = set()


def warn_once(kind: str, message: str) -> None:
    """Warn with ``message`` unless a warning of this ``kind`` was already given.

    The warning points at the first frame outside this package, so users see the line of
    their own code that called us.
    """
    if kind in _warned:
        return
    _warned.add(kind)
    level = 2  # 1 is this function, 2 its caller
    frame = sys._getframe(1)
    while (
        frame is not None
        and frame.f_globals.get("__name__", "").partition(".")[0] == "scratchspaces"
    ):
        frame = frame.f_back  # type: ignore[assignment] # None ends the loop
        level += 1
    # A filter set to "error" (python -W error, a test suite's filterwarnings) must not
    # turn bookkeeping into a failure of the caller: get_scratch never fails because of
    # tracking.
    with contextlib.suppress(Warning):
        warnings.warn(message, ScratchspacesWarning, stacklevel=level)


def count(n: int, one: str, many: str) -> str:
    """Return ``1 entry`` or ``2 entries``: ``n`` and the word that goes with it."""
    return f"{n} {one if n == 1 else many}"


def reset() -> None:
    """Allow every kind of warning again (for tests)."""
    _warned.clear()
