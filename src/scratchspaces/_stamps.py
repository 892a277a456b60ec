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

Stamps are read and removed through directory descriptors opened without following
links: a stamps folder that is a link, in a depot other users can write to, is neither
read nor emptied.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import TYPE_CHECKING, NamedTuple

from . import _owners

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MAX_STAMP = 1 << 16
"""A stamp holds one path; anything longer is not ours and is not read."""

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_BY_FD = hasattr(os, "O_NOFOLLOW") and os.open in os.supports_dir_fd


def write(
    log_append: Callable[[], None], stamp: str, content: str, now: float, *, always: bool
) -> None:
    """Leave ``stamp`` recording ``content`` at ``now`` around ``log_append()``.

    ``always``: append even if the stamp cannot be made (a binding must be recorded; the
    stamp only saves records that are not needed).
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
            _write_new(tmp, content.encode("utf-8", "surrogatepass"))
        except FileNotFoundError:
            if not attempts:
                raise
            continue  # a collector removed the folder as it was emptied: make it again
        return tmp


def _write_new(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    try:
        if os.write(fd, data) != len(data):
            raise OSError(f"short write to {path} (disk full?)")
    finally:
        os.close(fd)
    os.utime(path, (0, 0))


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


class _Dir:
    """A directory opened without following a link (by path where the OS has no dir_fd)."""

    def __init__(self, path: str, fd: int | None) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def open(cls, path: str, parent: _Dir | None = None, name: str = "") -> _Dir | None:
        """Open ``name`` in ``parent`` (or ``path``); None if it is missing or not a real folder."""
        full = os.path.join(parent.path, name) if parent is not None else path
        if _BY_FD:
            try:
                if parent is not None and parent.fd is not None:
                    return cls(full, os.open(name, _DIR_FLAGS, dir_fd=parent.fd))
                return cls(full, os.open(path, _DIR_FLAGS))
            except OSError:
                return None
        try:
            if not stat.S_ISDIR(os.lstat(full).st_mode):
                return None
        except OSError:
            return None
        return cls(full, None)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def names(self) -> list[str]:
        try:
            return sorted(os.listdir(self.fd if self.fd is not None else self.path))
        except OSError:
            return []

    def lstat(self, name: str) -> os.stat_result | None:
        try:
            if self.fd is not None:
                return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            return os.lstat(os.path.join(self.path, name))
        except OSError:
            return None

    def read(self, name: str) -> str | None:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            if self.fd is not None:
                fd = os.open(name, flags, dir_fd=self.fd)
            else:
                fd = os.open(os.path.join(self.path, name), flags)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = os.read(fd, MAX_STAMP + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        if not data or len(data) > MAX_STAMP or b"\x00" in data:
            return None
        return data.decode("utf-8", "surrogateescape")

    def unlink(self, name: str) -> None:
        with contextlib.suppress(OSError):
            if self.fd is not None:
                os.unlink(name, dir_fd=self.fd)
            else:
                os.unlink(os.path.join(self.path, name))

    def rmdir(self, name: str) -> None:
        with contextlib.suppress(OSError):  # only succeeds when empty
            if self.fd is not None:
                os.rmdir(name, dir_fd=self.fd)
            else:
                os.rmdir(os.path.join(self.path, name))


def _walk(
    folder: _Dir, depth: int, below: tuple[str, ...], *, tidy: bool
) -> Iterator[tuple[_Dir, Stamp]]:
    for name in folder.names():
        st = folder.lstat(name)
        if st is None:
            continue
        if depth > 0:
            if stat.S_ISDIR(st.st_mode):
                child = _Dir.open("", folder, name)
                if child is not None:
                    try:
                        yield from _walk(child, depth - 1, (*below, name), tidy=tidy)
                    finally:
                        child.close()
                    if tidy:
                        folder.rmdir(name)  # drop the folders left empty
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        temporary = _owners.is_temporary(name)
        content = None if temporary else folder.read(name)
        yield folder, Stamp(below, name, content, st.st_mtime, st.st_ctime, temporary)


def walk(root: str, depth: int) -> Iterator[Stamp]:
    """Yield every stamp ``depth`` folders below ``root``, never following a link."""
    for _folder, found in _entries(root, depth, tidy=False):
        yield found


def _entries(root: str, depth: int, *, tidy: bool) -> Iterator[tuple[_Dir, Stamp]]:
    top = _Dir.open(root)
    if top is None:
        return
    try:
        yield from _walk(top, depth, (), tidy=tidy)
    finally:
        top.close()


def prune(root: str, depth: int, doomed: Callable[[Stamp], bool], now: float) -> None:
    """Remove every stamp below ``root`` for which ``doomed`` is true, and empty folders.

    Temporaries go once abandoned (see :mod:`._owners`), whatever ``doomed`` says.

    The stamp is looked at again just before it goes: one dated since it was judged
    (rewritten by a process recording it again) stays.
    """
    for folder, found in _entries(root, depth, tidy=True):
        if found.temporary:
            if _owners.abandoned(found.name, found.changed, now):
                folder.unlink(found.name)
            continue
        if not doomed(found):
            continue
        again = folder.lstat(found.name)
        if again is not None and again.st_mtime == found.mtime:
            folder.unlink(found.name)
