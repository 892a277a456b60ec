"""Git as the oracle of hashes: real ``git`` for trees and blobs, and blob hashes by hand.

Git runs with none of the caller's ``GIT_*`` variables and no user or system
configuration, with symlinks and the executable bit taken as they are on disk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from scratchspaces._treehash import Algorithm

HAVE_GIT = shutil.which("git") is not None


def blob_sha256(data: bytes) -> str:
    """Git's sha256 blob hash of ``data``, computed here rather than by the library."""
    return hashlib.sha256(b"blob %d\0" % len(data) + data).hexdigest()


def git_env(home: Path) -> dict[str, str]:
    """The environment without any GIT_* of the caller and without user or system config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    return env


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    """Run ``git args`` in ``repo``; return its output, stripped (it must succeed)."""
    result = subprocess.run(
        ["git", "-c", "core.symlinks=true", "-c", "core.filemode=true", *args],
        cwd=repo,
        env=git_env(repo.parent),
        input=stdin,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode().strip()


def git_write_tree(tree: Path, scratch: Path, algorithm: Algorithm) -> str:
    """What git says the tree hash of ``tree`` is (``scratch`` must not exist yet).

    The tree is copied, symlinks kept as symlinks, into ``scratch``, a fresh repository
    of ``algorithm``'s object format, then ``git add -A && git write-tree``.
    """
    shutil.copytree(tree, scratch, symlinks=True)
    git(scratch, "init", "-q", f"--object-format={algorithm}")
    git(scratch, "add", "-A")
    return git(scratch, "write-tree")


class Git:
    """Git's hashes in one object format, in repositories made under ``where``."""

    def __init__(self, where: Path, algorithm: Algorithm = "sha256") -> None:
        self.where = where
        self.algorithm = algorithm
        self.blobs = where / "blobs"
        self.blobs.mkdir(parents=True)
        git(self.blobs, "init", "-q", f"--object-format={algorithm}")
        self._trees = 0

    def hash_object(self, data: bytes) -> str:
        """``git hash-object`` of ``data``."""
        return git(self.blobs, "hash-object", "--stdin", stdin=data)

    def write_tree(self, tree: Path) -> str:
        """``git write-tree`` of a copy of ``tree``."""
        self._trees += 1
        return git_write_tree(tree, self.where / f"tree-{self._trees}", self.algorithm)
