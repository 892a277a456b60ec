"""Folders opened without following a link, to read and tidy what a depot's users share.

A collector reads and removes small files (stamps) in folders that, in a depot other
users can write to, someone could replace with a link at any moment: each folder is
opened by a descriptor, relative to its parent's, never through a link, and everything
in it is reached through that descriptor. Where the OS has no ``dir_fd``, by path.
"""

from __future__ import annotations

import contextlib
import os
import stat

FILE, FOLDER = 1, 2
"""An entry's kind, as a listing tells (0: anything else)."""

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_BY_FD = (
    hasattr(os, "O_NOFOLLOW") and os.open in os.supports_dir_fd and os.scandir in os.supports_fd
)


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


class Folder:
    """A directory opened without following a link (by path where the OS has no dir_fd)."""

    def __init__(self, path: str, fd: int | None) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def open(cls, path: str, parent: Folder | None = None, name: str = "") -> Folder | None:
        """Open ``name`` in ``parent`` (or ``path``); None if it is missing or not a real folder.

        Opened below a descriptor, its ``path`` is ``name``: everything goes through the
        descriptor, and the path is only for messages.
        """
        if _BY_FD:
            try:
                if parent is not None and parent.fd is not None:
                    return cls(name, os.open(name, _DIR_FLAGS, dir_fd=parent.fd))
                return cls(path, os.open(path, _DIR_FLAGS))
            except OSError:
                return None
        full = os.path.join(parent.path, name) if parent is not None else path
        try:
            if not stat.S_ISDIR(os.lstat(full).st_mode):
                return None
        except OSError:
            return None
        return cls(full, None)

    @classmethod
    def open_below(cls, top: Folder, folders: tuple[str, ...]) -> Folder | None:
        """Open ``folders`` below ``top``, one at a time, never through a link."""
        current: Folder | None = top
        for name in folders:
            assert current is not None  # noqa: S101 - narrowed by the loop
            child = cls.open("", current, name)
            if current is not top:
                current.close()
            if child is None:
                return None
            current = child
        return current

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def names(self, kind: int) -> list[str]:
        """Return the sorted names of its folders (``FOLDER``) or regular files (``FILE``).

        Told apart by the listing where it says (no ``stat`` each); links are neither.
        """
        try:
            with os.scandir(self.fd if self.fd is not None else self.path) as listing:
                if kind == FOLDER:
                    found = [e.name for e in listing if e.is_dir(follow_symlinks=False)]
                else:
                    found = [e.name for e in listing if e.is_file(follow_symlinks=False)]
        except OSError:
            return []
        found.sort()
        return found

    def files(self) -> list[os.DirEntry[str]]:
        """Return the entries of its regular files (as the listing tells), sorted by name.

        An entry's ``stat(follow_symlinks=False)`` goes through the descriptor, as
        :meth:`lstat` does (keep the folder open until then).
        """
        try:
            with os.scandir(self.fd if self.fd is not None else self.path) as listing:
                found = [e for e in listing if e.is_file(follow_symlinks=False)]
        except OSError:
            return []
        if len(found) > 1:
            found.sort(key=_name)
        return found

    def lstat(self, name: str) -> os.stat_result | None:
        try:
            if self.fd is not None:
                return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            return os.lstat(os.path.join(self.path, name))
        except OSError:
            return None

    def read(self, name: str, limit: int) -> tuple[str | None, os.stat_result] | None:
        """Return the text the regular file ``name`` holds, and its status.

        The text is None if it cannot be read, is empty, longer than ``limit`` bytes or
        holds a NUL; the whole is None if ``name`` is not a regular file (a link, a FIFO)
        or is gone.
        """
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            if self.fd is not None:
                fd = os.open(name, flags, dir_fd=self.fd)
            else:
                fd = os.open(os.path.join(self.path, name), flags)
        except OSError:  # unreadable: still a stamp, of unknown content
            st = self.lstat(name)
            return (None, st) if st is not None and stat.S_ISREG(st.st_mode) else None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            data = os.read(fd, limit + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        if not data or len(data) > limit or b"\x00" in data:
            return None, st
        return data.decode("utf-8", "surrogateescape"), st

    def unlink(self, name: str) -> None:
        with contextlib.suppress(OSError):
            if self.fd is not None:
                os.unlink(name, dir_fd=self.fd)
            else:
                os.unlink(os.path.join(self.path, name))

    def rmdir(self, name: str) -> bool:
        """Remove the folder ``name`` if it is empty; return whether it was."""
        try:
            if self.fd is not None:
                os.rmdir(name, dir_fd=self.fd)
            else:
                os.rmdir(os.path.join(self.path, name))
        except OSError:
            return False
        return True
