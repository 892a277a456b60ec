"""A depot's layout the way tests need it: its logs, orphanages, stores and trees.

Paths are spelled out here, independently of the library where a test checks where
things go (the content cache's store, its entries); the logs and orphanages are read
and written through the library's own format.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from scratchspaces import _accesslog, _collect, _depot, _records
from scratchspaces._treehash import blob_hash_of_file
from scratchspaces.cache import _store as _cache_store

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    import pytest

    from scratchspaces._records import Record

# --- the access log and the orphanages -------------------------------------------------------


def write_access_log(depot: Path, records: list[tuple[Path, datetime, list[str]]]) -> None:
    """Replace what was recorded with ``records``: the log, and no stamps (they are records too)."""
    data = b"".join(_accesslog.format_record(str(p), t.timestamp(), ps) for p, t, ps in records)
    (depot / "logs").mkdir(parents=True, exist_ok=True)
    (depot / "logs" / "scratch_usage.toml").write_bytes(data)
    shutil.rmtree(depot / "logs" / "scratch_usage.d", ignore_errors=True)


def access_log(depot: str | os.PathLike[str]) -> list[Record]:
    """Every readable record of the depot's access log (none if it is missing)."""
    return _records.read_records(_accesslog.log_path(os.fspath(depot)))


def access_log_file(depot: str | os.PathLike[str]) -> Path:
    """The depot's access log, ``<depot>/logs/scratch_usage.toml``."""
    return Path(_accesslog.log_path(os.fspath(depot)))


def parents_of(depot: str | os.PathLike[str], space: str | os.PathLike[str]) -> set[str]:
    """Every parent the access log records for ``space``."""
    key = os.fspath(space)
    return {p for r in access_log(depot) if r.key == key for p in r.parents}


def _orphanage(depot: str | os.PathLike[str], cache: bool) -> str:
    if cache:
        return _cache_store.orphanage_path(str(cache_store(depot)))
    return _depot.orphanage_path(os.fspath(depot))


def read_orphanage(depot: str | os.PathLike[str], *, cache: bool = False) -> dict[str, datetime]:
    """The depot's orphanage: path -> when gc first saw it orphaned.

    ``cache``: the content cache's orphanage instead, entry id -> when recycling first
    saw it unbound.
    """
    return _collect.read_orphanage(_orphanage(depot, cache))


def write_orphanage(
    depot: str | os.PathLike[str], entries: dict[str, datetime], *, cache: bool = False
) -> None:
    """Replace the depot's orphanage (``cache``: the content cache's, by entry id)."""
    _collect.write_orphanage(_orphanage(depot, cache), entries)


def use_depots(monkeypatch: pytest.MonkeyPatch, *depots: Path) -> None:
    """Make ``depots`` the depot path, the first one the user depot."""
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", os.pathsep.join(str(d) for d in depots))


# --- the content cache's store ---------------------------------------------------------------


def cache_store(depot: str | os.PathLike[str]) -> Path:
    """The content cache's store: the space ``_cache`` of the library's own namespace."""
    return Path(depot, "scratchspaces", "scratchspaces", "_cache")


def cache_entries(depot: str | os.PathLike[str]) -> dict[str, Path]:
    """Every entry of the depot's store on disk, id -> path, from ``artifacts/<ab>/<id>``."""
    root = cache_store(depot) / "artifacts"
    if not root.is_dir():
        return {}
    return {p.name: p for p in root.glob("*/*")}


def check_cache_entry(store: Path, path: Path, content_of: Callable[[str], bytes]) -> set[str]:
    """Check entry ``path`` is whole and right; return the file entries it reaches.

    A file entry is named by its content's blob hash. In a directory entry every file is
    a relative link to a file entry whose name is its content's blob hash (``.x`` for an
    executable one), holding ``content_of(<the link's name>)``.
    """
    entries = Path(os.path.realpath(store / "artifacts"))
    if path.is_file() and not path.is_symlink():
        digest = path.name.removesuffix(".x")
        assert blob_hash_of_file(str(path), "sha256").hex() == digest, path
        assert not path.stat().st_mode & 0o222, f"{path} is writable"
        return {path.name}
    assert path.is_dir(), f"{path} is neither a file nor a directory entry"
    reached: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames:
            assert not Path(dirpath, name).is_symlink(), Path(dirpath, name)
        for name in filenames:
            link = Path(dirpath, name)
            assert link.is_symlink(), f"{link} is not a link to a file entry"
            assert not os.path.isabs(os.readlink(link)), f"{link} is an absolute link"
            target = Path(os.path.realpath(link))
            assert target.is_file(), f"{link} -> {os.readlink(link)} does not resolve"
            assert target.parent.parent == entries, f"{link} leaves the store: {target}"
            assert target.parent.name == target.name[:2], target
            executable = target.name.endswith(".x")
            digest = target.name.removesuffix(".x")
            assert blob_hash_of_file(str(target), "sha256").hex() == digest, target
            assert target.read_bytes() == content_of(name), link
            assert bool(target.stat().st_mode & stat.S_IXUSR) == executable, target
            assert not target.stat().st_mode & 0o222, f"{target} is writable"
            reached.add(target.name)
    return reached


# --- folders and trees -----------------------------------------------------------------------


def refuse_unlink(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make ``os.unlink`` fail with EACCES for files called ``names`` (a real-looking failure)."""
    real = os.unlink

    def unlink(path: str, *, dir_fd: int | None = None) -> None:
        if os.path.basename(path) in names:
            raise PermissionError(errno.EACCES, "Permission denied (refused by the test)", path)
        real(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "unlink", unlink)


def names_in(folder: Path) -> list[str]:
    """The sorted names in ``folder`` (none if it does not exist)."""
    return sorted(os.listdir(folder)) if folder.exists() else []


def temporaries(folder: Path) -> list[str]:
    """The temporaries (``.tmp-*``) left in ``folder``."""
    return [name for name in names_in(folder) if name.startswith(".tmp-")]


def read_tree(entry: Path) -> dict[str, bytes]:
    """Return relative path -> content of every file reached through a directory entry."""
    found: dict[str, bytes] = {}
    for p in sorted(entry.rglob("*")):
        if p.is_symlink() or p.is_file():
            found[p.relative_to(entry).as_posix()] = p.read_bytes()
    return found


def snapshot(
    top: Path, *, skip: Path | None = None, metadata: bool = True, itself: bool = False
) -> dict[str, tuple[str | int, ...]]:
    """Every path under ``top`` (but ``skip``), by its path relative to ``top``.

    Each has its kind (``dir``, ``link``, ``file``, ``exec``) and content (a link's target,
    a file's sha256), never following a link; with ``metadata`` also its mode, mtime (ns)
    and inode, so that two snapshots of one tree differ if anything in it changed at all.
    Without, two trees with the same content compare equal. A missing ``top`` has none.
    ``itself``: ``top`` too, as ``"."``.
    """
    found: dict[str, tuple[str | int, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in dirnames + filenames + (["."] if itself and dirpath == str(top) else []):
            path = Path(dirpath, name)
            if path == skip:
                continue
            rel = path.relative_to(top).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                seen: tuple[str, str] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                seen = ("dir", "")
            else:
                kind = "exec" if st.st_mode & stat.S_IXUSR else "file"
                seen = (kind, hashlib.sha256(path.read_bytes()).hexdigest())
            found[rel] = (*seen, st.st_mode, st.st_mtime_ns, st.st_ino) if metadata else seen
    return found
