"""Filesystem pieces shared by spaces, gc, artifacts and the cache.

Directories are made with a clear error when a file is in the way. Removal never
follows a symlink out of the tree being removed, removes read-only files and
directories, and renames the tree to a trash name first, so a process killed
mid-removal leaves no half-deleted directory under its real name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from typing import TYPE_CHECKING

from . import _owners
from .errors import DepotError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO


def make_dirs(path: str) -> None:
    """Create the directory ``path`` with its parents, with a clear error if impossible.

    Raises:
        DepotError: a file (or a link to one) is where a directory should be.
    """
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise explain_unusable(path) from exc


def explain_unusable(path: str) -> DepotError:
    """Return an error naming the first ancestor of ``path`` that is not a directory."""
    current = path
    while True:
        if os.path.lexists(current) and not os.path.isdir(current):
            return DepotError(current, "it exists and is not a directory")
        parent = os.path.dirname(current)
        if parent == current:
            return DepotError(path, "the directory cannot be created")
        current = parent


def listdir(path: str) -> list[str]:
    """Return the names in the directory ``path``; none if it cannot be read."""
    try:
        return os.listdir(path)
    except OSError:
        return []


def nearest_file(directory: str, name: str) -> str | None:
    """Return the file ``name`` in ``directory`` or the nearest directory above it."""
    current = directory
    while True:
        candidate = os.path.join(current, name)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def touch(path: str, when: float | None = None) -> None:
    """Create the empty file ``path`` if missing; set its mtime to ``when`` (default: now)."""
    with open(path, "ab"):
        pass
    os.utime(path, None if when is None else (when, when))


def within(path: str, top: str) -> bool:
    """Return whether ``path`` resolves (through every link) to ``top`` or inside it."""
    real, base = os.path.realpath(path), os.path.realpath(top)
    return real == base or real.startswith(os.path.join(base, ""))


def climbs_out(rel: str, target: str) -> bool:
    """Whether the link ``rel`` -> ``target`` (``/`` between parts), read as written, leaves."""
    stack = rel.split("/")[:-1]
    for part in target.split("/"):
        if part in {"", "."}:
            continue
        if part == "..":
            if not stack:
                return True
            stack.pop()
        else:
            stack.append(part)
    return False


def tree_size(path: str | os.PathLike[str]) -> int:
    """Return the apparent size of ``path`` in bytes, a file linked twice counted once.

    Symlinks are not followed and count nothing; unreadable parts count nothing.
    """
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [os.fspath(path)]
    while stack:
        current = stack.pop()
        try:
            st = os.lstat(current)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            if st.st_nlink > 1:
                ident = (st.st_dev, st.st_ino)
                if ident in seen:
                    continue
                seen.add(ident)
            total += st.st_size
        elif stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(current) as entries:
                    stack.extend(entry.path for entry in entries)
            except OSError:
                continue
    return total


def make_dirs_writable(top: str) -> None:
    """Give the owner rwx on every real directory under ``top`` (links are not followed)."""
    stack = [top]
    while stack:
        current = stack.pop()
        try:
            st = os.lstat(current)
            if not stat.S_ISDIR(st.st_mode):
                continue
            if st.st_mode & 0o700 != 0o700:
                os.chmod(current, stat.S_IMODE(st.st_mode) | 0o700)
            with os.scandir(current) as entries:
                stack.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            continue


# Removal works relative to open directory descriptors where the OS allows (not Windows),
# so a directory swapped for a link while it is being removed is never followed, and no
# shutil (which loads bz2 and lzma, 4 ms) is needed.
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_BY_FD = {
    os.open,
    os.stat,
    os.unlink,
    os.rmdir,
    os.chmod,
} <= os.supports_dir_fd and os.scandir in os.supports_fd


def _open_dir(name: str, dir_fd: int | None) -> int:
    """Open the directory ``name`` (never through a link), giving its owner rwx first."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", name)
    if st.st_mode & 0o700 != 0o700:
        os.chmod(name, stat.S_IMODE(st.st_mode) | 0o700, dir_fd=dir_fd)
    return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _empty_dir(dir_fd: int, path: str, failed: list[str]) -> None:
    """Remove everything in the open directory ``dir_fd`` (``path`` names it in messages)."""
    with os.scandir(dir_fd) as it:
        entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    for name, is_dir in entries:
        where = os.path.join(path, name)
        try:
            if is_dir:
                fd = _open_dir(name, dir_fd)
                try:
                    _empty_dir(fd, where, failed)
                finally:
                    os.close(fd)
                os.rmdir(name, dir_fd=dir_fd)
            else:
                os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            continue  # removed by someone else meanwhile: that is what we wanted
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:  # else a failure below it is already counted
                failed.append(f"{where}: {exc}")


def rmtree_in_place(path: str) -> list[str]:
    """Remove the real directory ``path``; return the entries that could not be removed.

    Read-only files and directories are removed too; links are removed, never followed.
    """
    if not _BY_FD:  # pragma: no cover - Windows
        return _rmtree_with_shutil(path)
    failed: list[str] = []
    try:
        fd = _open_dir(path, None)
        try:
            _empty_dir(fd, path, failed)
        finally:
            os.close(fd)
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOTEMPTY:
            failed.append(f"{path}: {exc}")
    return failed


def _rmtree_with_shutil(path: str) -> list[str]:  # pragma: no cover - Windows
    import shutil  # noqa: PLC0415 - costs 4 ms at import (bz2, lzma): only here

    failed: list[str] = []

    def on_error(_func: object, failed_path: str, exc: BaseException) -> None:
        if isinstance(exc, FileNotFoundError) or getattr(exc, "errno", None) == errno.ENOTEMPTY:
            return
        failed.append(f"{failed_path}: {exc}")

    make_dirs_writable(path)
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=on_error)
    else:  # the onerror form is deprecated from 3.12
        shutil.rmtree(path, onerror=lambda f, p, info: on_error(f, p, info[1]))
    return failed


def move_to_trash(path: str, trash_root: str) -> str | None:
    """Rename ``path`` into ``trash_root`` (same filesystem) in one step; return where.

    Returns None if ``path`` does not exist, and ``path`` itself if it cannot be renamed
    (a read-only parent): then it is removed in place.
    """
    for _attempt in range(3):
        if not os.path.lexists(path):
            return None
        trash = os.path.join(
            trash_root, f"{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}"
        )
        try:
            os.makedirs(trash_root, exist_ok=True)
            os.rename(path, trash)
        except FileNotFoundError:
            continue  # the path went, or a concurrent cleanup removed the trash dir
        except OSError:
            return path
        return trash
    return path if os.path.lexists(path) else None


def remove_in_place(path: str) -> list[str]:
    """Remove whatever is at ``path`` where it is: a file, a link (never its target), a tree.

    Returns the entries that could not be removed; a missing ``path`` is not an error.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return []
    if stat.S_ISDIR(st.st_mode):
        return rmtree_in_place(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        return [f"{path}: {exc}"]
    return []


def remove_tree(path: str, trash_root: str) -> list[str]:
    """Remove whatever is at ``path``, a directory by way of ``trash_root``.

    A directory is first renamed into ``trash_root`` (which must be on the same
    filesystem), so it vanishes from its real name in one step; then the trash is
    removed. Returns the entries that could not be removed (an NFS ``.nfs*`` file, a
    permission problem); a missing ``path`` is not an error.
    """
    if os.path.isdir(path) and not os.path.islink(path):
        moved = move_to_trash(path, trash_root)
        if moved is None:
            return []
        path = moved
    failed = remove_in_place(path)
    with contextlib.suppress(OSError):
        os.rmdir(trash_root)  # only when empty: leave no clutter, keep what failed for gc
    return failed


@contextlib.contextmanager
def atomic_file(path: str) -> Iterator[BinaryIO]:
    """Yield a new file beside ``path``; once written and synced, rename it to ``path``.

    Readers see the old file or the whole new one; if the block raises, the temporary
    goes and ``path`` is untouched.
    """
    tmp = _owners.temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: a temporary file beside it, then rename."""
    with atomic_file(path) as f:
        f.write(data)


def empty_trash(trash_root: str) -> list[str]:
    """Remove every leftover in ``trash_root`` (from a crashed or concurrent removal)."""
    return [
        failure
        for name in listdir(trash_root)
        for failure in remove_in_place(os.path.join(trash_root, name))
    ]


def make_read_only(top: str) -> None:
    """Take the write bits off every regular file under ``top``; give directories owner rwx.

    Files become immutable to casual writes; directories stay removable by their owner
    without a chmod. Symlinks are not followed.
    """
    stack = [top]
    while stack:
        current = stack.pop()
        st = os.lstat(current)
        if stat.S_ISDIR(st.st_mode):
            if st.st_mode & 0o700 != 0o700:
                os.chmod(current, stat.S_IMODE(st.st_mode) | 0o700)
            with os.scandir(current) as entries:
                stack.extend(e.path for e in entries)
        elif stat.S_ISREG(st.st_mode) and st.st_mode & 0o222:
            os.chmod(current, stat.S_IMODE(st.st_mode) & ~0o222)


def publish_directory(tmp: str, target: str) -> bool:
    """Rename the finished directory ``tmp`` to ``target`` in one step.

    Returns True if ours was published, False if ``target`` already existed (another
    process won the race, or the content was there already): then ``tmp`` is removed and
    the existing copy counts, since content-addressed copies are interchangeable.
    """
    try:
        os.rename(tmp, target)
    except OSError:
        if not os.path.isdir(target):
            raise
        remove_in_place(tmp)
        return False
    return True
