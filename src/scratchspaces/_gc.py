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
- A log or orphanage is rewritten only if what gc condensed differs from what it holds,
  and the stamps are walked once: a gc with nothing to do writes nothing.
- Artifacts and content-cache entries are collected in the user depot only: nothing
  binds through a later depot's logs, so everything there would look unused.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from . import (
    _accesslog,
    _collect,
    _condense,
    _depot,
    _fs,
    _inventory,
    _locks,
    _summary,
    _trashing,
)
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
    log: dict[str, tuple[_summary.SpaceLog, list[str]]] = field(default_factory=dict)
    """The condensed access log to write: space -> (what the log said, parents alive)."""
    latest: dict[str, _summary.SpaceLog | None] = field(default_factory=dict)
    """Every space on disk -> what the log says of it (None: never recorded)."""
    spare: set[str] = field(default_factory=set)
    """Spaces damaged records may name: judged on nothing, the size cap's included."""
    unchanged: bool = False
    """Whether ``log`` is what the log holds already, byte for byte: nothing to write."""


def _over_age(plan: _SpacePlan, rules: _Rules, spare: set[str]) -> set[str]:
    """Return the spaces whose latest recorded access is older than ``max_age``."""
    if rules.max_age is None:
        return set()
    limit = rules.now - rules.max_age
    return {p for p, log in plan.latest.items() if log and log.latest < limit and p not in spare}


def _plan(
    depot: str, rules: _Rules, grace: _collect.Grace
) -> tuple[_SpacePlan, _summary.LogSummary]:
    """Condense the log and decide every space's fate; change nothing."""
    # The log and the stamps before the spaces: a space recorded while gc runs was
    # created before its stamp, so whatever stamp was read names a space that is listed.
    summary = _summary.summarize(depot)
    on_disk = [path for path, _namespace, _key in _inventory.spaces_on_disk(depot)]
    plan, risky = _judge(summary, on_disk, rules, grace)
    # A space about to lose a parent, or its record, is judged on its stamps too: the
    # journal may not have noted a stamp whose record the log lost.
    risky += [p for p in summary.spaces if p not in plan.latest]  # records of spaces gone
    read = _summary.read_stamps_of(depot, summary, risky)
    if read is not summary:
        summary = read
        plan, _ = _judge(summary, on_disk, rules, grace)
    return plan, summary


def _judge(
    summary: _summary.LogSummary, on_disk: list[str], rules: _Rules, grace: _collect.Grace
) -> tuple[_SpacePlan, list[str]]:
    """Decide every space's fate on ``summary``; return the plan, and the spaces at risk.

    At risk: those that lose a recorded parent, or are not kept by one, or are too old.
    """
    plan = _SpacePlan()
    doomed: set[str] = set()
    risky: list[str] = []
    # A damaged record whose key was lost, or names no space (the damage may have changed
    # it), could have named any space: none is judged on it.
    hidden = summary.unknown or not summary.damaged <= set(on_disk)
    spare = set(on_disk) if hidden else summary.damaged
    judge = _inventory.Parents.of(summary)
    every_parent = True  # every recorded space on disk keeps all its parents
    for path in on_disk:
        recorded = summary.spaces.get(path)
        alive = [p for p in recorded.parents if judge.keeps(p)] if recorded else []
        plan.latest[path] = recorded
        if recorded is not None:
            plan.log[path] = (recorded, alive)
            every_parent = every_parent and len(alive) == len(recorded.parents)
        if recorded is None or len(alive) != len(recorded.parents):
            risky.append(path)
        if not alive and grace.judge(plan, path, damaged=path in spare):
            doomed.add(path)
    old = _over_age(plan, rules, spare)
    risky += old
    doomed |= old
    plan.spare = spare
    plan.settle(plan.latest, doomed)
    for path in plan.delete:
        plan.log.pop(path, None)
    # The log condensed is the log read when it keeps every space it records, with all
    # its parents, and the log read was condensed already.
    plan.unchanged = summary.condensed and every_parent and len(plan.log) == len(summary.spaces)
    return plan, risky


def _tidy(depot: str, holding: set[str]) -> None:
    """Remove empty namespaces, and what writers killed mid-write left behind.

    Every namespace but those ``holding`` a space still is tried. What writers left is
    looked for in ``logs``, and at the depot's top (the policy, ``CACHEDIR.TAG``).
    """
    root = os.path.join(depot, _depot.SPACES_DIR)
    if not os.path.islink(root):  # never through a link: its folders are not ours
        for namespace in _fs.listdir(root):
            if namespace not in holding:
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(root, namespace))  # only succeeds when empty
    now = time.time()
    _locks.sweep_abandoned_writes(_depot.logs_dir(depot), depot, now)
    _locks.sweep_abandoned_writes(depot, depot, now)


def _gc_depot(depot: str, rules: _Rules, *, dry_run: bool, user: bool) -> GCReport:
    _depot.check_depot(depot)
    if not os.path.isdir(depot):
        return GCReport()
    if os.path.islink(_depot.logs_dir(depot)):
        # Its logs decide what is deleted and are rewritten: through a link (in a depot
        # others can write to) they would be someone else's files.
        from ._warn import warn_once  # noqa: PLC0415 - refusals only

        warn_once("gc-logs-link", f"gc skipped {depot}: its logs folder is a link")
        return GCReport()
    if user and not dry_run:
        with contextlib.suppress(OSError):
            _fs.tag_cache_directory(depot)
    from .artifacts import _collect as artifacts  # noqa: PLC0415 - the artifacts' part of gc

    sweep = _collect.Sweep(os.path.join(depot, TRASH_DIR), dry_run=dry_run)
    leftovers = sweep.empty_trash()
    lock = contextlib.nullcontext() if dry_run else _accesslog.log_lock(depot, GC_LOCK_TIMEOUT)
    with lock:
        orphanage = _depot.orphanage_path(depot)
        grace = _collect.Grace(_collect.read_orphanage(orphanage), rules.now, rules.collect_delay)
        plan, summary = _plan(depot, rules, grace)
        bound = artifacts.plan(depot, grace) if user else artifacts.ArtifactPlan()
        doomed = plan.delete + bound.delete
        if not dry_run:
            _trashing.move(depot, plan.latest, doomed, sweep, summary)
            # What was put back is kept; its record is in its stamp, read by the next gc.
            doomed = [p for p in doomed if p in sweep.moved or p not in plan.latest]
            # Every write may fail (a full disk): what was moved is still removed below.
            sweep.attempt(
                "the access log's stamps",
                _condense.prune_stamps,
                depot,
                plan.log,
                summary,
                summary.left,
            )
            if not plan.unchanged:
                log = {p: (entry.latest, alive) for p, (entry, alive) in plan.log.items()}
                sweep.attempt("the access log", _condense.write_log, depot, log)
                del log
            if not sweep.unwritten:  # what the stamps noted is in the log now
                sweep.attempt("the stamps' journal", _condense.forget_journal, depot, summary)
            orphans = {**plan.orphanage, **bound.orphanage}
            sweep.attempt("the orphanage", _collect.write_orphanage, orphanage, orphans)
            holding = {
                os.path.basename(os.path.dirname(p)) for p in plan.latest if p not in sweep.moved
            }
            sweep.attempt("the logs' leftovers", _tidy, depot, holding)
            if user:
                sweep.attempt("the artifacts' usage log", artifacts.write, depot, bound)
                sweep.failures.extend(artifacts.sweep_stale(depot, rules.now, sweep.trash_root))
    # What the spaces' part read is let go before the cache's is read (one peak, not two):
    # only the size cap needs the records again.
    plan.log = {}
    capping = summary if rules.max_size is not None and user else None
    del summary
    deleted = {**leftovers, **sweep.finish(doomed, label="Collecting")}
    # The content cache after the spaces: a binding file in a space deleted just now
    # releases its entries in this same call (and in a dry run, counts as deleted).
    gone = [p for p in plan.delete if p in doomed]
    cache = _recycle_cache(depot, rules, dry_run, gone, sweep.failures) if user else None
    sweep.warn("gc-remove", "gc", "the next gc will try again")
    report = GCReport(
        deleted=deleted,
        orphaned=_collect.paths(plan.orphaned + bound.orphaned),
        kept=_collect.paths(plan.kept + bound.kept),
    )
    report = GCReport.merge([report] + ([cache] if cache else []))
    if rules.max_size is None or capping is None:
        return report
    capped = _cap(
        depot,
        rules.max_size,
        rules.now,
        plan=plan,
        summary=capping,
        gone={str(p) for p in report.deleted},
        dry_run=dry_run,
    )
    return GCReport.merge([report, capped])


def _cap(
    depot: str,
    max_size: int,
    now: datetime,
    *,
    plan: _SpacePlan,
    summary: _summary.LogSummary,
    gone: set[str],
    dry_run: bool,
) -> GCReport:
    """Evict the least recently used until the depot fits in ``max_size`` (see :mod:`._evict`).

    Measured without a lock (sizes are an estimate, and measuring must not keep
    ``get_scratch`` waiting); each eviction is checked under its collector's lock: a
    space recorded since, or an artifact or entry used since, stays.
    """
    from . import _evict  # noqa: PLC0415 - the size cap's code only when a cap is set
    from .cache import _recycle, _store  # noqa: PLC0415 - see above

    latest = {p: log and log.latest for p, log in plan.latest.items() if p not in plan.spare}
    found = _evict.survey(depot, latest, gone)
    chosen = _evict.choose(found, max_size, now.timestamp())
    sweep = _collect.Sweep(os.path.join(depot, TRASH_DIR), dry_run=dry_run)
    spaces = [u.path for u in chosen if u.kind == "space"]
    artifacts = [u for u in chosen if u.kind == "artifact"]
    if chosen and not dry_run:
        with _accesslog.log_lock(depot, GC_LOCK_TIMEOUT):
            _trashing.move(depot, plan.latest, spaces, sweep, summary)
            sweep.move(u.path for u in artifacts if _evict.mtime(u.path) == u.used)
    sizes = {u.path: u.size for u in chosen}
    deleted = sweep.finish(spaces + [u.path for u in artifacts], sizes)
    entries = {u.path: u.used for u in chosen if u.kind == "cache"}
    cache = GCReport()
    if entries:
        try:
            cache = _recycle.evict(_store.store_of_depot(depot), entries, sizes, dry_run=dry_run)
        except OSError as exc:  # a store behind a link, or busy past the lock's timeout
            sweep.failures.append(f"the content cache ({type(exc).__name__}: {exc})")
    sweep.warn("gc-remove", "gc", "the next gc will try again")
    return GCReport.merge([GCReport(deleted=deleted), cache])


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
    collect_delay: timedelta | None = None,
    max_age: timedelta | None = None,
    max_size: int | None = None,
    dry_run: bool = False,
    all_depots: bool = False,
) -> GCReport:
    """Collect the scratch spaces nobody uses any more.

    A space is alive while one of its recorded parents exists (a ``.dist-info``, a
    ``pyproject.toml``, an environment), or while the distribution of a ``.dist-info``
    that an upgrade replaced is installed there and its new version has recorded no use
    yet. A space that is not alive, including one never recorded, is an orphan; an
    orphan is deleted once it has been one for ``collect_delay`` (with a zero delay, in
    the call that first sees it); a space that comes alive again leaves the orphanage.
    Artifacts no recorded ``Artifacts.toml`` binds, and content-cache entries nothing
    binds, are collected by the same rule.

    Every option not given is the user depot's policy (``scratchspaces config``).

    Args:
        collect_delay: how long an orphan is kept (policy default: 7 days).
        max_age: also delete spaces, alive or not, whose latest recorded access is older
            (policy default: none).
        max_size: if the user depot still takes more bytes than this, evict the least
            recently used spaces, artifacts and cache entries until it fits, never one
            used in the last 24 hours (policy default: none).
        dry_run: compute the same report and change nothing on disk, logs included.
        all_depots: collect every depot of ``SCRATCHSPACES_DEPOT_PATH``, not just the
            user depot.

    Raises:
        ValueError: a negative delay, age or size.
        DepotError: a depot path exists and is not a directory; the policy is needed
            and cannot be read (its file is named).
    """
    user = _depot.user_depot_string()
    if collect_delay is None or max_age is None or max_size is None:
        from . import _policy  # noqa: PLC0415 - only for the options not given

        policy = _policy.policy(user)
        collect_delay = policy.collect_delay if collect_delay is None else collect_delay
        max_age = policy.max_age if max_age is None else max_age
        max_size = policy.max_size if max_size is None else max_size
    if collect_delay < timedelta(0) or (max_age is not None and max_age < timedelta(0)):
        raise ValueError("collect_delay and max_age must not be negative")
    if max_size is not None and max_size < 0:
        raise ValueError(f"max_size must not be negative, not {max_size}")
    rules = _Rules(_collect.now(), collect_delay, max_age, max_size)
    depots = _depot.depot_strings() if all_depots else [user]
    reports = [_gc_depot(d, rules, dry_run=dry_run, user=d == user) for d in depots]
    _accesslog.forget()  # this process's memory of what is recorded may be stale now
    return GCReport.merge(reports)
