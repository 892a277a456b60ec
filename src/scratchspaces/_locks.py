"""Every lock and every dated temporary directory of the library.

Locks are ``filelock`` file locks, imported only when one is taken: ``filelock`` costs
more at import than a whole warm ``get_scratch``.

Lock files are removed by their holder, or by a sweep that takes them first. That is
safe only because a process that opened a lock file just before it was unlinked, and
then locks the unlinked inode, notices (the file has no link left) and tries again on
the new file: filelock does this from 3.21.0 on, which is why the library requires it.
With an older filelock two processes could each hold "the" lock.

A temporary directory is named ``.tmp-<kind>-<unix time>-<random>``: the time of its
making is in the name, because an mtime can be copied from elsewhere (``copytree``
keeps the source's) and would make a live temporary look stale. While in use its lock,
``<tmp>/.lock``, is held, so a sweep removes it only once its maker is gone, however
long that maker runs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import time
from typing import TYPE_CHECKING, Any

from . import _fs, _owners, _remove
from .errors import DepotError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from filelock import BaseFileLock

TMP_PREFIX = ".tmp-"
TMP_LOCK = ".lock"
STALE_AFTER = 24 * 60 * 60
"""Seconds after which what a crashed process left is swept (if nobody holds it)."""


@functools.cache
def _lock_type() -> type[BaseFileLock]:
    from filelock import FileLock, Timeout  # noqa: PLC0415 - costs more than a warm get_scratch

    class Lock(FileLock):
        """A file lock whose file cannot be made (a full or read-only disk) raises DepotError."""

        def acquire(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().acquire(*args, **kwargs)
            except Timeout:
                raise
            except OSError as exc:
                raise DepotError.of(self.lock_file, "cannot take the lock", exc) from exc

    return Lock


def lock(path: str, timeout: float = -1) -> BaseFileLock:
    """Return the file lock at ``path``; ``timeout`` in seconds, -1 waits for ever.

    Taking it raises ``filelock.Timeout`` when busy past ``timeout``, and
    :class:`DepotError` (with the ``errno``) when the lock file cannot be made.
    """
    return _lock_type()(path, timeout=timeout)


@contextlib.contextmanager
def exclusive(
    path: str, *, unusable: Callable[[OSError], Exception] | None = None
) -> Iterator[None]:
    """Hold the lock at ``path`` for the block, then remove its file as the last act.

    No lock file is left behind. If the lock file cannot be made, the ``OSError`` is
    raised, or what ``unusable`` makes of it.
    """
    held = lock(path)
    try:
        held.acquire()
    except OSError as exc:
        if unusable is None:
            raise
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        raise unusable(cause) from cause
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        held.release()


def remove_if_free(path: str) -> bool:
    """Take the lock at ``path`` if nobody holds it, and remove its file while held."""
    from filelock import Timeout  # noqa: PLC0415 - only when sweeping

    try:
        with lock(path, timeout=0):
            with contextlib.suppress(OSError):
                os.unlink(path)
            return True
    except (Timeout, OSError):
        return False


def new_temporary(root: str, kind: str) -> str:
    """Create and return a fresh, dated directory in ``root`` (so a rename publishes from it)."""
    _fs.make_dirs(root)
    while True:  # tempfile.mkdtemp's way, without its import of shutil (bz2, lzma: 4 ms)
        tmp = os.path.join(root, f"{TMP_PREFIX}{kind}-{int(time.time())}-{os.urandom(6).hex()}")
        try:
            os.mkdir(tmp, 0o700)
            os.chmod(tmp, 0o755)  # noqa: S103 - what is published from it is read by everyone
        except FileExistsError:
            continue
        except OSError as exc:
            raise DepotError.of(root, "cannot create a temporary directory", exc) from exc
        return tmp


@contextlib.contextmanager
def temporary(root: str, kind: str) -> Iterator[str]:
    """Yield a fresh, dated directory in ``root``, its lock held; remove it afterwards."""
    tmp = new_temporary(root, kind)
    try:
        with lock(os.path.join(tmp, TMP_LOCK)):
            yield tmp
    finally:
        _fs.remove_in_place(tmp)


def born(name: str) -> int | None:
    """Return when the temporary ``name`` was made (seconds since the epoch), or None."""
    if not name.startswith(TMP_PREFIX):
        return None
    parts = name.split("-")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else None


def stale_temporaries(root: str, now: float) -> list[str]:
    """Return the temporaries in ``root`` made more than a day before ``now``."""
    stale = []
    for name in _fs.listdir(root):
        made = born(name)
        if made is not None and now - made > STALE_AFTER:
            stale.append(os.path.join(root, name))
    return stale


def sweep_temporaries(root: str, now: float, trash_root: str) -> list[str]:
    """Remove the stale temporaries in ``root`` nobody holds; return what could not be removed.

    Nothing, if a link stands in place of ``root`` or a folder above it, up to the one
    holding ``trash_root``: what it points to is not ours.
    """
    if _remove.linked_below(os.path.dirname(trash_root), root):
        return []
    failures: list[str] = []
    for path in stale_temporaries(root, now):
        if remove_if_free(os.path.join(path, TMP_LOCK)):
            failures.extend(_fs.remove_tree(path, trash_root))
    return failures


def sweep_lock_files(paths: list[str], now: float, *, min_age: float = 0) -> None:
    """Remove the lock files among ``paths`` that nobody holds and are ``min_age`` old.

    Only regular files, each removed from its folder opened never through a link: a link
    in place of the folder (or of a lock file) would have the sweep remove what it
    points to.
    """
    if not _remove.BY_FD:  # pragma: no cover - Windows: by name
        for path in paths:
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if stat.S_ISREG(st.st_mode) and now - st.st_mtime >= min_age:
                    remove_if_free(path)
        return
    from filelock import Timeout  # noqa: PLC0415 - only when sweeping

    folders: dict[str, list[str]] = {}
    for path in paths:
        folders.setdefault(os.path.dirname(path), []).append(os.path.basename(path))
    for folder, names in folders.items():
        try:
            fd = _remove.open_below(os.path.dirname(folder), folder)
        except OSError:
            continue  # gone, or a link: nothing of ours to sweep
        try:
            for name in names:
                with contextlib.suppress(Timeout, OSError):
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode) and now - st.st_mtime >= min_age:
                        with lock(os.path.join(folder, name), timeout=0):
                            os.unlink(name, dir_fd=fd)
        finally:
            os.close(fd)


def sweep_abandoned_writes(folder: str, top: str, now: float) -> None:
    """Remove the temporaries of atomic writes (``<file>.tmp-...``) in ``folder``, once abandoned.

    A writer killed between writing its temporary and renaming it into place leaves the
    temporary behind. It goes at once if its name says its writer ran on this host, in
    this pid namespace, and is gone; else once ``STALE_AFTER`` old by its ctime (which no
    copy can carry), never sooner: a writer may still be at work, on another machine or
    in another pid namespace, and where locks do not exclude nothing else says so. Only
    regular files, removed from ``folder`` opened from ``top`` never through a link.
    """
    if not _remove.BY_FD:  # pragma: no cover - Windows: by name
        for name in _fs.listdir(folder):
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if _abandoned_write(name, st, now):
                    os.unlink(path)
        return
    try:
        fd = _remove.open_below(top, folder)
    except OSError:
        return  # gone, or a link: nothing of ours
    try:
        with os.scandir(fd) as entries:
            names = [e.name for e in entries]
        for name in names:
            with contextlib.suppress(OSError):
                if _abandoned_write(name, os.stat(name, dir_fd=fd, follow_symlinks=False), now):
                    os.unlink(name, dir_fd=fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _abandoned_write(name: str, st: os.stat_result, now: float) -> bool:
    return (
        name.find(_owners.TMP_MARK) > 0
        and stat.S_ISREG(st.st_mode)
        and _owners.abandoned(name, st.st_ctime, now)
    )
