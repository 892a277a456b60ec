"""The content cache: run-time, content-addressed entries shared by every package.

For data a package decides at run time to keep (downloads, converted datasets). Each
entry is named by its content: a file by its sha256 git blob hash, a directory by its
sha256 git tree hash, stored as a tree of links to its files, so a file that many
directories hold is stored once. A package binds entries by name in its own binding
file; once nothing binds an entry, recycling frees it::

    from scratchspaces import cache

    toml = cache.my_artifacts_toml()
    h = cache.my_artifact_hash("iris", toml)
    if h is None or not cache.my_artifact_exists(h):
        h = cache.download_my_artifact("https://example.org/iris.csv", "iris", toml)
    data = cache.my_artifact_path(h).read_text()

The binding file lives in a space of the ``scratchspaces`` namespace keyed by the
package, kept alive by the package: when it is uninstalled and gc collects that space,
its bindings go, and the entries only they held become orphans. The names follow
Julia's OhMyArtifacts without the ``!``.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _autogc, _depot, _fs, _identity, _names, _spaces, _toml
from ..errors import DownloadError
from . import _bindings, _store

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._collect import GCReport
    from .._identity import PkgSpec


def _store_in_use() -> str:
    """Return the store in use; on the first use in this process, start gc if it is due."""
    if not _autogc.checked and _spaces.spaces_root()[1] is not None:
        _autogc.check()
    return _store.current_store()


def my_artifacts_toml(pkg: PkgSpec = None) -> Path:
    """Return the binding file of ``pkg`` (default: the calling package), creating its space.

    The file is ``Artifacts.toml`` in the space
    ``get_scratch(<pkg's namespace>, "scratchspaces", calling_pkg=<pkg>)``: the package's
    lifecycle keeps it, and gc collects it (and so its bindings) once the package is
    gone. The file itself is created by the first binding.
    """
    namespace, parent = _identity.resolve(pkg, None, sys._getframe(1).f_globals)
    _names.check_key(namespace)
    space = _spaces.get_space(namespace, _depot.CACHE_NAMESPACE, parent)
    _store_in_use()
    return space / _store.BINDINGS_NAME


def my_artifact_path(hash: str) -> Path:
    """Return where entry ``hash`` is: the first depot holding it, else the user depot.

    Creates nothing.

    Raises:
        InvalidHash: ``hash`` is not an entry's id.
    """
    id_ = _names.check_id(hash)
    found = _store.find(id_)
    if found is None:
        return Path(_store.entry_path(_store.current_store(), id_))
    if found == _store.entry_path(_store.current_store(), id_):
        _fs.note_use(found)  # its mtime is its last use, for the size cap
    return Path(found)


def my_artifact_exists(hash: str) -> bool:
    """Return whether some depot's cache holds entry ``hash``.

    Raises:
        InvalidHash: ``hash`` is not an entry's id.
    """
    _store_in_use()
    return _store.find(_names.check_id(hash)) is not None


def my_artifact_hash(name: str, artifacts_toml: str | os.PathLike[str]) -> str | None:
    """Return the id bound to ``name`` in ``artifacts_toml``, or None (no file, no name).

    Raises:
        InvalidArtifactsToml: the file is not valid TOML, or the binding is malformed.
    """
    _store_in_use()
    toml = os.path.abspath(os.fspath(artifacts_toml))
    return _bindings.bound_id(_toml.load_bindings(toml), name, toml)


def create_my_artifact(fn: Callable[[Path], str | os.PathLike[str] | None]) -> str:
    """Store what ``fn`` makes as an entry; return its id.

    ``fn(working_dir)`` fills the fresh, empty directory ``working_dir`` and returns the
    path of what to store inside it (a file or a directory, absolute or relative to
    it), or None for the whole directory. A file is stored as a file entry named by its
    sha256 git blob hash (``.x`` appended if it is executable); a directory as a
    directory entry named by its sha256 git tree hash, in which each file is a relative
    link to its file entry. Entries are read-only; content that exists already costs a
    hash and changes nothing (an old orphan starts a new grace period). ``fn`` runs with
    no shared lock held: only its own working directory's, which nobody waits for.

    Raises:
        ValueError: ``fn`` returned a path outside ``working_dir``.
        FileNotFoundError: ``fn`` returned a path that does not exist.
        UnsupportedFile: a FIFO, socket or device, or a symlink out of the directory.
        Exception: whatever ``fn`` raised; nothing is left behind.
    """
    from . import _create  # noqa: PLC0415 - hashing and locking only when creating

    store = _store_in_use()
    _store.ensure_store(store)
    return _create.create(store, fn, None)


def bind_my_artifact(
    artifacts_toml: str | os.PathLike[str], name: str, hash: str, *, force: bool = False
) -> None:
    """Bind ``name`` to entry ``hash`` in ``artifacts_toml`` (created if missing).

    The binding is ``[name]`` with ``sha256 = "<hash>"``. It is recorded in the usage
    records for the entry, and for every file entry a directory entry reaches, so
    recycling keeps them while the binding stands.

    Raises:
        BindingExists: ``name`` is bound and ``force`` is false.
        ArtifactNotFound: ``hash`` is not in the cache (recycled, or never created).
        InvalidHash: ``hash`` is not an entry's id.
        InvalidArtifactsToml: the file is malformed (it is not overwritten).
    """
    id_ = _names.check_id(hash)
    toml = _bindings.check_args(artifacts_toml, name)
    store = _store_in_use()
    _store.ensure_store(store)
    with _bindings.binding_lock(toml):
        _bindings.bind_locked(store, toml, name, id_, replace="always" if force else "never")


def unbind_my_artifact(artifacts_toml: str | os.PathLike[str], name: str) -> None:
    """Remove the binding of ``name``; no error if there is none.

    The entry stays until recycling finds nothing else binds it and its grace period
    has passed.
    """
    _store_in_use()
    toml = os.path.abspath(os.fspath(artifacts_toml))
    if not os.path.isfile(toml):
        return
    with _bindings.binding_lock(toml):
        data = _toml.load_bindings(toml)
        if name in data:
            del data[name]
            _bindings.write(toml, data)


def download_my_artifact(
    url: str,
    name: str,
    artifacts_toml: str | os.PathLike[str],
    *,
    force_bind: bool = False,
    downloader: Callable[[str, Path], object] | None = None,
) -> str:
    """Download ``url`` into the cache as a file entry, bind it as ``name``; return its id.

    A name already bound to an entry that exists is returned without downloading,
    unless ``force_bind``. Processes downloading the same URL take turns, so the second
    finds what the first bound under the same name. The built-in download reads
    ``file://``, ``http(s)://`` and, with fsspec installed, any fsspec URL, with a
    progress bar when stderr is a terminal; ``downloader(url, dest)`` replaces it and
    must write the file ``dest``. Creating and binding happen under one hold of the
    locks: a concurrent recycling never deletes the entry in between.

    Raises:
        DownloadError: the download failed; nothing is left behind.
        InvalidArtifactsToml: the binding file is malformed (it is not overwritten).
    """
    toml = _bindings.check_args(artifacts_toml, name)
    store = _store_in_use()
    _store.ensure_store(store)

    def bound() -> str | None:
        current = _bindings.bound_id(_toml.load_bindings(toml), name, toml)
        return current if current is not None and _store.find(current) is not None else None

    if not force_bind and (found := bound()) is not None:
        return found
    import hashlib  # noqa: PLC0415 - only when something is downloaded

    from . import _create  # noqa: PLC0415 - hashing and locking only when creating

    with _store.named_lock(store, "url-" + hashlib.sha256(url.encode()).hexdigest()[:32]):
        if not force_bind and (found := bound()) is not None:
            return found  # another process downloaded it meanwhile, under this name

        def fetch(work: Path) -> Path:
            dest = work / "download"
            if downloader is None:
                from .. import _transfer  # noqa: PLC0415 - the built-in download only when used

                _transfer.download(url, os.fspath(dest), label=name)
            else:
                try:
                    downloader(url, dest)
                except DownloadError:
                    raise
                except Exception as exc:  # the downloader's failure is the download's
                    raise DownloadError(
                        url, f"the downloader failed: {type(exc).__name__}: {exc}"
                    ) from exc
                if not os.path.lexists(dest):
                    raise DownloadError(url, f"the downloader wrote nothing at {dest}")
            return dest

        return _create.create(store, fetch, (toml, name, "always" if force_bind else "if-missing"))


def find_orphanages(*, collect_delay: timedelta = timedelta(days=7)) -> GCReport:
    """Recycle the cache: forget dead bindings, orphan what nothing binds, delete old orphans.

    Records whose binding file or binding is gone, or whose binding now points to
    another entry, are dropped; an entry with no record left becomes an orphan, and is
    deleted once it has been one for ``collect_delay`` (with a zero delay, in this
    call). A file entry a directory entry still links to is never deleted before it.
    Also runs as part of :func:`scratchspaces.gc`, and so of the automatic gc that
    the first use of the cache in a process starts when it is due.

    Returns:
        a :class:`~scratchspaces.GCReport` of the entries deleted (and bytes freed),
        orphaned and kept.
    """
    from . import _recycle  # noqa: PLC0415 - dataclasses and the readers only when recycling

    return _recycle.recycle(_store.current_store(), collect_delay=collect_delay)


__all__ = [
    "bind_my_artifact",
    "create_my_artifact",
    "download_my_artifact",
    "find_orphanages",
    "my_artifact_exists",
    "my_artifact_hash",
    "my_artifact_path",
    "my_artifacts_toml",
    "unbind_my_artifact",
]
