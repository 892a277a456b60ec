"""The content cache's first use in a process stays light: it runs inside packages' imports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from scratchspaces import cache
from scratchspaces.cache import _store

if TYPE_CHECKING:
    from pathlib import Path

# What a package does at import: find its binding file, look a name up, check the entry.
STARTUP = """
import sys
from scratchspaces import cache
toml = cache.my_artifacts_toml("some-package")
h = cache.my_artifact_hash("data", toml)
assert h is not None and cache.my_artifact_exists(h)
print(" ".join(sorted(sys.modules)))
"""

HEAVY = ("dataclasses", "hashlib", "filelock", "tarfile", "urllib.request", "rich", "fsspec")


def _startup(cwd: Path) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", STARTUP], capture_output=True, text=True, cwd=cwd, check=True
    )
    return set(result.stdout.split())


def test_startup_loads_no_hashing_locking_or_recycling(tmp_path: Path) -> None:
    """Binding file, lookup and existence check import none of the heavy modules."""
    toml = cache.my_artifacts_toml("some-package")  # the binding file the script finds
    cache.bind_my_artifact(toml, "data", cache.create_my_artifact(lambda d: None))
    cache.find_orphanages()  # stamps the store: the weekly run is not due
    _startup(tmp_path)  # the first run records the binding space in the access log
    loaded = _startup(tmp_path)
    assert not loaded.intersection(HEAVY), loaded.intersection(HEAVY)


def _one_file(working_dir: Path) -> None:
    (working_dir / "f").write_text("orphan")


def test_weekly_recycling_runs_once_per_process_when_due(depot: Path) -> None:
    """A stale stamp makes the first use recycle; a fresh one costs only a stat."""
    toml = cache.my_artifacts_toml()
    orphan = cache.create_my_artifact(_one_file)
    cache.bind_my_artifact(toml, "kept", cache.create_my_artifact(lambda d: None))
    store = _store.current_store()
    orphanage = os.path.join(store, "orphaned.toml")
    with open(orphanage, "w") as f:  # an orphan since long ago
        f.write(f'"{orphan}" = 2020-01-01T00:00:00.000Z\n')
    stamp = os.path.join(store, _store.STAMP_NAME)
    with open(stamp, "w"):
        pass
    _store.forget()
    assert cache.my_artifact_exists(orphan)  # fresh stamp: nothing runs
    week_ago = time.time() - timedelta(days=8).total_seconds()
    os.utime(stamp, (week_ago, week_ago))
    _store.forget()  # as a new process
    assert not cache.my_artifact_exists(orphan)  # the first use recycled it
    assert cache.my_artifact_exists(cache.my_artifact_hash("kept", toml) or "")
    assert os.stat(stamp).st_mtime > week_ago + 3600
