"""What spaces exist in a depot and what the access log says about each."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from . import _collect, _depot, _fs, _sitedir, _summary
from ._depot import CACHE_KEY, CACHE_NAMESPACE, SPACES_DIR

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from datetime import datetime

    from ._summary import LogSummary


class Parents:
    """Which recorded parents still keep their spaces alive.

    A parent that exists keeps them. So does a ``.dist-info`` that an upgrade (or a
    downgrade) replaced, while its distribution is installed in the same environment
    and the version installed now has recorded no use of its own: a package that is
    upgraded keeps its caches until its new version runs and says which it uses.
    Uninstalling it, or deleting the environment, ends that at once.
    """

    def __init__(self, recorded: Iterable[str]) -> None:
        self._recorded = set(recorded)
        self._installed: dict[str, dict[str, list[str]]] = {}
        self._judged: dict[str, bool] = {}

    @classmethod
    def of(cls, summary: LogSummary) -> Parents:
        """Judge by every parent ``summary`` records, for any space."""
        return cls(p for entry in summary.spaces.values() for p in entry.parents)

    def keeps(self, parent: str) -> bool:
        """Return whether ``parent`` keeps the spaces it was recorded for alive.

        Judged once per parent: many spaces share one (every space of a package names
        its ``.dist-info``), and one judgement holds for them all.
        """
        judged = self._judged.get(parent)
        if judged is None:
            judged = self._judged[parent] = self._judge(parent)
        return judged

    def _judge(self, parent: str) -> bool:
        if os.path.exists(parent):
            return True
        folder, name = os.path.split(parent)
        dist = _dist_name(name)
        if dist is None:
            return False
        installed = self._listing(folder).get(dist, [])
        # Installed still, and the version installed now has not been recorded yet.
        return bool(installed) and not any(
            os.path.join(folder, other) in self._recorded for other in installed
        )

    def _listing(self, folder: str) -> dict[str, list[str]]:
        found = self._installed.get(folder)
        if found is None:
            found = {}
            for entry in _fs.listdir(folder):
                dist = _dist_name(entry)
                if dist is not None:
                    found.setdefault(dist, []).append(entry)
            self._installed[folder] = found
        return found


def _dist_name(entry: str) -> str | None:
    """Return the normalized distribution name of a ``<name>-<version>.dist-info`` folder."""
    if not entry.endswith(".dist-info"):
        return None
    return _sitedir.normalize(entry[: -len(".dist-info")].rsplit("-", 1)[0])


class SpaceInfo(NamedTuple):
    """One space on disk, with what the access log and the orphanage say about it."""

    path: str
    namespace: str
    key: str
    size: int
    last_access: datetime | None
    """The latest recorded access, None if the log never recorded the space."""
    parents: tuple[tuple[str, bool], ...]
    """Every recorded parent, with whether it keeps the space alive (see :class:`Parents`)."""
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
    return list(iter_spaces(depot))


def iter_spaces(
    depot: str, namespace: str | None = None, *, ordered: bool = True
) -> Iterator[tuple[str, str, str]]:
    """Yield ``(path, namespace, key)`` of every space directory in ``depot`` (or ``namespace``).

    Sorted by namespace and key; not ``ordered``, keys come as listed and memory does
    not grow with them. Only real folders count (a link is not followed), and not the
    content cache's store (see :func:`spaces_on_disk`).
    """
    root = os.path.join(depot, SPACES_DIR)
    for name in _folders(root):
        if namespace is not None and name != namespace:
            continue
        folder = os.path.join(root, name)
        keys = _folders(folder) if ordered else _stream_folders(folder)
        for key in keys:
            if (name, key) != (CACHE_NAMESPACE, CACHE_KEY):
                yield os.path.join(folder, key), name, key


def _folders(path: str) -> list[str]:
    """Return the sorted names of the real folders in ``path``; none if it cannot be read."""
    try:
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def _stream_folders(path: str) -> Iterator[str]:
    """Yield the names of the real folders in ``path`` as listed, until it cannot be read."""
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    yield entry.name
    except OSError:
        return


def inventory(depot: str, namespace: str | None = None) -> list[SpaceInfo]:
    """Describe every space of ``depot`` (or of one namespace), sorted by namespace and key."""
    return list(describe(depot, iter_spaces(depot, namespace)))


def describe(depot: str, spaces: Iterable[tuple[str, str, str]]) -> Iterator[SpaceInfo]:
    """Describe ``spaces`` (``(path, namespace, key)`` of spaces of ``depot``) one by one.

    The log is read when the first is asked for; each space's size is measured as it is
    described, so a caller that prints each as it comes holds one at a time. Spaces that
    share a list of parents (the log's lists are shared, see :func:`._summary.summarize`)
    share one ``parents`` tuple: judged once, and a caller may make its cells once. A
    space no recorded parent keeps is judged on its stamps too, as gc judges it.
    """
    summary = _summary.summarize(depot, keep_stamps=False)
    orphans = _collect.read_orphanage(_depot.orphanage_path(depot)).get
    judge = Parents.of(summary)
    logged = summary.spaces.get
    size = _fs.dir_size
    judged: dict[int, tuple[tuple[str, bool], ...]] = {}  # id of a list of parents -> it judged
    for path, namespace, key in spaces:
        recorded = logged(path)
        if recorded is None or not all(judge.keeps(p) for p in recorded.parents):
            # Judged on the log alone, it may lack a record only its stamps hold (see
            # _summary.read_stamps_of): they are read, as gc reads them.
            more = _summary.read_stamps_of(depot, summary, [path])
            if more is not summary:
                summary, judge = more, Parents.of(more)
                logged = summary.spaces.get
                judged.clear()
            recorded = logged(path)
        if recorded is None:
            yield SpaceInfo(path, namespace, key, size(path), None, (), orphans(path))
            continue
        # The summary keeps every list alive while this runs: an id names one list.
        parents = judged.get(id(recorded.parents))
        if parents is None:
            parents = tuple((p, judge.keeps(p)) for p in recorded.parents)
            judged[id(recorded.parents)] = parents
        yield SpaceInfo(path, namespace, key, size(path), recorded.latest, parents, orphans(path))
