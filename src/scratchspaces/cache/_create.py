"""Creating content-cache entries: hash, prepare, then publish under the store's lock.

``fn`` fills a working directory inside a dated temporary of the store (so renames
publish from it). What it made is taken over (folders made writable, files with other
hard links copied), hashed, made read-only and, for a directory, mirrored as a tree of
relative links to its file entries; then, under the store's lock, the file entries and
the tree are renamed into place. Recycling takes that lock too, so it never sees half
an entry, and never deletes a file entry that a directory being published has just
reused. Creating content that exists costs a hash and changes nothing. Concurrent
creators of one entry are serialized by the entry's own lock, so only one builds it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _collect, _fs, _locks, _treehash
from ..errors import UnsupportedFile
from . import _bindings, _store

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._treehash import Listing

_SEP = os.sep.encode()


def refresh(store: str, id_: str) -> None:
    """Take ``id_`` out of the orphanage: created again, it starts a new grace period.

    Hold the store's lock. Rewrites the orphanage only if ``id_`` is in it.
    """
    path = _store.orphanage_path(store)
    orphans = _collect.read_orphanage(path)
    if orphans.pop(id_, None) is not None:
        _collect.write_orphanage(path, orphans)


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
        import shutil  # noqa: PLC0415 - only for a hard-linked file
        import tempfile  # noqa: PLC0415 - only for a hard-linked file

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
    target = _store.entry_path(store, id_)
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
            target = _store.entry_path(store, self.id)
            if not os.path.lexists(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.rename(self.tree, target)  # (moving a directory needs it writable)
                os.chmod(target, _store.READ_ONLY_DIR)


def prepare_file(path: str) -> Prepared:
    """Hash the regular file ``path`` and make it ready to publish."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise UnsupportedFile(path)
    executable = os.name != "nt" and bool(st.st_mode & stat.S_IXUSR)
    id_ = _store.file_id(_treehash.blob_hash_of_file(path, "sha256"), executable=executable)
    _prepare_file(path, executable=executable)
    return Prepared(id_, [(path, id_)], None)


def hash_directory(path: str, during: Callable[[Listing], None] | None = None) -> Listing:
    """Return the tree hash of ``path`` and what it holds (one walk, one hash per file)."""
    return _treehash.tree_listing(path, "sha256", during=during)


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
            id_ = _store.file_id(digest, executable=executable)
            os.symlink(_store.link_target(id_, rel.count(_SEP)), os.path.join(self._out, rel))
            source = os.fsdecode(os.path.join(self._top, rel))
            _prepare_file(source, executable=executable)
            self._files.append((source, id_))

    def finish(self, listing: Listing) -> Prepared:
        """Make the rest, make the folders read-only; return the entry ready to publish."""
        self.add(listing)
        for rel in listing.dirs:  # after the links are made in them
            os.chmod(os.path.join(self._out, rel), _store.READ_ONLY_DIR)
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


def _result_path(work: str, result: str | os.PathLike[str] | None) -> str:
    if os.path.islink(work) or not os.path.isdir(work):
        # What it leads to is not ours: its files would be moved into the store.
        raise ValueError(
            f"create_my_artifact: fn replaced its working directory {work} with something "
            "other than a directory; write into it (or remove it and make it again)"
        )
    if result is None:
        path = given = work
    else:
        if not isinstance(result, str | bytes | os.PathLike):
            raise TypeError(
                "create_my_artifact: fn must return a path inside its working directory "
                f"or None, not {type(result).__name__}"
            )
        given = os.fspath(result)
        if not isinstance(given, str):
            given = os.fsdecode(given)
        path = given if os.path.isabs(given) else os.path.join(work, given)
    if not _fs.within(path, work):
        raise ValueError(
            f"create_my_artifact: fn returned {given!r}, which is outside its working "
            f"directory {work}"
        )
    real = os.path.realpath(path)
    if not os.path.lexists(real):
        raise FileNotFoundError(f"create_my_artifact: fn returned {given!r}, which does not exist")
    return real


def create(
    store: str,
    fn: Callable[[Path], str | os.PathLike[str] | None],
    binding: tuple[str, str, _bindings.Replace] | None,
) -> str:
    with _locks.temporary(store, "create") as tmp:
        work = os.path.join(tmp, "work")
        os.mkdir(work)
        source = _result_path(work, fn(Path(work)))
        take_over(work, source)
        if os.path.isdir(source):
            links = LinkTree(source, os.path.join(tmp, "shadow"))
            listing = hash_directory(source, during=links.add)
            id_ = listing.tree
            files = [_store.file_id(d, executable=x) for _rel, d, x in listing.files]

            def prepare() -> Prepared:
                return links.finish(listing)
        else:
            prepared_file = prepare_file(source)
            id_ = prepared_file.id
            files = []

            def prepare() -> Prepared:
                return prepared_file

        def whole(root: str) -> bool:
            return all(os.path.lexists(_store.entry_path(root, i)) for i in [id_, *files])

        # A later depot (read-only to us) holding it whole is as good: nothing to store.
        elsewhere = next((s for s in _store.stores()[1:] if whole(s)), None)
        # One creator per entry: the others wait, then find it whole and change nothing.
        with _store.named_lock(store, id_):
            prepared = None if elsewhere or whole(store) else prepare()

            def publish() -> None:
                """Publish, or find it whole; hold the store's lock (recycling takes it)."""
                nonlocal prepared
                if elsewhere is not None and whole(elsewhere):
                    return
                if os.path.lexists(_store.entry_path(store, id_)):
                    refresh(store, id_)  # maybe an old orphan: a new grace period
                if prepared is None and not whole(store):
                    prepared = prepare()  # recycled since the first look
                if prepared is not None:
                    prepared.publish(store)
                _fs.note_use(_store.entry_path(store, id_))  # created (again): used now

            if binding is None:
                with _store.store_lock(store):
                    publish()
            else:
                toml, name, replace = binding
                with _bindings.binding_lock(toml):
                    _bindings.bind_locked(store, toml, name, id_, replace=replace, publish=publish)
    return id_
