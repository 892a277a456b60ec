"""Recycling the content cache: which entries nothing binds any more, and removing them.

Under the store's lock, the one binders append their records under:

1. read the usage records (around anything damaged);
2. drop each record whose binding file is gone, or no longer binds that name, or binds
   it to another entry (a forced rebind), or whose entry is gone;
3. an entry with a record left is bound; so is every file entry a bound directory's
   record lists or its links reach;
4. every other entry is an orphan: ``orphaned.toml`` keeps when it was first seen one;
   an orphan is deleted once it has been one for ``collect_delay``, except a file entry
   that a directory entry still on disk links to (it goes with the directory, never
   before it);
5. rewrite the records and the orphanage; rename what goes into ``<store>/.trash``.

The trash is emptied after the lock is released. While a recorded binding file cannot
be parsed, its records are kept as they are: what it binds is unknown, and deleting is
the one mistake that costs data. An entry named by a damaged record starts a new grace
period.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _fs
from .._depot import TRASH_DIR
from .._usage import DAY
from ..errors import InvalidArtifactsToml, ScratchspacesError
from . import _bindings, _store

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .._gc import GCReport


@dataclass
class Plan:
    """What recycling decided for one store."""

    delete: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    records: dict[str, dict[_bindings.Use, tuple[datetime, tuple[str, ...]]]] = field(
        default_factory=dict
    )
    orphanage: dict[str, datetime] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


class Bindings:
    """The binding files the records name, each read once; ``gone`` ones count as deleted."""

    def __init__(self, gone: Iterable[str] = ()) -> None:
        self._gone = [os.path.join(os.path.normpath(g), "") for g in gone]
        self._loaded: dict[str, dict[str, Any] | None] = {}
        self.unreadable: dict[str, str] = {}

    def data(self, toml: str) -> dict[str, Any] | None:
        """Return the parsed file, None if it is gone; ``{}`` and noted if unreadable."""
        if toml not in self._loaded:
            if any(toml.startswith(g) for g in self._gone) or not os.path.isfile(toml):
                self._loaded[toml] = None
            else:
                try:
                    self._loaded[toml] = _bindings.load(toml)
                except (ScratchspacesError, OSError) as exc:
                    self.unreadable[toml] = str(exc)
                    self._loaded[toml] = {}
        return self._loaded[toml]

    def holds(self, use: _bindings.Use, id_: str) -> bool | None:
        """Whether ``use`` still binds ``id_``: True, False, or None when unknown."""
        data = self.data(use.toml)
        if data is None:
            return False
        if use.toml in self.unreadable:
            return None
        try:
            return _bindings.bound_id(data, use.name, use.toml) == id_
        except InvalidArtifactsToml:
            return None


def binding_files(store: str) -> list[str]:
    """Return the binding files of ``my_artifacts_toml``: one per space beside the store."""
    spaces = os.path.dirname(store)
    found = (os.path.join(spaces, name, "Artifacts.toml") for name in _fs.listdir(spaces))
    return sorted(path for path in found if os.path.isfile(path))


def survey(
    store: str, bindings: Bindings, now: datetime
) -> tuple[dict[str, dict[_bindings.Use, tuple[datetime, tuple[str, ...]]]], set[str]]:
    """Return the bindings standing (per entry) and the entries of damaged records.

    The records are checked against the binding files; then every binding file the
    records name, and every package's binding file beside the store, is read for
    bindings the records miss (a record lost to damage, a binding written by hand):
    those stand too, from ``now``. Records say who binds what; the files decide.
    """
    usage = _bindings.read_usage(store)
    standing: dict[str, dict[_bindings.Use, tuple[datetime, tuple[str, ...]]]] = {}
    for id_, uses in usage.records.items():
        for use, value in uses.items():
            if bindings.holds(use, id_) is not False:
                standing.setdefault(id_, {})[use] = value
    tomls = {use.toml for uses in usage.records.values() for use in uses}
    tomls |= usage.damaged_tomls  # a damaged record still says where to look
    for toml in sorted(tomls.union(binding_files(store))):
        data = bindings.data(toml)
        if not data or toml in bindings.unreadable:
            continue
        for name in data:
            try:
                bound = _bindings.bound_id(data, name, toml)
            except InvalidArtifactsToml:
                continue
            use = _bindings.Use(toml, name)
            if bound is None or use in standing.get(bound, {}):
                continue
            path = _store.entry_path(store, bound)
            if os.path.lexists(path):
                files = _store.reached(path) if _store.kind_of(path) == "directory" else ()
                standing.setdefault(bound, {})[use] = (now, tuple(sorted(files)))
    return standing, usage.damaged


def plan(store: str, now: datetime, delay: timedelta, gone: Iterable[str] = ()) -> Plan:
    """Decide what to keep, orphan and delete in ``store``; change nothing."""
    result = Plan()
    bindings = Bindings(gone)
    standing, damaged = survey(store, bindings, now)
    on_disk = _store.entries_on_disk(store)
    result.paths = on_disk
    known = _store.read_orphans(store)
    result.records = {i: uses for i, uses in standing.items() if i in on_disk}
    result.unreadable = [f"{t} ({why})" for t, why in bindings.unreadable.items()]
    bound = set(result.records)
    for uses in result.records.values():
        for _when, files in uses.values():
            bound.update(files)
    dirs = {i for i, p in on_disk.items() if os.path.isdir(p) and not os.path.islink(p)}
    result.dirs = dirs

    def due(id_: str) -> bool:
        first = now if id_ in damaged else known.get(id_, now)
        result.orphanage[id_] = first
        return now - first >= delay and id_ not in damaged

    doomed = {i for i in dirs if i not in bound and due(i)}
    reach_bound: set[str] = set()
    reach_kept: set[str] = set()
    for id_ in dirs - doomed:
        (reach_bound if id_ in bound else reach_kept).update(_store.reached(on_disk[id_]))
    for id_ in on_disk.keys() - dirs:
        if id_ in bound or id_ in reach_bound:
            continue
        if due(id_) and id_ not in reach_kept:
            doomed.add(id_)
    for id_ in sorted(on_disk):
        if id_ in doomed:
            result.delete.append(id_)
            result.orphanage.pop(id_, None)
        elif id_ in result.orphanage:
            result.orphaned.append(id_)
        else:
            result.kept.append(id_)
    return result


def recycle(
    store: str,
    *,
    collect_delay: timedelta,
    now: datetime | None = None,
    dry_run: bool = False,
    gone: Iterable[str] = (),
    lock_timeout: float = _store.LOCK_TIMEOUT,
) -> GCReport:
    """Recycle ``store``; see :func:`scratchspaces.cache.find_orphanages`.

    ``gone``: directories to treat as deleted (the spaces a dry-run gc would delete).
    """
    from .._gc import GCReport, _sweep  # noqa: PLC0415 - gc's removal, and its report

    if collect_delay < timedelta(0):
        raise ValueError("collect_delay must not be negative")
    _store.check_store(store)
    if not os.path.isdir(store):
        return GCReport()
    now = now or datetime.now(timezone.utc)
    trash_root = os.path.join(store, TRASH_DIR)
    failures: list[str] = []
    moved: dict[str, str] = {}
    if dry_run:
        decided = plan(store, now, collect_delay, gone)
    else:
        failures.extend(_fs.empty_trash(trash_root))
        with _store.store_lock(store, lock_timeout):
            decided = plan(store, now, collect_delay, gone)
            for id_ in decided.delete:
                path = decided.paths[id_]
                if id_ in decided.dirs:
                    with contextlib.suppress(OSError):
                        os.chmod(path, 0o755)  # noqa: S103 - renaming a directory updates its ".."
                trash = _fs.move_to_trash(path, trash_root)
                if trash is not None:
                    moved[path] = trash
            _bindings.write_usage(store, decided.records)
            _store.write_orphans(store, decided.orphanage)
        failures.extend(_remove_stale(store, now))
    deleted, swept = _sweep([decided.paths[i] for i in decided.delete], moved, {}, dry_run=dry_run)
    failures.extend(swept)
    if not dry_run:
        with contextlib.suppress(OSError):
            os.rmdir(trash_root)
        _stamp(store)
    _warn(decided, failures)
    return GCReport(
        deleted=deleted,
        orphaned=[Path(decided.paths[i]) for i in decided.orphaned],
        kept=[Path(decided.paths[i]) for i in decided.kept],
        freed_bytes=sum(deleted.values()),
    )


def _warn(decided: Plan, failures: list[str]) -> None:
    from .._warn import warn_once  # noqa: PLC0415

    if decided.unreadable:
        warn_once(
            "cache-unreadable-binding",
            f"{len(decided.unreadable)} binding file(s) of the content cache cannot be read; "
            f"their bindings are kept as they were; first: {decided.unreadable[0]}",
        )
    if failures:
        warn_once(
            "cache-remove",
            f"could not remove {len(failures)} entr{'y' if len(failures) == 1 else 'ies'} "
            f"of the content cache (first: {failures[0]}); the next recycling will try again",
        )


def _remove_stale(store: str, now: datetime) -> list[str]:
    """Remove what crashed creators left: temporaries and lock files no one holds.

    Only those more than a day old, and only when their lock can be taken: a creator
    still running (a download of a day and more) holds its temporary's lock.
    """
    from ..artifacts import _store as artifacts_store  # noqa: PLC0415

    failures: list[str] = []
    for path in artifacts_store.stale_temporaries(store, now.timestamp()):
        if artifacts_store.remove_if_free(os.path.join(path, _store.TMP_LOCK)):
            failures.extend(_fs.remove_tree(path, os.path.join(store, TRASH_DIR)))
    locks = os.path.join(store, _store.LOCKS_DIR)
    for name in _fs.listdir(locks):
        path = os.path.join(locks, name)
        with contextlib.suppress(OSError):
            if now.timestamp() - os.lstat(path).st_mtime > DAY:
                artifacts_store.remove_if_free(path)
    return failures


def _stamp(store: str) -> None:
    path = os.path.join(store, _store.STAMP_NAME)
    with contextlib.suppress(OSError):
        with open(path, "wb"):
            pass
        os.utime(path)
