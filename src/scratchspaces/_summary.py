"""The access log condensed per space, with the stamps that say what it may have lost."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from . import _accesslog, _journal, _records, _stamps
from ._depot import SPACES_DIR

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
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
    journal: _journal.Journal | None = None
    """What the stamps' journal noted as it was read (None: it is missing)."""
    walked: set[tuple[str, ...]] | None = None
    """The folders of stamps read (``(namespace, key)``); None: every one."""


def summarize(depot: str, *, keep_stamps: bool = True) -> LogSummary:
    """Condense the depot's access log and its stamps per space (memory grows with spaces).

    The hot loop of gc on a long log: records in our own shape are aggregated without
    building a Record or a datetime (canonical times compare as strings). Each stamp is
    a record too: what a log lost (to a crash, or a condensing that a lock did not keep
    out) its stamp still says. Only the stamps the journal notes are read (see
    :mod:`._stamps`), unless the log may have lost records: it is damaged or empty, or
    the journal is missing or damaged. Not ``keep_stamps``, the summary's ``stamps`` is
    empty, for a reader that does not tidy them: one set fewer per space.
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

    condensed, recorded = _read_log(path, reader, add)
    # Read after the log: a note written since is kept for the next reader, and the
    # stamp it notes is read by this one if it is in a folder noted before.
    journal = _journal.read_journal(_accesslog.journal_dir(depot), 2)
    trusted = journal is not None and journal.whole and recorded and not reader.skipped
    only = journal.folders if trusted and journal is not None else None
    left = _stamps.Leftovers([], [])
    stamps, agreed = _read_stamps(depot, parents, add, left, keep=keep_stamps, only=only)
    spaces, normal = _by_path(latest, parents, reader)
    reader.warn(path)
    condensed = condensed and agreed and normal and not reader.skipped
    return LogSummary(
        spaces,
        reader.damaged,
        reader.skipped,
        reader.unknown,
        stamps,
        left,
        condensed,
        journal,
        None if only is None else set(only),
    )


_NAME = r'"([^"\\\x00-\x1f\x7f\ufffd]*)"'  # a basic string with nothing to escape
_EXACT = rf"\[\[{_NAME}\]\]\ntime = ({_records.CANONICAL_TIME})\nparent_projects = \[{_NAME}\]\n"


def _read_log(
    path: str, reader: _records.Reader, add: Callable[[str, str, Sequence[str]], bool]
) -> tuple[bool, bool]:
    """Add every record of the log at ``path``; return (condensed already, holds a record).

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
    # A log missing, or empty, is written.
    return condensed and chunks > 1, chunks > 1


def _read_stamps(
    depot: str,
    parents: dict[str, dict[str, None]],
    add: Callable[[str, str, Sequence[str]], bool],
    left: _stamps.Leftovers,
    *,
    keep: bool,
    only: set[tuple[str, ...]] | None,
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
    root = _accesslog.stamps_dir(depot)
    walk = (
        _stamps.walk(root, 2, known=known, left=left)
        if only is None
        else _stamps.walk_folders(root, only, known=known, left=left)
    )
    for stamp in walk:
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


def read_stamps_of(depot: str, summary: LogSummary, spaces: Iterable[str]) -> LogSummary:
    """Return ``summary`` with the stamps of ``spaces`` read, as records, where it did not.

    A collector about to drop a record, or a space, reads that space's stamps whatever
    the journal noted: a stamp whose record the log lost keeps the space. The summary is
    returned as it was (the same object) if they said nothing it did not know.
    """
    if summary.walked is None:
        return summary
    prefix = os.path.join(depot, SPACES_DIR, "")
    wanted: dict[tuple[str, ...], str] = {}
    for space in spaces:
        folders = tuple(space[len(prefix) :].split(os.sep))
        if space.startswith(prefix) and len(folders) == 2 and folders not in summary.walked:
            wanted[folders] = space
    summary.walked.update(wanted)
    changed = False
    root = _accesslog.stamps_dir(depot)
    for stamp in _stamps.walk_folders(root, wanted, left=summary.left):
        if stamp.temporary:
            continue
        space = wanted[stamp.folders]
        summary.stamps.setdefault(space, []).append((stamp.name, stamp.mtime))
        if stamp.content is None:
            continue
        when = _records.format_time(stamp.mtime)
        known = summary.spaces.get(space)
        if known is None:
            summary.spaces[space] = SpaceLog(when, {stamp.content: None})
        elif when > known.when or stamp.content not in known.parents:
            merged = {**known.parents, stamp.content: None}  # the lists are shared: a new one
            summary.spaces[space] = SpaceLog(max(when, known.when), merged)
        else:
            continue
        changed = True
    return summary._replace(condensed=False) if changed else summary
