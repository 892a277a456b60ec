"""Get, locate, delete and clear scratch spaces."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from . import _accesslog, _autogc, _depot, _identity
from ._depot import CACHE_NAMESPACE, SPACES_DIR, TRASH_DIR
from ._names import check_key, check_namespace
from .errors import DepotError, InvalidName

TYPE_CHECKING = False  # not typing's: importing typing costs more than this module
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ._identity import PkgSpec

# The root that replaces <user depot>/scratchspaces inside with_scratch_directory().
# A ContextVar, so an override in one thread or asyncio task never leaks into another.
_override: ContextVar[str | None] = ContextVar("scratchspaces_directory", default=None)


def spaces_root() -> tuple[str, str | None]:
    """Return the directory holding the namespaces, and the depot when not overridden."""
    override = _override.get()
    if override is not None:
        return override, None
    depot = _depot.user_depot_string()
    return os.path.join(depot, SPACES_DIR), depot


def _checked_root() -> tuple[str, str | None]:
    """Like :func:`spaces_root`, with a clear error if the user depot is a file (for deletes)."""
    root, depot = spaces_root()
    _depot.check_depot(depot if depot is not None else root)
    return root, depot


def _trash_root(root: str, depot: str | None) -> str:
    return os.path.join(depot if depot is not None else root, TRASH_DIR)


def get_scratch(
    key: str,
    pkg: PkgSpec = None,
    *,
    calling_pkg: PkgSpec = None,
    move_from: str | os.PathLike[str] | None = None,
) -> Path:
    """Return the path of scratch space ``key`` in ``pkg``'s namespace, creating it.

    Args:
        key: the space's name, 1 to 255 characters of ``A-Z a-z 0-9 . _ -``.
        pkg: whose namespace: ``None`` for the distribution that owns the calling
            module (else the project of the nearest ``pyproject.toml``, else global), a
            module, a distribution name, or :data:`GLOBAL`.
        calling_pkg: whose lifecycle keeps the space alive (default: ``pkg``); a
            distribution that is not installed here falls back to the caller's own.
        move_from: a folder the package used before (``~/.cache/<pkg>``): if it exists,
            what it holds is moved into the space before the space is returned, and the
            folder is gone. A rename on the same filesystem; across filesystems a synced
            copy, then the folder's removal; a call killed midway is finished by the
            next. Nothing is moved, with a warning, if the space already holds data,
            if the folder is a link, or on any error (full disk, permission): the
            folder is left as it is, and the space is still returned. Once moved, it
            costs two ``access`` calls (a few µs) a call.

    The access is recorded in the user depot's access log (at most once a day per space
    and parent) unless ``SCRATCHSPACES_TRACK_ACCESS=0``; recording never fails the call.

    Raises:
        InvalidKey: ``key`` breaks the rule above (nothing touches the disk).
        InvalidName: ``pkg`` or ``calling_pkg`` is not a valid distribution name, or
            its namespace is longer than a folder's name may be (255 bytes).
        DepotError: the space cannot be created: a file on the way, a full or
            read-only disk, a permission refused (``errno`` says which).

    Example::

        cache = scratchspaces.get_scratch("downloads")
        data = scratchspaces.get_scratch("data", move_from=platformdirs.user_cache_dir("mypkg"))
    """
    check_key(key)
    namespace, parent = _identity.resolve(pkg, calling_pkg, sys._getframe(1).f_globals)
    space = get_space(key, check_namespace(namespace), parent)
    if move_from is not None:
        _move_in(move_from, space)
    return space


def _move_in(old: str | os.PathLike[str], space: Path) -> None:
    """Move the folder ``old`` into ``space`` if a move is due or unfinished; never raise."""
    from . import _movein  # noqa: PLC0415 - only for packages that move an old folder in

    found = _movein.pending(old)
    if found is not None:
        _movein.move_in(found, os.fspath(space), *spaces_root())


def get_space(key: str, namespace: str, parent: str) -> Path:
    """Create and record space ``key`` of an already resolved namespace and parent."""
    root = _override.get()
    if root is None:
        if not _autogc.checked:
            _autogc.check()
        depot = _depot.user_depot_string()
        if _depot.tracking_enabled():
            return _accesslog.ensure_space(depot, namespace, key, parent)
        root = os.path.join(depot, SPACES_DIR)
    from . import _fs  # noqa: PLC0415 - not on the warm path, which records

    space = os.path.join(root, namespace, key)
    _fs.make_dirs(space)
    return Path(space)


def scratch_path(key: str, pkg: PkgSpec = None) -> Path:
    """Return the path :func:`get_scratch` would return, without creating or logging it.

    Raises:
        InvalidKey: ``key`` is not a valid space key.
        InvalidName: ``pkg`` is not a valid distribution name, or too long a folder name.
    """
    check_key(key)
    namespace = check_namespace(_identity.namespace_of(pkg, sys._getframe(1).f_globals))
    return Path(spaces_root()[0], namespace, key)


def delete_scratch(key: str, pkg: PkgSpec = None) -> None:
    """Remove space ``key`` of ``pkg`` and everything in it, read-only files included.

    Symlinks inside the space are removed as links; their targets are never touched,
    nor is a space reached through a link in place of a folder of the depot. No error if
    the space does not exist. Once it is gone from its name, what could not be removed
    yet (an NFS ``.nfs*`` file) is left in the depot's trash for gc, with a warning.

    Raises:
        InvalidKey: ``key`` is not a valid space key (nothing is deleted).
        InvalidName: ``pkg`` is not a valid distribution name, or too long a folder name.
        DepotError: the space is still there (a read-only disk, a permission refused, a
            link on the way); ``errno`` says why.
    """
    check_key(key)
    namespace = _ordinary(_identity.namespace_of(pkg, sys._getframe(1).f_globals))
    root, depot = _checked_root()
    _remove(os.path.join(root, namespace, key), _trash_root(root, depot))


def _ordinary(namespace: str) -> str:
    """Return ``namespace`` checked, unless it is the library's own (which gc manages)."""
    if namespace == CACHE_NAMESPACE:
        raise InvalidName(
            namespace,
            "it holds the library's own spaces (the content cache and its binding files), "
            "which gc and `scratchspaces cache` manage: they are not deleted as spaces",
        )
    return check_namespace(namespace)


def clear_scratchspaces(pkg: PkgSpec = None) -> None:
    """Remove every space of the user depot, or only those of ``pkg``'s namespace.

    Unlike :func:`get_scratch`, ``pkg=None`` means *every* namespace here, but the
    library's own (the content cache and its binding files, which gc manages).

    Raises:
        InvalidName: ``pkg`` is not a valid distribution name, or too long a folder name.
        DepotError: a namespace is still there (see :func:`delete_scratch`); every other
            one was removed first.
    """
    namespace = None
    if pkg is not None:
        namespace = _ordinary(_identity.namespace_of(pkg, sys._getframe(1).f_globals))
    root, depot = _checked_root()
    trash = _trash_root(root, depot)
    if namespace is not None:
        names = [os.path.join(root, namespace)]
    else:
        try:
            with os.scandir(root) as entries:
                names = [e.path for e in entries if e.name not in {TRASH_DIR, CACHE_NAMESPACE}]
        except FileNotFoundError:
            return
        except OSError as exc:
            raise DepotError.of(root, "cannot list the namespaces", exc) from exc
    errors: list[DepotError] = []
    from . import _fs, _progress  # noqa: PLC0415 - deleting is not on the import-time path

    total = sum(len(_fs.listdir(n)) for n in names) if _progress.watched() else None
    with _progress.task("Deleting spaces", total) as advance:
        for name in sorted(names):
            try:
                _remove(name, trash, advance)
            except DepotError as exc:
                errors.append(exc)
    if errors:
        first = errors[0]
        if len(errors) == 1:
            raise first
        raise DepotError(
            root, f"{len(errors)} namespaces are still there; first: {first}", first.errno
        ) from first


def _remove(path: str, trash: str, each: Callable[[int], None] | None = None) -> None:
    """Remove ``path`` by way of ``trash``; raise if it is still there.

    What could not be removed once it left its name stays in the trash, with a warning.
    """
    from . import _remove  # noqa: PLC0415 - deleting is not on the import-time path
    from ._warn import count  # noqa: PLC0415 - failures only

    failed = _remove.remove_tree(path, trash, each)
    if not failed:
        return
    entries = count(len(failed), "entry", "entries")
    if os.path.lexists(path):
        first = failed[0]
        code = first.errno if isinstance(first, _remove.Failure) else None
        cause = first.error if isinstance(first, _remove.Failure) else None
        raise DepotError(
            path, f"it is still there: {entries} could not be removed (first: {first})", code
        ) from cause
    from ._warn import warn_once  # noqa: PLC0415 - failures only

    warn_once(
        "remove",
        f"{path} is deleted, but {entries} of it could not be removed (first: "
        f"{failed[0]}); they are left in {trash} for gc to retry",
    )


def scratch_dir(*parts: str) -> Path:
    """Return ``<user depot>/scratchspaces/*parts``, or under :func:`with_scratch_directory`."""
    return Path(spaces_root()[0], *parts)


@contextmanager
def with_scratch_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Keep spaces at ``<path>/<namespace>/<key>`` inside the ``with`` block.

    No other directory is searched or changed, and nothing is recorded in the access
    log. The override belongs to the current thread or asyncio task only.

    Example::

        with scratchspaces.with_scratch_directory(tmp_path):
            assert scratchspaces.get_scratch("k").parent.parent == tmp_path
    """
    with _depot.overriding(_override, path) as root:
        yield root
