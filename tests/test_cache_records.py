"""The binding files decide, the usage records only say where to look."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING

from scratchspaces import cache
from scratchspaces.cache import _bindings, _store

if TYPE_CHECKING:
    from pathlib import Path

ZERO = timedelta(0)


def _dataset(working_dir: Path) -> None:
    (working_dir / "a.csv").write_text("1,2\n")
    (working_dir / "b.csv").write_text("3,4\n")


def _other(working_dir: Path) -> str:
    (working_dir / "x").write_bytes(b"x")
    return "x"


def test_lost_usage_records_cost_no_bound_entry() -> None:
    """With usage.toml gone, recycling reads the packages' binding files and heals it."""
    toml = cache.my_artifacts_toml("some-package")
    kept = cache.create_my_artifact(_dataset)
    cache.bind_my_artifact(toml, "dataset", kept)
    unbound = cache.create_my_artifact(_other)
    store = _store.current_store()
    os.unlink(_bindings.usage_path(store))

    report = cache.find_orphanages(collect_delay=ZERO)

    assert cache.my_artifact_exists(kept)
    assert len(list(cache.my_artifact_path(kept).iterdir())) == 2
    assert not cache.my_artifact_exists(unbound)
    assert cache.my_artifact_path(unbound) in report.deleted
    records = _bindings.read_usage(store).records
    assert _bindings.Use(str(toml), "dataset") in records[kept]  # healed
    [(_when, files)] = records[kept].values()
    assert len(files) == 2  # with the file entries the directory reaches
