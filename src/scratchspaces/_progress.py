"""Progress of long work (deleting, verifying), for whoever watches: the command line's bars.

The library itself shows nothing: a package calling :func:`scratchspaces.gc` or an
automatic gc in the background prints no bar. Only code run inside :func:`watching` (the
command line on a terminal) reports its steps, to the watcher given there. Without a
watcher a step costs one context-variable lookup.
"""

from __future__ import annotations

import contextlib
import contextvars

TYPE_CHECKING = False  # not typing's: this module is imported by the deleting code
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager

    Watcher = Callable[[str, int | None], AbstractContextManager[Callable[[int], None]]]
    """``with watcher(label, total) as advance:`` a task of ``total`` steps (None:
    unknown); ``advance(n)`` counts ``n`` more done; the task ends with the block."""

_watcher: contextvars.ContextVar[Watcher | None] = contextvars.ContextVar(
    "scratchspaces_progress", default=None
)


def _ignore(_n: int) -> None:
    """Count nothing: nobody watches."""


@contextlib.contextmanager
def watching(watcher: Watcher) -> Iterator[None]:
    """Report the steps of the work done inside the block to ``watcher``."""
    token = _watcher.set(watcher)
    try:
        yield
    finally:
        _watcher.reset(token)


def watched() -> bool:
    """Whether anyone watches: worth counting a task's steps before it starts."""
    return _watcher.get() is not None


@contextlib.contextmanager
def task(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)`` for a task of ``total`` steps (None: unknown), ended on exit."""
    watcher = _watcher.get()
    if watcher is None:
        yield _ignore
        return
    with watcher(label, total) as advance:
        yield advance
