"""Progress bars for the command line's long work: on a terminal only, drawn by rich.

A bar appears when a command starts a task (deleting spaces, verifying artifacts...)
and stderr is a terminal; it is erased when the task ends, so what stays on screen is
the command's report. Piped or redirected, and without rich, nothing is drawn.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, TextIO

from .. import _progress

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.progress import Progress


@contextlib.contextmanager
def bars() -> Iterator[None]:
    """Draw a bar on stderr for each task started inside the block, if it is a terminal."""
    stream = sys.stderr
    if stream is None or not stream.isatty():
        yield
        return
    shown: list[Progress] = []  # made at the first task

    @contextlib.contextmanager
    def watcher(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
        if not shown:
            try:
                shown.append(_start(stream))
            except ImportError:  # rich is not installed: no bars
                yield lambda n: None
                return
        progress = shown[0]
        task = progress.add_task(label, total=total)
        progress.refresh()  # drawn at once, however short the task
        try:
            yield lambda n: progress.advance(task, n)
        finally:
            progress.refresh()  # its last count shown, however fast it came
            progress.remove_task(task)

    try:
        with _progress.watching(watcher):
            yield
    finally:
        if shown:
            shown[0].stop()


def _start(stream: TextIO) -> Progress:
    """Start and return a rich Progress drawing on ``stream``, erased when stopped."""
    from rich.console import Console  # noqa: PLC0415 - only on a terminal, at the first task
    from rich.progress import (  # noqa: PLC0415 - only on a terminal, at the first task
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
    )

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=True,
        # What a command prints meanwhile goes above the bar when it goes to the terminal
        # too; a report piped elsewhere is left alone.
        redirect_stdout=sys.stdout is not None and sys.stdout.isatty(),
    )
    progress.start()
    return progress
