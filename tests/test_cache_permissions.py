"""Directory entries are read-only all the way down, and recycling still removes them.

Run as a user whom permission bits bind (root without its override capabilities), so
that a writable folder or a failed rename would show.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from _venvs import DROP_OVERRIDE, run_bound_by_permissions

if TYPE_CHECKING:
    from pathlib import Path

CODE = """
import datetime, os, stat
from pathlib import Path
from scratchspaces import cache

def fill(d: Path) -> None:
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "sub" / "deeper" / "a.txt").write_text("a")
    (d / "top.txt").write_text("top")

toml = Path("Artifacts.toml").resolve()
h = cache.create_my_artifact(fill)
cache.bind_my_artifact(toml, "d", h)
entry = cache.my_artifact_path(h)
for folder in (entry, entry / "sub", entry / "sub" / "deeper"):
    assert stat.S_IMODE(os.lstat(folder).st_mode) & 0o222 == 0, folder
try:
    (entry / "sub" / "new.txt").write_text("x")
except PermissionError:
    pass
else:
    raise AssertionError("a directory entry took a new file")
assert (entry / "sub" / "deeper" / "a.txt").read_text() == "a"
cache.unbind_my_artifact(toml, "d")
report = cache.find_orphanages(collect_delay=datetime.timedelta(0))
assert not os.path.lexists(entry), entry
print(len(report.deleted))
"""


@pytest.mark.skipif(DROP_OVERRIDE is None, reason="root without setpriv: permissions never bind")
def test_read_only_directory_entries_are_recycled_whole(tmp_path: Path, depot: Path) -> None:
    """No folder of a directory entry is writable, yet recycling removes it and its files."""
    result = run_bound_by_permissions(CODE, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"  # the directory and its two files
    store = depot / "scratchspaces" / "scratchspaces" / "_cache"
    assert not (store / ".trash").exists()
    prefixes = list((store / "artifacts").iterdir())  # the <ab> folders stay, for reuse
    assert all(os.listdir(p) == [] for p in prefixes)
