"""gc's part for artifacts: which ones no recorded ``Artifacts.toml`` binds any more.

An artifact is bound while an ``Artifacts.toml`` recorded in the usage log exists and
binds it (on any platform). While a recorded file cannot be read, no artifact is
deleted: what it binds is unknown, and deleting is the one mistake that costs data.
Decided under gc's lock (the lock bindings are written under), with gc's grace rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import _collect, _locks, _stamps
from .._depot import ARTIFACTS_DIR
from . import _bindings, _store, _usage

if TYPE_CHECKING:
    from datetime import datetime


@dataclass
class ArtifactPlan(_collect.Plan):
    usage: dict[str, datetime] = field(default_factory=dict)
    """The condensed usage log to write: each recorded file that exists -> its latest record."""
    stamps: set[tuple[str, float]] = field(default_factory=set)
    """The usage stamps read: those of files no longer recorded may go."""
    left: _stamps.Leftovers | None = None
    """What reading the stamps passed over (temporaries, empty folders), to tidy."""


def plan(depot: str, grace: _collect.Grace) -> ArtifactPlan:
    """Sort the depot's artifacts into bound and orphaned; change nothing."""
    usage, stamps, unknown, left = _usage.recorded(depot)
    result = ArtifactPlan(usage=usage, stamps=stamps, left=left)
    bound: set[str] = set()
    unreadable: list[str] = []
    if unknown:
        unreadable.append(f"{_usage.usage_path(depot)} ({unknown} unreadable record(s))")
    for toml in result.usage:
        try:
            bound |= _bindings.bound_hashes(toml)
        except (ValueError, OSError) as exc:
            unreadable.append(f"{toml} ({exc})")
    if unreadable:
        from .._warn import warn_once  # noqa: PLC0415 - damage only

        warn_once(
            "gc-unreadable-artifacts-toml",
            f"gc deletes no artifact while {len(unreadable)} recorded Artifacts.toml "
            f"cannot be read; first: {unreadable[0]}",
        )
    root = os.path.join(depot, ARTIFACTS_DIR)
    paths = [os.path.join(root, hash_) for hash_ in _store.installed_hashes(root)]
    doomed = {
        path
        for path in paths
        if os.path.basename(path) not in bound and grace.judge(result, path) and not unreadable
    }
    result.settle(paths, doomed)
    return result


def write(depot: str, decided: ArtifactPlan) -> None:
    """Write what was decided: the condensed usage log (hold gc's lock)."""
    _usage.rewrite(depot, decided.usage, decided.stamps, decided.left)


def sweep_stale(depot: str, now: datetime, trash_root: str) -> list[str]:
    """Remove what crashed creations and installs left in ``artifacts/``, if nobody holds it.

    Returns what could not be removed.
    """
    root = os.path.join(depot, ARTIFACTS_DIR)
    _locks.sweep_lock_files(_store.install_locks(root), now.timestamp())
    return _locks.sweep_temporaries(root, now.timestamp(), trash_root)
