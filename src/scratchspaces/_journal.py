"""The stamps' journal: which folders of stamps were written since a collector read them.

A collector need not read every stamp each time (see :mod:`._stamps`): each stamp, once
in place, is noted here, in a file naming the stamp's folders (one note per folder,
named by their digest: the journal never holds more notes than there are folders of
stamps), and the collector reads the stamps of the folders noted. It forgets the notes
it read once its log holds what their stamps say, each only if it is the very file it
read: a note written again since (renamed over it) stays for the next.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from typing import NamedTuple

from . import _owners
from ._folders import Folder

MAX_NOTE = 1 << 16
"""A note holds two folder names; anything longer is not ours and is not read."""


def write_new(path: str, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` (an error if it exists) in one ``write``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    try:
        if os.write(fd, data) != len(data):
            raise OSError(f"short write to {path} (disk full?)")
    finally:
        os.close(fd)


def _name(folders: str) -> str:
    """Return the note's name for ``folders``: a 64-bit digest, stable across processes."""
    data = os.fsencode(folders)
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def note(journal: str, folders: str) -> None:
    """Note in ``journal`` that a stamp was written in ``folders``, if it can be.

    The note is written beside its name, then renamed over it: always a new file, which
    a collector that read the one before does not forget. A stamp left unnoted (a full
    disk, a file in the journal's place) is still a stamp: its record is in the log,
    and a collector reads it before it judges its space on the log alone.
    """
    tmp: str | None = None
    try:
        with contextlib.suppress(OSError):  # see above: get_scratch must not fail on it
            os.makedirs(journal, exist_ok=True)
            path = os.path.join(journal, _name(folders))
            tmp = _owners.temporary_name(path)
            write_new(tmp, os.fsencode(folders))
            os.rename(tmp, path)
            tmp = None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


class Journal(NamedTuple):
    """What a journal noted: the folders of stamps written since it was last forgotten."""

    folders: set[tuple[str, ...]]
    notes: list[tuple[str, int, int]]
    """The name, inode and ctime (ns) of each note read, for :func:`forget`."""
    whole: bool
    """Whether every note could be read; if not, some folder of stamps may be missing."""


def read_journal(journal: str, depth: int) -> Journal | None:
    """Return what ``journal`` notes (folders ``depth`` deep), None if it is not a real folder.

    Notes being written (temporaries) are passed over: their stamps are noted once they are.
    """
    top = Folder.open(journal)
    if top is None:
        return None
    folders: set[tuple[str, ...]] = set()
    notes: list[tuple[str, int, int]] = []
    whole = True
    try:
        for entry in top.files():
            if _owners.TMP_MARK in entry.name:
                continue
            read = top.read(entry.name, MAX_NOTE)
            if read is None:  # gone since it was listed
                continue
            noted = tuple(read[0].split("/")) if read[0] else ()
            if len(noted) == depth and all(n and n not in {".", ".."} for n in noted):
                folders.add(noted)
            else:
                whole = False
            notes.append((entry.name, read[1].st_ino, read[1].st_ctime_ns))
    finally:
        top.close()
    return Journal(folders, notes, whole)


def forget(journal: str, notes: list[tuple[str, int, int]], now: float) -> None:
    """Remove ``notes`` from ``journal``, and the temporaries of writers long gone.

    Called once what the notes' stamps say is in the log; a note written again since
    (another file under its name) stays.
    """
    top = Folder.open(journal)
    if top is None:
        return
    try:
        for name, inode, ctime in notes:
            st = top.lstat(name)
            if st is not None and (st.st_ino, st.st_ctime_ns) == (inode, ctime):
                top.unlink(name)
        for entry in top.files():
            if _owners.TMP_MARK not in entry.name:
                continue
            st = top.lstat(entry.name)
            if st is not None and _owners.abandoned(entry.name, st.st_ctime, now):
                top.unlink(entry.name)
    finally:
        top.close()
