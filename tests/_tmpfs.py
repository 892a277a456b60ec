"""A small real tmpfs for tests of full and read-only disks.

``mounted(where, size=..., nr_inodes=...)`` mounts a tmpfs of ``size`` bytes (and at most
``nr_inodes`` inodes) at ``where``, yields a ``Tmpfs`` and always unmounts it, whatever
the test left on it. Where ``mount`` is refused (not root, no ``CAP_SYS_ADMIN``, not
Linux, no ``mount`` program) the test is skipped, never failed. ``Tmpfs`` fills the
filesystem by blocks (one big file) or by inodes (many empty files), frees it again,
and remounts it read-only or read-write::

    @pytest.fixture
    def small(tmp_path: Path) -> Iterator[Tmpfs]:
        with mounted(tmp_path / "mnt", size=4 * 2**20, nr_inodes=256) as fs:
            yield fs

    def test_full(small: Tmpfs, monkeypatch: pytest.MonkeyPatch) -> None:
        use_depots(monkeypatch, small.path / "depot")
        ...
        small.fill_blocks()  # now every write needing a block fails with ENOSPC
        ...
        small.free()

The ``tmpfs`` fixture below does the same for one mount per test: request it through
``pytest_plugins = ("_tmpfs",)`` in a test module or use ``mounted`` directly.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

FILLER = ".filler"
"""The folder on the tmpfs that holds what ``fill_blocks`` and ``fill_inodes`` write."""

_CHUNK = 64 * 1024


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False)


@dataclass
class Tmpfs:
    """A mounted tmpfs: its mount point ``path`` and what was asked of it.

    A test that renames the mount point (into a trash, say) sets ``path`` to where it
    went, so that it is still unmounted at the end.
    """

    path: Path
    size: int
    nr_inodes: int | None = None
    read_only: bool = False
    _fillers: list[Path] = field(default_factory=list, repr=False)

    def fill_blocks(self, *, leave: int = 0) -> int:
        """Write one big file until the filesystem refuses a block (ENOSPC); return its size.

        ``leave``: bytes to give back afterwards (rounded to pages by the kernel), for a
        disk that is nearly, not quite, full.
        """
        folder = self._filler_folder()
        big = folder / f"blocks-{len(self._fillers)}"
        self._fillers.append(big)
        written = 0
        chunk = b"\xa5" * _CHUNK
        with big.open("wb", buffering=0) as f:
            while True:
                try:
                    n = f.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 1:
                        break
                    chunk = chunk[: len(chunk) // 2]  # fill the last partial page too
                    continue
                written += n or 0
            if leave:
                written = max(0, written - leave)
                f.truncate(written)
        return written

    def fill_inodes(self) -> int:
        """Create empty files until the filesystem has no inode left (ENOSPC); return how many."""
        folder = self._filler_folder()
        count = 0
        while True:
            path = folder / f"inode-{len(self._fillers)}"
            try:
                path.touch(exist_ok=False)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return count
            self._fillers.append(path)
            count += 1

    def free(self) -> None:
        """Remove everything ``fill_blocks`` and ``fill_inodes`` wrote."""
        was_read_only = self.read_only
        if was_read_only:
            self.remount(read_only=False)
        shutil.rmtree(self.path / FILLER, ignore_errors=True)
        self._fillers.clear()
        if was_read_only:
            self.remount(read_only=True)

    def remount(self, *, read_only: bool = True) -> None:
        """Remount read-only (``mount -o remount,ro``), or read-write again."""
        done = _run("mount", "-o", "remount," + ("ro" if read_only else "rw"), str(self.path))
        if done.returncode != 0:
            msg = f"remounting {self.path} failed: {done.stderr.strip()}"
            raise OSError(errno.EPERM, msg)
        self.read_only = read_only

    @contextlib.contextmanager
    def read_only_for(self) -> Iterator[Tmpfs]:
        """Inside the block the filesystem is read-only; afterwards read-write again."""
        self.remount(read_only=True)
        try:
            yield self
        finally:
            self.remount(read_only=False)

    def free_bytes(self) -> int:
        """Bytes still free for an unprivileged writer."""
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def free_inodes(self) -> int:
        """Inodes still free."""
        return os.statvfs(self.path).f_favail

    def _filler_folder(self) -> Path:
        folder = self.path / FILLER
        folder.mkdir(exist_ok=True)
        return folder


def _is_mount_point(path: Path) -> bool:
    with contextlib.suppress(OSError):
        return os.path.ismount(path)
    return False


def _unmount(path: Path) -> None:
    if not _is_mount_point(path):
        return
    if _run("umount", str(path)).returncode != 0 and _is_mount_point(path):
        # Something still holds a file open on it: detach now, the kernel frees it later.
        _run("umount", "-l", str(path))


@contextlib.contextmanager
def mounted(where: Path, *, size: int, nr_inodes: int | None = None) -> Iterator[Tmpfs]:
    """Mount a tmpfs of ``size`` bytes (``nr_inodes`` inodes at most) at ``where``.

    ``where`` is created if missing. Skips the calling test where mounting is refused;
    always unmounts on the way out.
    """
    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs Linux and the mount program")
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0755"
    if nr_inodes is not None:
        options += f",nr_inodes={nr_inodes}"
    done = _run("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where))
    if done.returncode != 0 or not _is_mount_point(where):
        pytest.skip(f"mounting a tmpfs was refused: {done.stderr.strip() or done.returncode}")
    fs = Tmpfs(where, size, nr_inodes)
    try:
        yield fs
    finally:
        _unmount(fs.path)  # a test that moved the mount point says where it went
        _unmount(where)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Tmpfs]]:
    """A factory: ``tmpfs(size=..., nr_inodes=None)`` mounts one more tmpfs for this test.

    Every tmpfs it mounted is unmounted at the end of the test.
    """
    with contextlib.ExitStack() as stack:
        count = 0

        def mount(*, size: int, nr_inodes: int | None = None) -> Tmpfs:
            nonlocal count
            count += 1
            where = tmp_path / f"tmpfs-{count}"
            return stack.enter_context(mounted(where, size=size, nr_inodes=nr_inodes))

        yield mount
