"""Filesystem pieces shared by spaces, gc, artifacts and the cache.

Directories are made with a clear error when a file is in the way or the disk refuses.
Files are replaced atomically. Removal (see :mod:`._remove`, loaded only to remove)
never follows a symlink out of the tree being removed nor through a link in place of a
depot's folder, removes read-only files and directories, and renames the tree to a
trash name first, so a process killed mid-removal leaves no half-deleted directory
under its real name.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time

from . import _owners
from .errors import DepotError

TYPE_CHECKING = False  # not typing's: importing typing costs more than this module
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO


def make_dirs(path: str) -> None:
    """Create the directory ``path`` with its parents, with a clear error if impossible.

    Raises:
        DepotError: a file, or a link to one or to nothing, is where a directory should
            be; or the disk refused (full, read-only, no permission), told by ``errno``.
    """
    for attempt in range(3):
        try:
            os.makedirs(path, exist_ok=True)
        except (FileExistsError, NotADirectoryError, FileNotFoundError) as exc:
            blocked = explain_unusable(path, exc)
            if isinstance(exc, FileNotFoundError) and blocked.path == path and attempt < 2:
                continue  # a parent removed as it was made (gc takes empty namespaces)
            raise blocked from exc
        except OSError as exc:
            raise DepotError.of(path, "cannot create the directory", exc) from exc
        return


def explain_unusable(path: str, exc: OSError | None = None) -> DepotError:
    """Return an error naming the first ancestor of ``path`` that is not a directory."""
    current = path
    code = exc.errno if exc is not None else None
    while True:
        if os.path.islink(current) and not os.path.exists(current):
            return DepotError(current, "it is a link to nothing, not a directory", code)
        if os.path.lexists(current) and not os.path.isdir(current):
            return DepotError(current, "it exists and is not a directory", code)
        parent = os.path.dirname(current)
        if parent == current:
            return DepotError(path, "the directory cannot be created", code)
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
    """Create the empty file ``path`` if missing; set its mtime to ``when`` (default: now).

    Never through a link at ``path`` (``OSError`` ``ELOOP``): its target is not ours.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    try:
        times = None if when is None else (when, when)
        os.utime(fd if os.utime in os.supports_fd else path, times)
    finally:
        os.close(fd)


USE_EVERY = 24 * 60 * 60


def note_use(path: str) -> None:
    """Date ``path`` (a file or a folder) now, if its date is a day old: its last use.

    At most one ``utime`` a day, never through a link, never raises: the date is what
    the size cap evicts by, and a use must never fail because it cannot be noted.
    """
    try:
        st = os.lstat(path)
        if time.time() - st.st_mtime < USE_EVERY:
            return
        if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
            os.utime(path, follow_symlinks=os.utime not in os.supports_follow_symlinks)
    except (OSError, NotImplementedError):
        pass


CACHEDIR_TAG = "CACHEDIR.TAG"
_TAG = (
    b"Signature: 8a477f597d28d172789f06886806bc55\n"
    b"# This file is a cache directory tag created by scratchspaces.\n"
    b"# For information about cache directory tags, see:\n"
    b"#\thttps://bford.info/cachedir/\n"
)


def tag_cache_directory(depot: str) -> None:
    """Write ``CACHEDIR.TAG`` at the top of ``depot`` if it is missing, so backups skip it.

    Raises:
        DepotError: it cannot be written.
    """
    path = os.path.join(depot, CACHEDIR_TAG)
    if not os.path.lexists(path):
        atomic_write(path, _TAG)


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
    top = os.fspath(path)
    try:
        st = os.lstat(top)
    except OSError:
        return 0
    if stat.S_ISREG(st.st_mode):
        return st.st_size
    return dir_size(top) if stat.S_ISDIR(st.st_mode) else 0


def dir_size(top: str) -> int:
    """Return the bytes of the files below the directory ``top``, as :func:`tree_size` counts.

    For a caller that already knows ``top`` is a directory (a ``DirEntry`` said so): one
    ``lstat`` fewer. A walk of many small trees is system calls, so this makes only
    those ``du`` makes: one listing per directory, one ``lstat`` per file, none for a
    directory or a link (the listing tells them apart).
    """
    total = 0
    seen: set[tuple[int, int]] | None = None
    stack = [top]
    push, pop = stack.append, stack.pop
    while stack:
        try:
            listing = os.scandir(pop())
        except OSError:
            continue
        with listing:
            try:
                for entry in listing:
                    if entry.is_file(follow_symlinks=False):  # files first: most entries
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        if not stat.S_ISREG(st.st_mode):  # replaced since it was listed
                            if stat.S_ISDIR(st.st_mode):
                                push(entry.path)
                            continue
                        if st.st_nlink > 1:
                            seen = set() if seen is None else seen
                            ident = (st.st_dev, st.st_ino)
                            if ident in seen:
                                continue
                            seen.add(ident)
                        total += st.st_size
                    elif entry.is_dir(follow_symlinks=False):
                        push(entry.path)
            except OSError:  # the listing failed midway: what it gave is counted
                continue
    return total


# Removal lives in ._remove, loaded on the first removal: resolving a caller's project
# needs this module (nearest_file) on the first call of a process, removal never does.


def make_dirs_writable(top: str) -> None:
    """Give the owner rwx on every real directory under ``top`` (see :mod:`._remove`)."""
    from . import _remove  # noqa: PLC0415 - removal code only when removing

    _remove.make_dirs_writable(top)


def rmtree_in_place(path: str) -> list[str]:
    """Remove the real directory ``path``; return what could not be (see :mod:`._remove`)."""
    from . import _remove  # noqa: PLC0415 - removal code only when removing

    return _remove.rmtree_in_place(path)


def remove_in_place(path: str) -> list[str]:
    """Remove whatever is at ``path`` where it is, never through it (see :mod:`._remove`)."""
    from . import _remove  # noqa: PLC0415 - removal code only when removing

    return _remove.remove_in_place(path)


def move_to_trash(path: str, trash_root: str) -> str | None:
    """Rename ``path`` into ``trash_root`` in one step; return where (see :mod:`._remove`)."""
    from . import _remove  # noqa: PLC0415 - removal code only when removing

    return _remove.move_to_trash(path, trash_root)


def remove_tree(path: str, trash_root: str) -> list[str]:
    """Remove whatever is at ``path`` by way of ``trash_root`` (see :mod:`._remove`)."""
    from . import _remove  # noqa: PLC0415 - removal code only when removing

    return _remove.remove_tree(path, trash_root)


def empty_trash(trash_root: str) -> list[str]:
    """Remove every leftover in ``trash_root``, never through a link (see :mod:`._remove`)."""
    from . import _remove  # noqa: PLC0415 - removal code only when removing

    return _remove.empty_trash(trash_root)


@contextlib.contextmanager
def atomic_file(path: str) -> Iterator[BinaryIO]:
    """Yield a new file beside ``path``; once written and synced, rename it to ``path``.

    Readers see the old file or the whole new one; if the block raises, the temporary
    goes and ``path`` is untouched.

    Raises:
        DepotError: the temporary cannot be made, synced or renamed (a full or read-only
            disk); what the block raises passes unchanged.
    """
    tmp = _owners.temporary_name(path)
    ours = True
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
        with os.fdopen(fd, "wb") as f:
            ours = False
            yield f
            ours = True
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if ours and isinstance(exc, OSError):
            raise DepotError.of(path, "cannot write the file", exc) from exc
        raise


def atomic_write(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: a temporary file beside it, then rename.

    Raises:
        DepotError: it cannot be written (a full or read-only disk); ``errno`` says why.
    """
    with atomic_file(path) as f:
        try:
            f.write(data)
        except OSError as exc:
            raise DepotError.of(path, "cannot write the file", exc) from exc


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
