"""Fault injection: a real process killed by ``SIGKILL`` at its N-th filesystem event.

An :class:`Injector` starts one long-lived interpreter (this file run as a script) that
imports the library and everything it loads lazily, then forks a child per run: forking
costs a few milliseconds where a fresh interpreter costs a hundred, so an operation can
be killed at every one of its events in seconds. The child installs an audit hook
(``sys.addaudithook``) that counts the filesystem events of :data:`EVENTS` (``open``
only with a write or create flag) and, at event ``kill_at``, reports it and
``SIGKILL``s itself before the event happens. Without ``kill_at`` it runs to the end and
reports how many events it saw: ``kill_at`` in ``1..events`` then covers every instant
between two events of the operation.

The operation is Python source run in the child with ``flag(*values)`` in its globals:
what it flags (a space returned, an entry bound) reaches the test even when the child is
killed right after, so a test can tell what had been promised before the kill. The
source runs with ``__file__`` set to a file the test chooses, so that the library's
detection of the calling package sees the project the test made.

The environment of the child is the test's at the time the injector was started (the
depot of the ``isolated`` fixture). A run can also be a day (or
any time) later: ``clock`` seconds are added to ``time.time`` and to the library's
``_collect.now``, the two clocks its rules of age read, so leftovers that a rule keeps
for a day (by a time in their name, their mtime or their ctime) are that much older.

:func:`crash_everywhere` is the loop a test runs: the operation once to its end (the
control, which counts E), then for each N the state restored, the operation killed at
N, and the test's checks after the kill and after each follow-up :class:`Step`. Every
problem found is kept with where it was found (N, the event, the step) and the state at
that moment, so that one run reports every broken instant, not just the first.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from pathlib import Path
    from types import TracebackType

EVENTS = frozenset(
    {
        "open",  # counted only with a write or create flag
        "os.rename",  # os.replace raises it too
        "os.mkdir",
        "os.remove",  # os.unlink too
        "os.rmdir",
        "os.utime",
        "os.truncate",
        "os.chmod",
        "os.chown",
        "os.symlink",
        "os.link",
        "os.mkfifo",
        "os.mknod",
        "os.setxattr",
        "os.removexattr",
        "shutil.copyfile",
        "shutil.copymode",
        "shutil.copystat",
        "shutil.copytree",
        "shutil.move",
        "shutil.rmtree",
        "shutil.chown",
        "tempfile.mkstemp",
        "tempfile.mkdtemp",
        "fcntl.flock",  # taking or releasing a lock: between its file's open and the work
        "fcntl.lockf",
    }
)
"""The audit events that count as filesystem events."""

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

# Loaded by the server before it forks, so that no child imports them lazily: an import
# reads files and, with bytecode writing on, writes some, which would shift the events.
PRELOAD = (
    "scratchspaces",
    "scratchspaces.artifacts",
    "scratchspaces.cache",
    "filelock",
    "tomli_w",
    "tarfile",
    "gzip",
    "zlib",
    "hashlib",
    "shutil",
    "tempfile",
    "dataclasses",
    "datetime",
    "urllib.request",
    "urllib.parse",
    "http.client",
    "email.message",
    "traceback",
    "warnings",
    "re",
)

CHILD_TIMEOUT = 60
"""Seconds a child may run before ``SIGALRM`` ends it (a hang is a failure, not a wait)."""


@dataclass(frozen=True)
class Outcome:
    """What one run of an operation did."""

    killed: bool
    """Whether it was killed at ``kill_at`` (else it ran to its end)."""
    events: int
    """Filesystem events counted: all of them, or up to the one it was killed at."""
    event: str | None
    """The event it was killed at, ``"<N>: <name> <arguments>"`` (None if not killed)."""
    flags: list[list[Any]] = field(default_factory=list)
    """What the operation flagged, in order, each as the list of values given to ``flag``."""
    error: str | None = None
    """The traceback of what the operation raised, if it raised."""
    warnings: list[str] = field(default_factory=list)
    """The warnings it issued (category and message)."""
    trace: list[str] = field(default_factory=list)
    """Every event, numbered from 1, when asked for."""
    status: int = 0
    """The child's wait status as ``subprocess`` reports it (``-SIGKILL`` when killed)."""

    def flagged(self, name: str) -> list[list[Any]]:
        """Return the values given with each ``flag(name, *values)``, in order."""
        return [values[1:] for values in self.flags if values and values[0] == name]

    def ok(self) -> Outcome:
        """Return self if the run ended normally with no error; fail the test otherwise."""
        assert not self.killed, f"killed at {self.event}"
        assert self.status == 0, f"the child ended with status {self.status}"
        assert self.error is None, self.error
        return self


def kill_points(total: int, *, most: int) -> list[int]:
    """Return every N in ``1..total``, or an even sample of ``most`` of them, ends included."""
    if total <= most:
        return list(range(1, total + 1))
    step = (total - 1) / (most - 1)
    return sorted({1 + round(i * step) for i in range(most)})


class Injector:
    """The forking server: run operations, killed at an event or not (a context manager)."""

    def __init__(self, workdir: Path, *, shorten: Path | None = None) -> None:
        """``workdir`` receives the server's stderr; ``shorten`` is cut from reported paths."""
        self._stderr_path = workdir / "faults-server.stderr"
        self._shorten = str(shorten) if shorten is not None else ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Injector:
        stderr = self._stderr_path.open("w")
        env = dict(os.environ)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self._proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
        stderr.close()
        ready = self._proc.stdout.readline() if self._proc.stdout else ""
        if ready.strip() != "ready":
            self.__exit__(None, None, None)
            raise AssertionError(f"the fault server did not start:\n{self.server_stderr()}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()  # the server's end of requests: it exits
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout:
                proc.stdout.close()
            self._proc = None

    def server_stderr(self) -> str:
        """Return what the server and its children wrote on stderr so far (the last 4000 chars)."""
        try:
            return self._stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def run(
        self,
        code: str,
        *,
        file: str | os.PathLike[str],
        kill_at: int | None = None,
        args: Mapping[str, Any] | None = None,
        trace: bool = False,
        clock: float = 0.0,
    ) -> Outcome:
        """Run ``code`` in a fresh child, killed before its event ``kill_at`` if given.

        ``code`` sees ``args`` (JSON values), ``flag`` and ``__file__ = file``. ``trace``:
        report every event. ``clock``: seconds added to the child's clocks.
        """
        proc = self._proc
        assert proc is not None, "use the injector in a with block"
        assert proc.stdin is not None
        assert proc.stdout is not None
        request = {
            "code": code,
            "file": os.fspath(file),
            "kill_at": kill_at,
            "args": dict(args or {}),
            "trace": trace,
            "clock": clock,
            "shorten": self._shorten,
        }
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line, f"the fault server died: {self.server_stderr()}"
        reply = json.loads(line)
        return Outcome(
            killed=reply["killed"],
            events=reply["events"],
            event=reply["event"],
            flags=reply["flags"],
            error=reply["error"],
            warnings=reply["warnings"],
            trace=reply["trace"],
            status=reply["status"],
        )


# --- killing an operation at each of its events ----------------------------------------------

Problem = tuple[str, str]
"""A broken invariant: (its kind, what is wrong), the kind as the test names it."""

FINISH = "finish"
"""The kind of a run that went wrong itself: a follow-up that raised or warned, a kill
point the run no longer reaches."""


@dataclass(frozen=True)
class Step:
    """A follow-up: ``code`` run to its end (if any), then ``check``."""

    label: str
    check: Callable[[Outcome], list[Problem]]
    """Given the outcome of the killed run (what it had flagged), the problems now."""
    code: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    clock: float = 0.0
    """Seconds added to the clocks of ``code`` (see :meth:`Injector.run`)."""


@dataclass(frozen=True)
class Failure:
    """The problems found at one step after one kill, and the state then."""

    where: str
    step: str
    problems: tuple[Problem, ...]
    state: str

    def of(self, kind: str) -> list[str]:
        return [what for k, what in self.problems if k == kind]


@dataclass
class Crashes:
    """What killing one operation at each of its events found."""

    operation: str
    events: int
    points: list[int]
    trace: list[str]
    """Every event of the run without a kill, numbered as N counts them."""
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    def of(self, kind: str) -> list[Failure]:
        return [f for f in self.failures if f.of(kind)]

    def report(self, kind: str) -> str:
        """Every failure of ``kind`` on a line, then the state at the first of each problem."""
        failures = self.of(kind)
        head = (
            f"{self.operation}: {len(failures)} failure(s) of kind {kind!r} over "
            f"{len(self.points)} kill points of {self.events} events"
        )
        lines: list[str] = []
        firsts: dict[str, Failure] = {}
        for failure in failures:
            problems = failure.of(kind)
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            lines.append(f"{failure.where} [{failure.step}]: {problems[0]}{more}")
            shape = re.sub(r"[0-9a-f]{8,}|\d+", "#", f"{failure.step} {problems[0]}")
            firsts.setdefault(shape, failure)
        details = [
            f"{f.where} [{f.step}]:\n"
            + "\n".join(f"  - {p}" for p in f.of(kind))
            + f"\n state:\n{f.state}"
            for f in list(firsts.values())[:3]
        ]
        events = "\n".join(f"  {event}" for event in self.trace)
        return "\n".join(
            [
                head,
                *lines,
                "",
                "the first of each problem:",
                "",
                "\n\n".join(details),
                "",
                "the events of the run without a kill:",
                events,
            ]
        )


def crash_everywhere(
    injector: Injector,
    operation: str,
    code: str,
    *,
    file: str | os.PathLike[str],
    reset: Callable[[], None],
    after_kill: Callable[[Outcome], list[Problem]],
    steps: list[Step],
    state: Callable[[], str],
    args: Mapping[str, Any] | None = None,
    most: int,
) -> Crashes:
    """Kill ``code`` at each of its events (at most ``most``), checking after each kill and step.

    ``reset()`` restores the state before each run, ``state()`` describes it for a
    failure. The run without a kill goes through the same checks first, as the control.
    """
    started = time.perf_counter()
    reset()
    control = injector.run(code, file=file, args=args, trace=True).ok()
    result = Crashes(
        operation, control.events, kill_points(control.events, most=most), control.trace
    )
    for n in [None, *result.points]:
        reset()
        outcome = injector.run(code, file=file, kill_at=n, args=args)
        where = f"{operation}, no kill" if n is None else f"{operation}, N={n} ({outcome.event})"

        def fail(step: str, problems: list[Problem], where: str = where) -> None:
            if problems:
                result.failures.append(Failure(where, step, tuple(problems), state()))

        if n is not None and not outcome.killed:
            fail("the kill", [(FINISH, f"the run ended after {outcome.events} events")])
            continue
        if n is None and (outcome.error or outcome.status):
            fail("the run", [(FINISH, f"it failed: {outcome.error or outcome.status}")])
            continue
        fail("after the kill", after_kill(outcome))
        for step in steps:
            if step.code is not None:
                ran = injector.run(step.code, file=file, args=step.args, clock=step.clock)
                if ran.error or ran.status:
                    fail(step.label, [(FINISH, f"it failed: {ran.error or ran.status}")])
                fail(step.label, [(FINISH, f"it warned {w}") for w in ran.warnings])
            fail(step.label, step.check(outcome))
    result.seconds = time.perf_counter() - started
    return result


# --- the server and its children (this file run as a script) -----------------------------


_OPEN_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL", "O_TRUNC", "O_APPEND")
_FLOCK_OPS = ("LOCK_SH", "LOCK_EX", "LOCK_NB", "LOCK_UN")


def _flag_names(value: int, names: tuple[str, ...], module: Any) -> str:
    found = [n for n in names if getattr(module, n, 0) and value & getattr(module, n)]
    return "|".join(found) or "0"


def _int_argument(name: str, position: int, value: int) -> str:
    if position == 1 and name in {"os.mkdir", "os.chmod"}:
        return oct(value)  # the mode
    if position == 0:
        return f"fd {value}"  # fchmod, futimes and the like
    return f"dir_fd={value}"


def _describe(name: str, args: tuple[Any, ...], shorten: str) -> str:
    """Return an event as ``name(arguments)``, paths shortened, flags by name."""
    if name == "open" and len(args) == 3:
        flags = _flag_names(args[2], _OPEN_FLAGS, os)
        where = f"fd {args[0]}" if isinstance(args[0], int) else args[0]
        args = (where, flags if args[1] is None else f"{args[1]!r}: {flags}")
    elif name == "fcntl.flock" and len(args) == 2:
        import fcntl

        args = (f"fd {args[0]}", _flag_names(args[1], _FLOCK_OPS, fcntl))
    shown = []
    for i, arg in enumerate(args):
        if hasattr(arg, "__fspath__"):  # a DirEntry given to shutil
            arg = os.fspath(arg)  # noqa: PLW2901 - shown, not used
        if isinstance(arg, bytes):
            arg = os.fsdecode(arg)  # noqa: PLW2901 - shown, not used
        if isinstance(arg, str):
            if shorten and arg.startswith(shorten):
                arg = "<tmp>" + arg[len(shorten) :]  # noqa: PLW2901 - shown, not used
            shown.append(arg)
        elif arg is None or arg == -1:
            continue  # the defaults of dir_fd and the like
        elif isinstance(arg, int) and not isinstance(arg, bool):
            shown.append(_int_argument(name, i, arg))
        else:
            shown.append(repr(arg))
    return f"{name}({', '.join(shown)})"


def _shift_clocks(seconds: float) -> None:
    """Add ``seconds`` to ``time.time`` and to the library's aware ``now``."""
    import time as time_module
    from datetime import timedelta

    from scratchspaces import _collect

    real_time, real_ns, real_now = time_module.time, time_module.time_ns, _collect.now
    time_module.time = lambda: real_time() + seconds
    time_module.time_ns = lambda: real_ns() + int(seconds * 1e9)
    _collect.now = lambda: real_now() + timedelta(seconds=seconds)


def _child(request: dict[str, Any], out: int) -> None:
    """Run one operation in this forked child; report on ``out``; never return."""
    import traceback
    import warnings

    def send(message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(out, data) :]

    signal.alarm(CHILD_TIMEOUT)
    if request["clock"]:
        _shift_clocks(request["clock"])
    kill_at: int | None = request["kill_at"]
    trace: bool = request["trace"]
    shorten: str = request["shorten"]
    count = 0

    def hook(name: str, args: tuple[Any, ...]) -> None:
        nonlocal count
        if name not in EVENTS:
            return
        if name == "open" and not (isinstance(args[2], int) and args[2] & WRITE_FLAGS):
            return
        count += 1
        if trace:
            send({"trace": f"{count}: {_describe(name, args, shorten)}"})
        if count == kill_at:
            send({"killed": f"{count}: {_describe(name, args, shorten)}"})
            os.kill(os.getpid(), signal.SIGKILL)

    def flag(*values: Any) -> None:
        send({"flag": list(values)})

    namespace = {
        "__name__": "__faults_operation__",
        "__file__": request["file"],
        "args": request["args"],
        "flag": flag,
    }
    compiled = compile(request["code"], request["file"], "exec")
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sys.addaudithook(hook)
        try:
            exec(compiled, namespace)  # noqa: S102 - the test's own operation
        except BaseException:  # noqa: BLE001 - reported to the test, which decides
            error = traceback.format_exc()
    send(
        {
            "done": True,
            "events": count,
            "error": error,
            "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        }
    )


def _serve_one(request: dict[str, Any]) -> dict[str, Any]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its coverage is not collected
        os.close(read_end)
        try:
            _child(request, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as reader:
        while chunk := reader.read(65536):
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    reply: dict[str, Any] = {
        "killed": False,
        "events": 0,
        "event": None,
        "flags": [],
        "error": None,
        "warnings": [],
        "trace": [],
        "status": -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status),
    }
    for line in b"".join(chunks).decode().splitlines():
        message = json.loads(line)
        if "trace" in message:
            reply["trace"].append(message["trace"])
        elif "flag" in message:
            reply["flags"].append(message["flag"])
        elif "killed" in message:
            reply["killed"] = True
            reply["event"] = message["killed"]
            reply["events"] = int(message["killed"].split(":")[0])
        elif "done" in message:
            reply.update(
                events=message["events"], error=message["error"], warnings=message["warnings"]
            )
    if reply["killed"] and reply["status"] != -signal.SIGKILL:
        reply["error"] = f"reported a kill but ended with status {reply['status']}"
    return reply


def _requests(stdin: Any) -> Iterator[dict[str, Any]]:
    for line in stdin:
        if line.strip():
            yield json.loads(line)


def serve() -> None:
    """Answer requests read from stdin, one JSON line each, with one JSON line on stdout."""
    import importlib

    sys.dont_write_bytecode = True
    for name in PRELOAD:
        importlib.import_module(name)
    import pkgutil

    import scratchspaces

    for module in pkgutil.walk_packages(scratchspaces.__path__, "scratchspaces."):
        if not module.name.startswith("scratchspaces.cli"):
            importlib.import_module(module.name)
    # The replies go on a copy of stdout; stdout itself is stderr from now on, so that
    # nothing an operation prints can break the protocol.
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    replies.write("ready\n")
    replies.flush()
    for request in _requests(sys.stdin):
        replies.write(json.dumps(_serve_one(request)) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve()
