"""The content cache's store: ``<store>/artifacts/<first two hex>/<id>``.

The store is the space ``_cache`` of the library's own namespace. An entry's id is its
name in the store:

- a file entry: the sha256 git blob hash of its content (``git hash-object`` in a sha256
  repository), a read-only file; an executable file's content is its own entry, the
  same hash followed by ``.x``, so that executables stay executable through links;
- a directory entry: the sha256 git tree hash of the directory it was made from, a tree
  of *relative* symlinks (``../../<ab>/<id>``) to the file entries holding its files, so
  a file shared by many directories is stored once and a moved depot still resolves.

Entries are made by :mod:`._create` and published by a rename under the store's lock,
the lock the usage records and recycling take.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from typing import TYPE_CHECKING

from .. import _depot, _fs, _locks, _names, _remove, _spaces
from ..errors import DepotError

if TYPE_CHECKING:
    from filelock import BaseFileLock

BINDINGS_NAME = "Artifacts.toml"  # a package's binding file, in its space beside the store
ENTRIES_DIR = "artifacts"
LOCKS_DIR = "locks"
STORE_LOCK = "usage.lock"
ORPHANAGE_NAME = "orphaned.toml"  # id -> when recycling first saw it unbound
READ_ONLY_DIR = 0o555  # a directory entry's folders; recycling makes the top writable
LOCK_TIMEOUT = 300.0


def file_id(digest: bytes, *, executable: bool) -> str:
    """Return the id of a file entry from its raw blob hash."""
    return digest.hex() + (_names.EXEC_SUFFIX if executable else "")


def store_of_depot(depot: str) -> str:
    """Return the store of the depot ``depot`` (whether or not it exists)."""
    return os.path.join(depot, _depot.SPACES_DIR, _depot.CACHE_NAMESPACE, _depot.CACHE_KEY)


def current_store() -> str:
    """Return the store in use: the user depot's, or under ``with_scratch_directory``."""
    root, _ = _spaces.spaces_root()
    return os.path.join(root, _depot.CACHE_NAMESPACE, _depot.CACHE_KEY)


def stores() -> list[str]:
    """Return every store searched, the writable one first (later depots are read-only)."""
    _root, depot = _spaces.spaces_root()
    if depot is None:  # with_scratch_directory: only the override
        return [current_store()]
    return [store_of_depot(d) for d in _depot.depot_strings()]


def find(id_: str) -> str | None:
    """Return the path of entry ``id_`` in the first store holding it, or None."""
    for store in stores():
        path = entry_path(store, id_)
        if os.path.lexists(path):
            return path
    return None


def orphanage_path(store: str) -> str:
    """Return ``<store>/orphaned.toml``: id -> when recycling first saw the entry unbound."""
    return os.path.join(store, ORPHANAGE_NAME)


def entry_path(store: str, id_: str) -> str:
    """Return where entry ``id_`` is (or would be) in ``store``."""
    return os.path.join(store, ENTRIES_DIR, id_[:2], id_)


def link_target(id_: str, depth: int) -> str:
    """Return the relative link, from a directory ``depth`` levels inside an entry, to ``id_``."""
    return "../" * (depth + 2) + f"{id_[:2]}/{id_}"


def ensure_store(store: str) -> None:
    """Create the store's directories, with a clear error if a file is in the way.

    A link in place of ``locks`` is replaced by a real folder (see ``_remove.own_folder``):
    lock files are swept, and never through a link.

    Raises:
        DepotError: a file in the way, or a full or read-only disk.
    """
    _fs.make_dirs(os.path.join(store, ENTRIES_DIR))
    locks = os.path.join(store, LOCKS_DIR)
    if os.path.islink(locks):
        _remove.own_folder(locks)
    _fs.make_dirs(locks)


def store_lock(store: str, timeout: float = LOCK_TIMEOUT) -> BaseFileLock:
    """Return the lock of the usage records, publishing into the store, and recycling."""
    return _locks.lock(os.path.join(store, STORE_LOCK), timeout)


def named_lock(store: str, name: str, timeout: float = -1) -> BaseFileLock:
    """Return the lock ``locks/<name>.lock``: one entry being created, one URL downloaded."""
    return _locks.lock(os.path.join(store, LOCKS_DIR, f"{name}.lock"), timeout)


# --- reading the store ---------------------------------------------------------------------


def is_id(name: str) -> bool:
    """Whether ``name`` is an entry's id, as :func:`.._names.is_id` says, in one step."""
    return _ID.fullmatch(name) is not None


_ID = re.compile(r"[0-9a-f]{64}(?:\.x)?")


def entries_on_disk(store: str, dirs: set[str] | None = None) -> dict[str, str]:
    """Return id -> path of every entry in ``store``.

    ``dirs``: filled with the ids of the directory entries (real folders, not links),
    from the listing where it says.
    """
    root = os.path.join(store, ENTRIES_DIR)
    found: dict[str, str] = {}
    is_entry = _ID.fullmatch  # is_id, without a call each: a store holds many entries
    for prefix in _fs.listdir(root):
        folder = os.path.join(root, prefix)
        if len(prefix) != 2 or os.path.islink(folder):
            continue  # not the store's: entries live in real folders only
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    name = entry.name
                    if name[:2] == prefix and is_entry(name):
                        found[name] = entry.path
                        if dirs is not None and entry.is_dir(follow_symlinks=False):
                            dirs.add(name)
        except OSError:
            continue
    return found


def reached(path: str) -> set[str]:
    """Return the ids of the file entries the directory entry at ``path`` links to.

    Only links of the store's own form count (``../../<ab>/<id>`` at the right depth);
    links a user kept inside the directory are not entries.
    """
    found: set[str] = set()
    stack = [(path, 0)]
    while stack:
        current, depth = stack.pop()
        try:
            with os.scandir(current) as it:
                for entry in it:
                    if entry.is_symlink():
                        id_ = _linked_id(os.readlink(entry.path), depth)
                        if id_ is not None:
                            found.add(id_)
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, depth + 1))
        except OSError:
            continue
    return found


def _linked_id(target: str, depth: int) -> str | None:
    up = "../" * (depth + 2)
    if not target.startswith(up):
        return None
    rest = target[len(up) :]
    prefix, _, name = rest.partition("/")
    return name if is_id(name) and prefix == name[:2] else None


def entry_size(path: str) -> int:
    """Return the bytes of a file entry, or of the distinct file entries a directory reaches."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    store = os.path.dirname(os.path.dirname(os.path.dirname(path)))
    total = 0
    for id_ in reached(path):
        with contextlib.suppress(OSError):
            total += os.lstat(entry_path(store, id_)).st_size
    return total


def kind_of(path: str) -> str:
    """Return ``"directory"``, ``"executable"`` or ``"file"`` for an entry's path."""
    if os.path.isdir(path) and not os.path.islink(path):
        return "directory"
    return "executable" if path.endswith(_names.EXEC_SUFFIX) else "file"


def top_of(store: str) -> str:
    """Return the depot ``store`` is in, or the root of ``with_scratch_directory``."""
    for depot in _depot.depot_strings():
        if store == store_of_depot(depot):
            return depot
    return os.path.dirname(os.path.dirname(store))


def check_store(store: str) -> None:
    """Raise a clear error if the store's path is unusable for recycling.

    A file in its place; or a link in place of a folder from the depot down to the
    store's entries (``scratchspaces``, the library's namespace, the store, its
    ``artifacts``): recycling would delete what the link points to, so it refuses.

    Raises:
        DepotError: either of those (``errno`` ``ELOOP`` for a link).
    """
    if os.path.lexists(store) and not os.path.isdir(store):
        raise DepotError(store, "the content cache's store is not a directory")
    top = top_of(store)
    if _remove.linked_below(top, os.path.join(store, ENTRIES_DIR)):
        raise DepotError(
            store,
            f"a link (or a file) stands in place of a folder between {top} and the "
            "store's entries; the content cache is never recycled through a link",
            errno.ELOOP,
        )
