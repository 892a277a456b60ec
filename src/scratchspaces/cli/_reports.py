"""What the commands that delete report: ``gc``, ``cache recycle``, ``artifacts remove``.

One JSON shape for every report of deletions: ``dry_run``; ``deleted``, each
``{"path", "bytes", "kind", ...}`` with the keys that name it (``namespace`` and ``key``
of a space, ``hash`` of an artifact, ``id`` of a cache entry); ``failed``, each
``{"path", "error"}``; and ``freed_bytes``. Also what a depot's trash holds, which
``du`` and ``info`` count.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .. import _depot, _fs, _inventory
from ..cache import _store

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from .._collect import GCReport

LEFT_IN_TRASH = "could not be removed: left in the trash, the next gc tries again"
"""The error of what a collection left in a trash (the warning printed says why)."""


def trash_folders(depot: str) -> list[str]:
    """Return the trash folders of ``depot``: its own, and its content cache's."""
    return [
        os.path.join(depot, _depot.TRASH_DIR),
        os.path.join(_store.store_of_depot(depot), _depot.TRASH_DIR),
    ]


def in_trash(folders: Iterable[str]) -> list[str]:
    """Return the paths of what sits in the trash ``folders`` (a link in place of one: none)."""
    return [
        os.path.join(folder, name)
        for folder in folders
        if not os.path.islink(folder)
        for name in sorted(_fs.listdir(folder))
    ]


def trash_usage(depot: str) -> tuple[int, int]:
    """Return how many things sit in ``depot``'s trash folders, and their bytes."""
    found = in_trash(trash_folders(depot))
    return len(found), sum(_fs.tree_size(p) for p in found)


class Places:
    """Where each kind of thing lives in ``depots``: what tells a space from an artifact."""

    def __init__(self, depots: Sequence[str]) -> None:
        self.spaces = {os.path.join(d, _depot.SPACES_DIR) for d in depots}
        self.artifacts = {os.path.join(d, _depot.ARTIFACTS_DIR) for d in depots}
        self.entries = {os.path.join(_store.store_of_depot(d), _store.ENTRIES_DIR) for d in depots}
        self.trash = {t for d in depots for t in trash_folders(d)}

    def identify(self, path: Path) -> dict[str, Any]:
        """Return ``kind`` (``space``, ``artifact``, ``cache``, ``trash``, ``other``) and names.

        A space's ``namespace`` and ``key``, an artifact's ``hash``, a cache entry's ``id``.
        """
        parent = str(path.parent)
        if parent in self.trash:
            return {"kind": "trash"}
        if parent in self.artifacts:
            return {"kind": "artifact", "hash": path.name}
        grandparent = str(path.parent.parent)
        if grandparent in self.entries:
            return {"kind": "cache", "id": path.name}
        if grandparent in self.spaces:
            return {"kind": "space", "namespace": path.parent.name, "key": path.name}
        return {"kind": "other"}

    def kinds(self, paths: Iterable[Path]) -> dict[str, int]:
        """Return how many of ``paths`` are of each kind."""
        counts: dict[str, int] = {}
        for path in paths:
            kind = self.identify(path)["kind"]
            counts[kind] = counts.get(kind, 0) + 1
        return counts


def spaces_in_use(places: Places, paths: Iterable[Path]) -> dict[str, bool]:
    """Return, for each space among ``paths``, whether it is in use as ``list`` says.

    In use: one of its recorded parents keeps it alive (``--max-age`` and ``--max-size``
    delete such spaces too). Read before the log changes: in a dry run.
    """
    by_depot: dict[str, list[tuple[str, str, str]]] = {}
    for path in paths:
        found = places.identify(path)
        if found["kind"] == "space":
            depot = str(path.parent.parent.parent)
            by_depot.setdefault(depot, []).append((str(path), found["namespace"], found["key"]))
    return {
        info.path: info.status == "in use"
        for depot, spaces in by_depot.items()
        for info in _inventory.describe(depot, spaces)
    }


def failures_left(folders: Iterable[str], *, dry_run: bool) -> list[dict[str, str]]:
    """Return ``failed``: what a collection that emptied the trash ``folders`` left there."""
    if dry_run:
        return []
    return [{"path": p, "error": LEFT_IN_TRASH} for p in in_trash(folders)]


def report_json(
    report: GCReport,
    places: Places,
    *,
    dry_run: bool,
    failed: list[dict[str, str]],
    in_use: dict[str, bool] | None = None,
    counts: dict[str, int | None] | None = None,
) -> dict[str, Any]:
    """Return a GCReport as scripts read it.

    ``in_use`` (from :func:`spaces_in_use`, a dry run's): ``in_use`` on each deleted
    space; None where not known (``null``). ``counts`` follow ``freed_bytes``.
    """
    deleted = []
    for path, size in sorted(report.deleted.items()):
        item: dict[str, Any] = {"path": str(path), "bytes": size, **places.identify(path)}
        if item["kind"] == "space":
            item["in_use"] = None if in_use is None else in_use.get(str(path), False)
        deleted.append(item)
    data: dict[str, Any] = {
        "dry_run": dry_run,
        "deleted": deleted,
        "failed": failed,
        "freed_bytes": report.freed_bytes,
        **(counts or {}),
    }
    data["orphaned"] = [{"path": str(p), **places.identify(p)} for p in report.orphaned]
    data["kept"] = [{"path": str(p), **places.identify(p)} for p in report.kept]
    return data
