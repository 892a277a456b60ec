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
5. rewrite the records and the orphanage (each only if it changed); rename what goes
   into ``<store>/.trash``.

The trash is emptied after the lock is released, and what crashed writers left (stale
temporaries, lock files, the temporaries of interrupted atomic writes) is removed.
Nothing is deleted through a link: a store reached through one is refused, and a link
in place of its trash or its ``locks`` is removed as a link, never followed.

While a recorded binding file cannot be parsed, its records are kept as they are: what
it binds is unknown, and deleting is the one mistake that costs data. An entry named by
a damaged record starts a new grace period.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import _collect, _fs, _locks, _remove
from .._collect import GCReport
from .._depot import TRASH_DIR
from ..errors import ScratchspacesError
from . import _bindings, _store

if TYPE_CHECKING:
    from collections.abc import Iterable

Standing = dict[str, dict[_bindings.Use, tuple[datetime, tuple[str, ...]]]]
"""Entry id -> each binding of it that stands -> (its latest record, the files it reaches)."""


@dataclass
class CachePlan(_collect.Plan):
    """What recycling decided for one store, by entry id."""

    paths: dict[str, str] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    records: Standing = field(default_factory=dict)
    unchanged: bool = False
    """Whether the usage records on disk are ``records`` exactly: nothing to rewrite."""
    unreadable: list[str] = field(default_factory=list)


class Bindings:
    """The binding files the records name, each read once; ``gone`` ones count as deleted."""

    def __init__(self, gone: Iterable[str] = ()) -> None:
        self._gone = [os.path.join(os.path.normpath(g), "") for g in gone]
        self._loaded: dict[str, dict[str, str | None] | None] = {}
        self.unreadable: dict[str, str] = {}

    def ids(self, toml: str) -> dict[str, str | None] | None:
        """Return each name -> the id it binds (None: malformed), None if the file is gone.

        ``{}`` and noted if the file cannot be read.
        """
        if toml in self._loaded:
            return self._loaded[toml]
        found: dict[str, str | None] | None = None
        if not any(toml.startswith(g) for g in self._gone):
            try:
                found = _bindings.bound_ids(toml)
            except (ScratchspacesError, OSError) as exc:
                self.unreadable[toml] = str(exc)
                found = {}
        self._loaded[toml] = found
        return found

    def holds(self, use: _bindings.Use, id_: str) -> bool | None:
        """Whether ``use`` still binds ``id_``: True, False, or None when unknown."""
        ids = self.ids(use.toml)
        if ids is None:
            return False
        if use.toml in self.unreadable:
            return None
        if use.name not in ids:
            return False
        bound = ids[use.name]
        return None if bound is None else bound == id_


def binding_files(store: str) -> list[str]:
    """Return the binding files of ``my_artifacts_toml``: one per space beside the store."""
    spaces = os.path.dirname(store)
    found = (os.path.join(spaces, name, _store.BINDINGS_NAME) for name in _fs.listdir(spaces))
    return sorted(path for path in found if os.path.isfile(path))


def survey(store: str, bindings: Bindings, now: datetime) -> tuple[Standing, set[str], bool]:
    """Return the bindings standing, the entries damaged records name, and whether any hid it.

    A damaged record that hid which entry it named may have named any of them.

    The records are checked against the binding files; then every binding file the
    records name, and every package's binding file beside the store, is read for
    bindings the records miss (a record lost to damage, a binding written by hand):
    those stand too, from ``now``. Records say who binds what; the files decide.
    """
    standing, usage, hidden, _changed = _survey(store, bindings, now)
    return standing, usage.damaged, hidden


def _survey(
    store: str, bindings: Bindings, now: datetime
) -> tuple[Standing, _bindings.Usage, bool, bool]:
    """:func:`survey`, with the records as read, and whether the standing differ from them.

    The records read are condensed in place into the bindings standing: one copy of them
    in memory, not two.
    """
    usage = _bindings.read_usage(store)
    tomls = {use.toml for uses in usage.records.values() for use in uses}
    standing: Standing = usage.records
    changed = False
    for id_, uses in list(standing.items()):
        gone = [use for use in uses if bindings.holds(use, id_) is False]
        for use in gone:
            del uses[use]
        if not uses:
            del standing[id_]
        changed = changed or bool(gone)
    tomls |= usage.damaged_tomls  # a damaged record still says where to look
    for toml in sorted(tomls.union(binding_files(store))):
        ids = bindings.ids(toml)
        if not ids or toml in bindings.unreadable:
            continue
        for name, bound in ids.items():
            use = _bindings.Use(toml, name)
            if bound is None or use in standing.get(bound, ()):
                continue
            path = _store.entry_path(store, bound)
            if os.path.lexists(path):
                files = _store.reached(path) if _store.kind_of(path) == "directory" else ()
                standing.setdefault(bound, {})[use] = (now, tuple(sorted(files)))
                changed = True
    # A damaged record naming a file that is not there may have had its path changed.
    missing = any(not os.path.isfile(toml) for toml in usage.damaged_tomls)
    return standing, usage, usage.unknown > 0 or missing, changed


def plan(store: str, grace: _collect.Grace, gone: Iterable[str] = ()) -> CachePlan:
    """Decide what to keep, orphan and delete in ``store``; change nothing."""
    result = CachePlan()
    bindings = Bindings(gone)
    standing, usage, unknown, changed = _survey(store, bindings, grace.now)
    damaged = usage.damaged
    dirs: set[str] = set()
    on_disk = _store.entries_on_disk(store, dirs)
    result.paths = on_disk
    if on_disk.keys() >= standing.keys():
        result.records = standing
    else:  # the records of entries gone go too
        result.records = {i: uses for i, uses in standing.items() if i in on_disk}
        changed = True
    result.unchanged = usage.condensed and not changed
    result.unreadable = [f"{t} ({why})" for t, why in bindings.unreadable.items()]
    bound = set(result.records)
    for uses in result.records.values():
        for _when, files in uses.values():
            bound.update(files)
    result.dirs = dirs
    hidden = unknown or not damaged <= on_disk.keys()  # a damaged id may have been changed

    def due(id_: str) -> bool:
        return grace.judge(result, id_, damaged=hidden or id_ in damaged)

    doomed = {i for i in dirs if i not in bound and due(i)}
    # The links of the directories kept decide only for file entries no record binds:
    # with none such (everything bound, the common case) they are not read.
    unbound = [i for i in on_disk.keys() - dirs if i not in bound]
    reach_bound: set[str] = set()
    reach_kept: set[str] = set()
    for id_ in dirs - doomed if unbound else ():
        (reach_bound if id_ in bound else reach_kept).update(_store.reached(on_disk[id_]))
    for id_ in unbound:
        if id_ in reach_bound:
            continue
        if due(id_) and id_ not in reach_kept:
            doomed.add(id_)
    result.settle(sorted(on_disk), doomed)
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
    grace = _collect.Grace({}, now or _collect.now(), collect_delay)
    _store.check_store(store)
    orphanage = _store.orphanage_path(store)
    if not os.path.isdir(store):
        return GCReport()
    trash = os.path.join(store, TRASH_DIR)
    if not dry_run:
        _remove.own_folder(trash)  # a link there goes first, so nothing behind it is counted
    sweep = _collect.Sweep(trash, dry_run=dry_run)
    leftovers = sweep.empty_trash()  # what an interrupted recycling left: freed now
    with contextlib.nullcontext() if dry_run else _store.store_lock(store, lock_timeout):
        grace.known = _collect.read_orphanage(orphanage)
        decided = plan(store, grace, gone)
        # A directory entry goes before the file entries it links to: a recycling
        # killed in between leaves no directory entry in place with a dangling link.
        first = sorted(decided.delete, key=lambda i: i not in decided.dirs)
        doomed = [decided.paths[i] for i in first]
        sweep.move(doomed, before=_writable)
        if not dry_run:
            if not decided.unchanged:
                _bindings.write_usage(store, decided.records)
            _collect.write_orphanage(orphanage, decided.orphanage)
        decided.records = {}  # written: let go before the report is made (one peak, not two)
    if not dry_run:
        sweep.failures.extend(_remove_stale(store, grace.now))
    deleted = {**leftovers, **sweep.finish(doomed, label="Recycling the content cache")}
    _warn(decided)
    sweep.warn("cache-remove", "recycling the content cache", "the next recycling will try again")
    return GCReport(
        deleted=deleted,
        orphaned=_collect.paths(decided.paths[i] for i in decided.orphaned),
        kept=_collect.paths(decided.paths[i] for i in decided.kept),
        freed_bytes=sum(deleted.values()),
    )


def evict(
    store: str, entries: dict[str, float | None], sizes: dict[str, int], *, dry_run: bool
) -> GCReport:
    """Delete the entries ``entries`` names (path -> its mtime when chosen) for the size cap.

    Under the store's lock, and only those not used since they were chosen (their mtime
    unchanged); directory entries before the file entries they link to.

    Raises:
        DepotError: a link stands on the way to the store's entries (nothing is deleted).
    """
    _store.check_store(store)
    trash = os.path.join(store, TRASH_DIR)
    sweep = _collect.Sweep(trash, dry_run=dry_run)
    if not dry_run:
        _remove.own_folder(trash)
        with _store.store_lock(store):
            unused = []
            for path, when in entries.items():
                with contextlib.suppress(OSError):
                    if os.lstat(path).st_mtime == when:
                        unused.append(path)
            unused.sort(key=lambda p: not (os.path.isdir(p) and not os.path.islink(p)))
            sweep.move(unused, before=_writable)
    deleted = sweep.finish(list(entries), sizes)
    sweep.warn("cache-remove", "the size cap", "the next gc will try again")
    return GCReport(deleted=deleted, freed_bytes=sum(deleted.values()))


def _writable(path: str) -> None:
    """Give a directory entry's top folder its write bit back: renaming it updates ``..``."""
    if os.path.isdir(path) and not os.path.islink(path):
        with contextlib.suppress(OSError):
            os.chmod(path, 0o755)  # noqa: S103 - about to be removed; readable as before


def _warn(decided: CachePlan) -> None:
    if decided.unreadable:
        from .._warn import warn_once  # noqa: PLC0415 - damage only

        warn_once(
            "cache-unreadable-binding",
            f"{len(decided.unreadable)} binding file(s) of the content cache cannot be read; "
            f"their bindings are kept as they were; first: {decided.unreadable[0]}",
        )


def _remove_stale(store: str, now: datetime) -> list[str]:
    """Remove what crashed creators and writers left: temporaries, lock files.

    Only what is more than a day old: a creator still running (a download of a day and
    more) holds its temporary's lock, a downloader its URL's. The temporaries of atomic
    writes (``usage.toml``, ``orphaned.toml`` in the store; binding files in the spaces
    beside it) are removed by age alone, since a writer in flight may hold no lock
    that excludes (NFS, another machine).
    """
    stamp = now.timestamp()
    locks = os.path.join(store, _store.LOCKS_DIR)
    if _remove.own_folder(locks):
        paths = [os.path.join(locks, name) for name in _fs.listdir(locks)]
        _locks.sweep_lock_files(paths, stamp, min_age=_locks.STALE_AFTER)
    spaces = os.path.dirname(store)  # the store and every binding space beside it
    for name in _fs.listdir(spaces):
        _locks.sweep_abandoned_writes(os.path.join(spaces, name), spaces, stamp)
    return _locks.sweep_temporaries(store, stamp, os.path.join(store, TRASH_DIR))
