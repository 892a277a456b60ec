"""Deleting spaces, killed at each of its filesystem events in turn.

``delete_scratch``, ``clear_scratchspaces(pkg)`` and ``clear_scratchspaces()`` run in a
child of the fault server (``_faults.py``, as in ``test_crashes.py``): once to its end,
counting its filesystem events, then once per event, ``SIGKILL``ed just before it. The
doomed spaces hold something of every kind (read-only files and folders, links in the
tree, out of it and to nothing, a hard link); one of their links points to a file
outside the depot. After each kill, and after what a user's next processes would run
(the same call again, then a collection a day later):

- ``whole``: each doomed space, under its real name, is whole or gone, never half
  deleted; the bystanders (a space of another namespace, the content cache's own
  namespace) are whole; the file outside the depot is untouched.
- ``finish``: the same call again deletes every doomed space, without an error or a
  warning.
- ``debris``: after the collection, nothing is left in the trash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from _faults import FINISH, Injector, Outcome, Problem, Step, crash_everywhere
from _oldcache import fingerprint, make_old
from test_crashes import listing, remove

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fault server forks")

MOST = 400
"""Kill points at most: more than any of the deletions has events, so every event is one."""
DAY = 24 * 60 * 60
KINDS = ("whole", "debris", FINISH)
GC_NOW = (
    "import scratchspaces\nfrom datetime import timedelta\n"
    "scratchspaces.gc(collect_delay=timedelta(0))\n"
)
OPERATIONS = {
    "delete_scratch": "delete_scratch('doomed-0', 'doomed')",
    "clear_scratchspaces(pkg)": "clear_scratchspaces('doomed')",
    "clear_scratchspaces()": "clear_scratchspaces()",
}


@dataclass
class World:
    """A depot with doomed spaces and bystanders, and a file outside it."""

    tmp: Path
    depot: Path
    project: Path
    operation: str

    @property
    def spaces(self) -> Path:
        return self.depot / "scratchspaces"

    @property
    def outside(self) -> Path:
        return self.tmp / "outside.txt"

    def doomed(self) -> list[Path]:
        if self.operation == "delete_scratch":
            return [self.spaces / "doomed" / "doomed-0"]
        found = [self.spaces / "doomed" / f"doomed-{i}" for i in range(3)]
        if self.operation == "clear_scratchspaces()":
            found.append(self.spaces / "other" / "bystander")
        return found

    def bystanders(self) -> list[Path]:
        found = [self.spaces / "scratchspaces" / "bindings"]  # the content cache's own
        if self.operation == "delete_scratch":
            found += [self.spaces / "doomed" / f"doomed-{i}" for i in (1, 2)]
        if self.operation != "clear_scratchspaces()":
            found.append(self.spaces / "other" / "bystander")
        return found

    def reset(self) -> None:
        remove(self.depot)
        for space in self.doomed() + self.bystanders():
            make_old(space, self.outside)

    def state(self) -> str:
        return "the depot:\n" + listing(self.depot)


@pytest.fixture(params=sorted(OPERATIONS))
def world(request: pytest.FixtureRequest, tmp_path: Path, depot: Path) -> World:
    project = tmp_path / "project"
    project.mkdir()
    (project / "mod.py").write_text("# the deletion runs as this file\n")
    return World(tmp_path, depot, project, request.param)


def _checks(
    world: World, data: dict[str, Any], *, finished: bool
) -> Callable[[Outcome], list[Problem]]:
    """The invariants; ``finished``: the deletion has been run again to its end."""

    def check(_outcome: Outcome) -> list[Problem]:
        problems: list[Problem] = []
        for space in world.doomed():
            if os.path.lexists(space):
                if finished:
                    problems.append((FINISH, f"{space} is still there"))
                elif fingerprint(space) != data:
                    problems.append(("whole", f"{space} is half deleted"))
        for space in world.bystanders():
            if not space.is_dir() or fingerprint(space) != data:
                problems.append(("whole", f"the bystander {space} was touched"))
        if world.outside.read_bytes() != b"not ours":
            problems.append(("whole", "the file outside the depot was touched"))
        return problems

    return check


def _no_debris(world: World) -> Callable[[Outcome], list[Problem]]:
    """After a collection (which may take the unrecorded bystanders): an empty trash."""

    def check(_outcome: Outcome) -> list[Problem]:
        trash = world.depot / ".trash"
        left = sorted(os.listdir(trash)) if trash.is_dir() else []
        problems: list[Problem] = [("debris", f"{trash} holds {left}")] if left else []
        problems += [(FINISH, f"{p} is back") for p in world.doomed() if os.path.lexists(p)]
        if world.outside.read_bytes() != b"not ours":
            problems.append(("whole", "the file outside the depot was touched"))
        return problems

    return check


def _data(world: World) -> dict[str, Any]:
    """What every space holds when the test starts."""
    sample = world.tmp / "sample"
    make_old(sample, world.outside)
    return fingerprint(sample)


def test_a_deletion_killed_at_any_event_leaves_whole_spaces_and_is_finished_next_time(
    world: World,
) -> None:
    data = _data(world)
    code = f"import scratchspaces\nscratchspaces.{OPERATIONS[world.operation]}\n"
    steps = [
        Step("the same call again", _checks(world, data, finished=True), code),
        Step("gc(collect_delay=0) a day later", _no_debris(world), GC_NOW, clock=2 * DAY),
    ]
    with Injector(world.tmp, shorten=world.tmp) as injector:
        crashes = crash_everywhere(
            injector,
            world.operation,
            code,
            file=world.project / "mod.py",
            reset=world.reset,
            after_kill=lambda outcome: _checks(world, data, finished=not outcome.killed)(outcome),
            steps=steps,
            state=world.state,
            most=MOST,
        )
    assert crashes.points == list(range(1, crashes.events + 1)), "not killed at every event"
    report = "\n\n".join(crashes.report(kind) for kind in KINDS if crashes.of(kind))
    assert not report, report
