"""The size cap: evict the least recently used spaces, artifacts and cache entries.

Once the rules have run, if the user depot still takes more than ``max_size``, what was
used least recently goes first, whatever its kind, until the rest fits; nothing used in
the last day goes. Each kind's last use:

- a space: its latest recorded access (``get_scratch`` records one a day at most);
  a space never recorded counts as the oldest;
- an artifact: its folder's mtime, set when it is installed and moved on, once a day at
  most, when ``artifact_path`` or an install returns it;
- a cache entry: its mtime, set when it is created (or created again) and moved on, once
  a day at most, when ``my_artifact_path`` returns it. A file entry that directories
  link to goes with the last of them.

The library's own spaces (the store, the binding files) count towards the size but are
never evicted as spaces: the store's entries are, one by one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import _depot, _fs, _inventory
from .artifacts import _store as _artifact_store
from .cache import _store as _cache_store

if TYPE_CHECKING:
    from datetime import datetime

DAY = 24 * 60 * 60


@dataclass
class Unit:
    """What is evicted as one: a space, an artifact, or a cache entry."""

    kind: str
    """``space``, ``artifact`` or ``cache``."""
    path: str
    size: int
    used: float | None
    """Its last use (seconds since the epoch); None for a space never recorded."""
    id: str = ""
    """A cache entry's id."""


@dataclass
class Survey:
    """Every unit that may be evicted, and the bytes of everything else."""

    units: list[Unit] = field(default_factory=list)
    fixed: int = 0
    reached_by: dict[str, set[str]] = field(default_factory=dict)
    """A cache file entry's id -> the ids of the directory entries linking to it."""
    reached: dict[str, set[str]] = field(default_factory=dict)
    """A cache directory entry's id -> the file entries it links to."""
    files: dict[str, Unit] = field(default_factory=dict)
    """Every cache file entry that directories link to, by id."""


def mtime(path: str) -> float | None:
    """Return ``path``'s mtime without following a link; None if it is gone."""
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return None


def survey(depot: str, latest: dict[str, datetime | None], gone: set[str]) -> Survey:
    """Measure what ``depot`` holds, apart from what is already ``gone``.

    ``latest``: each space's latest recorded access, as gc read it.
    """
    found = Survey()
    for path, namespace, _key in _inventory.spaces_on_disk(depot):
        if path in gone:
            continue
        size = _fs.tree_size(path)
        if namespace == _depot.CACHE_NAMESPACE or path not in latest:
            found.fixed += size
            continue
        when = latest[path]
        found.units.append(Unit("space", path, size, when.timestamp() if when else None))
    root = os.path.join(depot, _depot.ARTIFACTS_DIR)
    for hash_ in _artifact_store.installed_hashes(root):
        path = os.path.join(root, hash_)
        if path not in gone:
            found.units.append(Unit("artifact", path, _fs.tree_size(path), mtime(path)))
    _survey_cache(_cache_store.store_of_depot(depot), gone, found)
    return found


def _survey_cache(store: str, gone: set[str], found: Survey) -> None:
    entries = {i: p for i, p in _cache_store.entries_on_disk(store).items() if p not in gone}
    for id_, path in entries.items():
        if _cache_store.kind_of(path) == "directory":
            found.reached[id_] = _cache_store.reached(path) & entries.keys()
            for file_id in found.reached[id_]:
                found.reached_by.setdefault(file_id, set()).add(id_)
    for id_, path in entries.items():
        size = 0 if id_ in found.reached else _cache_store.entry_size(path)
        unit = Unit("cache", path, size, mtime(path), id_)
        if id_ in found.reached_by:
            found.files[id_] = unit  # goes with the directories linking to it
        else:
            found.units.append(unit)
    found.fixed += sum(u.size for u in found.files.values())


def choose(found: Survey, max_size: int, now: float) -> list[Unit]:
    """Return the units to evict, least recently used first, until the rest fits.

    A directory entry brings along the file entries no remaining directory links to
    (and not used themselves in the last day).
    """
    total = found.fixed + sum(u.size for u in found.units)
    chosen: list[Unit] = []
    evicted: set[str] = set()
    order = sorted(found.units, key=lambda u: (u.used is not None, u.used or 0.0))
    for unit in order:
        if total <= max_size:
            break
        if unit.used is not None and now - unit.used < DAY:
            break  # the rest are newer still
        chosen.append(unit)
        total -= unit.size
        if unit.id in found.reached:
            evicted.add(unit.id)
            for file_id in sorted(found.reached[unit.id]):
                file_unit = found.files.get(file_id)
                if file_unit is None or found.reached_by[file_id] - evicted:
                    continue  # gone with another directory, or still linked to
                if file_unit.used is not None and now - file_unit.used < DAY:
                    continue
                chosen.append(file_unit)
                total -= file_unit.size
                del found.files[file_id]
    return chosen
