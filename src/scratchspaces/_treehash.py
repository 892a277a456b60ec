r"""Git tree hashes of directories, equal to ``git write-tree`` over the same content.

A blob is hashed as git does, ``<algorithm>("blob <size>\0" + content)``; a tree as the
sorted list of its entries, ``<mode> <name>\0<raw hash>``, where a directory sorts as
if its name ended in ``/``. Empty directories (recursively) are left out, as git cannot
store them; a symlink is a blob of its target, never followed; the owner's executable
bit picks mode ``100755`` over ``100644``.

Speed (``benchmarks/bench_tree_hash.py``): a tree of many small files costs system
calls, not hashing, so the walk does as few as it can per file: the type comes from the
directory listing (no ``lstat``), the file is opened relative to its directory's
descriptor (no path lookup from the root), and one ``fstat`` on the open file gives both
the size and the executable bit; the file is then read in one ``read`` and hashed in the
calling thread. Threads do not pay there: every system call releases the GIL, and with
two threads each release becomes a hand-over between them that costs more than the call.
Large files are hashed after the walk in a thread pool, read into one reused buffer per
thread: hashlib releases the GIL while it hashes a block, so threads do hash side by side.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import threading
from typing import TYPE_CHECKING, Literal, NamedTuple

from .errors import UnsupportedFile

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

Algorithm = Literal["sha1", "sha256"]

_MODE_FILE = b"100644"
_MODE_EXEC = b"100755"
_MODE_LINK = b"120000"
_MODE_TREE = b"40000"

_BLOCK = 1 << 20  # read size for large files
_SMALL = 1 << 16  # files up to this size are read in one call during the walk
_BATCH_BYTES = 1 << 20  # the pool takes large files in batches of about this much
_PARALLEL_MIN_BYTES = 4 << 20  # below this, a pool costs more than it saves
# O_NONBLOCK: the listing said "regular file", but if a FIFO took its place since, the
# open must not wait for a writer (fstat then tells, and UnsupportedFile is raised).
# O_NOFOLLOW: likewise a symlink swapped in is not followed. Neither changes how a
# regular file is read.
_O_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
)
_O_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
# Where the OS can, files are opened and links read relative to their directory's
# descriptor; elsewhere (Windows) by their path.
_RELATIVE = os.open in os.supports_dir_fd and os.readlink in os.supports_dir_fd
_EXECUTABLE_BITS = sys.platform != "win32"  # Windows has no executable bit: git says 100644

_local = threading.local()
SEP = os.sep.encode()


def _buffer() -> memoryview:
    view: memoryview | None = getattr(_local, "view", None)
    if view is None:
        view = memoryview(bytearray(_BLOCK))
        _local.view = view
    return view


def _new(algorithm: Algorithm) -> Callable[[bytes], hashlib._Hash]:
    if algorithm == "sha1":
        return hashlib.sha1
    if algorithm == "sha256":
        return hashlib.sha256
    raise ValueError(f"algorithm must be 'sha1' or 'sha256', not {algorithm!r}")


def blob_hash_of_file(path: str, algorithm: Algorithm = "sha1") -> bytes:
    """Return the raw git blob hash of the regular file at ``path``.

    Raises:
        UnsupportedFile: ``path`` is a FIFO, socket or device.
        OSError: ``path`` is a symlink (``ELOOP``) or cannot be read, or a large file
            changed size while it was being hashed.
    """
    return _hash_path(os.fsencode(path), _new(algorithm))


def _hash_path(path: bytes, new: Callable[[bytes], hashlib._Hash]) -> bytes:
    fd = os.open(path, _O_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsupportedFile(os.fsdecode(path))
        if st.st_size <= _SMALL:
            return _hash_small(fd, st.st_size, new)
        return _hash_large(fd, st.st_size, new, path)
    finally:
        os.close(fd)


def _hash_small(fd: int, size: int, new: Callable[[bytes], hashlib._Hash]) -> bytes:
    """Hash a file read whole in one call (one more byte asked for: it sees EOF too)."""
    data = os.read(fd, size + 1)
    if len(data) > size:  # it grew since the stat: hash what is there now
        data += _read_rest(fd)
    return new(b"blob %d\0" % len(data) + data).digest()


def _read_rest(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, _BLOCK):
        chunks.append(chunk)
    return b"".join(chunks)


def _hash_large(fd: int, size: int, new: Callable[[bytes], hashlib._Hash], path: bytes) -> bytes:
    """Hash ``size`` bytes streamed through this thread's buffer (no allocation per block)."""
    h = new(b"blob %d\0" % size)
    view = _buffer()
    left = size
    while left:
        n = os.readv(fd, [view]) if hasattr(os, "readv") else _readinto(fd, view)
        if n == 0 or n > left:  # shorter, or longer (the rest of it in this very block)
            break
        h.update(view[:n])
        left -= n
    # The header promised ``size`` bytes, so a change cannot be absorbed as above.
    if left or os.read(fd, 1):
        raise OSError(f"{os.fsdecode(path)} changed size while it was being hashed")
    return h.digest()


def _readinto(fd: int, view: memoryview) -> int:  # pragma: no cover - Windows only
    data = os.read(fd, len(view))
    view[: len(data)] = data
    return len(data)


def blob_hash_of_bytes(data: bytes, algorithm: Algorithm = "sha1") -> bytes:
    """Return the raw git blob hash of ``data`` (a symlink's target, a small file)."""
    return _new(algorithm)(b"blob %d\0" % len(data) + data).digest()


class _Dir:
    """One directory of the walk."""

    __slots__ = ("dirs", "files", "links", "path")

    def __init__(self, path: bytes) -> None:
        self.path = path
        self.dirs: list[tuple[bytes, _Dir]] = []
        self.files: list[tuple[bytes, bytes, int]] = []  # name, mode, index into the hashes
        self.links: list[tuple[bytes, bytes]] = []  # name, target


def _walk(
    top: bytes, new: Callable[[bytes], hashlib._Hash], skip: frozenset[bytes]
) -> tuple[list[_Dir], list[bytes], list[tuple[bytes, int, int]]]:
    """Scan ``top``, hashing its small files on the way; entries named in ``skip`` are left out.

    Returns every directory, parents first; the hash of every regular file (``b""``
    for a large one, still to hash); and the large files as (path, size, index).
    """
    root = _Dir(top)
    dirs = [root]
    hashes: list[bytes] = []
    large: list[tuple[bytes, int, int]] = []
    stack = [(top, root)]
    while stack:
        path, node = stack.pop()
        # Only this directory's descriptor is open at a time, however deep the tree.
        dir_fd = os.open(path, _O_DIR_FLAGS) if _RELATIVE else None
        try:
            subdirs = _scan(path, dir_fd, node, new=new, hashes=hashes, large=large, skip=skip)
        finally:
            if dir_fd is not None:
                os.close(dir_fd)
        dirs += [child for _, child in subdirs]
        stack += subdirs
    return dirs, hashes, large


def _scan(
    path: bytes,
    dir_fd: int | None,
    node: _Dir,
    *,
    new: Callable[[bytes], hashlib._Hash],
    hashes: list[bytes],
    large: list[tuple[bytes, int, int]],
    skip: frozenset[bytes],
) -> list[tuple[bytes, _Dir]]:
    """Fill in ``node`` from the directory ``path``; return its subdirectories."""
    subdirs: list[tuple[bytes, _Dir]] = []
    with os.scandir(path) as it:
        for entry in it:
            name = entry.name
            if name in skip:
                continue
            # The listing's type: only a DT_UNKNOWN one makes is_*() call lstat.
            if entry.is_file(follow_symlinks=False):
                fd = os.open(name if dir_fd is not None else entry.path, _O_FLAGS, dir_fd=dir_fd)
                try:
                    st = os.fstat(fd)
                    if not stat.S_ISREG(st.st_mode):  # replaced since the listing
                        raise UnsupportedFile(os.fsdecode(entry.path))
                    executable = _EXECUTABLE_BITS and st.st_mode & stat.S_IXUSR
                    node.files.append((name, _MODE_EXEC if executable else _MODE_FILE, len(hashes)))
                    size = st.st_size
                    if size <= _SMALL:
                        # _hash_small inlined: this is the loop of a tree of small files
                        data = os.read(fd, size + 1)
                        if len(data) > size:
                            data += _read_rest(fd)
                        hashes.append(new(b"blob %d\0" % len(data) + data).digest())
                    else:  # re-opened by path after the walk, maybe in another thread
                        large.append((entry.path, size, len(hashes)))
                        hashes.append(b"")
                finally:
                    os.close(fd)
            elif entry.is_dir(follow_symlinks=False):
                child = _Dir(entry.path)
                node.dirs.append((name, child))
                subdirs.append((entry.path, child))
            elif entry.is_symlink():
                target = os.readlink(name if dir_fd is not None else entry.path, dir_fd=dir_fd)
                node.links.append((name, target))
            else:
                raise UnsupportedFile(os.fsdecode(entry.path))
    return subdirs


def _batches(large: list[tuple[bytes, int, int]]) -> list[list[tuple[bytes, int, int]]]:
    """Biggest first, so the last tasks are short; files under 1 MiB grouped to 1 MiB."""
    batches: list[list[tuple[bytes, int, int]]] = []
    current: list[tuple[bytes, int, int]] = []
    current_bytes = 0
    for item in sorted(large, key=lambda item: -item[1]):
        current.append(item)
        current_bytes += item[1]
        if current_bytes >= _BATCH_BYTES:
            batches.append(current)
            current, current_bytes = [], 0
    if current:
        batches.append(current)
    return batches


def _hash_large_files(
    large: list[tuple[bytes, int, int]],
    hashes: list[bytes],
    new: Callable[[bytes], hashlib._Hash],
    threads: int | None,
) -> None:
    """Fill in the hashes of the large files, in a thread pool when that pays."""

    def run(batch: Iterable[tuple[bytes, int, int]]) -> None:
        for path, _, index in batch:
            hashes[index] = _hash_path(path, new)

    workers = threads if threads is not None else min(8, (os.cpu_count() or 1) + 1)
    if workers <= 1 or len(large) < 2 or sum(size for _, size, _ in large) < _PARALLEL_MIN_BYTES:
        run(large)
        return
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only for big trees

    batches = _batches(large)
    with ThreadPoolExecutor(max_workers=min(workers, len(batches))) as pool:
        for _ in pool.map(run, batches):
            pass


def _hash(
    path: str | os.PathLike[str],
    algorithm: Algorithm,
    threads: int | None,
    during: Callable[[bytes, list[_Dir], list[bytes]], None] | None = None,
    skip: frozenset[bytes] = frozenset(),
) -> tuple[str, bytes, list[_Dir], list[bytes]]:
    """Walk and hash ``path``: its tree hash, its path as bytes, the walk and the blobs.

    ``during(top, dirs, hashes)`` runs in the calling thread while the large files are
    hashed in others (their hashes still ``b""``); only if there are large files.
    """
    new = _new(algorithm)
    top = os.path.normpath(os.fspath(path))  # "a//b/" would cut relative paths wrongly
    if not os.path.isdir(top):
        raise NotADirectoryError(f"not a directory: {top!r}")
    # bytes all the way: names come out of the listing as git stores them, unencoded
    top_bytes = os.fsencode(top)
    dirs, hashes, large = _walk(top_bytes, new, skip)
    if during is None or not large:
        _hash_large_files(large, hashes, new, threads)
    else:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only for big trees

        with ThreadPoolExecutor(max_workers=1) as background:
            hashing = background.submit(_hash_large_files, large, hashes, new, threads)
            try:
                during(top_bytes, dirs, hashes)
            finally:
                hashing.result()  # waits; raises what the hashing raised
    digests: dict[int, bytes] = {}
    for node in reversed(dirs):  # children before parents
        entries = [(name, mode, hashes[index]) for name, mode, index in node.files]
        entries += [
            (name, _MODE_LINK, new(b"blob %d\0" % len(t) + t).digest()) for name, t in node.links
        ]
        entries += [(name, _MODE_TREE, digests[id(d)]) for name, d in node.dirs if id(d) in digests]
        if not entries:
            continue  # an empty directory (or only empty ones): git cannot store it
        # git sorts a tree's entries by name, a directory's name as if it ended in "/".
        entries.sort(key=lambda e: e[0] + b"/" if e[1] == _MODE_TREE else e[0])
        body = b"".join(mode + b" " + name + b"\0" + digest for name, mode, digest in entries)
        digests[id(node)] = new(b"tree %d\0" % len(body) + body).digest()
    tree = digests.get(id(dirs[0]), new(b"tree 0\0").digest()).hex()
    return tree, top_bytes, dirs, hashes


def tree_hash(
    path: str | os.PathLike[str], algorithm: Algorithm = "sha1", *, threads: int | None = None
) -> str:
    """Return the git tree hash of the directory ``path``, as ``git write-tree`` gives it.

    Entries named ``.git``, at any depth, are left out as Julia's Pkg does: git cannot store one.

    Args:
        path: a directory.
        algorithm: ``"sha1"`` (git's default object format) or ``"sha256"``.
        threads: how many threads hash large files side by side; default: one more than
            the CPUs, at most 8. ``1`` hashes in the calling thread.

    Raises:
        NotADirectoryError: ``path`` is not a directory.
        UnsupportedFile: the tree holds a FIFO, socket or device.
        ValueError: an unknown algorithm.
    """
    return _hash(path, algorithm, threads, skip=_GIT)[0]


_GIT = frozenset({b".git"})


class Listing(NamedTuple):
    """A directory as :func:`tree_listing` found it, paths relative to it (bytes)."""

    tree: str
    """The git tree hash of the directory."""
    dirs: list[bytes]
    """Every subdirectory, parents before children (empty ones too)."""
    files: list[tuple[bytes, bytes, bool]]
    """Every regular file: (path, raw blob hash, executable)."""
    links: list[tuple[bytes, bytes]]
    """Every symlink: (path, target)."""


def _listing(tree: str, top: bytes, dirs: list[_Dir], hashes: list[bytes]) -> Listing:
    """Return what the walk found; files whose hash is still pending are left out."""
    cut = len(top.rstrip(SEP)) + 1
    listing = Listing(tree, [], [], [])
    for node in dirs[1:]:
        listing.dirs.append(node.path[cut:])
    for node in dirs:
        prefix = node.path[cut:] + SEP if node is not dirs[0] else b""
        listing.files.extend(
            (prefix + n, hashes[i], mode == _MODE_EXEC) for n, mode, i in node.files if hashes[i]
        )
        listing.links.extend((prefix + n, target) for n, target in node.links)
    return listing


def tree_listing(
    path: str | os.PathLike[str],
    algorithm: Algorithm = "sha256",
    *,
    threads: int | None = None,
    during: Callable[[Listing], None] | None = None,
) -> Listing:
    """Return the tree hash of ``path`` and what it holds, from one walk and one hash each.

    ``during(partial)`` runs in the calling thread while large files are hashed in
    others, with what is known by then (every directory and link, the files hashed in
    the walk, ``tree`` empty): work that needs those hashes overlaps the rest. It is not
    called when the walk hashed everything.

    Raises:
        NotADirectoryError: ``path`` is not a directory.
        UnsupportedFile: the tree holds a FIFO, socket or device.
    """

    def early(top: bytes, dirs: list[_Dir], hashes: list[bytes]) -> None:
        if during is not None:
            during(_listing("", top, dirs, hashes))

    tree, top, dirs, hashes = _hash(path, algorithm, threads, early)
    return _listing(tree, top, dirs, hashes)
