r"""Git tree hashes of directories, equal to ``git write-tree`` over the same content.

A blob is hashed as git does, ``<algorithm>("blob <size>\0" + content)``; a tree as the
sorted list of its entries, ``<mode> <name>\0<raw hash>``, where a directory sorts as
if its name ended in ``/``. Empty directories (recursively) are left out, as git cannot
store them; a symlink is a blob of its target, never followed; the owner's executable
bit picks mode ``100755`` over ``100644``.

Speed: files are read with ``os.read`` into one reused buffer per thread and hashed by
hashlib, which releases the GIL for all but tiny updates, so a thread pool hashes files
side by side. Many small files are handed to the pool in batches, so the pool's own
overhead stays per batch rather than per file (``benchmarks/bench_tree_hash.py``).
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import threading
from typing import TYPE_CHECKING, Literal

from ..errors import UnsupportedFile

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

Algorithm = Literal["sha1", "sha256"]

_MODE_FILE = b"100644"
_MODE_EXEC = b"100755"
_MODE_LINK = b"120000"
_MODE_TREE = b"40000"

_BLOCK = 1 << 20  # read size for large files
_SMALL = 1 << 16  # files up to this size are read in one call and batched
_BATCH_BYTES = 1 << 20  # a batch of small files holds about this much
_PARALLEL_MIN_BYTES = 4 << 20  # below this, a pool costs more than it saves
_O_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
_EXECUTABLE_BITS = sys.platform != "win32"  # Windows has no executable bit: git says 100644

_local = threading.local()


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
    """Return the raw git blob hash of the regular file at ``path``."""
    new = _new(algorithm)
    fd = os.open(path, _O_FLAGS)
    try:
        size = os.fstat(fd).st_size
        if size <= _SMALL:
            data = os.read(fd, size + 1)
            while len(data) > size:  # it grew since the stat: read what is there now
                more = os.read(fd, _BLOCK)
                if not more:
                    break
                data += more
            return new(b"blob %d\0" % len(data) + data).digest()
        h = new(b"blob %d\0" % size)
        view = _buffer()
        left = size
        while left:
            n = os.readv(fd, [view]) if hasattr(os, "readv") else _readinto(fd, view)
            if n == 0:
                break
            h.update(view[: min(n, left)])
            left -= min(n, left)
        if left or os.read(fd, 1):
            raise OSError(f"{path} changed size while it was being hashed")
        return h.digest()
    finally:
        os.close(fd)


def _readinto(fd: int, view: memoryview) -> int:  # pragma: no cover - Windows only
    data = os.read(fd, len(view))
    view[: len(data)] = data
    return len(data)


def blob_hash_of_bytes(data: bytes, algorithm: Algorithm = "sha1") -> bytes:
    """Return the raw git blob hash of ``data`` (a symlink's target, a small file)."""
    return _new(algorithm)(b"blob %d\0" % len(data) + data).digest()


class _Dir:
    """One directory of the walk."""

    __slots__ = ("dirs", "files", "links")

    def __init__(self) -> None:
        self.dirs: list[tuple[bytes, _Dir]] = []
        self.files: list[tuple[bytes, bytes, int]] = []  # name, mode, index into the hashes
        self.links: list[tuple[bytes, bytes]] = []  # name, target


def _walk(top: str) -> tuple[list[_Dir], list[tuple[str, int]]]:
    """Scan ``top``: every directory, parents first, and every regular file (path, size)."""
    root = _Dir()
    files: list[tuple[str, int]] = []
    dirs = [root]
    stack = [(top, root)]
    while stack:
        path, node = stack.pop()
        with os.scandir(path) as it:
            for entry in it:
                name = os.fsencode(entry.name)
                st = entry.stat(follow_symlinks=False)
                mode = st.st_mode
                if stat.S_ISREG(mode):
                    executable = _EXECUTABLE_BITS and mode & stat.S_IXUSR
                    node.files.append((name, _MODE_EXEC if executable else _MODE_FILE, len(files)))
                    files.append((entry.path, st.st_size))
                elif stat.S_ISDIR(mode):
                    child = _Dir()
                    node.dirs.append((name, child))
                    dirs.append(child)
                    stack.append((entry.path, child))
                elif stat.S_ISLNK(mode):
                    node.links.append((name, os.fsencode(os.readlink(entry.path))))
                else:
                    raise UnsupportedFile(entry.path)
    return dirs, files


def _batches(files: list[tuple[str, int]]) -> list[list[int]]:
    """Large files one per task, biggest first; small ones in batches of about 1 MiB."""
    batches: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for index in sorted(range(len(files)), key=lambda i: -files[i][1]):
        size = files[index][1]
        if size > _SMALL:
            batches.append([index])
            continue
        current.append(index)
        current_bytes += size + 4096  # an open and a close cost about as much as a page
        if current_bytes >= _BATCH_BYTES:
            batches.append(current)
            current, current_bytes = [], 0
    if current:
        batches.append(current)
    return batches


def _hash_files(
    files: list[tuple[str, int]], algorithm: Algorithm, threads: int | None
) -> list[bytes]:
    """Return each file's raw blob hash, hashed in a thread pool when that pays."""
    hashes = [b""] * len(files)

    def run(batch: Iterable[int]) -> None:
        for index in batch:
            hashes[index] = blob_hash_of_file(files[index][0], algorithm)

    workers = threads if threads is not None else min(8, (os.cpu_count() or 1) + 1)
    if workers <= 1 or len(files) < 2 or sum(s for _, s in files) < _PARALLEL_MIN_BYTES:
        run(range(len(files)))
        return hashes
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only for big trees

    batches = _batches(files)
    with ThreadPoolExecutor(max_workers=min(workers, len(batches))) as pool:
        for _ in pool.map(run, batches):
            pass
    return hashes


def tree_hash(
    path: str | os.PathLike[str], algorithm: Algorithm = "sha1", *, threads: int | None = None
) -> str:
    """Return the git tree hash of the directory ``path``, as ``git write-tree`` gives it.

    Args:
        path: a directory.
        algorithm: ``"sha1"`` (git's default object format) or ``"sha256"``.
        threads: how many threads hash files side by side; default: one more than the
            CPUs, at most 8. ``1`` hashes in the calling thread.

    Raises:
        NotADirectoryError: ``path`` is not a directory.
        UnsupportedFile: the tree holds a FIFO, socket or device.
        ValueError: an unknown algorithm.
    """
    new = _new(algorithm)
    top = os.fspath(path)
    if not os.path.isdir(top):
        raise NotADirectoryError(f"not a directory: {top!r}")
    dirs, files = _walk(top)
    hashes = _hash_files(files, algorithm, threads)
    digests: dict[int, bytes] = {}
    for node in reversed(dirs):  # children before parents
        entries = [(name, mode, hashes[index]) for name, mode, index in node.files]
        entries += [(name, _MODE_LINK, blob_hash_of_bytes(t, algorithm)) for name, t in node.links]
        entries += [(name, _MODE_TREE, digests[id(d)]) for name, d in node.dirs if id(d) in digests]
        if not entries:
            continue  # an empty directory (or only empty ones): git cannot store it
        # git sorts a tree's entries by name, a directory's name as if it ended in "/".
        entries.sort(key=lambda e: e[0] + b"/" if e[1] == _MODE_TREE else e[0])
        body = b"".join(mode + b" " + name + b"\0" + digest for name, mode, digest in entries)
        digests[id(node)] = new(b"tree %d\0" % len(body) + body).digest()
    return digests.get(id(dirs[0]), new(b"tree 0\0").digest()).hex()
