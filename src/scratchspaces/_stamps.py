"""Stamps: one small file per recorded pair, the ground truth the record logs summarize.

A log that many processes append to can lose a record: a collector condensing it on a
filesystem whose locks hold on one machine only (NFS mounted ``nolock``, Lustre
``localflock``) may replace the log with a copy read before the record arrived. So each
record that is made at most once a day also leaves a *stamp*, a file of its own named by
a digest of what it records, holding what it records (a parent's path, an
``Artifacts.toml``'s path) and dated with the record's time. Collectors read the stamps
as records, so a record lost from the log survives as its stamp, and a stamp that a
crash left without its record is still a record.

A stamp is written beside its final name, dated 1970, then the record is appended to
the log, then the stamp is dated and renamed into place: a stamp that cannot be written
costs no record (else every process start would append one), a crash before the rename
leaves only a temporary a collector removes once stale, and a fresh stamp is always a
whole one.

A collector need not walk every stamp each time: each stamp, once in place, is noted in
a *journal*, a folder of small files each naming the folder of stamps it was written in.
A collector reads the stamps of the folders the journal names, and forgets those notes
once its log is written: a stamp not noted since was read by an earlier collector, or
says what the log says. Where the log may have lost a record (it is damaged, missing, or
the journal is), every stamp is read again; a collector about to drop a record reads
that space's stamps whatever the journal says.

Stamps are read and removed through directory descriptors opened without following
links: a stamps folder that is a link, in a depot other users can write to, is neither
read nor emptied.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import TYPE_CHECKING, NamedTuple

from . import _journal, _owners
from ._folders import FOLDER, Folder

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    Known = Callable[[tuple[str, ...]], Mapping[str, str]]
    """folders -> what the caller knows its stamps record, by stamp name."""

MAX_STAMP = 1 << 16
"""A stamp holds one path; anything longer is not ours and is not read."""


def write(
    log_append: Callable[[], None],
    stamp: str,
    content: str,
    now: float,
    *,
    always: bool,
    journal: tuple[str, str] | None = None,
) -> None:
    """Leave ``stamp`` recording ``content`` at ``now`` around ``log_append()``.

    ``always``: append even if the stamp cannot be made (a binding must be recorded; the
    stamp only saves records that are not needed). ``journal``: (the journal's folder,
    the stamp's folders below the stamps folder, ``/``-joined) to note the stamp in once
    it is in place (see :func:`._journal.note`).
    """
    tmp: str | None = None
    try:
        tmp = _begin(stamp, content)
    except OSError:
        if not always:
            raise
    try:
        log_append()
        if tmp is not None:
            os.utime(tmp, (now, now))
            os.replace(tmp, stamp)
            tmp = None
            if journal is not None:
                _journal.note(*journal)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _begin(stamp: str, content: str) -> str:
    """Write the temporary of ``stamp``, dated 1970; return its name."""
    attempts = 3
    while True:
        attempts -= 1
        try:
            os.makedirs(os.path.dirname(stamp), exist_ok=True)
            tmp = _owners.temporary_name(stamp)
            _journal.write_new(tmp, content.encode("utf-8", "surrogatepass"))
            os.utime(tmp, (0, 0))
        except FileNotFoundError:
            if not attempts:
                raise
            continue  # a collector removed the folder as it was emptied: make it again
        return tmp


class Stamp(NamedTuple):
    """One stamp found in a stamps folder."""

    folders: tuple[str, ...]
    """The names of the folders it is in, below the stamps folder."""
    name: str
    content: str | None
    """What it records; None for an empty stamp (written by an older version) or junk."""
    mtime: float
    changed: float
    """Its ctime: when a temporary was written."""
    temporary: bool
    """A stamp being written, or left half-written by a crash."""


class Leftovers(NamedTuple):
    """What a walk passed over that a collector tidies: temporaries, empty folders."""

    temporaries: list[tuple[tuple[str, ...], str, float]]
    """(folders, name, ctime) of every temporary seen."""
    empty: list[tuple[str, ...]]
    """Every folder found empty."""


def _walk(
    folder: Folder,
    depth: int,
    below: tuple[str, ...],
    left: Leftovers,
    known: Known | bool,
) -> Iterator[Stamp]:
    """Yield the stamps ``depth`` folders below ``folder``, noting the leftovers in ``left``.

    ``known``: True to read every stamp, False to read none, else the caller's knowledge.
    """
    if depth == 0:
        yield from _files(folder, below, left, known)
        return
    names = folder.names(FOLDER)
    for name in names:
        child = Folder.open("", folder, name)  # a link in its place is not opened
        if child is not None:
            try:
                if depth == 1:  # a folder of stamps: listed at once, no generator each
                    yield from _files(child, (*below, name), left, known)
                else:
                    yield from _walk(child, depth - 1, (*below, name), left, known)
            finally:
                child.close()
    if not names and below:
        left.empty.append(below)  # of what it was listed for: an empty one, perhaps


def _files(
    folder: Folder, below: tuple[str, ...], left: Leftovers, known: Known | bool
) -> list[Stamp]:
    """Return the stamps in ``folder`` (see :func:`_walk`): one call each, and no more."""
    found: list[Stamp] = []
    entries = folder.files()
    said = known(below) if callable(known) else {}
    read = known is not False
    for entry in entries:
        name = entry.name
        temporary = _owners.TMP_MARK in name  # _owners.is_temporary, inlined
        content = None if temporary else said.get(name)
        if content is None and read and not temporary:
            read_ = folder.read(name, MAX_STAMP)
            if read_ is None:  # not a regular file, or gone
                continue
            content, st = read_
        else:
            try:
                st = entry.stat(follow_symlinks=False)  # through the folder's descriptor
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
        if temporary:
            left.temporaries.append((below, name, st.st_ctime))
        found.append(Stamp(below, name, content, st.st_mtime, st.st_ctime, temporary))
    if not entries and below:
        left.empty.append(below)  # of what it was listed for: an empty one, perhaps
    return found


def walk_folders(
    root: str,
    folders: Iterable[tuple[str, ...]],
    *,
    known: Known | None = None,
    left: Leftovers | None = None,
) -> Iterator[Stamp]:
    """Yield the stamps in ``folders`` below ``root`` (see :func:`walk`), never through a link."""
    left = Leftovers([], []) if left is None else left
    top = Folder.open(root)
    if top is None:
        return
    try:
        for below in sorted(folders):
            folder = Folder.open_below(top, below)
            if folder is None:
                continue
            try:
                yield from _files(folder, below, left, True if known is None else known)
            finally:
                if folder is not top:
                    folder.close()
    finally:
        top.close()


def _stamps(root: str, depth: int, left: Leftovers, known: Known | bool) -> Iterator[Stamp]:
    top = Folder.open(root)
    if top is None:
        return
    try:
        yield from _walk(top, depth, (), left, known)
    finally:
        top.close()


def walk(
    root: str, depth: int, *, known: Known | None = None, left: Leftovers | None = None
) -> Iterator[Stamp]:
    """Yield every stamp ``depth`` folders below ``root``, never following a link.

    A stamp is read for what it records unless ``known(folders)``, asked once per
    folder of stamps, has it by the stamp's name (a stamp's name is the digest of what
    it records: a caller that knows the paths a folder's stamps may record spares a
    read per stamp, and trusts the name over the content).

    ``left``: filled with what the walk passed over (temporaries, empty folders), for
    :func:`remove`: a collector that read the stamps need not walk them again to tidy
    them.
    """
    yield from _stamps(
        root, depth, Leftovers([], []) if left is None else left, True if known is None else known
    )


def remove(
    root: str,
    depth: int,
    doomed: Mapping[tuple[str, ...], Mapping[str, float]],
    now: float,
    left: Leftovers | None,
) -> None:
    """Remove the stamps ``doomed`` names (folders -> name -> mtime as read), and leftovers.

    A stamp dated since it was read stays. The leftovers (abandoned temporaries, empty
    folders) are those ``left`` by the walk that read the stamps (see :func:`walk`);
    if None, ``root`` is walked for them, reading nothing.
    """
    if left is None:
        left = Leftovers([], [])
        for _found in _stamps(root, depth, left, False):
            pass
    _tidy(root, doomed, left, now)


def _tidy(
    root: str,
    doomed: Mapping[tuple[str, ...], Mapping[str, float]],
    left: Leftovers,
    now: float,
) -> None:
    """Remove ``doomed`` stamps not dated since, abandoned temporaries, then empty folders."""
    top = Folder.open(root)
    if top is None:
        return
    touched = set(left.empty)
    try:
        gone: dict[tuple[str, ...], dict[str, float | None]] = {}  # None: whatever its date
        for folders, names in doomed.items():
            gone.setdefault(folders, {}).update(names)
        for folders, name, changed in left.temporaries:
            if _owners.abandoned(name, changed, now):
                gone.setdefault(folders, {})[name] = None
        for folders, dates in gone.items():
            folder = Folder.open_below(top, folders)
            if folder is None:
                continue
            try:
                for name, mtime in dates.items():
                    st = folder.lstat(name)
                    if st is not None and (mtime is None or st.st_mtime == mtime):
                        folder.unlink(name)
                        touched.add(folders)
            finally:
                if folder is not top:
                    folder.close()
        for folders in sorted(touched, key=len, reverse=True):
            _rmdir_up(top, folders)
    finally:
        top.close()


def _rmdir_up(top: Folder, folders: tuple[str, ...]) -> None:
    """Remove ``folders`` below ``top`` if empty, then each folder above it left empty."""
    while folders:
        parent = Folder.open_below(top, folders[:-1])
        if parent is None:
            return
        try:
            if not parent.rmdir(folders[-1]):
                return
        finally:
            if parent is not top:
                parent.close()
        folders = folders[:-1]
