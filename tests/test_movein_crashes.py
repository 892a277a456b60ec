"""Moving an old cache folder in, killed at each of its filesystem events in turn.

``get_scratch("data", move_from=old)`` runs in a child of the fault server
(``_faults.py``, as in ``test_crashes.py``): once to its end, counting its filesystem
events, then once per event, ``SIGKILL``ed just before it. The old folder is on the
depot's filesystem (a rename) or on a tmpfs the test mounts (a copy, then a removal).
After each kill, and after each follow-up a user's next processes would run (a
collection with no delay, the same call again, a collection a day later):

- ``whole``: the space and the old folder, under their real names, each hold all of the
  data or none of it (the space may also hold the move's note, until the move ends).
- ``lost``: the data is whole in the space or in the old folder; once ``get_scratch``
  has returned, or the old folder is marked for removal, it is whole in the space.
- ``finish``: the next call ends the move without an error or a warning: the space
  holds exactly the data, and nothing else is left (``debris``): no old folder, marked
  or not, no note, no temporary, nothing in the trash.

Between the copy's rename onto the space and the old folder's removal the data is
whole in both places: that is what "a copy, then a removal" means across filesystems.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from _faults import FINISH, Injector, Outcome, Problem, Step, crash_everywhere
from _oldcache import fingerprint, make_old
from _tmpfs import mounted
from scratchspaces import _movein
from test_crashes import listing, remove

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fault server forks")

MOST = 400
"""Kill points at most: more than either move has events, so every event is one."""
DAY = 24 * 60 * 60
KINDS = ("whole", "lost", "debris", FINISH)

MOVE = """
import scratchspaces
flag("returned", str(scratchspaces.get_scratch("data", move_from=args["old"])))
"""
GC_NOW = (
    "import scratchspaces\nfrom datetime import timedelta\n"
    "scratchspaces.gc(collect_delay=timedelta(0))\n"
)


@dataclass
class World:
    """A project that moves its old cache ``old`` into its space ``data``."""

    tmp: Path
    depot: Path
    old: Path
    project: Path

    @property
    def space(self) -> Path:
        return self.depot / "scratchspaces" / "movein-pkg" / "data"

    @property
    def marked(self) -> Path:
        return self.old.with_name(self.old.name + _movein.MOVED)

    def reset(self) -> None:
        """No depot, and the old cache as it was."""
        for path in (self.depot, self.old, self.marked):
            remove(path)
        make_old(self.old, self.tmp / "outside.txt")

    def state(self) -> str:
        return "\n".join(
            [
                "the depot:",
                listing(self.depot),
                f"the old folder's folder {self.old.parent}:",
                listing(self.old.parent),
            ]
        )


def _world(tmp_path: Path, depot: Path, old: Path) -> World:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "movein-pkg"\n')
    (project / "mod.py").write_text("# the move runs as this file\n")
    return World(tmp_path, depot, old, project)


@pytest.fixture(params=["same filesystem", "across filesystems"])
def world(request: pytest.FixtureRequest, tmp_path: Path, depot: Path) -> Iterator[World]:
    if request.param == "same filesystem":
        yield _world(tmp_path, depot, tmp_path / "home" / ".cache" / "mypkg")
        return
    with mounted(tmp_path / "other", size=16 * 2**20, nr_inodes=2000) as fs:
        yield _world(tmp_path, depot, fs.path / "cache" / "mypkg")


def _found(path: Path) -> dict[str, Any] | None:
    """The fingerprint of the folder ``path`` (the move's note left out), None if missing."""
    if not path.is_dir() or path.is_symlink():
        return None
    found = fingerprint(path)
    found.pop(_movein.NOTE, None)
    return found


def _checks(
    world: World, data: dict[str, Any], *, finished: bool, swept: bool = False
) -> Callable[[Outcome], list[Problem]]:
    """The invariants; ``finished``: the move has ended; ``swept``: a collection ran since."""

    def check(outcome: Outcome) -> list[Problem]:
        space, old = _found(world.space), _found(world.old)
        problems: list[Problem] = []
        if space not in (None, {}, data):
            problems.append(("whole", f"the space holds part of the data: {sorted(space)}"))
        if old is not None and old != data:
            problems.append(("whole", f"the old folder holds part of the data: {sorted(old)}"))
        if data not in (space, old):
            problems.append(("lost", "the data is whole neither in the space nor the old folder"))
        if outcome.flagged("returned") and space != data:
            problems.append(("lost", "get_scratch returned, and the space lacks the data"))
        if os.path.lexists(world.marked) and space != data:
            problems.append(("lost", "the old folder is marked for removal; the space lacks it"))
        if finished:
            problems += _debris(world, swept=swept)
            if space != data:
                problems.append((FINISH, "the move did not end: the space lacks the data"))
        return problems

    return check


def _debris(world: World, *, swept: bool) -> list[Problem]:
    """What the move left; ``swept``: what anything left in the depot (a collection ran)."""
    left = [world.old, world.marked, world.space / _movein.NOTE]
    found = [str(p) for p in left if os.path.lexists(p)]
    found += [str(p) for p in world.space.parent.glob(".tmp-*")]
    if swept:
        for dirpath, dirnames, filenames in os.walk(world.depot):
            found += [os.path.join(dirpath, n) for n in dirnames + filenames if ".tmp-" in n]
        trash = world.depot / ".trash"
        if trash.is_dir() and os.listdir(trash):
            found.append(f"{trash} holds {sorted(os.listdir(trash))}")
    return [("debris", f"left behind: {path}") for path in sorted(set(found))]


def _kill_everywhere(world: World) -> str:
    """Kill the move at each of its events; return the report of every broken invariant."""
    world.reset()
    data = fingerprint(world.old)
    args = {"old": str(world.old)}
    steps = [
        Step("gc(collect_delay=0) after the kill", _checks(world, data, finished=False), GC_NOW),
        Step("get_scratch again", _checks(world, data, finished=True), MOVE, args),
        Step(
            "gc(collect_delay=0) a day later",
            _checks(world, data, finished=True, swept=True),
            GC_NOW,
            clock=2 * DAY,
        ),
    ]
    with Injector(world.tmp, shorten=world.tmp) as injector:
        crashes = crash_everywhere(
            injector,
            "get_scratch(move_from=old)",
            MOVE,
            file=world.project / "mod.py",
            reset=world.reset,
            after_kill=lambda outcome: _checks(world, data, finished=not outcome.killed)(outcome),
            steps=steps,
            state=world.state,
            args=args,
            most=MOST,
        )
    assert crashes.points == list(range(1, crashes.events + 1)), "not killed at every event"
    if os.environ.get("CRASHES_TRACE"):
        print("\n".join(crashes.trace))
    return "\n\n".join(crashes.report(kind) for kind in KINDS if crashes.of(kind))


def test_a_move_killed_at_any_event_loses_nothing_and_is_finished_next_time(world: World) -> None:
    report = _kill_everywhere(world)
    assert not report, report
