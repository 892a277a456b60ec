"""Extracting a tarball safely, with the final tree Julia's Tar.jl makes of it.

A later entry replaces an earlier one at the same path, as in Tar.jl: a file, a link or
a directory (with all it held) goes, then the new entry is made; a directory over a
directory is kept. A file in the way of an entry's parent directory is replaced by that
directory. What is replaced is removed where it is, never through it, and the new entry
is created with ``O_EXCL | O_NOFOLLOW``: no entry is ever written through a link.

A hard link gives its name the content of an earlier file of the archive and the mode
of its own header, as Tar.jl's copy does. It is made as a link to an inode of that
content with that mode when there is one; else that content is copied once, and the
copies of an archive may total no more than the file data it holds. A hard link to
itself only sets its mode.

Every member is checked twice, each check O(1): by the rules read as written (a clean
relative path, no parent that is a link, a link target that stays inside read as
written), then by resolving its path, a hard link's source and a symlink's target
through the links made so far, kept in memory (the tree is fresh and nothing else
writes in it). After the last member every symlink is resolved on disk once more. The
member's data is read straight from the tar stream, with no buffer copied per read.
"""

from __future__ import annotations

import errno
import os
import tarfile
import zlib
from dataclasses import dataclass, field
from typing import IO, cast

from .. import _fs
from ..errors import ArchiveError, DepotError, ScratchspacesError, UnsafeArchive
from . import _tar_headers, _unpack

_CHUNK = 1 << 20
_MAX_HOPS = 40  # symlinks Linux follows in one path before it gives up (ELOOP)
_O_WRITE = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)
_FCHMOD = hasattr(os, "fchmod")
_O_READ = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
# Errors writing a member that are the archive's doing (a name too long or invalid here, too
# many hard links to one file), unlike a full disk or a read-only depot.
_NOT_OUR_DISK = frozenset(
    getattr(errno, name)
    for name in ("ENAMETOOLONG", "EINVAL", "EILSEQ", "ELOOP", "EEXIST", "ENOTDIR", "EISDIR")
    if hasattr(errno, name)
) | {errno.EMLINK}
# What ``tarfile`` raises on crafted headers besides its own errors: ValueError (a number
# that is not one, a sparse map cut short), RecursionError (extended headers by thousands).
_UNREADABLE = (tarfile.TarError, EOFError, zlib.error, ValueError, RecursionError)


def absolute(name: str) -> bool:
    """Whether ``name`` is absolute here (a drive letter counts only on Windows)."""
    if name.startswith("/"):
        return True
    return os.name == "nt" and (name.startswith("\\") or (len(name) > 1 and name[1] == ":"))


@dataclass(eq=False)
class _Inode:
    """A regular file made by the extraction: its content (shared by copies), mode, names."""

    content: int
    executable: bool
    names: set[str] = field(default_factory=set)


class _Extraction:
    """What the extracted tree holds now, by relative path."""

    def __init__(self, archive_name: str, dest: str) -> None:
        self.archive = archive_name
        self.dest = dest
        self.dirs: set[str] = {""}
        self.files: dict[str, _Inode] = {}
        self.links: dict[str, str] = {}  # each symlink's target
        # the inode of each (content, executable) that has a name, to link rather than copy
        self.inodes: dict[tuple[int, bool], _Inode] = {}
        self.written = self.copied = self.contents = 0

    def refuse(self, member: tarfile.TarInfo, reason: str) -> UnsafeArchive:
        return UnsafeArchive(self.archive, f"member {member.name!r}: {reason}")

    def relative(self, member: tarfile.TarInfo, name: str, what: str = "path") -> str:
        """Return ``name`` as a clean relative path inside the tree, or refuse it."""
        if not name:
            raise self.refuse(member, f"empty {what}")
        if absolute(name):
            raise self.refuse(member, f"absolute {what} {name!r}")
        if "\x00" in name or (os.sep == "\\" and "\\" in name):
            raise self.refuse(member, f"{what} {name!r} has a forbidden character")
        parts = [p for p in name.split("/") if p not in {"", "."}]
        if ".." in parts:
            raise self.refuse(member, f"{what} {name!r} has a '..' component")
        return "/".join(parts)

    def path(self, rel: str) -> str:
        return os.path.join(self.dest, *rel.split("/"))

    def make_parents(self, member: tarfile.TarInfo, rel: str) -> None:
        """Create the directories above ``rel``; refuse to go beneath a link."""
        parts = rel.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if prefix in self.dirs:
                continue
            if prefix in self.links:
                raise self.refuse(member, f"it lies beneath the symlink {prefix!r}")
            self.clear(prefix)  # a file: replaced by the directory, as in Tar.jl
            self.mkdir(prefix)

    def mkdir(self, rel: str) -> None:
        os.mkdir(self.path(rel))
        os.chmod(self.path(rel), 0o755)  # noqa: S103 - normalised whatever the umask
        self.dirs.add(rel)

    def clear(self, rel: str) -> None:
        """Remove what is at ``rel`` (a directory with all it holds), never through a link."""
        if rel in self.dirs:
            below = rel + "/"
            self.dirs = {d for d in self.dirs if d != rel and not d.startswith(below)}
            self.links = {n: t for n, t in self.links.items() if not n.startswith(below)}
            for name in [n for n in self.files if n.startswith(below)]:
                self.forget(name)
        elif rel in self.files:
            self.forget(rel)
        elif rel not in self.links:
            return
        self.links.pop(rel, None)
        failed = _fs.remove_in_place(self.path(rel))
        if failed:
            raise ArchiveError(self.archive, f"cannot replace {rel!r}: {failed[0]}")

    def forget(self, rel: str) -> None:
        inode = self.files.pop(rel)
        inode.names.discard(rel)
        if not inode.names and self.inodes.get((inode.content, inode.executable)) is inode:
            del self.inodes[inode.content, inode.executable]

    def add(self, rel: str, inode: _Inode) -> None:
        inode.names.add(rel)
        self.files[rel] = inode
        self.inodes.setdefault((inode.content, inode.executable), inode)

    def resolve(self, path: str) -> str | None:
        """Resolve ``path`` from the top through the symlinks made so far, as the OS would.

        Return the path it names (no link in it but perhaps its last part), or None if
        it leaves the tree. Past 40 links in one path (Linux's limit), no system follows
        it: it is returned unresolved. An in-memory ``realpath``: the tree is fresh and
        only this extraction writes in it, so what it made is what is there.
        """
        resolved: list[str] = []
        pending = path.split("/")[::-1]
        hops = 0
        while pending:
            part = pending.pop()
            if part in {"", "."}:
                continue
            if part == "..":
                if not resolved:
                    return None
                resolved.pop()
                continue
            resolved.append(part)
            target = self.links.get("/".join(resolved))
            if target is not None and pending:  # the last part is named, not followed
                hops += 1
                if hops > _MAX_HOPS:
                    return "/".join(resolved + pending[::-1])
                if absolute(target):
                    return None
                resolved.pop()
                pending.extend(target.split("/")[::-1])
        return "/".join(resolved)

    def second_opinion(self, member: tarfile.TarInfo, rel: str, source: str) -> None:
        """Check again, another way, that ``member`` lands at ``rel`` and points inside.

        Resolved through the links made so far: ``rel`` itself, a hard link's source,
        and a symlink's target from its directory. O(1) per member, not a ``realpath``
        on disk (``tarfile.data_filter`` costs about 20 ``lstat`` a member).
        """
        if self.resolve(rel) != rel:
            raise self.refuse(member, "it would be written through a symlink")
        if source and self.resolve(source) != source:
            raise self.refuse(member, f"a hard link through a symlink to {source!r}")
        if member.issym():
            parent = rel.rpartition("/")[0]
            target = member.linkname
            if absolute(target) or self.resolve(f"{parent}/{target}/") is None:
                raise self.refuse(
                    member, f"a symlink to {target!r}, which resolves outside the tree"
                )

    def link_target(self, member: tarfile.TarInfo, rel: str) -> None:
        """Refuse a symlink target that is absolute or climbs out of the tree."""
        target = member.linkname
        if not target or "\x00" in target:
            raise self.refuse(member, f"a symlink to {target!r}, empty or holding a NUL")
        if absolute(target):
            raise self.refuse(member, f"a symlink to the absolute path {target!r}")
        if _fs.climbs_out(rel, target):
            raise self.refuse(member, f"a symlink to {target!r}, outside the tree")

    def hard_link(self, member: tarfile.TarInfo, rel: str, source: str) -> None:
        """Give ``rel`` the content of the file ``source`` with the mode of ``member``."""
        inode = self.files[source]
        executable = bool(member.mode & 0o100)
        if rel == source:
            if inode.executable == executable:
                return
            if inode.names == {rel}:  # its only name: the mode changes in place
                self.forget(rel)
                os.chmod(self.path(rel), 0o755 if executable else 0o644)
                self.add(rel, _Inode(inode.content, executable))
                return
            self.clear(rel)
        same = self.inodes.get((inode.content, executable))
        if same is not None:  # linked, not copied: a link declares no data and writes none
            os.link(self.path(next(iter(same.names))), self.path(rel))
            self.add(rel, same)
            return
        self.copy(member, self.path(next(iter(inode.names))), rel)
        self.add(rel, _Inode(inode.content, executable))

    def copy(self, member: tarfile.TarInfo, source: str, rel: str) -> None:
        fd = os.open(source, _O_READ)
        try:
            size = os.fstat(fd).st_size
            if self.copied + size > self.written:
                raise self.refuse(
                    member,
                    f"a hard link whose copy would take the copies past the {self.written} "
                    "bytes of file data the archive holds",
                )
            self.copied += size
            with os.fdopen(fd, "rb", closefd=False) as f:
                _write_file(f, self.path(rel), member.mode, size)
        finally:
            os.close(fd)


def _write_file(source: _unpack.Reader, path: str, mode: int, size: int) -> None:
    """Write exactly ``size`` bytes of ``source`` at ``path``: never more than declared."""
    # Normalised: owner reads and writes, executable for all if the owner could run it.
    normal = 0o755 if mode & 0o100 else 0o644
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
        if _FCHMOD:  # by the descriptor: no second lookup of the path
            os.fchmod(fd, normal)
    finally:
        os.close(fd)
    if not _FCHMOD:  # pragma: no cover - Windows before Python 3.13
        os.chmod(path, normal)


def _kind(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` is not a file, directory or link Tar.jl extracts, or None."""
    if member.type in {tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE}:
        return None
    if member.issym() or member.islnk():
        return None
    if member.ischr() or member.isblk():
        return "a device"
    if member.isfifo():
        return "a FIFO"
    return f"an entry of type {member.type!r}"


def _check_member(member: tarfile.TarInfo, rel: str, state: _Extraction) -> str:
    """Apply Tar.jl's header rules and ours; return a hard link's source, else ``""``."""
    if member.issparse() or any(key.startswith("GNU.sparse.") for key in member.pax_headers):
        raise state.refuse(member, "a sparse file, whose holes could outgrow the disk")
    kind = _kind(member)
    if kind is not None:
        raise state.refuse(member, f"{kind}, not a file, directory or link")
    # Tar.jl's check_header: a path ending in '/' or '.' names a directory, and only a
    # link has a target; a link or a directory has no data.
    if getattr(member, "flag", b"") == b"\0" and member.isdir():
        raise state.refuse(member, "a file (type NUL) whose name ends in '/'")
    name = member.name
    if not member.isdir() and (name.endswith(("/", "/.")) or name == "."):
        raise state.refuse(member, "a non-directory whose name ends in '/' or '.'")
    if member.linkname and not (member.issym() or member.islnk()):
        raise state.refuse(member, f"a non-link with the link target {member.linkname!r}")
    if member.size and not member.isreg():
        raise state.refuse(member, f"a link or directory of {member.size} bytes")
    source = ""
    if member.issym():
        state.link_target(member, rel)
    elif member.islnk():
        source = state.relative(member, member.linkname, "hard link target")
        if source not in state.files:
            raise state.refuse(
                member, f"a hard link to {member.linkname!r}, not an earlier file of the archive"
            )
    return source


def _extract_member(stream: _unpack.TarStream, member: tarfile.TarInfo, state: _Extraction) -> None:
    rel = state.relative(member, member.name)
    source = _check_member(member, rel, state)
    if not rel:
        if member.isdir():
            return  # "./": the tree itself
        raise state.refuse(member, "a non-directory at the top of the tree")
    state.make_parents(member, rel)
    if not (member.isdir() and rel in state.dirs) and not (member.islnk() and source == rel):
        state.clear(rel)  # later wins, as in Tar.jl
        if member.islnk() and source not in state.files:
            raise state.refuse(member, f"a hard link to {source!r}, which this entry replaces")
    state.second_opinion(member, rel, source)
    path = state.path(rel)
    if member.isdir():
        if rel not in state.dirs:
            state.mkdir(rel)
    elif member.issym():
        os.symlink(member.linkname, path)
        state.links[rel] = member.linkname
    elif member.islnk():
        state.hard_link(member, rel, source)
    else:
        # Its data follows its headers: read here, with no file object of tarfile's
        if stream.tell() != member.offset_data:
            raise tarfile.ReadError(f"member {member.name!r}: its data is not where it starts")
        _write_file(stream, path, member.mode, member.size)
        stream.read(-member.size % tarfile.BLOCKSIZE)  # its padding: tarfile seeks no more
        state.written += member.size
        state.contents += 1
        state.add(rel, _Inode(state.contents, bool(member.mode & 0o100)))


def _check_links(state: _Extraction) -> None:
    """Resolve every extracted symlink on disk: a chain of links must not leave the tree."""
    top = os.path.realpath(state.dest)
    for rel in sorted(state.links):
        resolved = os.path.realpath(state.path(rel))
        if resolved != top and not resolved.startswith(top + os.sep):
            raise UnsafeArchive(state.archive, f"symlink {rel!r} resolves outside the tree")


def extract(tarball: str, dest: str, *, name: str | None = None) -> None:
    """Extract the tarball ``tarball`` into the fresh, empty directory ``dest``.

    Its compression (gzip, xz, bzip2, zstd or none) is read from its first bytes; an
    empty file, or an empty stream, is an empty tree. On any error ``dest`` may hold
    part of the archive: the caller removes it.

    Raises:
        UnsafeArchive: a member that could escape the tree or is not plain data.
        ArchiveError: the file is not a readable tarball (truncated, corrupt, malformed,
            compressed in a way this Python cannot read).
    """
    state = _Extraction(name or tarball, dest)
    try:
        stream = _unpack.TarStream(tarball, state.archive)
        try:
            # No bytes, or a zero block first (the end of an archive): an empty tree.
            if stream.head and (len(stream.head) < _unpack.BLOCK or stream.head.strip(b"\0")):
                _extract_all(stream, state)
            stream.drain(_CHUNK)
        finally:
            stream.close()
    except _tar_headers.Refused as exc:
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


def _extract_all(stream: _unpack.TarStream, state: _Extraction) -> None:
    # Read as a file (read, tell, a forward seek), not through tarfile.open's "r|" stream,
    # whose buffer of `bufsize` bytes is copied on every small read.
    fileobj = cast("IO[bytes]", stream)
    with tarfile.TarFile(fileobj=fileobj, mode="r", tarinfo=_tar_headers.TarInfo) as tar:
        while (member := tar.next()) is not None:
            _extract_member(stream, member, state)
            # tarfile keeps every member it read; none is needed again
            tar.members.clear()  # type: ignore[attr-defined]  # typeshed leaves it out
