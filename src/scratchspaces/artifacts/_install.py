"""Installing artifacts from their sources, archiving them, and publishing them.

An install runs in one temporary directory inside the store: the tarball is downloaded
there (a ``file://`` source is read where it is), its sha256 checked, extracted safely
into a subdirectory, the tree hash checked, and only then is the tree renamed to its
hash. Whatever fails, the temporary directory goes and nothing else was touched. Two
processes installing the same artifact take turns under its install lock: the second
finds the first one's copy and downloads nothing.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _autogc, _fs, _locks, _names, _toml, _transfer
from .._treehash import tree_hash
from ..errors import ArtifactNotFound, DownloadError, HashMismatch, ScratchspacesError
from . import _bindings, _platform, _store, _tar, _usage

if TYPE_CHECKING:
    from ._platform import Platform


def _install_from(hash_: str, source: dict[str, Any], root: str, label: str) -> Path:
    url: str = source["url"]
    with _locks.temporary(root, "install") as work:
        tarball = _transfer.local_path(url)
        if tarball is not None:
            if not os.path.isfile(tarball):
                raise DownloadError(url, "no such file")
            size = source.get("size")
            if size is not None and os.path.getsize(tarball) != size:
                raise DownloadError(url, f"{os.path.getsize(tarball)} bytes, expected {size}")
            actual = _transfer.sha256_of_file(tarball)
        else:
            tarball = os.path.join(work, "download")  # its compression is read from its bytes
            actual = _transfer.download(url, tarball, label=label, expected_size=source.get("size"))
        if actual != source["sha256"].lower():
            raise HashMismatch(f"sha256 of {url}", source["sha256"].lower(), actual)
        tree = os.path.join(work, "tree")
        os.mkdir(tree)
        os.chmod(tree, 0o755)  # noqa: S103 - published for every reader, whatever the umask
        _tar.extract(tarball, tree, name=url)
        got = tree_hash(tree)
        if got != hash_:
            raise HashMismatch(f"git tree hash of what {url} holds", hash_, got)
        return _store.publish(tree, hash_, root)


def install(hash_: str, sources: list[dict[str, Any]], *, label: str) -> Path:
    """Install ``hash_`` from the first source that works; return its path.

    Raises:
        The last source's error (:class:`DownloadError`, :class:`HashMismatch`,
        :class:`ArchiveError`, :class:`UnsafeArchive`), its message naming every source
        and why it failed.
    """
    found = _store.used(_store.find(hash_))
    if found is not None:
        return Path(found)
    if not sources:
        raise DownloadError(label, f"artifact {hash_} is not installed and has no download source")
    root = _store.user_root()
    failures: list[str] = []
    # One install of an artifact at a time on this machine: the others wait, then find it.
    with _store.install_lock(root, hash_):
        found = _store.find(hash_)
        if found is not None:
            return Path(found)
        for source in sources:
            try:
                return _install_from(hash_, source, root, label)
            except ScratchspacesError as exc:
                text = str(exc)
                failures.append(text if source["url"] in text else f"{source['url']}: {text}")
                last = exc
    if len(failures) > 1:
        listed = "; ".join(f"[{i}] {failure}" for i, failure in enumerate(failures, 1))
        last.args = (f"could not install {label!r} ({hash_}) from any source: {listed}",)
    raise last


def ensure_installed(name: str, toml: str, platform: Platform | None) -> Path:
    """See :func:`scratchspaces.artifacts.ensure_artifact_installed`."""
    path = os.path.abspath(toml)
    chosen = platform if platform is not None else _platform.host()
    data = _toml.load_bindings(path)
    entry = _bindings.select(data, name, path, chosen)
    if entry is None:
        reason = f"{path} does not bind it for {chosen}"
        if not os.path.exists(path):
            reason = f"{path} does not exist"
        raise ArtifactNotFound(name, reason)
    hash_ = entry["git-tree-sha1"].lower()
    if _store.overridden() is None and not _autogc.checked:
        _autogc.check()
    # Recorded before the install, so gc never sees the new artifact unbound.
    _usage.record_usage(path)
    return install(hash_, entry.get("download", []), label=name)


def find_artifacts_toml(start: str) -> str | None:
    """Return the nearest ``Artifacts.toml`` in ``start`` or a directory above it."""
    return _fs.nearest_file(os.path.abspath(start), "Artifacts.toml")


def caller_directory(depth: int) -> str:
    """Return the directory of the calling module's file (or the working directory)."""
    frame = sys._getframe(depth + 1)
    file = frame.f_globals.get("__file__")
    return os.path.dirname(os.path.abspath(file)) if isinstance(file, str) else os.getcwd()


def locate(hash_: str) -> str:
    """Return the path of an installed artifact, or raise :class:`ArtifactNotFound`."""
    path = _store.find(_names.check_hash(hash_))
    if path is None:
        searched = ", ".join(_store.roots())
        raise ArtifactNotFound(hash_, f"not installed (searched {searched})")
    return path


def archive(hash_: str, tarball: str) -> str:
    """See :func:`scratchspaces.artifacts.archive_artifact`."""
    return _tar.archive(locate(hash_), tarball)


def publish(hash_: str, dest_url: str) -> tuple[str, str]:
    """See :func:`scratchspaces.artifacts.publish_artifact`."""
    source = locate(hash_)
    with tempfile.TemporaryDirectory(prefix="scratchspaces-publish-") as tmp:
        tarball = os.path.join(tmp, f"{hash_}.tar.gz")
        sha256 = _tar.archive(source, tarball)
        url = _transfer.upload(tarball, dest_url, f"{hash_}.tar.gz")
    return url, sha256
