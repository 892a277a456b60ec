"""Races forced, not hoped for: processes released together by a barrier."""

from __future__ import annotations

import multiprocessing
import sys
from collections import Counter
from typing import TYPE_CHECKING

import scratchspaces
from _processes import running

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier
    from pathlib import Path

WORKERS = 8
SHARED_KEYS = 20
OWN_KEYS = 5

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib


def _create_spaces(barrier: Barrier, worker: int) -> None:
    barrier.wait(60)
    for i in range(SHARED_KEYS):
        (scratchspaces.get_scratch(f"shared-{i}", "race-ns") / f"from-{worker}").touch()
    for i in range(OWN_KEYS):
        scratchspaces.get_scratch(f"own-{worker}-{i}", "race-ns")
    scratchspaces.get_scratch("global", scratchspaces.GLOBAL)


def test_eight_processes_creating_spaces_leave_a_whole_log(depot: Path) -> None:
    barrier = multiprocessing.get_context("spawn").Barrier(WORKERS)
    with running(_create_spaces, [(barrier, w) for w in range(WORKERS)]) as procs:
        pass
    assert [p.exitcode for p in procs] == [0] * WORKERS

    # A strict TOML parser is the oracle: no torn or interleaved record.
    data = tomllib.loads((depot / "logs" / "scratch_usage.toml").read_text())
    root = depot / "scratchspaces"
    expected = {str(root / "race-ns" / f"shared-{i}") for i in range(SHARED_KEYS)}
    expected |= {
        str(root / "race-ns" / f"own-{w}-{i}") for w in range(WORKERS) for i in range(OWN_KEYS)
    }
    expected.add(str(root / "_global" / "global"))
    assert set(data) == expected
    for path in expected:
        assert (depot / path).is_dir()
    # Every process ran from this test file, so every space had one parent, recorded once.
    counts = Counter(len(entries) for entries in data.values())
    assert counts == {1: len(expected)}
    for i in range(SHARED_KEYS):
        assert len(list((root / "race-ns" / f"shared-{i}").iterdir())) == WORKERS


def _churn(barrier: Barrier, worker: int) -> None:
    barrier.wait(60)
    for i in range(150):
        path = scratchspaces.get_scratch(f"w{worker}-{i}", "churn")
        (path / "f").touch()
        scratchspaces.delete_scratch(f"w{worker}-{i}", "churn")
        # a delete must really delete, even while others empty the shared trash
        assert not path.exists(), path


def test_concurrent_deletes_sharing_the_trash_all_delete(depot: Path) -> None:
    barrier = multiprocessing.get_context("spawn").Barrier(4)
    with running(_churn, [(barrier, w) for w in range(4)]) as procs:
        pass
    assert [p.exitcode for p in procs] == [0] * 4
    assert list((depot / "scratchspaces" / "churn").iterdir()) == []
