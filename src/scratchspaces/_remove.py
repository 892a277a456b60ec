"""Removal that never leaves the tree it removes, and never deletes through a link.

Removal works relative to open directory descriptors where the OS allows (not Windows),
so a directory swapped for a link while it is being removed is never followed, and no
shutil (which loads bz2 and lzma, 4 ms) is needed. A tree is renamed into a trash folder
first, so a process killed mid-removal leaves nothing half-deleted under its real name.

A depot is written by others too (shared and site depots): wherever a link stands in
place of one of its folders, removal neither follows it nor deletes what it points to.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys

TYPE_CHECKING = False  # not typing's: imported when deleting, kept light
if TYPE_CHECKING:
    from collections.abc import Callable

    Each = Callable[[int], None]


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


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
BY_FD = {
    os.open,
    os.stat,
    os.unlink,
    os.rmdir,
    os.chmod,
    os.mkdir,
    os.rename,
} <= os.supports_dir_fd and os.scandir in os.supports_fd
_LINKED = "reached through a link or a file in the way, which removal never follows"


class Failure(str):
    """An entry that could not be removed, ``"<path>: <why>"``.

    ``error`` is the ``OSError`` that stopped it (None when refused for a link on the
    way), ``errno`` its number (``ELOOP`` or ``ENOTDIR`` for a link or a file on the way).
    """

    errno: int | None = None
    error: OSError | None = None

    @classmethod
    def of(cls, path: str, exc: OSError | str, code: int | None = None) -> Failure:
        """Return the failure to remove ``path`` because of ``exc`` (an error, or why)."""
        found = cls(f"{path}: {exc}")
        if isinstance(exc, OSError):
            found.error, found.errno = exc, exc.errno
        else:
            found.errno = code
        return found


def _open_dir(name: str, dir_fd: int | None) -> int:
    """Open the directory ``name`` (never through a link), giving its owner rwx first."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", name)
    if st.st_mode & 0o700 != 0o700:
        os.chmod(name, stat.S_IMODE(st.st_mode) | 0o700, dir_fd=dir_fd)
    return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _inside(path: str, top: str) -> bool:
    rel = os.path.relpath(path, top)
    return not (rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel))


def open_below(top: str, path: str) -> int:
    """Open the folder ``path``: ``top`` as it is, and each folder below it never through a link.

    A depot may itself be a link (to a bigger disk, say); what is inside it is reached
    only through real folders, so no link there takes a removal out of the depot.

    Raises:
        ValueError: ``path`` is not ``top`` or inside it.
        OSError: ``ELOOP`` or ``ENOTDIR`` where a link or a file stands on the way.
    """
    if not _inside(path, top):
        raise ValueError(f"{path} is not inside {top}")
    rel = os.path.relpath(path, top)
    fd = os.open(top, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    for part in [] if rel == os.curdir else rel.split(os.sep):
        try:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        fd = child
    return fd


def linked_below(top: str, path: str) -> bool:
    """Whether a link (or a file) stands in place of a folder from below ``top`` to ``path``.

    ``path`` itself counts; ``top`` does not. A missing folder is not a link; a ``path``
    outside ``top`` counts as one (it is not ours).
    """
    if not _inside(path, top):
        return True
    rel = os.path.relpath(path, top)
    current = top
    for part in [] if rel == os.curdir else rel.split(os.sep):
        current = os.path.join(current, part)
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return True
        except FileNotFoundError:
            return False
        except OSError:
            return True
    return False


def own_folder(path: str) -> bool:
    """Return whether ``path`` is a real folder; a link in its place is removed, as a link.

    For the folders a depot keeps for its own bookkeeping (a trash, the cache's locks),
    which the library empties wholesale: a link there (another user of a shared depot
    can make one) would have it empty what the link points to. The link itself goes,
    never what it points to, with one warning; the folder is made again when needed.
    Anything else in the way (a file) is left, and the folder counts as missing.
    """
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISDIR(st.st_mode):
        return True
    if stat.S_ISLNK(st.st_mode):
        from ._warn import warn_once  # noqa: PLC0415 - a hostile depot only

        with contextlib.suppress(OSError):
            os.unlink(path)
        warn_once(
            "own-folder-link",
            f"{path} was a link where scratchspaces keeps a folder of its own; the link "
            "was removed (if it could be), and nothing it points to was touched",
        )
    return False


def _empty_dir(dir_fd: int, path: str, failed: list[str], each: Each | None = None) -> None:
    """Empty the open directory ``dir_fd`` (``path`` names it); ``each(1)`` per entry."""
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
            pass  # removed by someone else meanwhile: that is what we wanted
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:  # else a failure below it is already counted
                failed.append(Failure.of(where, exc))
        if each is not None:
            each(1)


def rmtree_in_place(path: str, each: Each | None = None) -> list[str]:
    """Remove the real directory ``path``; return the entries that could not be removed.

    Read-only entries go too; links are removed, never followed; ``each(1)`` per entry.
    """
    if not BY_FD:  # pragma: no cover - Windows
        return _rmtree_with_shutil(path)
    failed: list[str] = []
    try:
        fd = _open_dir(path, None)
        try:
            _empty_dir(fd, path, failed, each)
        finally:
            os.close(fd)
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOTEMPTY or not failed:
            failed.append(Failure.of(path, exc))
    return failed


def _rmtree_with_shutil(path: str) -> list[str]:  # pragma: no cover - Windows
    import shutil  # noqa: PLC0415 - costs 4 ms at import (bz2, lzma): only here

    failed: list[str] = []

    def on_error(_func: object, failed_path: str, exc: BaseException) -> None:
        if isinstance(exc, FileNotFoundError) or getattr(exc, "errno", None) == errno.ENOTEMPTY:
            return
        failed.append(Failure.of(failed_path, exc if isinstance(exc, OSError) else str(exc)))

    make_dirs_writable(path)
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=on_error)
    else:  # the onerror form is deprecated from 3.12
        shutil.rmtree(path, onerror=lambda f, p, info: on_error(f, p, info[1]))
    return failed


def _open_trash(trash_root: str) -> int:
    """Open ``trash_root``, made if missing, never through a link (one there is removed)."""
    top, name = os.path.split(trash_root)
    for _attempt in range(3):
        parent = os.open(top, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, dir_fd=parent)
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in {errno.ELOOP, errno.ENOTDIR} or own_folder(trash_root):
                raise
        finally:
            os.close(parent)
    raise OSError(errno.ELOOP, "a link or a file stands in place of the trash", trash_root)


def _trash_name(path: str) -> str:
    # Within NAME_MAX whatever the name: a long one is cut, the suffix keeps it unique.
    stem = os.fsencode(os.path.basename(path))[:200]
    return f"{os.fsdecode(stem)}.{os.getpid()}.{os.urandom(4).hex()}"


def _move_by_name(path: str, trash_root: str) -> tuple[str | None, None]:  # pragma: no cover
    trash = os.path.join(trash_root, _trash_name(path))  # Windows: names, not descriptors
    try:
        os.makedirs(trash_root, exist_ok=True)
        os.rename(path, trash)
    except FileNotFoundError:
        return None, None
    except OSError:
        return path, None
    return trash, None


def _rename_into(path: str, top: str, trash_root: str) -> str | None:
    """Try once to rename ``path`` into the trash, from ``top`` down never through a link.

    Returns where it went; ``path`` if it cannot be renamed; a :class:`Failure` if a
    link or a file stands on the way; None to try again (something moved meanwhile).
    """
    try:
        source = open_below(top, os.path.dirname(path))
    except FileNotFoundError:
        return None
    except OSError as exc:
        linked = exc.errno in {errno.ELOOP, errno.ENOTDIR}
        return Failure.of(path, _LINKED if linked else exc, exc.errno)
    name = _trash_name(path)
    try:
        trash = _open_trash(trash_root)
        try:
            os.rename(os.path.basename(path), name, src_dir_fd=source, dst_dir_fd=trash)
        finally:
            os.close(trash)
    except FileNotFoundError:
        return None  # the path went, or a concurrent cleanup removed the trash dir
    except OSError:
        return path
    finally:
        os.close(source)
    return os.path.join(trash_root, name)


def _move(path: str, trash_root: str) -> tuple[str | None, Failure | None]:
    """Rename ``path`` into the trash; return where it went (see below), or why it stays.

    Where is None if ``path`` is missing, ``path`` itself if it cannot be renamed.
    """
    if not BY_FD:  # pragma: no cover - Windows
        return _move_by_name(path, trash_root)
    top = os.path.dirname(trash_root)
    if not _inside(os.path.dirname(path), top):
        top = os.path.dirname(path)  # not in the trash's depot: only its own folder counts
    for _attempt in range(3):
        if not os.path.lexists(path):
            return None, None
        done = _rename_into(path, top, trash_root)
        if isinstance(done, Failure):
            return None, done
        if done is not None:
            return done, None
    return (path if os.path.lexists(path) else None), None


def move_to_trash(path: str, trash_root: str) -> str | None:
    """Rename ``path`` into ``trash_root`` (same filesystem) in one step; return where.

    Returns None if ``path`` does not exist, and ``path`` itself if it cannot be renamed
    (a read-only parent): then it is removed in place. The folders from the one holding
    ``trash_root`` down to ``path`` must be real: where a link (or a file) stands in
    place of one, nothing is moved, None is returned and a warning says why. A link in
    place of ``trash_root`` is removed, never followed (see :func:`own_folder`).
    """
    moved, refused = _move(path, trash_root)
    if refused is not None:
        from ._warn import warn_once  # noqa: PLC0415 - a hostile depot only

        warn_once("remove-linked", f"{refused}; it is left where it is")
    return moved


def remove_in_place(path: str, each: Each | None = None) -> list[str]:
    """Remove whatever is at ``path`` where it is: a file, a link (never its target), a tree.

    Returns the entries that could not be removed; a missing ``path`` is not an error.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return []
    if stat.S_ISDIR(st.st_mode):
        return rmtree_in_place(path, each)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        return [Failure.of(path, exc)]
    return []


def remove_tree(path: str, trash_root: str, each: Each | None = None) -> list[str]:
    """Remove whatever is at ``path``, by way of ``trash_root``.

    It is first renamed into ``trash_root`` (which must be on the same filesystem), so
    it vanishes from its real name in one step; then the trash is removed. Returns the
    entries that could not be removed (an NFS ``.nfs*`` file, a permission problem, a
    link in place of a folder on the way, which is never followed); a missing ``path``
    is not an error. Each is a :class:`Failure`, with its ``errno``.

    ``each(1)`` is called as each entry of a directory at ``path`` goes (progress).
    """
    moved, refused = _move(path, trash_root)
    if refused is not None:
        return [refused]
    if moved is None:
        return []
    failed = remove_in_place(moved, each)
    with contextlib.suppress(OSError):
        os.rmdir(trash_root)  # only when empty: leave no clutter, keep what failed for gc
    return failed


def empty_trash(trash_root: str) -> list[str]:
    """Remove every leftover in ``trash_root`` (from a crashed or concurrent removal).

    Only a real folder is emptied, never through a link: a link in its place is removed
    itself (see :func:`own_folder`).
    """
    if not own_folder(trash_root):
        return []
    if not BY_FD:  # pragma: no cover - Windows
        names = os.listdir(trash_root) if os.path.isdir(trash_root) else []
        return [f for n in names for f in remove_in_place(os.path.join(trash_root, n))]
    failed: list[str] = []
    try:
        fd = open_below(os.path.dirname(trash_root), trash_root)
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [Failure.of(trash_root, exc)]
    try:
        _empty_dir(fd, trash_root, failed)
    except OSError as exc:
        failed.append(Failure.of(trash_root, exc))
    finally:
        os.close(fd)
    return failed
