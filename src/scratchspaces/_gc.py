"""``gc()``: collect the spaces nobody uses, then the artifacts, then the content cache.

What gc guarantees:

- The access log is condensed under the lock ``get_scratch`` records under, and every
  decision and every rename into the trash happens under that same hold: a record
  appended while gc runs is never lost, and a space being created or recorded is never
  deleted, whatever the ``collect_delay``.
- A space is deleted only once none of its recorded parents has existed for
  ``collect_delay`` (or by ``max_age`` and ``max_size``, when asked for). A space named
  by a record that could not be read starts a new grace period.
- Deletion goes through the depot's trash (see :mod:`._collect`): a gc killed at any
  point leaves nothing half-deleted under a real name, and the next gc finishes the
  job. Removal never follows symlinks, and warns past entries it cannot remove.
- Paths are compared as normalized paths, never by string prefix.
- Artifacts and content-cache entries are collected in the user depot only: nothing
  binds through a later depot's logs, so everything there would look unused.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from . import _accesslog, _collect, _depot, _fs, _inventory, _records
from ._collect import GCReport
from ._depot import TRASH_DIR

if TYPE_CHECKING:
    from collections.abc import Iterable

GC_LOCK_TIMEOUT = 300.0


@dataclass(frozen=True)
class _Rules:
    now: datetime
    collect_delay: timedelta
    max_age: timedelta | None
    max_size: int | None


@dataclass
class _SpacePlan(_collect.Plan):
    log: dict[str, tuple[datetime, list[str]]] = field(default_factory=dict)
    """The condensed access log to write: space -> (latest time, parents alive)."""
    latest: dict[str, datetime | None] = field(default_factory=dict)
    """Every space on disk -> its latest recorded access (None: never recorded)."""


def _over_age(plan: _SpacePlan, rules: _Rules, spare: set[str]) -> set[str]:
    """Return the spaces whose latest recorded access is older than ``max_age``."""
    if rules.max_age is None:
        return set()
    limit = rules.now - rules.max_age
    return {p for p, when in plan.latest.items() if when and when < limit and p not in spare}


def _over_size(
    plan: _SpacePlan, rules: _Rules, doomed: set[str], sizes: dict[str, int], spare: set[str]
) -> set[str]:
    """Return the least recently recorded spaces, until the rest fit in ``max_size``."""
    if rules.max_size is None:
        return set()
    left = [p for p in plan.latest if p not in doomed]
    remaining = sum(sizes.get(p, 0) for p in left)
    # Never recorded first, then oldest; nothing recorded in the last 24 hours.
    candidates = sorted(
        (p for p in left if p not in spare),
        key=lambda p: (plan.latest[p] is not None, plan.latest[p] or rules.now),
    )
    chosen: set[str] = set()
    for path in candidates:
        if remaining <= rules.max_size:
            break
        when = plan.latest[path]
        if when is not None and rules.now - when < _collect.RECENT:
            continue
        chosen.add(path)
        remaining -= sizes.get(path, 0)
    return chosen


def _plan(depot: str, rules: _Rules, sizes: dict[str, int], grace: _collect.Grace) -> _SpacePlan:
    """Condense the log and decide every space's fate; change nothing."""
    summary = _inventory.summarize(depot)
    plan = _SpacePlan()
    doomed: set[str] = set()
    for path, _namespace, _key in _inventory.spaces_on_disk(depot):
        recorded = summary.spaces.get(path)
        alive = [p for p in recorded.parents if os.path.exists(p)] if recorded else []
        plan.latest[path] = recorded.latest if recorded else None
        if recorded is not None:
            plan.log[path] = (recorded.latest, alive)
        if not alive and grace.judge(plan, path, damaged=path in summary.damaged):
            doomed.add(path)
    doomed |= _over_age(plan, rules, summary.damaged)
    doomed |= _over_size(plan, rules, doomed, sizes, summary.damaged)
    plan.settle(plan.latest, doomed)
    for path in plan.delete:
        plan.log.pop(path, None)
    return plan


def _write_log(depot: str, log: dict[str, tuple[datetime, list[str]]]) -> None:
    data = b"".join(
        _accesslog.format_record(path, when.timestamp(), parents)
        for path, (when, parents) in sorted(log.items())
    )
    _fs.atomic_write(_accesslog.log_path(depot), data)


def _prune_stamps(depot: str, log: dict[str, tuple[datetime, list[str]]]) -> None:
    """Remove the stamps of every (space, parent) pair the condensed log no longer holds."""
    root = _accesslog.stamps_dir(depot)
    spaces_root = os.path.join(depot, _depot.SPACES_DIR)
    for namespace in _fs.listdir(root):
        ns_dir = os.path.join(root, namespace)
        for key in _fs.listdir(ns_dir):
            entry = log.get(os.path.join(spaces_root, namespace, key))
            keep = {_accesslog.stamp_name(p) for p in entry[1]} if entry else set()
            _records.prune_stamps(os.path.join(ns_dir, key), keep)
        with contextlib.suppress(OSError):
            os.rmdir(ns_dir)


def _tidy(depot: str) -> None:
    """Remove empty namespaces, and what a writer killed mid-``atomic_write`` left in ``logs``.

    Every writer of the logs holds the lock gc holds, so any temporary there is stale.
    """
    root = os.path.join(depot, _depot.SPACES_DIR)
    for namespace in _fs.listdir(root):
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(root, namespace))  # only succeeds when empty
    logs = _depot.logs_dir(depot)
    for name in _fs.listdir(logs):
        if ".tmp-" in name:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(logs, name))


def _gc_depot(depot: str, rules: _Rules, *, dry_run: bool, user: bool) -> GCReport:
    _depot.check_depot(depot)
    if not os.path.isdir(depot):
        return GCReport()
    sizes: dict[str, int] = {}
    if rules.max_size is not None:
        # Measured before the lock: sizes are an estimate anyway, and measuring a large
        # depot must not keep get_scratch waiting.
        sizes = {p: _fs.tree_size(p) for p, _, _ in _inventory.spaces_on_disk(depot)}
    from .artifacts import _collect as artifacts  # noqa: PLC0415 - the artifacts' part of gc

    sweep = _collect.Sweep(os.path.join(depot, TRASH_DIR), dry_run=dry_run)
    sweep.empty_trash()
    lock = contextlib.nullcontext() if dry_run else _accesslog.log_lock(depot, GC_LOCK_TIMEOUT)
    with lock:
        orphanage = _depot.orphanage_path(depot)
        grace = _collect.Grace(_collect.read_orphanage(orphanage), rules.now, rules.collect_delay)
        plan = _plan(depot, rules, sizes, grace)
        bound = artifacts.plan(depot, grace) if user else artifacts.ArtifactPlan()
        doomed = plan.delete + bound.delete
        sweep.move(doomed)
        if not dry_run:
            _write_log(depot, plan.log)
            _collect.write_orphanage(orphanage, {**plan.orphanage, **bound.orphanage})
            _prune_stamps(depot, plan.log)
            _tidy(depot)
            if user:
                artifacts.write(depot, bound)
                sweep.failures.extend(artifacts.sweep_stale(depot, rules.now, sweep.trash_root))
    deleted = sweep.finish(doomed, sizes)
    # The content cache after the spaces: a binding file in a space deleted just now
    # releases its entries in this same call (and in a dry run, counts as deleted).
    cache = _recycle_cache(depot, rules, dry_run, plan.delete, sweep.failures) if user else None
    sweep.warn("gc-remove", "gc", "the next gc will try again")
    report = GCReport(
        deleted=deleted,
        orphaned=_collect.paths(plan.orphaned + bound.orphaned),
        kept=_collect.paths(plan.kept + bound.kept),
    )
    return GCReport.merge([report] + ([cache] if cache else []))


def _recycle_cache(
    depot: str, rules: _Rules, dry_run: bool, gone: Iterable[str], failures: list[str]
) -> GCReport | None:
    """Recycle the depot's content cache with gc's delay.

    A store that is blocked (a file in its place) or busy past the lock's timeout costs
    a line in gc's warning, not the report of the spaces already collected.
    """
    from .cache import _recycle, _store  # noqa: PLC0415 - the cache's part of gc

    try:
        return _recycle.recycle(
            _store.store_of_depot(depot),
            collect_delay=rules.collect_delay,
            now=rules.now,
            dry_run=dry_run,
            gone=gone,
        )
    except OSError as exc:
        failures.append(f"the content cache ({type(exc).__name__}: {exc})")
        return None


def gc(
    *,
    collect_delay: timedelta = timedelta(days=7),
    max_age: timedelta | None = None,
    max_size: int | None = None,
    dry_run: bool = False,
    all_depots: bool = False,
) -> GCReport:
    """Collect the scratch spaces nobody uses any more.

    A space is alive while one of its recorded parents exists (a ``.dist-info``, a
    ``pyproject.toml``, an environment). A space that is not alive, including one never
    recorded, is an orphan; an orphan is deleted once it has been one for
    ``collect_delay`` (with a zero delay, in the call that first sees it); a space that
    comes alive again leaves the orphanage. Artifacts no recorded ``Artifacts.toml``
    binds, and content-cache entries nothing binds, are collected by the same rule.

    Args:
        collect_delay: how long an orphan is kept.
        max_age: also delete spaces, alive or not, whose latest recorded access is older.
        max_size: if the spaces still take more bytes than this, delete the least recently
            recorded ones until they fit, never one recorded in the last 24 hours.
        dry_run: compute the same report and change nothing on disk, logs included.
        all_depots: collect every depot of ``SCRATCHSPACES_DEPOT_PATH``, not just the
            user depot.

    Raises:
        ValueError: a negative delay, age or size.
        DepotError: a depot path exists and is not a directory.
    """
    if collect_delay < timedelta(0) or (max_age is not None and max_age < timedelta(0)):
        raise ValueError("collect_delay and max_age must not be negative")
    if max_size is not None and max_size < 0:
        raise ValueError(f"max_size must not be negative, not {max_size}")
    rules = _Rules(_collect.now(), collect_delay, max_age, max_size)
    user = _depot.user_depot_string()
    depots = _depot.depot_strings() if all_depots else [user]
    reports = [_gc_depot(d, rules, dry_run=dry_run, user=d == user) for d in depots]
    _accesslog.forget()  # this process's memory of what is recorded may be stale now
    return GCReport.merge(reports)
