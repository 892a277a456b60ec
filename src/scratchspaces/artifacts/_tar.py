"""Deterministic gzip tarballs of artifacts, and their safe extraction (``_tar_extract``).

Archiving: entries in sorted order, every header normalised (mtime 0, owner 0:0 with no
names, mode 0644 or 0755 for files, 0755 for directories, links as links, a file linked
twice stored twice), gzip with no name and no time: the same content gives the same
bytes on any machine with the same zlib, whatever the mtimes, owners, umask or listing
order.

Extraction reads gzip, xz, bzip2, zstd (where available) and plain tar, told from the
first bytes, never the URL (``_unpack``). It refuses, rather than rewrites, every member
that could write outside the tree or is not plain data, as Julia's Tar.jl does: an
absolute path, a ``..`` component, a NUL, a link whose target is absolute or leaves the
tree, an entry beneath a link, a hard link to anything but an earlier regular file of
the archive, a device, a FIFO, a sparse file, a header Tar.jl would not read
(``_tar_headers``). A later entry at a path replaces the earlier one, as in Tar.jl:
removed where it is, never written through. Members are written with ``O_EXCL |
O_NOFOLLOW`` into a fresh directory that nothing else writes, so no check can be raced;
after the last member every symlink is resolved once more on disk, which catches chains
of links that each look harmless. Each member is also checked a second time, in memory,
through the links extracted so far. ``tarfile``'s own ``data`` filter is not used: its
``realpath`` costs about 20 ``lstat`` a member, several 2024-2025 CVEs went around it, and
it strips a leading ``/`` where we refuse.

Extraction writes what the headers declare, no more: a file its size, read from the
archive; a hard link nothing when an inode of its content and mode exists (made as a
link), else one copy, all copies together at most the archive's file data; a sparse
file, whose holes are made up, is refused (600 bytes can declare 100 TB of zeros).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from typing import IO, TYPE_CHECKING

from .. import _fs
from ..errors import UnsafeArchive, UnsupportedFile
from ._tar_extract import absolute as _absolute
from ._tar_extract import extract

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["COMPRESS_LEVEL", "archive", "extract"]

_CHUNK = 1 << 20
COMPRESS_LEVEL = 6


class _HashingWriter:
    """A write-only file that hashes what passes through it."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self._f.write(data)

    def flush(self) -> None:
        self._f.flush()


def _entries(top: str, prefix: str = "") -> Iterator[tuple[str, str, os.stat_result]]:
    """Yield (archive name, path, lstat) depth first, each directory's entries sorted."""
    with os.scandir(top) as it:
        names = sorted((os.fsencode(e.name), e.name) for e in it)
    for _key, name in names:
        path = os.path.join(top, name)
        arcname = prefix + name
        st = os.lstat(path)
        yield arcname, path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _entries(path, arcname + "/")


def _header(arcname: str, st: os.stat_result, path: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    elif stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.mode = 0o755
        info.linkname = os.readlink(path)
        if _absolute(info.linkname) or _fs.climbs_out(arcname, info.linkname):
            # Extraction refuses such a link anywhere: a tarball holding one installs nowhere.
            raise UnsafeArchive(
                path,
                f"the symlink points outside the artifact ({info.linkname!r}), so "
                "the tarball could not be installed anywhere",
            )
    elif stat.S_ISREG(st.st_mode):
        info.type = tarfile.REGTYPE
        info.mode = 0o755 if st.st_mode & stat.S_IXUSR else 0o644
        info.size = st.st_size
    else:
        raise UnsupportedFile(path)
    return info


def archive(top: str, tarball: str) -> str:
    """Write the tree ``top`` as a deterministic gzip tarball; return its sha256 (hex).

    Written to a temporary file beside ``tarball``, then renamed: a failure leaves no
    partial tarball.
    """
    os.makedirs(os.path.dirname(os.path.abspath(tarball)), exist_ok=True)
    with _fs.atomic_file(tarball) as raw:
        writer = _HashingWriter(raw)
        with (
            gzip.GzipFile(
                filename="", mode="wb", fileobj=writer, mtime=0, compresslevel=COMPRESS_LEVEL
            ) as gz,
            tarfile.TarFile(
                fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, copybufsize=_CHUNK
            ) as tar,
        ):
            for arcname, path, st in _entries(top):
                info = _header(arcname, st, path)
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return writer.sha256.hexdigest()
