"""Automatic gc: on the first use of the library in a process, start gc if it is due.

The check costs one ``stat`` of ``<user depot>/logs/gc_next``, whose mtime is when the
next automatic gc is due (far ahead while the policy turns it off). When due, gc runs in
a detached process, so the caller never waits for it and sees nothing of it:

- a lock file held for the gc's whole run (``logs/gc_auto.lock``, ``flock``) lets one
  start at a time per depot; a process that finds it held starts nothing;
- the process is started through ``/bin/sh``, which puts it in the background and
  exits at once: it is never the caller's child (a caller's own ``os.wait()`` never
  sees it), and in a session of its own (no terminal signal reaches it);
- its output goes nowhere: what it did is in ``logs/gc_auto.log``.

It never runs under an override (``with_scratch_directory``, ``with_artifacts_directory``),
for a later depot, on a depot that is missing or read-only, with
``SCRATCHSPACES_GC_AUTO=0``, or where no interpreter can be started (a frozen
application, Python embedded in another program): those skip silently.

Imports nothing on the warm path: ``os``, ``sys`` and ``time`` are loaded already.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

from ._depot import DEPOT_PATH_VAR, LOGS_DIR, user_depot_string

AUTO_VAR = "SCRATCHSPACES_GC_AUTO"
MARKER_NAME = "gc_next"
LOCK_NAME = "gc_auto.lock"
# Where the policy turns automatic gc off, the marker is dated this far ahead: the check
# stays one stat, and 10 years stay below 2038 (filesystems with 32-bit times).
OFF_FOR = 10 * 365 * 24 * 60 * 60
_OFF = {"0", "false", "no", "off"}
_SHELL = "/bin/sh"
# The shell starts the gc in the background, away from the caller's working directory
# (which it must not keep busy, and whose modules must not shadow ours), niced from its
# first instruction where ``nice`` exists (the user's own work first), then exits.
_SCRIPT = (
    '( cd / && if command -v nice >/dev/null; then exec nice -n 10 "$0" -c "$1" "$2" "$3"; '
    'else exec "$0" -c "$1" "$2" "$3"; fi ) </dev/null >/dev/null 2>&1 &'
)
_CODE = (
    "import sys; sys.path.insert(0, sys.argv[2]); "
    "from scratchspaces._background import main; main(sys.argv[1])"
)

checked = False
"""Whether this process has checked already: the check is made once per process."""


def enabled() -> bool:
    """Return whether ``SCRATCHSPACES_GC_AUTO`` leaves automatic gc on."""
    return os.environ.get(AUTO_VAR, "1").strip().lower() not in _OFF


def marker_path(depot: str) -> str:
    """Return ``<depot>/logs/gc_next``: its mtime is when the next automatic gc is due."""
    return os.path.join(depot, LOGS_DIR, MARKER_NAME)


def lock_path(depot: str) -> str:
    """Return ``<depot>/logs/gc_auto.lock``, held by the automatic gc while it runs."""
    return os.path.join(depot, LOGS_DIR, LOCK_NAME)


def due_at(depot: str) -> float | None:
    """Return when the next automatic gc is due (None: never ran, so now)."""
    try:
        return os.stat(marker_path(depot)).st_mtime
    except OSError:
        return None


def check() -> None:
    """Start gc in the background if it is due for the user depot. Once per process.

    Never raises, never prints, never waits for the gc.
    """
    global checked  # noqa: PLW0603 - one flag per process, read on every call
    checked = True
    if not enabled():
        return
    depot = user_depot_string()
    try:
        if os.stat(marker_path(depot)).st_mtime > time.time():
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    with contextlib.suppress(Exception):  # a gc that cannot start is tried by a later process
        _start(depot)


def _interpreter() -> bool:
    """Whether ``sys.executable`` is a Python that can run ``-c`` (not frozen, not embedded)."""
    exe = sys.executable
    if not exe or getattr(sys, "frozen", False) or not os.access(exe, os.X_OK):
        return False
    name = os.path.basename(exe).lower()
    return name.startswith(("python", "pypy"))


def _start(depot: str) -> None:
    if not _interpreter() or not os.access(_SHELL, os.X_OK):
        return
    if not os.path.isdir(depot) or not os.access(depot, os.W_OK):
        return  # nothing to collect yet, or a read-only depot
    logs = os.path.join(depot, LOGS_DIR)
    if os.path.islink(logs):
        return  # gc skips such a depot: its logs would be someone else's files
    import fcntl  # noqa: PLC0415 - only when gc is due (and absent where fork is)

    os.makedirs(logs, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(lock_path(depot), flags, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # an automatic gc is running
        # A gc that ended since the first stat has moved the marker on.
        try:
            if os.stat(marker_path(depot)).st_mtime > time.time():
                return
        except FileNotFoundError:
            pass
        _spawn(depot, fd)
    finally:
        os.close(fd)  # the gc holds the lock through its own copy of the descriptor


def _spawn(depot: str, lock_fd: int) -> None:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env[AUTO_VAR] = "0"  # the gc's own uses of the library check nothing
    env[DEPOT_PATH_VAR] = depot  # collects this depot, whatever the caller's path lists
    argv = [_SHELL, "-c", _SCRIPT, sys.executable, _CODE, depot, here]
    os.set_inheritable(lock_fd, True)
    try:
        pid = os.posix_spawn(_SHELL, argv, env, setsid=True)
    except NotImplementedError:  # a C library without POSIX_SPAWN_SETSID
        pid = os.posix_spawn(_SHELL, argv, env, setpgroup=0)
    with contextlib.suppress(ChildProcessError):  # reaped by the caller's own os.wait()
        os.waitpid(pid, 0)  # the shell only starts the gc in the background


def schedule(depot: str, started: float, due: float) -> None:
    """Record that an automatic gc started at ``started`` and the next is due at ``due``.

    Raises:
        OSError: the marker cannot be written (a full or read-only disk).
    """
    from ._owners import temporary_name  # noqa: PLC0415 - only when gc runs or the policy changes

    path = marker_path(depot)
    tmp = temporary_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"{started!r}\n")
        os.utime(tmp, (due, due))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def last_started(depot: str) -> float | None:
    """Return when the last automatic gc started, from the marker (None: never)."""
    try:
        with open(marker_path(depot), encoding="utf-8") as f:
            started = float(f.read(64).strip())
    except (OSError, ValueError):
        return None
    return started if 0 < started < float("inf") else None


def forget() -> None:
    """Let this process check again (tests)."""
    global checked  # noqa: PLW0603 - see check()
    checked = False
