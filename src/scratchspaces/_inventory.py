"""What spaces exist in a depot and what the access log says about each."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from . import _accesslog, _collect, _depot, _fs, _records, _sitedir, _stamps
from ._depot import CACHE_KEY, CACHE_NAMESPACE, SPACES_DIR

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from datetime import datetime


class SpaceLog(NamedTuple):
    """What the log says about one space: its latest access and every parent."""

    when: str
    """Its latest access, as the log writes it (a canonical time: they sort as strings)."""
    parents: dict[str, None]
    """Every recorded parent, in first-recorded order (a dict used as an ordered set)."""

    @property
    def latest(self) -> datetime:
        """Its latest access (made when asked: a gc with nothing to do needs none)."""
        return _records.parse_time(self.when)


class LogSummary(NamedTuple):
    """The log condensed per space, and what could not be read."""

    spaces: dict[str, SpaceLog]
    """Normalized space path -> its condensed records."""
    damaged: set[str]
    """Normalized paths of spaces named by records that could not be read."""
    skipped: int
    """How many unreadable records (or debris) were skipped."""
    unknown: int
    """How many of those could have named any space (their key was lost too)."""
    stamps: dict[str, list[tuple[str, float]]]
    """Normalized space path -> the (name, mtime) of each of its stamps that was read."""
    left: _stamps.Leftovers | None = None
    """What the walk of the stamps passed over (temporaries, empty folders), to tidy."""
    condensed: bool = False
    """Whether the log holds, byte for byte, ``spaces`` as gc writes them: each space once,
    sorted, in the exact shape written, nothing read past it (every stamp agreeing)."""


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


def summarize(depot: str, *, keep_stamps: bool = True) -> LogSummary:
    """Condense the depot's access log and its stamps per space (memory grows with spaces).

    The hot loop of gc on a long log: records in our own shape are aggregated without
    building a Record or a datetime (canonical times compare as strings). Each stamp is
    a record too: what a log lost (to a crash, or a condensing that a lock did not keep
    out) its stamp still says. Not ``keep_stamps``, the summary's ``stamps`` is empty,
    for a reader that does not tidy them: one set fewer per space.
    """
    path = _accesslog.log_path(depot)
    reader = _records.Reader()
    latest: dict[str, str] = {}  # raw space path -> latest canonical time
    parents: dict[str, dict[str, None]] = {}
    # One dict per distinct list of parents, shared by every space recorded with it and
    # never changed in place (a space that gains a parent gets another): the spaces of a
    # package all name its .dist-info, so a depot of many spaces holds each list once.
    lists: dict[tuple[str, ...], dict[str, None]] = {}

    def shared(found: tuple[str, ...]) -> dict[str, None]:
        known = lists.get(found)
        if known is None:
            known = lists[found] = dict.fromkeys(found)
        return known

    def add(space: str, when: str, found: Sequence[str]) -> bool:
        """Add a record; return whether it changed what was known of ``space``."""
        known = latest.get(space)
        if known is None:
            latest[space] = when
            parents[space] = shared(tuple(found))
            return True
        changed = when > known
        if changed:
            latest[space] = when
        seen = parents[space]
        for parent in found:
            if parent not in seen:
                parents[space] = shared(tuple({**seen, **dict.fromkeys(found)}))
                return True
        return changed

    condensed = _read_log(path, reader, add)
    left = _stamps.Leftovers([], [])
    stamps, agreed = _read_stamps(depot, parents, add, left, keep=keep_stamps)
    spaces, normal = _by_path(latest, parents, reader)
    reader.warn(path)
    condensed = condensed and agreed and normal and not reader.skipped
    return LogSummary(
        spaces, reader.damaged, reader.skipped, reader.unknown, stamps, left, condensed
    )


_NAME = r'"([^"\\\x00-\x1f\x7f\ufffd]*)"'  # a basic string with nothing to escape
_EXACT = rf"\[\[{_NAME}\]\]\ntime = ({_records.CANONICAL_TIME})\nparent_projects = \[{_NAME}\]\n"


def _read_log(
    path: str, reader: _records.Reader, add: Callable[[str, str, Sequence[str]], bool]
) -> bool:
    """Add every record of the log at ``path``; return whether it was condensed already.

    Condensed: each space once, sorted, every record in the exact shape written (one
    parent, a canonical time, nothing escaped), as gc writes what it read.
    """
    # Every character of such a record is matched: it is read in one step.
    exact = _records.pattern(_EXACT).fullmatch
    chunks = 0
    condensed = True
    last = ""
    for chunk in _records.chunks_of_file(path):
        chunks += 1
        found = exact(chunk)
        if found is not None:
            key = found[1]
            condensed = condensed and key > last and chunks > 1  # the first: what precedes
            last = key
            add(key, found[2], (found[3],))
            continue
        condensed = condensed and chunks == 1 and not chunk  # what precedes the first record
        fast = None if _records.garbled(chunk) is not None else _records.fast(chunk)
        if fast is not None and _records.canonical(fast[1]):
            if fast[3]:
                reader.debris()
            add(fast[0], fast[1], fast[2])
            continue
        for record in reader.records([chunk]):
            try:
                when = _records.format_time(record.time.timestamp())
            except (OverflowError, OSError, ValueError):  # a time no clock can give
                reader.skipped += 1
                reader.damaged.add(os.path.normpath(record.key))
                continue
            add(record.key, when, record.parents)
    return condensed and chunks > 1  # a log missing, or empty, is written


def _read_stamps(
    depot: str,
    parents: dict[str, dict[str, None]],
    add: Callable[[str, str, Sequence[str]], bool],
    left: _stamps.Leftovers,
    *,
    keep: bool,
) -> tuple[dict[str, list[tuple[str, float]]], bool]:
    """Add every stamp of ``depot`` as a record, noting what the walk passes over in ``left``.

    Return the (name, mtime) of each stamp, if ``keep``, and whether every stamp only
    said what the log said already.

    A stamp is named by the digest of the parent it records: one whose name is that of a
    parent the log already records for its space is not opened, only dated.
    """
    spaces_root = os.path.join(depot, SPACES_DIR)
    named: dict[int, dict[str, str]] = {}  # id of a list of parents -> its stamps' names
    agreed = True
    where: dict[tuple[str, ...], str] = {}  # the folders last asked about -> their space

    def known(folders: tuple[str, ...]) -> Mapping[str, str]:
        space = os.sep.join((spaces_root, *folders))  # os.path.join, for listed names
        where.clear()
        where[folders] = space
        recorded = parents.get(space)
        if recorded is None:
            return {}
        # Lists of parents are shared and kept (see summarize): one set of names each.
        found = named.get(id(recorded))
        if found is None:
            found = named[id(recorded)] = {_accesslog.stamp_name(p): p for p in recorded}
        return found

    stamps: dict[str, list[tuple[str, float]]] = {}
    for stamp in _stamps.walk(_accesslog.stamps_dir(depot), 2, known=known, left=left):
        if stamp.temporary:
            continue
        # Asked about each folder before its stamps come.
        space = where.get(stamp.folders) or os.sep.join((spaces_root, *stamp.folders))
        if keep:
            stamps.setdefault(space, []).append((stamp.name, stamp.mtime))
        if stamp.content is not None and add(
            space, _records.format_time(stamp.mtime), [stamp.content]
        ):
            agreed = False
    return stamps, agreed


def _by_path(
    latest: dict[str, str], parents: dict[str, dict[str, None]], reader: _records.Reader
) -> tuple[dict[str, SpaceLog], bool]:
    """Return each space's log by its normalized path, two spellings of one path merged.

    And whether every path was recorded normalized already.
    """
    spaces: dict[str, SpaceLog] = {}
    normal = True
    for space, when in latest.items():
        key = os.path.normpath(space)
        if key == space:
            key = space  # one string, not two, for the same path
        else:
            normal = False
        if not _records.valid_time(when):  # a canonical shape, but no such date (month 13)
            reader.skipped += 1
            reader.damaged.add(key)
            continue
        entry = SpaceLog(when, parents[space])
        merged = spaces.get(key)
        if merged is not None:
            entry = SpaceLog(max(merged.when, when), {**merged.parents, **entry.parents})
        spaces[key] = entry
    return spaces, normal


def inventory(depot: str, namespace: str | None = None) -> list[SpaceInfo]:
    """Describe every space of ``depot`` (or of one namespace), sorted by namespace and key."""
    return list(describe(depot, iter_spaces(depot, namespace)))


def describe(depot: str, spaces: Iterable[tuple[str, str, str]]) -> Iterator[SpaceInfo]:
    """Describe ``spaces`` (``(path, namespace, key)`` of spaces of ``depot``) one by one.

    The log is read when the first is asked for; each space's size is measured as it is
    described, so a caller that prints each as it comes holds one at a time. Spaces that
    share a list of parents (the log's lists are shared, see :func:`summarize`) share
    one ``parents`` tuple: judged once, and a caller may make its cells once.
    """
    summary = summarize(depot, keep_stamps=False)
    orphans = _collect.read_orphanage(_depot.orphanage_path(depot)).get
    judge = Parents.of(summary)
    logged = summary.spaces.get
    size = _fs.dir_size
    judged: dict[int, tuple[tuple[str, bool], ...]] = {}  # id of a list of parents -> it judged
    for path, namespace, key in spaces:
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
