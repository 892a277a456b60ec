"""The artifact store: ``<depot>/artifacts/<git-tree-sha1>``, immutable once published.

Every artifact is made in a temporary directory inside the user depot's store, hashed,
made read-only, then renamed to its hash in one step: no reader ever sees half an
artifact, and a process that loses a race to publish the same content finds the
winner's copy, which is just as good. Later depots of ``SCRATCHSPACES_DEPOT_PATH`` are
searched, never written. ``with_artifacts_directory`` replaces the whole search with one
directory, for tests and for applications that keep artifacts elsewhere.
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _depot, _fs, _locks, _names, _remove
from .._depot import ARTIFACTS_DIR
from .._treehash import tree_hash
from ..errors import DepotError, UnsupportedFile

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_directory: ContextVar[str | None] = ContextVar("scratchspaces_artifacts_directory", default=None)


def overridden() -> str | None:
    """Return the directory of ``with_artifacts_directory``, None outside it."""
    return _directory.get()


def user_root() -> str:
    """Return the store every write goes to: the override, else the user depot's."""
    override = _directory.get()
    if override is not None:
        return override
    return os.path.join(_depot.user_depot_string(), ARTIFACTS_DIR)


def roots() -> list[str]:
    """Return every store searched, the writable one first."""
    override = _directory.get()
    if override is not None:
        return [override]
    return [os.path.join(depot, ARTIFACTS_DIR) for depot in _depot.depot_strings()]


def trash_root(root: str) -> str:
    """Return where removals from ``root`` are renamed first (same filesystem).

    Never emptied through a link: one in its place is removed as a link (``_remove.own_folder``).
    """
    if _directory.get() is not None:
        return os.path.join(root, ".trash")
    return os.path.join(os.path.dirname(root), _depot.TRASH_DIR)


def find(hash_: str) -> str | None:
    """Return the path of the artifact in the first store that holds it, or None."""
    for root in roots():
        path = os.path.join(root, hash_)
        if os.path.isdir(path):
            return path
    return None


def artifact_path(hash: str) -> Path:
    """Return where artifact ``hash`` is: the first depot holding it, else the user depot.

    Neither creates nor downloads anything.

    Raises:
        InvalidHash: ``hash`` is not 40 hexadecimal digits.
    """
    hash_ = _names.check_hash(hash)
    return Path(used(find(hash_)) or os.path.join(user_root(), hash_))


def used(path: str | None) -> str | None:
    """Note a use of the artifact at ``path`` if it is in the store written to; return it.

    Its folder's mtime is its last use, moved on once a day at most: what the size cap
    evicts by. Later depots are only read.
    """
    if path is not None and os.path.dirname(path) == user_root():
        _fs.note_use(path)
    return path


def artifact_exists(hash: str) -> bool:
    """Return whether some depot holds artifact ``hash``."""
    return find(_names.check_hash(hash)) is not None


def verify_artifact(hash: str) -> bool:
    """Return whether artifact ``hash`` exists and its content still hashes to ``hash``."""
    path = find(_names.check_hash(hash))
    if path is None:
        return False
    try:
        return tree_hash(path) == hash.lower()
    except (UnsupportedFile, OSError):
        return False  # a FIFO or an unreadable file where content should be: not intact


def remove_artifact(hash: str) -> None:
    """Remove artifact ``hash`` from the user depot; no error if it is not there.

    Raises:
        DepotError: the artifact is only in a read-only depot (a later entry of
            ``SCRATCHSPACES_DEPOT_PATH``), which this library never writes; or some of
            it could not be removed (a read-only disk, a link in place of a folder on
            the way, which is never followed), with the ``errno`` of the first failure.
    """
    hash_ = _names.check_hash(hash)
    root = user_root()
    path = os.path.join(root, hash_)
    if os.path.lexists(path):
        failures = _fs.remove_tree(path, trash_root(root))
        if failures:
            first = failures[0]
            where = "it is still there" if os.path.lexists(path) else "left in the trash"
            failure = first if isinstance(first, _remove.Failure) else _remove.Failure(first)
            raise DepotError(
                path, f"could not remove {len(failures)} entries ({where}): {first}", failure.errno
            ) from failure.error
        return
    elsewhere = find(hash_)
    if elsewhere is not None:
        raise DepotError(
            elsewhere,
            "the artifact is in a read-only depot (a later entry of "
            f"${_depot.DEPOT_PATH_VAR}); scratchspaces never writes there",
        )


@contextlib.contextmanager
def install_lock(root: str, hash_: str) -> Iterator[None]:
    """Hold the lock on installing ``hash_`` into ``root``: one install per artifact at once.

    The lock file ``<root>/.<hash>.lock`` is removed as the last act of its holder, so
    none is left behind.

    Raises:
        DepotError: the lock cannot be taken (a store we may not write in).
    """
    _fs.make_dirs(root)
    path = os.path.join(root, f".{hash_}.lock")

    def unusable(exc: OSError) -> DepotError:
        return DepotError(root, f"cannot take the install lock {path}: {exc.strerror}", exc.errno)

    with _locks.exclusive(path, unusable=unusable):
        yield


def install_locks(root: str) -> list[str]:
    """Return the ``.<hash>.lock`` files in ``root``: held now, or left by a crashed install."""
    return [
        os.path.join(root, name)
        for name in _fs.listdir(root)
        if len(name) == 46
        and name[0] == "."
        and name[41:] == ".lock"
        and _names.is_hex(name[1:41], 40)
    ]


def publish(tmp: str, hash_: str, root: str) -> Path:
    """Make ``tmp`` read-only and rename it to ``<root>/<hash_>``; the result counts.

    Raises:
        DepotError: the disk refused (read-only, no permission); ``errno`` says why.
    """
    target = os.path.join(root, hash_)
    try:
        _fs.make_read_only(tmp)
        _fs.publish_directory(tmp, target)
    except OSError as exc:
        raise DepotError.of(target, "cannot publish the artifact", exc) from exc
    used(target)  # an archive's own dates are not a use: installed is used now
    return Path(target)


def create_artifact(fn: Callable[[Path], object]) -> str:
    """Create an artifact from what ``fn`` writes; return its git tree hash.

    ``fn(path)`` fills the fresh, empty directory ``path`` inside the user depot (it may
    also remove it and make it again, for instance with ``shutil.copytree``). The result
    is hashed, its files made read-only, and it is published at
    ``artifacts/<hash>`` in one rename: never visible half-written. Content that exists
    already is left as it is, and its hash returned.

    Raises:
        NotADirectoryError: ``fn`` left no directory at ``path``.
        UnsupportedFile: ``fn`` left a FIFO, socket or device in it.
        DepotError: the store cannot be written (a full or read-only disk, no
            permission); ``errno`` says why.
        Exception: whatever ``fn`` raised; nothing is left behind.
    """
    root = user_root()
    with _locks.temporary(root, "create") as tmp:
        work = os.path.join(tmp, "work")
        try:
            os.mkdir(work)
            os.chmod(work, 0o755)  # noqa: S103 - published for every reader, whatever the umask
        except OSError as exc:
            raise DepotError.of(root, "cannot create an artifact", exc) from exc
        fn(Path(work))
        hash_ = tree_hash(_still_a_directory(work))
        publish(work, hash_, root)
    return hash_


def _still_a_directory(path: str) -> str:
    if os.path.islink(path) or not os.path.isdir(path):
        raise NotADirectoryError(f"create_artifact: fn left no directory at {path}")
    return path


@contextlib.contextmanager
def with_artifacts_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Keep artifacts in ``<path>/<hash>`` for the ``with`` block; no other store is searched.

    A context variable: it holds for this thread or task and what it starts.
    """
    with _depot.overriding(_directory, path) as directory:
        yield directory


def installed_hashes(root: str) -> list[str]:
    """Return the hashes of the artifacts in the store ``root``, sorted."""
    found = []
    for name in _fs.listdir(root):
        if (
            _names.is_hex(name, 40)
            and name == name.lower()
            and os.path.isdir(os.path.join(root, name))
        ):
            found.append(name)
    return sorted(found)
