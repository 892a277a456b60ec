"""Real processes for race tests: spawned, started together, always reaped."""

from __future__ import annotations

import errno
import multiprocessing
import os
import subprocess
import sys
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from multiprocessing.process import BaseProcess
    from pathlib import Path


@contextmanager
def running(
    target: Callable[..., None], arg_lists: list[tuple[Any, ...]]
) -> Iterator[Sequence[BaseProcess]]:
    """Start one spawned process per argument tuple; always reap them all."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=args) for args in arg_lists]
    for proc in procs:
        proc.start()
    try:
        yield procs
    finally:
        for proc in procs:
            proc.join(120)
            if proc.is_alive():
                proc.kill()
                proc.join()


def stderr_on_a_terminal(cmd: list[str], stdout: IO[bytes] | None = None) -> tuple[int, bytes]:
    """Run ``cmd`` with stderr on a pseudo-terminal; return its exit status and what it drew.

    Its stdout goes to ``stdout`` (a file), else nowhere.
    """
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=stdout or subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    return proc.wait(timeout=60), drain(leader)


def drain(leader: int) -> bytes:
    """Read what a pseudo-terminal's far end shows until it is closed; close ``leader``."""
    shown = bytearray()
    try:
        while chunk := os.read(leader, 65536):
            shown += chunk
    except OSError as exc:  # the far end closed: Linux says EIO
        if exc.errno != errno.EIO:
            raise
    finally:
        os.close(leader)
    return bytes(shown)


def modules_after(code: str, cwd: Path) -> set[str]:
    """Run ``code`` in a fresh interpreter; return the module names it printed last.

    ``code`` ends with ``print(" ".join(sorted(sys.modules)))``: the last line of its
    output is read as those names. The environment is this process's (the test's depot);
    a failing script fails the test with its stderr.
    """
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"the script failed:\n{result.stderr}"
    lines = result.stdout.splitlines()
    return set(lines[-1].split()) if lines else set()
