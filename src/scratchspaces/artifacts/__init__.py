"""Artifacts: immutable directories named by their git tree hash.

Cook data in a scratch space, turn it into an artifact, archive it, publish it, bind it
in an ``Artifacts.toml``, and anyone can install and verify it::

    from scratchspaces import artifacts

    h = artifacts.create_artifact(lambda d: (d / "data.csv").write_text("a,b"))
    url, sha256 = artifacts.publish_artifact(h, "file:///srv/artifacts")
    artifacts.bind_artifact("Artifacts.toml", "data", h, download_info=[(url, sha256)])
    path = artifacts.ensure_artifact_installed("data", "Artifacts.toml")

The names follow Julia's ``Pkg.Artifacts`` without the ``!``; files written by either
read on the other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _toml
from .._treehash import tree_hash
from ..errors import (
    ArchiveError,
    ArtifactNotFound,
    BindingExists,
    DownloadError,
    HashMismatch,
    InvalidArtifactsToml,
    InvalidHash,
    UnsafeArchive,
    UnsupportedFile,
)
from . import _bindings, _install, _platform
from ._platform import Platform
from ._platform_match import platforms_match, select_platform
from ._store import (
    artifact_exists,
    artifact_path,
    create_artifact,
    remove_artifact,
    verify_artifact,
    with_artifacts_directory,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

DownloadInfo = tuple[str, str] | tuple[str, str, int]


def bind_artifact(
    artifacts_toml: str | os.PathLike[str],
    name: str,
    hash: str,
    *,
    download_info: Sequence[DownloadInfo] | None = None,
    lazy: bool = False,
    force: bool = False,
    platform: Platform | None = None,
) -> None:
    """Bind ``name`` to artifact ``hash`` in ``artifacts_toml`` (created if missing).

    Args:
        artifacts_toml: the binding file.
        name: the artifact's name in it.
        hash: the artifact's git-tree-sha1.
        download_info: sources, each ``(url, sha256)`` or ``(url, sha256, size)``.
        lazy: mark it to be installed on first use (kept for Pkg; ``artifact()``
            installs on first use either way).
        force: replace an existing binding of ``name`` (for ``platform``).
        platform: bind for this platform only, in an array of tables as Pkg does.

    The file is also recorded in ``logs/artifact_usage.toml``, so that gc keeps the
    artifacts it binds while it exists.

    Raises:
        BindingExists: ``name`` is bound (for ``platform``) and ``force`` is false.
        InvalidArtifactsToml: the existing file is malformed (it is not overwritten).
        InvalidHash: ``hash`` is not 40 hexadecimal digits.
        ValueError: malformed ``download_info``.
    """
    _bindings.bind(
        os.path.abspath(artifacts_toml),
        name,
        hash,
        download_info=download_info,
        lazy=lazy,
        force=force,
        platform=platform,
    )


def unbind_artifact(
    artifacts_toml: str | os.PathLike[str], name: str, *, platform: Platform | None = None
) -> None:
    """Remove the binding of ``name`` (only ``platform``'s entry if given); no error if none."""
    _bindings.unbind(os.path.abspath(artifacts_toml), name, platform=platform)


def artifact_meta(
    name: str, artifacts_toml: str | os.PathLike[str], *, platform: Platform | None = None
) -> dict[str, Any] | None:
    """Return the entry bound to ``name`` for ``platform`` (default: this machine), or None.

    Raises:
        InvalidArtifactsToml: the file or the entry is malformed.
    """
    path = os.path.abspath(artifacts_toml)
    data = _toml.load_bindings(path)
    return _bindings.select(data, name, path, platform or _platform.host())


def artifact_hash(
    name: str, artifacts_toml: str | os.PathLike[str], *, platform: Platform | None = None
) -> str | None:
    """Return the git-tree-sha1 bound to ``name`` for ``platform``, or None.

    Raises:
        InvalidArtifactsToml: the file or the entry is malformed.
    """
    meta = artifact_meta(name, artifacts_toml, platform=platform)
    return None if meta is None else str(meta["git-tree-sha1"]).lower()


def ensure_artifact_installed(
    name: str, artifacts_toml: str | os.PathLike[str], *, platform: Platform | None = None
) -> Path:
    """Return the path of artifact ``name``, installing it first if no depot has it.

    Each download source is tried in order: download, check the tarball's sha256,
    extract safely into a temporary directory, check the tree hash, publish in one
    rename. A failure leaves nothing behind.

    Raises:
        ArtifactNotFound: the file does not bind ``name`` for the platform.
        InvalidArtifactsToml: the file or the entry is malformed.
        DownloadError, HashMismatch, ArchiveError, UnsafeArchive: every source failed;
            the last one's error, its message naming each source and why it failed.
    """
    return _install.ensure_installed(name, os.fspath(artifacts_toml), platform)


def artifact(name: str, *, artifacts_toml: str | os.PathLike[str] | None = None) -> Path:
    """Like :func:`ensure_artifact_installed`, finding ``Artifacts.toml`` by itself.

    The file is the nearest ``Artifacts.toml`` in the calling module's directory or one
    above it (the working directory for code without a file).

    Raises:
        ArtifactNotFound: no ``Artifacts.toml`` above the caller, or it does not bind
            ``name`` for this machine; and as :func:`ensure_artifact_installed`.
    """
    if artifacts_toml is None:
        start = _install.caller_directory(1)
        found = _install.find_artifacts_toml(start)
        if found is None:
            raise ArtifactNotFound(name, f"no Artifacts.toml in {start} or any directory above")
        artifacts_toml = found
    return _install.ensure_installed(name, os.fspath(artifacts_toml), None)


def archive_artifact(hash: str, tarball_path: str | os.PathLike[str]) -> str:
    """Write artifact ``hash`` as a gzip tarball at ``tarball_path``; return its sha256.

    Deterministic: the same content gives the same bytes whatever the mtimes, owners,
    umask or directory listing order (with the same zlib).

    Raises:
        ArtifactNotFound: no depot holds the artifact.
    """
    return _install.archive(hash, os.fspath(tarball_path))


def publish_artifact(hash: str, dest_url: str) -> tuple[str, str]:
    """Archive artifact ``hash`` and upload it as ``<dest_url>/<hash>.tar.gz``.

    ``dest_url`` names a folder: ``file:///...`` (created if missing) or any fsspec URL
    (``s3://bucket/prefix``, with ``scratchspaces[remote]`` and the backend installed).

    Returns:
        ``(url, sha256)``, ready for ``bind_artifact(..., download_info=[(url, sha256)])``.

    Raises:
        ArtifactNotFound: no depot holds the artifact.
        DownloadError: the upload failed, or the URL cannot be written (HTTP).
    """
    return _install.publish(hash, dest_url)


__all__ = [
    "ArchiveError",
    "ArtifactNotFound",
    "BindingExists",
    "DownloadError",
    "DownloadInfo",
    "HashMismatch",
    "InvalidArtifactsToml",
    "InvalidHash",
    "Platform",
    "UnsafeArchive",
    "UnsupportedFile",
    "archive_artifact",
    "artifact",
    "artifact_exists",
    "artifact_hash",
    "artifact_meta",
    "artifact_path",
    "bind_artifact",
    "create_artifact",
    "ensure_artifact_installed",
    "platforms_match",
    "publish_artifact",
    "remove_artifact",
    "select_platform",
    "tree_hash",
    "unbind_artifact",
    "verify_artifact",
    "with_artifacts_directory",
]
