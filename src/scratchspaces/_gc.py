"""Garbage collection of scratch spaces: condense, orphan, collect (SPEC 4).

Safety, where the original is weak:

- The log is condensed under the lock ``get_scratch`` records under, and every decision
  and every rename to the trash happens under that same hold: a record appended while
  gc runs is never lost, and a space recorded after gc read the log is never deleted.
- The log is read record by record; a damaged record costs one warning, and the space
  it names gets a fresh grace period instead of being judged on missing evidence.
- A space is deleted by renaming it into ``<depot>/.trash`` first, then removing the
  trash outside the lock: a gc killed mid-sweep leaves nothing half-deleted under a real
  name, and the next gc finishes the job.
- Removal never follows symlinks and warns past entries it cannot remove.
- Paths are compared as normalized paths, never by string prefix.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import _depot, _fs, _inventory, _records, _usage
from ._depot import TRASH_DIR

GC_LOCK_TIMEOUT = 300.0
RECENT = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class GCReport:
    """What :func:`gc` did.

    ``deleted`` maps each deleted path to the bytes it freed, ``orphaned`` lists orphans
    kept for now, ``kept`` the spaces still in use; ``freed_bytes`` is the sum of
    ``deleted``.
    """

    deleted: dict[Path, int] = field(default_factory=dict)
    orphaned: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    freed_bytes: int = 0


# --- one depot ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rules:
    now: datetime
    collect_delay: timedelta
    max_age: timedelta | None
    max_size: int | None


@dataclass
class _Plan:
    """The decisions for one depot, made under the lock."""

    delete: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    log: dict[str, tuple[datetime, list[str]]] = field(default_factory=dict)
    orphanage: dict[str, datetime] = field(default_factory=dict)
    latest: dict[str, datetime | None] = field(default_factory=dict)


def _judge(
    depot: str, rules: _Rules, summary: _records.LogSummary, known_orphans: dict[str, datetime]
) -> tuple[_Plan, set[str]]:
    """Condense the log and sort every space into alive or orphan (rules 1 to 3)."""
    plan = _Plan()
    doomed: set[str] = set()
    for path, _namespace, _key in _inventory.spaces_on_disk(depot):
        recorded = summary.spaces.get(path)
        alive = [p for p in recorded.parents if os.path.exists(p)] if recorded else []
        plan.latest[path] = recorded.latest if recorded else None
        if recorded is not None:
            plan.log[path] = (recorded.latest, alive)
        if alive:
            plan.kept.append(path)
            continue
        # A space whose record was unreadable is judged again after a full grace period.
        damaged = path in summary.damaged
        first_seen = rules.now if damaged else known_orphans.get(path, rules.now)
        plan.orphanage[path] = first_seen
        if rules.now - first_seen >= rules.collect_delay and not damaged:
            doomed.add(path)
    return plan, doomed


def _over_age(plan: _Plan, rules: _Rules, spare: set[str]) -> set[str]:
    """Rule 4a: spaces whose latest recorded access is older than ``max_age``."""
    if rules.max_age is None:
        return set()
    limit = rules.now - rules.max_age
    return {p for p, when in plan.latest.items() if when and when < limit and p not in spare}


def _over_size(
    plan: _Plan, rules: _Rules, doomed: set[str], sizes: dict[str, int], spare: set[str]
) -> set[str]:
    """Rule 4b: the least recently recorded spaces until the rest fit in ``max_size``."""
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
        if when is not None and rules.now - when < RECENT:
            continue
        chosen.add(path)
        remaining -= sizes.get(path, 0)
    return chosen


def _plan(
    depot: str, rules: _Rules, sizes: dict[str, int], known_orphans: dict[str, datetime]
) -> _Plan:
    summary = _records.summarize(depot)
    plan, doomed = _judge(depot, rules, summary, known_orphans)
    doomed |= _over_age(plan, rules, summary.damaged)
    doomed |= _over_size(plan, rules, doomed, sizes, summary.damaged)
    plan.delete = [p for p in plan.latest if p in doomed]
    plan.kept = [p for p in plan.kept if p not in doomed]
    plan.orphaned = [p for p in plan.orphanage if p not in doomed]
    for path in plan.delete:
        plan.log.pop(path, None)
        plan.orphanage.pop(path, None)
    return plan


def _write_log(depot: str, log: dict[str, tuple[datetime, list[str]]]) -> None:
    data = b"".join(
        _usage.format_record(path, when.timestamp(), parents)
        for path, (when, parents) in sorted(log.items())
    )
    _fs.atomic_write(_records.log_path(depot), data)


def _prune_stamps(depot: str, log: dict[str, tuple[datetime, list[str]]]) -> None:
    """Remove the stamps of every (space, parent) pair the condensed log no longer holds.

    A pair without its stamp is recorded at once the next time it is seen, which is
    what the once-a-day rule promises for a parent the log dropped.
    """
    root = os.path.join(_usage.logs_dir(depot), _usage.STAMPS_NAME)
    spaces_root = os.path.join(depot, _depot.SPACES_DIR)
    for namespace in _fs.listdir(root):
        ns_dir = os.path.join(root, namespace)
        for key in _fs.listdir(ns_dir):
            key_dir = os.path.join(ns_dir, key)
            entry = log.get(os.path.join(spaces_root, namespace, key))
            keep = {_usage.parent_hash(p) for p in entry[1]} if entry else set()
            for stamp in _fs.listdir(key_dir):
                if stamp not in keep:
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(key_dir, stamp))
            with contextlib.suppress(OSError):
                os.rmdir(key_dir)
        with contextlib.suppress(OSError):
            os.rmdir(ns_dir)


def _remove_stale_temporaries(depot: str) -> None:
    """Remove what a writer killed mid-``atomic_write`` left in ``logs``.

    Every writer of these files holds the lock we hold, so any temporary is stale.
    """
    logs = _usage.logs_dir(depot)
    for name in _fs.listdir(logs):
        if ".tmp-" in name:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(logs, name))


def _remove_empty_namespaces(depot: str) -> None:
    root = os.path.join(depot, _depot.SPACES_DIR)
    for namespace in _fs.listdir(root):
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(root, namespace))  # only succeeds when empty


def _sweep(
    paths: list[str], moved: dict[str, str], sizes: dict[str, int], *, dry_run: bool
) -> tuple[dict[Path, int], list[str]]:
    """Remove what was moved to the trash; return bytes freed per path, and failures."""
    deleted: dict[Path, int] = {}
    failures: list[str] = []
    for path in paths:
        if dry_run:
            deleted[Path(path)] = sizes.get(path) or _fs.tree_size(path)
            continue
        trash = moved.get(path)
        if trash is None:
            continue  # gone already (another gc, delete_scratch): nothing freed here
        deleted[Path(path)] = _fs.tree_size(trash)
        failures.extend(_fs.remove_in_place(trash))
    return deleted, failures


def _gc_depot(depot: str, rules: _Rules, *, dry_run: bool, artifacts_too: bool) -> GCReport:
    _depot.check_depot(depot)
    if not os.path.isdir(depot):
        return GCReport()
    trash_root = os.path.join(depot, TRASH_DIR)
    sizes: dict[str, int] = {}
    if rules.max_size is not None:
        # Measured before the lock: sizes are an estimate anyway, and measuring a large
        # depot must not keep get_scratch waiting.
        sizes = {p: _fs.tree_size(p) for p, _, _ in _inventory.spaces_on_disk(depot)}
    failures: list[str] = []
    if not dry_run:
        failures.extend(_fs.empty_trash(trash_root))  # what crashed processes left
    lock = contextlib.nullcontext() if dry_run else _usage.log_lock(depot, GC_LOCK_TIMEOUT)
    moved: dict[str, str] = {}
    with lock:
        known_orphans = _records.read_orphanage(depot)
        plan = _plan(depot, rules, sizes, known_orphans)
        # Artifacts only in the user depot: a later depot's usage log is empty (nothing
        # binds through it), so every artifact there would look unbound (SPEC 2, 5).
        artifacts = _plan_artifacts(depot, rules, known_orphans) if artifacts_too else None
        if artifacts is None:
            artifacts = _ArtifactPlan()
        doomed = plan.delete + artifacts.delete
        if not dry_run:
            for path in doomed:
                trash = _fs.move_to_trash(path, trash_root)
                if trash is not None:
                    moved[path] = trash
            _write_log(depot, plan.log)
            _records.write_orphanage(depot, {**plan.orphanage, **artifacts.orphanage})
            _prune_stamps(depot, plan.log)
            if artifacts_too:
                _write_artifact_usage(depot, artifacts.usage)
            _remove_empty_namespaces(depot)
            _remove_stale_temporaries(depot)
            if artifacts_too:
                failures.extend(_remove_stale_artifact_temporaries(depot, rules, trash_root))
    deleted, swept = _sweep(doomed, moved, sizes, dry_run=dry_run)
    failures.extend(swept)
    if not dry_run:
        with contextlib.suppress(OSError):
            os.rmdir(trash_root)
    # The content cache after the spaces: a binding file in a space deleted just now
    # releases its entries in this same call (and in a dry run, counts as deleted).
    cache = _recycle_cache(depot, rules, dry_run, plan.delete, failures) if artifacts_too else None
    if cache is not None:
        deleted.update(cache.deleted)
    if failures:
        from ._warn import warn_once  # noqa: PLC0415

        warn_once(
            "gc-remove",
            f"gc could not remove {len(failures)} entr{'y' if len(failures) == 1 else 'ies'} "
            f"(first: {failures[0]}); the next gc will try again",
        )
    return GCReport(
        deleted=deleted,
        orphaned=[Path(p) for p in plan.orphaned + artifacts.orphaned]
        + (cache.orphaned if cache else []),
        kept=[Path(p) for p in plan.kept + artifacts.kept] + (cache.kept if cache else []),
        freed_bytes=sum(deleted.values()),
    )


def _recycle_cache(
    depot: str, rules: _Rules, dry_run: bool, gone: list[str], failures: list[str]
) -> GCReport | None:
    """Recycle the depot's content cache with gc's delay (SPEC 6).

    A store that is blocked (a file in its place) or busy past the lock's timeout costs
    a line in gc's warning, not the report of the spaces already collected.
    """
    from .cache import _recycle, _store  # noqa: PLC0415

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


# --- artifacts (SPEC 5) --------------------------------------------------------------------


@dataclass
class _ArtifactPlan:
    delete: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    orphanage: dict[str, datetime] = field(default_factory=dict)
    usage: dict[str, datetime] = field(default_factory=dict)


def _plan_artifacts(depot: str, rules: _Rules, known_orphans: dict[str, datetime]) -> _ArtifactPlan:
    """Sort the depot's artifacts into bound and orphaned, and condense the usage log.

    An artifact is bound while an ``Artifacts.toml`` recorded in the usage log exists and
    binds it (on any platform). While a recorded file cannot be read, no artifact is
    deleted: what it binds is unknown, and deleting is the one mistake that costs data.
    """
    from .artifacts import _bindings, _store  # noqa: PLC0415 - only gc needs both halves

    plan = _ArtifactPlan(usage=_bindings.recorded(depot))
    bound: set[str] = set()
    unreadable: list[str] = []
    for toml in plan.usage:
        try:
            bound |= _bindings.bound_hashes(toml)
        except (ValueError, OSError) as exc:
            unreadable.append(f"{toml} ({exc})")
    if unreadable:
        from ._warn import warn_once  # noqa: PLC0415

        warn_once(
            "gc-unreadable-artifacts-toml",
            f"gc deletes no artifact while {len(unreadable)} recorded Artifacts.toml "
            f"cannot be read; first: {unreadable[0]}",
        )
    root = os.path.join(depot, _store.ARTIFACTS_DIR)
    for hash_ in _store.installed_hashes(root):
        path = os.path.join(root, hash_)
        if hash_ in bound:
            plan.kept.append(path)
            continue
        first_seen = known_orphans.get(path, rules.now)
        plan.orphanage[path] = first_seen
        if rules.now - first_seen >= rules.collect_delay and not unreadable:
            plan.delete.append(path)
            del plan.orphanage[path]
        else:
            plan.orphaned.append(path)
    return plan


def _write_artifact_usage(depot: str, usage: dict[str, datetime]) -> None:
    """Rewrite the usage log with one record per existing file; prune dropped stamps."""
    from .artifacts import _bindings  # noqa: PLC0415

    path = _bindings.usage_path(depot)
    if not usage and not os.path.exists(path):
        return
    data = b"".join(
        _usage.format_record(toml, when.timestamp()) for toml, when in sorted(usage.items())
    )
    _fs.atomic_write(path, data)
    stamps = os.path.join(_usage.logs_dir(depot), _bindings.USAGE_STAMPS)
    keep = {_usage.parent_hash(toml) for toml in usage}
    for name in _fs.listdir(stamps):
        if name not in keep:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(stamps, name))


def _remove_stale_artifact_temporaries(depot: str, rules: _Rules, trash_root: str) -> list[str]:
    """Remove what crashed creations and installs left in ``artifacts/``.

    Temporaries over a day old: those run without gc's lock, so a young one may be
    another process's work. Install lock files nobody holds (a holder removes its own).
    """
    from .artifacts import _store  # noqa: PLC0415

    root = os.path.join(depot, _store.ARTIFACTS_DIR)
    for lock in _store.install_locks(root):
        _store.remove_if_free(lock)
    stale = _store.stale_temporaries(root, rules.now.timestamp())
    return [f for path in stale for f in _fs.remove_tree(path, trash_root)]


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
    comes alive again leaves the orphanage.

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
    rules = _Rules(datetime.now(timezone.utc), collect_delay, max_age, max_size)
    depots = _depot.depot_strings() if all_depots else [_depot.user_depot_string()]
    user = _depot.user_depot_string()
    reports = [_gc_depot(d, rules, dry_run=dry_run, artifacts_too=d == user) for d in depots]
    _usage.forget()  # this process's memory of what is recorded may be stale now
    deleted = {p: n for r in reports for p, n in r.deleted.items()}
    return GCReport(
        deleted=deleted,
        orphaned=[p for r in reports for p in r.orphaned],
        kept=[p for r in reports for p in r.kept],
        freed_bytes=sum(deleted.values()),
    )
