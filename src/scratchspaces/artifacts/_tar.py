"""Deterministic gzip tarballs of artifacts, and their safe extraction.

Archiving: entries in sorted order, every header normalised (mtime 0, owner 0:0 with no
names, mode 0644 or 0755 for files, 0755 for directories, links as links, a file linked
twice stored twice), gzip with no name and no time: the same content gives the same
bytes on any machine with the same zlib, whatever the mtimes, owners, umask or listing
order.

Extraction refuses, rather than rewrites, every member that could write outside the
tree or is not plain data, as Julia's Tar.jl does: an absolute path, a ``..``
component, a NUL, a link whose target is absolute or leaves the tree, an entry beneath
a link, a hard link to anything but an earlier regular file of the archive, a device, a
FIFO, a sparse file, a duplicate. Members are written with ``O_EXCL | O_NOFOLLOW`` into
a fresh directory that nothing else writes, so no check can be raced; after the last
member every symlink is resolved once more on disk, which catches chains of links that
each look harmless. ``tarfile``'s own ``data`` filter, where Python has it, runs as a
second check, never the only one: several 2024-2025 CVEs went around it, and it strips
a leading ``/`` where we refuse.

Extraction writes what the headers declare, no more: a file its size, read from the
archive; a hard link nothing (made as a link); a sparse file, whose holes are made up, is
refused (600 bytes can declare 100 TB of zeros).
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import re
import stat
import tarfile
import zlib
from typing import IO, TYPE_CHECKING, NoReturn

from .. import _fs
from ..errors import ArchiveError, DepotError, ScratchspacesError, UnsafeArchive, UnsupportedFile

if TYPE_CHECKING:
    from collections.abc import Iterator

_CHUNK = 1 << 20
_O_WRITE = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)
COMPRESS_LEVEL = 6
# Errors writing a member that are the archive's doing (a name too long or invalid here, too
# many hard links to one file), unlike a full disk or a read-only depot.
_NOT_OUR_DISK = frozenset(
    getattr(errno, name)
    for name in ("ENAMETOOLONG", "EINVAL", "EILSEQ", "ELOOP", "EEXIST", "ENOTDIR", "EISDIR")
    if hasattr(errno, name)
) | {errno.EMLINK}


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


# --- extraction ----------------------------------------------------------------------------

# A header's extended data (PAX records, a GNU long name) is read whole into memory: 16 KiB
# holds a path and a link target of 4 KiB each with room to spare.
_HEADER_MAX = 16 << 10
# What ``tarfile`` raises on crafted headers besides its own errors: ValueError (a number
# that is not one, a sparse map cut short), RecursionError (extended headers by thousands).
_UNREADABLE = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, ValueError, RecursionError)


class _Refused(Exception):  # noqa: N818 - never raised past extract(), which names the error
    """A header refused while ``tarfile`` reads it: becomes :class:`UnsafeArchive`."""


def _check_records(data: bytes) -> None:
    """Refuse PAX records but ``<length> <keyword>=<value>`` and a newline, lengths true.

    Python before 3.10.15 / 3.11.10 / 3.12.6 parses records whose lengths lie, and runs of
    digits, in quadratic time (CVE-2024-6232); no file name has a run of 256 digits.
    """
    pos = 0
    while pos < len(data) and data[pos]:
        length, space, _ = data[pos : pos + 21].partition(b" ")
        end = pos + int(length) if length.isdigit() and space else pos
        keyword = pos + len(length) + 1
        framed = keyword + 3 <= end <= len(data) and data[end - 1] == ord("\n")
        if not framed or data.find(b"=", keyword, end) <= keyword:
            raise tarfile.ReadError(f"a malformed PAX record at byte {pos} of its header")
        pos = end
    if re.search(rb"[0-9]{256}", data):
        raise tarfile.ReadError("a PAX record holding a run of more than 255 digits")


class _Replay:
    """The archive's stream, but its next read returns ``data``, already read from it."""

    def __init__(self, data: bytes, stream: IO[bytes]) -> None:
        self.data, self.stream, self.tell = data, stream, stream.tell

    def read(self, size: int = -1) -> bytes:
        data, self.data = self.data, b""
        return data or self.stream.read(size)


class _TarInfo(tarfile.TarInfo):
    """``tarfile``'s header hooks (alike in 3.10 to 3.13), bounded and refusing sparse files."""

    def _bounded(self) -> None:
        if not 0 <= self.size <= _HEADER_MAX:
            raise tarfile.ReadError(f"an extended header of {self.size} bytes, over {_HEADER_MAX}")

    def _proc_pax(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        self._bounded()
        stream = tar.fileobj
        data = stream.read(-(-self.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE)
        _check_records(data)
        tar.fileobj = _Replay(data, stream)  # type: ignore[arg-type, assignment]  # reads alike
        try:
            return super()._proc_pax(tar)  # type: ignore[misc, no-any-return]  # an untyped hook
        finally:
            tar.fileobj = stream

    def _proc_gnulong(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        self._bounded()
        return super()._proc_gnulong(tar)  # type: ignore[misc, no-any-return]  # an untyped hook

    # Refused before tarfile reads a sparse map (a 1.0 map goes on as long as the archive).
    def _proc_sparse(self, tar: tarfile.TarFile) -> NoReturn:
        raise _Refused(f"member {self.name!r}: a sparse file (old GNU format)")

    def _proc_gnusparse_00(self, member: tarfile.TarInfo, *args: object) -> NoReturn:
        raise _Refused(f"member {member.name!r}: a sparse file (GNU PAX format)")

    _proc_gnusparse_01 = _proc_gnusparse_10 = _proc_gnusparse_00


def _absolute(name: str) -> bool:
    """Whether ``name`` is absolute here (a drive letter counts only on Windows)."""
    if name.startswith("/"):
        return True
    return os.name == "nt" and (name.startswith("\\") or (len(name) > 1 and name[1] == ":"))


class _Extraction:
    """What has been extracted so far, by relative path."""

    def __init__(self, archive_name: str, dest: str) -> None:
        self.archive = archive_name
        self.dest = dest
        self.dirs: set[str] = {""}
        self.files: set[str] = set()
        self.links: set[str] = set()

    def refuse(self, member: tarfile.TarInfo, reason: str) -> UnsafeArchive:
        return UnsafeArchive(self.archive, f"member {member.name!r}: {reason}")

    def relative(self, member: tarfile.TarInfo, name: str, what: str = "path") -> str:
        """Return ``name`` as a clean relative path inside the tree, or refuse it."""
        if not name:
            raise self.refuse(member, f"empty {what}")
        if _absolute(name):
            raise self.refuse(member, f"absolute {what} {name!r}")
        if "\x00" in name or (os.sep == "\\" and "\\" in name):
            raise self.refuse(member, f"{what} {name!r} has a forbidden character")
        parts = [p for p in name.split("/") if p not in {"", "."}]
        if ".." in parts:
            raise self.refuse(member, f"{what} {name!r} has a '..' component")
        return "/".join(parts)

    def make_parents(self, member: tarfile.TarInfo, rel: str) -> None:
        """Create the directories above ``rel``; refuse to go beneath a link or a file."""
        parts = rel.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if prefix in self.dirs:
                continue
            if prefix in self.links:
                raise self.refuse(member, f"it lies beneath the symlink {prefix!r}")
            if prefix in self.files:
                raise self.refuse(member, f"it lies beneath the file {prefix!r}")
            os.mkdir(self.path(prefix))
            os.chmod(self.path(prefix), 0o755)  # noqa: S103 - normalised whatever the umask
            self.dirs.add(prefix)

    def path(self, rel: str) -> str:
        return os.path.join(self.dest, *rel.split("/"))

    def claim(self, member: tarfile.TarInfo, rel: str) -> None:
        """Refuse a second member at the same path (a directory may repeat)."""
        if rel in self.files or rel in self.links or (rel in self.dirs and not member.isdir()):
            raise self.refuse(member, "a second entry at the same path")

    def link_target(self, member: tarfile.TarInfo, rel: str) -> None:
        """Refuse a symlink target that is absolute or climbs out of the tree."""
        target = member.linkname
        if not target or "\x00" in target:
            raise self.refuse(member, f"a symlink to {target!r}, empty or holding a NUL")
        if _absolute(target):
            raise self.refuse(member, f"a symlink to the absolute path {target!r}")
        if _fs.climbs_out(rel, target):
            raise self.refuse(member, f"a symlink to {target!r}, outside the tree")


def _write_file(source: IO[bytes], path: str, mode: int, size: int) -> None:
    """Write exactly ``size`` bytes of ``source`` at ``path``: never more than declared."""
    fd = os.open(path, _O_WRITE, 0o600)
    try:
        while size > 0:
            chunk = source.read(min(_CHUNK, size))
            if not chunk:
                raise tarfile.ReadError(f"unexpected end of data, {size} more bytes declared")
            size -= len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    # Normalised: owner reads and writes, executable for all if the owner could run it.
    os.chmod(path, 0o755 if mode & 0o100 else 0o644)


def _check_member(member: tarfile.TarInfo, rel: str, state: _Extraction) -> None:
    """Refuse what is not a directory, a file, an in-tree link or an earlier file's link."""
    state.claim(member, rel)
    if member.issparse() or any(key.startswith("GNU.sparse.") for key in member.pax_headers):
        raise state.refuse(member, "a sparse file, whose holes could outgrow the disk")
    if member.issym():
        state.link_target(member, rel)
    elif member.islnk():
        source = state.relative(member, member.linkname, "hard link target")
        if source not in state.files:
            raise state.refuse(
                member, f"a hard link to {member.linkname!r}, not an earlier file of the archive"
            )
    elif not (member.isreg() or member.isdir()):
        if member.ischr() or member.isblk():
            kind = "a device"
        elif member.isfifo():
            kind = "a FIFO"
        else:
            kind = f"an entry of type {member.type!r}"
        raise state.refuse(member, f"{kind}, not a file, directory or link")
    state.make_parents(member, rel + "/x" if member.isdir() else rel)
    if hasattr(tarfile, "data_filter"):  # a second opinion, never the only one
        try:
            tarfile.data_filter(member, state.dest)
        except tarfile.FilterError as exc:
            raise state.refuse(member, str(exc)) from exc


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, state: _Extraction) -> None:
    rel = state.relative(member, member.name)
    if not rel:
        if member.isdir():
            return  # "./": the tree itself
        raise state.refuse(member, "a non-directory at the top of the tree")
    _check_member(member, rel, state)
    path = state.path(rel)
    if member.isdir():
        return  # made by _check_member, with its parents
    if member.issym():
        os.symlink(member.linkname, path)
        state.links.add(rel)
        return
    if member.islnk():
        # Linked, not copied: a hard link declares no data, so it writes none (a thousand
        # links to one big file must not fill the disk a thousand times).
        os.link(state.path(state.relative(member, member.linkname)), path)
    else:
        data = tar.extractfile(member)
        if data is None:
            raise state.refuse(member, "a file without data")
        _write_file(data, path, member.mode, member.size)
    state.files.add(rel)


def _check_links(state: _Extraction) -> None:
    """Resolve every extracted symlink on disk: a chain of links must not leave the tree."""
    top = os.path.realpath(state.dest)
    for rel in sorted(state.links):
        resolved = os.path.realpath(state.path(rel))
        if resolved != top and not resolved.startswith(top + os.sep):
            raise UnsafeArchive(state.archive, f"symlink {rel!r} resolves outside the tree")


def extract(tarball: str, dest: str, *, name: str | None = None) -> None:
    """Extract the gzip tarball ``tarball`` into the fresh, empty directory ``dest``.

    On any error ``dest`` may hold part of the archive: the caller removes it.

    Raises:
        UnsafeArchive: a member that could escape the tree or is not plain data.
        ArchiveError: the file is not a readable gzip tarball (truncated, corrupt, malformed).
    """
    state = _Extraction(name or tarball, dest)
    try:
        with (
            gzip.open(tarball, "rb") as gz,
            tarfile.open(fileobj=gz, mode="r|", bufsize=_CHUNK, tarinfo=_TarInfo) as tar,
        ):
            while (member := tar.next()) is not None:
                _extract_member(tar, member, state)
                # tarfile keeps every member it read; none is needed again
                tar.members.clear()  # type: ignore[attr-defined]  # typeshed leaves it out
            # Read to the end: tar stops at its end marker, and what follows (the gzip
            # checksum, a truncation, trailing junk) must be checked too.
            while gz.read(_CHUNK):
                pass
    except _Refused as exc:
        raise UnsafeArchive(state.archive, str(exc)) from None
    except ScratchspacesError:
        raise
    except _UNREADABLE as exc:
        raise ArchiveError(state.archive, f"{type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        if exc.errno not in _NOT_OUR_DISK:  # a full or read-only disk: not the archive's
            raise DepotError.of(dest, "cannot extract the archive", exc) from exc
        raise ArchiveError(state.archive, f"cannot be extracted here: {exc}") from exc
    _check_links(state)
