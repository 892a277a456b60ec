"""An old cache folder of a package, as ``get_scratch(key, move_from=...)`` finds one.

``make_old`` writes one holding something of every kind a move must keep (read-only and
executable files, an empty and a read-only folder, links in the tree, out of it and to
nothing, a hard link), all dated in 2020; ``fingerprint`` describes a tree so that two
can be compared: the same kinds, modes, contents, link targets and dates.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

OLD_TIME = 1_600_000_000_000_000_000  # 2020-09-13, in ns: kept dates are told from new ones


def make_old(old: Path, outside: Path) -> None:
    """Write the old cache ``old``; one of its links points to ``outside``, a file it writes."""
    outside.write_bytes(b"not ours")
    old.mkdir(parents=True)
    (old / "a.txt").write_bytes(b"a\n")
    (old / "run.sh").write_bytes(b"#!/bin/sh\n")
    (old / "run.sh").chmod(0o755)
    (old / "ro.txt").write_bytes(b"read only\n")
    (old / "ro.txt").chmod(0o444)
    (old / "sub" / "deep").mkdir(parents=True)
    (old / "sub" / "deep" / "b.bin").write_bytes(bytes(range(256)) * 64)
    (old / "empty").mkdir()
    (old / "link").symlink_to("a.txt")
    (old / "sub" / "out").symlink_to(outside)  # out of the tree: never followed
    (old / "dangling").symlink_to("nowhere")
    os.link(old / "a.txt", old / "sub" / "hard")
    (old / "locked").mkdir()
    (old / "locked" / "x").write_bytes(b"x")
    for path in sorted(old.rglob("*"), reverse=True):
        os.utime(path, ns=(OLD_TIME, OLD_TIME), follow_symlinks=False)
    (old / "locked").chmod(0o555)


def fingerprint(top: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``top``: kind, mode, content or target, date (links' dates left out)."""
    found: dict[str, tuple[object, ...]] = {}
    for path in top.rglob("*"):
        st = path.lstat()
        rel = path.relative_to(top).as_posix()
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            found[rel] = ("link", os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            found[rel] = ("dir", mode, st.st_mtime_ns)
        elif stat.S_ISREG(st.st_mode):
            found[rel] = ("file", mode, path.read_bytes(), st.st_mtime_ns)
        else:  # a FIFO: never opened (that would wait for a writer)
            found[rel] = ("other", stat.S_IFMT(st.st_mode), mode)
    return found
