"""Artifacts for tests: platforms, installs in a fresh process, tarballs made by hand.

A hand-made tarball is real: built with ``tarfile`` exactly as given (malicious members
included), gzipped (or compressed with xz or bzip2, or left plain), named by a
``file://`` URL in an ``Artifacts.toml`` and installed with ``ensure_artifact_installed``
at a :class:`Site`, next to a sentinel it must not reach.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import pytest

from _depots import snapshot
from scratchspaces.artifacts import Platform, bind_artifact, ensure_artifact_installed, tree_hash

if TYPE_CHECKING:
    from pathlib import Path

LINUX = Platform("linux", "x86_64", "glibc")
MAC = Platform("macos", "aarch64")

# --- installs in a fresh process -------------------------------------------------------------

INSTALL_SCRIPT = (
    "import sys; from scratchspaces import artifacts; "
    "print(artifacts.ensure_artifact_installed(sys.argv[1], sys.argv[2]))"
)


def install_in_subprocess(toml: Path, name: str, **popen: Any) -> subprocess.Popen[str]:
    """Run ``ensure_artifact_installed(name, toml)`` in a fresh interpreter (prints the path)."""
    cmd = [sys.executable, "-c", INSTALL_SCRIPT, name, str(toml)]
    return subprocess.Popen(cmd, text=True, **popen)


# --- building tarballs by hand ---------------------------------------------------------------

Member: TypeAlias = tuple[tarfile.TarInfo, bytes | None]

OK_DATA = b"harmless\n"
SECRET = b"do not touch\n"
# From the extraction tree, <depot>/artifacts/.tmp-install-XXXX/tree, up to tmp_path.
UP_TO_TMP = "../../../../"


def _info(name: str, kind: bytes, mode: int, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    return info


def reg(name: str, data: bytes = OK_DATA, mode: int = 0o644) -> Member:
    info = _info(name, tarfile.REGTYPE, mode)
    info.size = len(data)
    return info, data


def directory(name: str, mode: int = 0o755) -> Member:
    return _info(name, tarfile.DIRTYPE, mode), None


def symlink(name: str, target: str) -> Member:
    return _info(name, tarfile.SYMTYPE, 0o777, target), None


def hardlink(name: str, target: str, mode: int = 0o644) -> Member:
    return _info(name, tarfile.LNKTYPE, mode, target), None


def special(name: str, kind: bytes, major: int = 0, minor: int = 0) -> Member:
    info = _info(name, kind, 0o666)
    info.devmajor = major
    info.devminor = minor
    return info, None


COMPRESSIONS = ("gzip", "xz", "bzip2", "tar")


def compress(raw: bytes, compression: str = "gzip") -> bytes:
    """``raw`` compressed with ``compression``: one of COMPRESSIONS (``tar``: as it is)."""
    if compression == "gzip":
        return gzip.compress(raw, mtime=0)
    if compression == "xz":
        return lzma.compress(raw)
    if compression == "bzip2":
        return bz2.compress(raw)
    assert compression == "tar", compression
    return raw


def tar_bytes(members: list[Member], compression: str = "gzip") -> bytes:
    """The tarball of ``members``, in that order, exactly as given (gzip unless told)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return compress(raw.getvalue(), compression)


def write_tarball(path: Path, members: list[Member]) -> str:
    """Write ``members`` as a gzip tarball at ``path``; return its sha256."""
    data = tar_bytes(members)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hash_of_files(where: Path, files: dict[str, tuple[bytes, bool]]) -> str:
    """The git tree hash of a tree holding ``files`` (name -> (content, executable))."""
    where.mkdir()
    for name, (data, executable) in files.items():
        path = where / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if executable else 0o644)
    return tree_hash(where)


# --- where a tarball is installed, and the checks ----------------------------------------------


@dataclass(frozen=True)
class Site:
    """Where a test works: its temporary directory, depot, binding file and sentinel."""

    tmp: Path
    depot: Path
    toml: Path
    sentinel: Path

    def tarball(self, name: str, members: list[Member]) -> tuple[str, str]:
        """Write ``members`` as the gzip tarball ``name``; return (file URL, sha256)."""
        path = self.tmp / name
        return path.as_uri(), write_tarball(path, members)

    def bind(self, hash_: str, *sources: tuple[str, str]) -> None:
        bind_artifact(self.toml, "data", hash_, download_info=list(sources), force=True)

    def assert_sentinel_untouched(self) -> None:
        assert sorted(os.listdir(self.sentinel)) == ["secret"]
        secret = self.sentinel / "secret"
        assert secret.read_bytes() == SECRET
        st = secret.lstat()
        assert st.st_nlink == 1  # no hard link to it was made anywhere
        assert stat.S_IMODE(st.st_mode) == 0o640


def make_site(tmp_path: Path, depot: Path) -> Site:
    """A project directory for ``Artifacts.toml``, and a sentinel next to the depot.

    The sentinel is what malicious members aim at; it holds one file, ``secret``.
    """
    (tmp_path / "project").mkdir()
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "secret").write_bytes(SECRET)
    (sentinel / "secret").chmod(0o640)
    return Site(tmp_path, depot, tmp_path / "project" / "Artifacts.toml", sentinel)


def assert_nothing_left(depot: Path) -> None:
    """The depot holds no artifact, no temporary, no partial tree, no trash."""
    artifacts = depot / "artifacts"
    if artifacts.exists():
        assert sorted(os.listdir(artifacts)) == []
    if depot.exists():
        assert set(os.listdir(depot)) <= {"artifacts", "logs"}


def install_fails(expected: type[Exception], site: Site) -> pytest.ExceptionInfo[Exception]:
    """Install; check it raises ``expected`` exactly and changes nothing anywhere."""
    before = snapshot(site.tmp, skip=site.depot)
    with pytest.raises(expected) as info:
        ensure_artifact_installed("data", site.toml)
    assert type(info.value) is expected, repr(info.value)
    assert_nothing_left(site.depot)
    assert snapshot(site.tmp, skip=site.depot) == before
    site.assert_sentinel_untouched()
    return info
