"""What spaces exist in a depot and what the access log says about each."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from . import _fs, _records
from ._depot import CACHE_KEY, CACHE_NAMESPACE, SPACES_DIR

if TYPE_CHECKING:
    from datetime import datetime


class SpaceInfo(NamedTuple):
    """One space on disk, with what the access log and the orphanage say about it."""

    path: str
    namespace: str
    key: str
    size: int
    last_access: datetime | None
    """The latest recorded access, None if the log never recorded the space."""
    parents: tuple[tuple[str, bool], ...]
    """Every recorded parent, with whether it still exists, in first-recorded order."""
    orphaned_since: datetime | None
    """When gc first saw it orphaned, None if it is not in the orphanage."""

    @property
    def status(self) -> str:
        """``in use``, ``orphaned since <date>``, or ``unused`` (gc has not seen it yet)."""
        if any(alive for _, alive in self.parents):
            return "in use"
        if self.orphaned_since is not None:
            return f"orphaned since {self.orphaned_since:%Y-%m-%d}"
        return "unused"


def spaces_on_disk(depot: str) -> list[tuple[str, str, str]]:
    """Return ``(path, namespace, key)`` of every space directory in ``depot``, sorted.

    The content cache's store is not among them: gc collects its entries one by one,
    never the store as a whole, and ``du`` shows it on a line of its own.
    """
    root = os.path.join(depot, SPACES_DIR)
    found: list[tuple[str, str, str]] = []
    try:
        with os.scandir(root) as namespaces:
            names = sorted(e.name for e in namespaces if e.is_dir(follow_symlinks=False))
    except OSError:
        return found
    for namespace in names:
        try:
            with os.scandir(os.path.join(root, namespace)) as keys:
                found.extend(
                    (entry.path, namespace, entry.name)
                    for entry in sorted(keys, key=lambda e: e.name)
                    if entry.is_dir(follow_symlinks=False)
                    and (namespace, entry.name) != (CACHE_NAMESPACE, CACHE_KEY)
                )
        except OSError:
            continue
    return found


def inventory(depot: str, namespace: str | None = None) -> list[SpaceInfo]:
    """Describe every space of ``depot`` (or of one namespace), sorted by namespace and key."""
    summary = _records.summarize(depot)
    orphans = _records.read_orphanage(depot)
    infos: list[SpaceInfo] = []
    for path, space_namespace, key in spaces_on_disk(depot):
        if namespace is not None and space_namespace != namespace:
            continue
        recorded = summary.spaces.get(path)
        parents = recorded.parents if recorded else {}
        infos.append(
            SpaceInfo(
                path=path,
                namespace=space_namespace,
                key=key,
                size=_fs.tree_size(path),
                last_access=recorded.latest if recorded else None,
                parents=tuple((p, os.path.exists(p)) for p in parents),
                orphaned_since=orphans.get(path),
            )
        )
    return infos
