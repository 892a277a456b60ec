"""Moving a package's old cache folder into its scratch space: once, on first use, crash-safe.

A package that adopts scratch spaces has users with data in the folder it used before
(``~/.cache/<pkg>``). ``get_scratch(key, move_from=old)`` moves what that folder holds
into the space, so that nothing is fetched again and nothing is left behind. Once moved,
a call costs two ``access`` (of ``old`` and of ``<old>.scratchspaces-moved``, both
missing) on top of an ordinary ``get_scratch``; it takes no lock and loads nothing more.

A move runs under the depot's move lock (``logs/movein.lock``), each step safe to be
killed at: the next call with the same ``move_from`` picks up where the killed one
stopped.

1. On the same filesystem, into a new or empty space: ``old`` is renamed onto the space
   in one step. Nothing is ever in between.
2. Across filesystems: ``old`` is copied into a temporary folder beside the space
   (``.tmp-movein-...`` in the namespace's folder): links as links, never followed; hard
   links kept; modes and times kept (not owners, not extended attributes); every file
   and folder synced; plus a note, ``.scratchspaces-moved-from``, naming ``old``. The copy
   is renamed onto the space in one step, and synced. Until then ``old`` is untouched, so
   a failure (a full disk) or a kill costs the copy only.
3. Then ``old`` is renamed to ``<old>.scratchspaces-moved`` (it leaves its name in one
   step), the note is removed, and so is that folder.

What a kill leaves, and what the next call does with it:

- ``<old>.scratchspaces-moved``: the space received the copy (whole and synced: only
  then is ``old`` so named), so it is removed.
- ``old``, and the space's note naming it: the copy is whole; step 3.
- ``old``, and an empty space: the move starts again (a killed copy's temporary goes).

Nothing is moved, with one warning per process, and ``old`` left as it is, when ``old``
is a link (its target is not ours to move) or not a folder, when ``old`` and the space
hold one another, when the space already holds anything (nothing is merged or
overwritten: the user keeps the one they want), and on any error (a permission, a full
or read-only disk). ``get_scratch`` returns the space all the same.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys

from . import _depot, _fs

MOVED = ".scratchspaces-moved"
"""The suffix of ``old`` once it is copied and is being removed."""
NOTE = ".scratchspaces-moved-from"
"""The file, in a space copied into across filesystems, naming ``old`` until it is removed."""
LOCK_FILE = "movein.lock"
"""The move lock in a depot's ``logs``."""
LOCK_NAME = ".movein.lock"
"""The move lock at the top of an overriding directory (see ``with_scratch_directory``)."""
TMP_KIND = "movein"
_CHUNK = 1 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_SENDFILE = sys.platform.startswith("linux") and hasattr(os, "sendfile")


class _RefusedError(Exception):
    """Nothing was moved, for a reason the user can act on."""


class _LeftoverError(Exception):
    """The space holds the data; what is left of ``old`` could not be removed yet."""


if os.access in os.supports_follow_symlinks:

    def _there(path: str) -> bool:
        # Whether anything, a link to nothing included, is at ``path``. What every call
        # pays once the move is done: access() says "no" without raising, which costs
        # half what an lstat (os.path.lexists) raising FileNotFoundError does.
        return os.access(path, os.F_OK, follow_symlinks=False)

else:  # pragma: no cover - Windows
    _there = os.path.lexists


def pending(old: str | os.PathLike[str]) -> str | None:
    """Return ``old`` as an absolute path if a move is due or unfinished, else None."""
    path = os.path.abspath(os.path.expanduser(os.fspath(old)))
    if _there(path) or _there(path + MOVED):
        return path
    return None


def move_in(old: str, space: str, root: str, depot: str | None) -> None:
    """Move the folder ``old`` into the space ``space`` (see the module); never raise.

    ``root`` holds the namespaces; ``depot`` is None when ``root`` overrides the depot's.
    One move at a time per depot: under ``logs/movein.lock``, a file kept as the access
    log's lock is; under an override, ``<root>/.movein.lock``, removed after.
    """
    from ._warn import warn_once  # noqa: PLC0415 - only when a move is due

    try:
        if not _there(old + MOVED) and _refused(old, space):
            return
        from . import _locks  # noqa: PLC0415 - filelock only when a move is due

        if depot is None:
            held: contextlib.AbstractContextManager[object] = _locks.exclusive(
                os.path.join(root, LOCK_NAME)
            )
        else:
            logs = _depot.logs_dir(depot)
            _fs.make_dirs(logs)
            held = _locks.lock(os.path.join(logs, LOCK_FILE))
        with held:
            _settle(old, space)
    except _RefusedError as exc:
        message = f"was not moved into the scratch space {space}: {exc}; it is left as it is"
    except _LeftoverError as exc:
        message = f"was moved into the scratch space {space}, but {exc}; the next call retries"
    except Exception as exc:  # noqa: BLE001 - moving in must never fail get_scratch
        message = (
            f"could not be moved into the scratch space {space} ({type(exc).__name__}: "
            f"{exc}); nothing of it was lost, and the next call will try again"
        )
    else:
        return
    warn_once(f"move-in {old}", f"the folder {old} {message}")


def _refused(old: str, space: str) -> bool:
    """Raise :class:`_RefusedError` if ``old`` is not to be moved; True if it is gone.

    Without the lock first: what is refused stays so from one process to the next (a
    link, a space holding data), and is told without loading filelock each time.
    """
    try:
        st = os.lstat(old)
    except FileNotFoundError:
        return True
    _check(old, st, space)
    # A mover elsewhere may have just filled the space from ``old``: then ``old`` is gone.
    if _note(space) != old and not _empty(space) and os.path.lexists(old):
        raise _RefusedError(_HOLDS_DATA)
    return False


_HOLDS_DATA = (
    "the space already holds data, and nothing is merged or overwritten; "
    "remove whichever of the two you do not need"
)


def _settle(old: str, space: str) -> None:
    """Finish what a killed move left, then move ``old`` if it is there (the lock held)."""
    moved = old + MOVED
    if os.path.lexists(moved):
        _remove_moved(moved, space)  # only ever named so once the space held it whole
    try:
        st = os.lstat(old)
    except FileNotFoundError:
        return
    _check(old, st, space)
    if _note(space) == old:
        _retire(old, moved, space)  # copied whole by a call killed before removing it
        return
    if not _empty(space):
        raise _RefusedError(_HOLDS_DATA)
    try:
        os.rename(old, space)  # onto an empty space too, in one step
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    else:
        return
    folder = os.path.dirname(old)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _RefusedError(
            f"its folder {folder} is read-only, so it could not be removed once copied"
        )
    _copy_in(old, space)
    _retire(old, moved, space)


def _check(old: str, st: os.stat_result, space: str) -> None:
    """Refuse what must not be moved."""
    if stat.S_ISLNK(st.st_mode):
        raise _RefusedError("it is a link, and what it points to is not scratchspaces' to move")
    if not stat.S_ISDIR(st.st_mode):
        raise _RefusedError("it is not a folder")
    if os.path.dirname(old) == old:
        raise _RefusedError("it is the root of the filesystem")
    if os.path.islink(space):
        raise _RefusedError(
            "the space is a link, and what it points to is not scratchspaces' to fill"
        )
    if _fs.within(space, old) or _fs.within(old, space):
        raise _RefusedError("it holds the space, or the space holds it")


def _empty(space: str) -> bool:
    try:
        with os.scandir(space) as entries:
            return next(entries, None) is None
    except FileNotFoundError:
        return True


def _note(space: str) -> str | None:
    """Return the path the space's note names, if it has one."""
    try:
        fd = os.open(os.path.join(space, NOTE), os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    try:
        return os.fsdecode(os.read(fd, 1 << 16))
    except OSError:
        return None
    finally:
        os.close(fd)


def _retire(old: str, moved: str, space: str) -> None:
    """Take ``old`` off its name in one step, then remove it: the space holds it whole."""
    try:
        os.rename(old, moved)
    except OSError as exc:
        raise _LeftoverError(f"it could not be renamed for removal ({exc})") from exc
    _sync_folder(os.path.dirname(old))
    _remove_moved(moved, space)


def _remove_moved(moved: str, space: str) -> None:
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(space, NOTE))
    except OSError as exc:
        raise _LeftoverError(f"the note {NOTE} in the space could not be removed ({exc})") from exc
    failed = _fs.rmtree_in_place(moved)
    if failed:
        raise _LeftoverError(
            f"{len(failed)} entries of {moved} could not be removed (first: {failed[0]})"
        )


# --- copying across filesystems ------------------------------------------------------------


def _copy_in(old: str, space: str) -> None:
    """Copy ``old`` beside ``space`` with its note, then rename the copy onto ``space``."""
    from . import _locks  # noqa: PLC0415 - only when a move is due

    folder = os.path.dirname(space)
    prefix = f"{_locks.TMP_PREFIX}{TMP_KIND}-"
    for name in _fs.listdir(folder):
        if name.startswith(prefix):  # a killed copy's: moves are one at a time, lock held
            _fs.remove_in_place(os.path.join(folder, name))
    tmp = _locks.new_temporary(folder, TMP_KIND)
    try:
        work = os.path.join(tmp, "data")
        _copy_tree(old, work)
        os.rename(work, space)
        _sync_folder(folder)
    finally:
        _fs.remove_in_place(tmp)


def _copy_tree(source: str, target: str) -> None:
    """Copy the folder ``source`` to ``target`` (see the module), with the note; sync it all."""
    seen: dict[tuple[int, int], str] = {}
    folders: list[tuple[str, os.stat_result]] = []
    stack = [(source, target, os.lstat(source))]
    while stack:
        src, dst, st = stack.pop()
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(dst, 0o700)  # filled first, given its own mode last
            folders.append((dst, st))
            with os.scandir(src) as entries:
                names = [entry.name for entry in entries]
            for name in names:
                path = os.path.join(src, name)
                stack.append((path, os.path.join(dst, name), os.lstat(path)))
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
            if os.utime in os.supports_follow_symlinks:
                os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        elif stat.S_ISREG(st.st_mode):
            _copy_file(src, dst, st, seen)
        else:
            raise _RefusedError(f"{src} is not a file, a folder or a link, and cannot be copied")
    note = os.path.join(target, NOTE)
    fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
    try:
        _write_all(fd, os.fsencode(source))
        os.fsync(fd)
    finally:
        os.close(fd)
    for dst, st in reversed(folders):  # the deepest first: a parent's date stays its own
        fd = os.open(dst, os.O_RDONLY | _DIRECTORY)
        try:
            os.chmod(fd, stat.S_IMODE(st.st_mode))
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.fsync(fd)
        finally:
            os.close(fd)


def _copy_file(src: str, dst: str, st: os.stat_result, seen: dict[tuple[int, int], str]) -> None:
    if st.st_nlink > 1:
        first = seen.setdefault((st.st_dev, st.st_ino), dst)
        if first != dst:
            os.link(first, dst)  # linked twice there, linked twice here
            return
    source = os.open(src, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(source).st_mode):  # replaced since it was listed
            raise _RefusedError(f"{src} changed as it was copied")
        target = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        try:
            _copy_data(source, target)
            os.chmod(target, stat.S_IMODE(st.st_mode))
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.fsync(target)
        finally:
            os.close(target)
    finally:
        os.close(source)


def _copy_data(source: int, target: int) -> None:
    if _SENDFILE:
        offset = 0
        try:
            while sent := os.sendfile(target, source, offset, 1 << 30):
                offset += sent
        except OSError as exc:
            if offset or exc.errno not in {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}:
                raise
        else:
            return
    while data := os.read(source, _CHUNK):
        _write_all(target, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _sync_folder(path: str) -> None:
    """Make the renames in the folder ``path`` durable, where folders can be synced."""
    try:
        fd = os.open(path, os.O_RDONLY | _DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # a filesystem that cannot sync folders
            os.fsync(fd)
    finally:
        os.close(fd)
