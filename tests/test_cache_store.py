"""The content cache's store (``scratchspaces.cache._store``): light first use, later depots.

The first use in a process runs inside packages' imports, so it stays light: no hashing,
locking or recycling unless the weekly recycling is due. Entries of later depots are
found and bound, never written or collected.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from _fills import dataset
from _processes import modules_after
from scratchspaces import cache
from scratchspaces.cache import _store

ZERO = timedelta(0)


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


def test_startup_loads_no_hashing_locking_or_recycling(tmp_path: Path) -> None:
    """Binding file, lookup and existence check import none of the heavy modules."""
    toml = cache.my_artifacts_toml("some-package")  # the binding file the script finds
    cache.bind_my_artifact(toml, "data", cache.create_my_artifact(lambda d: None))
    cache.find_orphanages()  # stamps the store: the weekly run is not due
    modules_after(STARTUP, tmp_path)  # the first run records the binding space in the access log
    loaded = modules_after(STARTUP, tmp_path)
    assert not loaded.intersection(HEAVY), loaded.intersection(HEAVY)


def _one_file(working_dir: Path) -> None:
    (working_dir / "f").write_text("orphan")


def test_later_depots_are_searched_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry a site depot holds is found, bound and reused; the user depot stays empty."""
    user, site = tmp_path / "user", tmp_path / "site"
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", str(site))
    h = cache.create_my_artifact(dataset)
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", os.pathsep.join([str(user), str(site)]))
    assert cache.my_artifact_exists(h)
    assert site in cache.my_artifact_path(h).parents
    assert cache.create_my_artifact(dataset) == h  # found whole in the site depot
    toml = tmp_path / "Artifacts.toml"
    cache.bind_my_artifact(toml, "data", h)
    assert (cache.my_artifact_path(h) / "a.csv").read_text() == "1,2\n"
    cache.unbind_my_artifact(toml, "data")
    cache.find_orphanages(collect_delay=ZERO)
    assert cache.my_artifact_exists(h)  # a read-only depot is never collected
    assert not Path(_store.entry_path(_store.store_of_depot(str(user)), h)).exists()
