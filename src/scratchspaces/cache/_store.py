"""The content cache's store: ``<store>/artifacts/<first two hex>/<id>``.

The store is the space ``_cache`` of the library's own namespace. An entry's id is its
name in the store:

- a file entry: the sha256 git blob hash of its content (``git hash-object`` in a sha256
  repository), a read-only file; an executable file's content is its own entry, the
  same hash followed by ``.x``, so that executables stay executable through links;
- a directory entry: the sha256 git tree hash of the directory it was made from, a tree
  of *relative* symlinks (``../../<ab>/<id>``) to the file entries holding its files, so
  a file shared by many directories is stored once and a moved depot still resolves.

Publishing is a rename, under the store's lock (the lock the usage records and recycling
take), so recycling never sees half an entry, never deletes a file entry a directory
being published has just reused, and creating content that exists costs a hash and
changes nothing. Hashing, copying and building the tree of links happen before, without
the store's lock; concurrent creators of one entry are serialized by its own lock, so
only one of them builds it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from typing import TYPE_CHECKING

from .. import _depot, _fs, _spaces, _usage
from ..errors import DepotError, InvalidHash, UnsupportedFile

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from filelock import BaseFileLock

    from ..artifacts._treehash import Listing

ENTRIES_DIR = "artifacts"
LOCKS_DIR = "locks"
EXEC_SUFFIX = ".x"
STORE_LOCK = "usage.lock"
ORPHANAGE_NAME = "orphaned.toml"  # id -> when recycling first saw it unbound
TMP_LOCK = ".lock"  # inside a temporary: held while it is in use
READ_ONLY_DIR = 0o555  # a directory entry's folders; recycling makes the top writable
STAMP_NAME = "recycled"  # its mtime: when the store was last recycled
WEEK = 7 * 24 * 60 * 60
LOCK_TIMEOUT = 300.0
_HEX = frozenset("0123456789abcdef")
_ID_FORM = "64 hexadecimal digits, optionally followed by .x (an executable file)"

_SEP = os.sep.encode()
_auto_checked: set[str] = set()


def check_id(value: object) -> str:
    """Return ``value`` lower-cased if it is an entry id, else raise :class:`InvalidHash`."""
    if isinstance(value, str) and is_id(lowered := value.lower()):
        return lowered
    raise InvalidHash(value, _ID_FORM)


def is_id(name: str) -> bool:
    """Return whether ``name`` is an entry id exactly as the store names entries."""
    digits = name.removesuffix(EXEC_SUFFIX)
    return len(digits) == 64 and _HEX.issuperset(digits)


def file_id(digest: bytes, *, executable: bool) -> str:
    """Return the id of a file entry from its raw blob hash."""
    return digest.hex() + (EXEC_SUFFIX if executable else "")


def store_of_depot(depot: str) -> str:
    """Return the store of the depot ``depot`` (whether or not it exists)."""
    return os.path.join(depot, _depot.SPACES_DIR, _depot.CACHE_NAMESPACE, _depot.CACHE_KEY)


def current_store() -> str:
    """Return the store in use: the user depot's, or under ``with_scratch_directory``."""
    root, _ = _spaces._root()
    return os.path.join(root, _depot.CACHE_NAMESPACE, _depot.CACHE_KEY)


def stores() -> list[str]:
    """Return every store searched, the writable one first (later depots are read-only)."""
    _root, depot = _spaces._root()
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


def read_orphans(store: str) -> dict[str, datetime]:
    """Return id -> when recycling first saw the entry unbound."""
    from .. import _records  # noqa: PLC0415

    return _records.read_orphanage_file(os.path.join(store, ORPHANAGE_NAME))


def write_orphans(store: str, orphans: dict[str, datetime]) -> None:
    """Rewrite the orphanage atomically (hold the store's lock)."""
    from .. import _records  # noqa: PLC0415

    _records.write_orphanage_file(os.path.join(store, ORPHANAGE_NAME), orphans)


def refresh(store: str, id_: str) -> None:
    """Take ``id_`` out of the orphanage: created again, it starts a new grace period.

    Hold the store's lock. Rewrites the orphanage only if ``id_`` is in it.
    """
    orphans = read_orphans(store)
    if orphans.pop(id_, None) is not None:
        write_orphans(store, orphans)


def entry_path(store: str, id_: str) -> str:
    """Return where entry ``id_`` is (or would be) in ``store``."""
    return os.path.join(store, ENTRIES_DIR, id_[:2], id_)


def link_target(id_: str, depth: int) -> str:
    """Return the relative link, from a directory ``depth`` levels inside an entry, to ``id_``."""
    return "../" * (depth + 2) + f"{id_[:2]}/{id_}"


def ensure_store(store: str) -> None:
    """Create the store's directories, with a clear error if a file is in the way."""
    _usage.make_space(os.path.join(store, ENTRIES_DIR))
    _usage.make_space(os.path.join(store, LOCKS_DIR))


def store_lock(store: str, timeout: float = LOCK_TIMEOUT) -> BaseFileLock:
    """Return the lock of the usage records, publishing into the store, and recycling."""
    from filelock import FileLock  # noqa: PLC0415

    return FileLock(os.path.join(store, STORE_LOCK), timeout=timeout)


def named_lock(store: str, name: str, timeout: float = -1) -> BaseFileLock:
    """Return the lock ``locks/<name>.lock``: one entry being created, one URL downloaded."""
    from filelock import FileLock  # noqa: PLC0415

    return FileLock(os.path.join(store, LOCKS_DIR, f"{name}.lock"), timeout=timeout)


@contextlib.contextmanager
def temporary(store: str, kind: str) -> Iterator[str]:
    """Yield a fresh directory in ``store`` (so renames publish from it); remove it after.

    Its lock, ``<tmp>/.lock``, is held all along: recycling removes a temporary only
    when it can take that lock (its creator is gone), however long ``fn`` runs.
    """
    from filelock import FileLock  # noqa: PLC0415

    from ..artifacts import _store  # noqa: PLC0415 - the same naming, so it is dated

    tmp = _store.new_temporary(store, kind)
    try:
        with FileLock(os.path.join(tmp, TMP_LOCK)):
            yield tmp
    finally:
        _fs.remove_in_place(tmp)


def auto_recycle(store: str) -> None:
    """On the first use of ``store`` in this process, recycle it if a week has passed.

    Costs one ``stat`` when nothing is due. Never raises and never waits: a busy store
    (another process binding or recycling) is left for the next use. A failure costs
    one warning.
    """
    if store in _auto_checked:
        return
    _auto_checked.add(store)
    try:
        last = os.stat(os.path.join(store, STAMP_NAME)).st_mtime
    except FileNotFoundError:
        last = None
    except OSError:
        return
    if last is not None and time.time() - last < WEEK:
        return
    if not os.path.isdir(os.path.join(store, ENTRIES_DIR)):
        return  # nothing stored yet: nothing to recycle
    from datetime import timedelta  # noqa: PLC0415

    from filelock import Timeout  # noqa: PLC0415

    from . import _recycle  # noqa: PLC0415 - dataclasses and the records' reader: only when due

    try:
        _recycle.recycle(store, collect_delay=timedelta(seconds=WEEK), lock_timeout=0)
    except Timeout:
        _auto_checked.discard(store)  # busy: the next use in this process tries again
    except Exception as exc:  # noqa: BLE001 - the weekly run must never fail the caller
        from .._warn import warn_once  # noqa: PLC0415

        warn_once(
            "cache-auto-recycle",
            f"the weekly recycling of the content cache at {store} failed "
            f"({type(exc).__name__}: {exc}); run `scratchspaces cache recycle`",
        )


def forget() -> None:
    """Forget which stores this process has checked (tests)."""
    _auto_checked.clear()


# --- reading the store ---------------------------------------------------------------------


def entries_on_disk(store: str) -> dict[str, str]:
    """Return id -> path of every entry in ``store``."""
    root = os.path.join(store, ENTRIES_DIR)
    found: dict[str, str] = {}
    for prefix in _fs.listdir(root):
        folder = os.path.join(root, prefix)
        for name in _fs.listdir(folder):
            if is_id(name) and name.startswith(prefix) and len(prefix) == 2:
                found[name] = os.path.join(folder, name)
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
    return "executable" if path.endswith(EXEC_SUFFIX) else "file"


# --- creating --------------------------------------------------------------------------------


def _read_only_mode(mode: int, *, executable: bool) -> int:
    readable = (mode & 0o444) | 0o400
    return readable | (readable >> 2) if executable else readable


def take_over(work: str, source: str) -> None:
    """Make ``source``, what ``fn`` left in ``work``, ours to hash and to move.

    Folders get owner rwx: files are renamed out of them, and a copy of read-only
    folders must allow it. A regular file with other hard links (``os.link`` from
    outside) is replaced by a private copy: an entry must not share its inode with a
    file anyone can still write, and copying before the hash means a write through the
    other link can no longer make the stored bytes differ from their name.
    """
    _fs.make_dirs_writable(work)
    if not os.path.isdir(source):
        _unshare(source)
        return
    for root, _dirs, names in os.walk(source):
        for name in names:
            _unshare(os.path.join(root, name))


def _unshare(path: str) -> None:
    st = os.lstat(path)
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        import shutil  # noqa: PLC0415
        import tempfile  # noqa: PLC0415

        # A fresh name beside it: never one of fn's own files.
        fd, copy = tempfile.mkstemp(prefix=".unshare-", dir=os.path.dirname(path))
        os.close(fd)
        try:
            shutil.copy2(path, copy)  # its mode too: an executable stays one
            os.replace(copy, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(copy)
            raise


def _prepare_file(path: str, *, executable: bool) -> None:
    """Make ``path`` (taken over, then hashed) read-only, ready to be renamed into the store."""
    os.chmod(path, _read_only_mode(os.lstat(path).st_mode, executable=executable))


def _publish_file(store: str, source: str, id_: str) -> None:
    """Rename the prepared ``source`` to entry ``id_`` unless the entry exists (hold the lock)."""
    target = entry_path(store, id_)
    if os.path.lexists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.rename(source, target)


class Prepared:
    """An entry made in a temporary directory, ready to publish under the store's lock."""

    def __init__(self, id_: str, files: list[tuple[str, str]], tree: str | None) -> None:
        self.id = id_
        self.files = files  # (source path, file entry id)
        self.tree = tree  # the tree of links of a directory entry, or None for a file

    def publish(self, store: str) -> None:
        """Publish into ``store``; hold the store's lock. Missing file entries are repaired."""
        for source, id_ in self.files:
            _publish_file(store, source, id_)
        if self.tree is not None:
            target = entry_path(store, self.id)
            if not os.path.lexists(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.rename(self.tree, target)  # (moving a directory needs it writable)
                os.chmod(target, READ_ONLY_DIR)


def prepare_file(path: str) -> Prepared:
    """Hash the regular file ``path`` and make it ready to publish."""
    from ..artifacts._treehash import blob_hash_of_file  # noqa: PLC0415

    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise UnsupportedFile(path)
    executable = os.name != "nt" and bool(st.st_mode & stat.S_IXUSR)
    id_ = file_id(blob_hash_of_file(path, "sha256"), executable=executable)
    _prepare_file(path, executable=executable)
    return Prepared(id_, [(path, id_)], None)


def hash_directory(path: str, during: Callable[[Listing], None] | None = None) -> Listing:
    """Return the tree hash of ``path`` and what it holds (one walk, one hash per file)."""
    from ..artifacts._treehash import tree_listing  # noqa: PLC0415

    return tree_listing(path, "sha256", during=during)


class LinkTree:
    """The tree of links of a directory entry, built in ``shadow`` as hashes become known.

    Given to :func:`hash_directory` as ``during``, it makes the folders and the links of
    the small files while the large ones are still being hashed: the links cost a
    metadata write each, which overlaps the hashing instead of following it.
    """

    def __init__(self, source: str, shadow: str) -> None:
        self._top = os.fsencode(source)
        self._out = os.fsencode(shadow)
        self._shadow = shadow
        self._started = False
        self._linked: set[bytes] = set()
        self._files: list[tuple[str, str]] = []

    def add(self, listing: Listing) -> None:
        """Make what ``listing`` holds and is not made yet."""
        if not self._started:
            self._started = True
            os.mkdir(self._out)
            for rel in listing.dirs:
                os.mkdir(os.path.join(self._out, rel))
            for rel, target in listing.links:
                _check_inner_link(os.fsdecode(self._top), rel, target)
                os.symlink(target, os.path.join(self._out, rel))
        for rel, digest, executable in listing.files:
            if rel in self._linked:
                continue
            self._linked.add(rel)
            id_ = file_id(digest, executable=executable)
            os.symlink(link_target(id_, rel.count(_SEP)), os.path.join(self._out, rel))
            source = os.fsdecode(os.path.join(self._top, rel))
            _prepare_file(source, executable=executable)
            self._files.append((source, id_))

    def finish(self, listing: Listing) -> Prepared:
        """Make the rest, make the folders read-only; return the entry ready to publish."""
        self.add(listing)
        for rel in listing.dirs:  # after the links are made in them
            os.chmod(os.path.join(self._out, rel), READ_ONLY_DIR)
        return Prepared(listing.tree, self._files, self._shadow)


def _check_inner_link(top: str, rel: bytes, target: bytes) -> None:
    """Refuse a symlink that leaves the directory: an entry must be whole by itself.

    It must be relative (an absolute one breaks when the depot moves), never climb
    above the top as written (``../top/x`` resolves inside today, but the top is
    renamed to its id in the store), and lead inside through any other links.
    """
    path = os.path.join(top, os.fsdecode(rel))
    text = os.fsdecode(target)
    as_written = (os.fsdecode(rel).replace(os.sep, "/"), text.replace(os.sep, "/"))
    if not text or os.path.isabs(text) or _fs.climbs_out(*as_written) or not _fs.within(path, top):
        raise UnsupportedFile(path, "a symlink out of the directory")


def check_store(store: str) -> None:
    """Raise a clear error if the store's path is unusable (a file in the way)."""
    if os.path.lexists(store) and not os.path.isdir(store):
        raise DepotError(store, "the content cache's store is not a directory")
