"""Artifacts' API (``scratchspaces.artifacts``): the store, later depots, verify, gc of artifacts.

Artifacts are made whole or not at all, found in later depots but never written there,
and collected by gc once no recorded ``Artifacts.toml`` binds them.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

import scratchspaces
from _cli import run_cli
from _depots import names_in, snapshot, use_depots
from _fills import fill_artifact
from scratchspaces import artifacts
from scratchspaces.artifacts import UnsupportedFile

if TYPE_CHECKING:
    from pathlib import Path


# --- the store ---------------------------------------------------------------------------


def test_create_artifact_is_idempotent_and_leaves_nothing_on_failure(depot: Path) -> None:
    h = artifacts.create_artifact(fill_artifact)
    before = (depot / "artifacts" / h).stat().st_mtime_ns
    assert artifacts.create_artifact(fill_artifact) == h
    assert (depot / "artifacts" / h).stat().st_mtime_ns == before
    assert names_in(depot / "artifacts") == [h]

    def fails(d: Path) -> None:
        fill_artifact(d, "other")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        artifacts.create_artifact(fails)

    def fifo(d: Path) -> None:
        os.mkfifo(d / "pipe")

    with pytest.raises(UnsupportedFile):
        artifacts.create_artifact(fifo)
    with pytest.raises(NotADirectoryError):
        artifacts.create_artifact(lambda d: d.rmdir())
    assert names_in(depot / "artifacts") == [h]


def test_create_artifact_accepts_a_directory_made_anew(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    fill_artifact(source)

    def copy(d: Path) -> None:  # the original's idiom: rm(artifact_dir); cp(src, artifact_dir)
        d.rmdir()
        shutil.copytree(source, d, symlinks=True)

    assert artifacts.create_artifact(copy) == artifacts.tree_hash(source)


def test_later_depots_are_searched_never_written(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    use_depots(monkeypatch, site)
    h = artifacts.create_artifact(fill_artifact)
    use_depots(monkeypatch, depot, site)
    assert artifacts.artifact_path(h) == site / "artifacts" / h
    assert artifacts.artifact_exists(h)
    assert artifacts.verify_artifact(h)
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", h)  # no sources needed: a depot has it
    assert artifacts.ensure_artifact_installed("data", toml) == site / "artifacts" / h
    with pytest.raises(scratchspaces.DepotError, match="read-only depot"):
        artifacts.remove_artifact(h)
    assert artifacts.artifact_exists(h)
    assert not (depot / "artifacts").exists()


def test_with_artifacts_directory_replaces_the_search(tmp_path: Path, depot: Path) -> None:
    h = artifacts.create_artifact(fill_artifact)
    elsewhere = tmp_path / "elsewhere"
    with artifacts.with_artifacts_directory(elsewhere) as root:
        assert root == elsewhere
        assert not artifacts.artifact_exists(h)  # the depot is not searched
        assert artifacts.create_artifact(fill_artifact) == h
        assert artifacts.artifact_path(h) == elsewhere / h
        artifacts.remove_artifact(h)
        assert not (elsewhere / h).exists()
    assert artifacts.artifact_path(h) == depot / "artifacts" / h


def test_verify_reports_a_fifo_as_corrupt(depot: Path) -> None:
    h = artifacts.create_artifact(fill_artifact)
    os.mkfifo(depot / "artifacts" / h / "pipe")
    assert artifacts.verify_artifact(h) is False
    result = run_cli("artifacts", "verify")
    assert result.returncode == 1
    assert f"CORRUPT  {h}" in result.stdout


# --- gc ----------------------------------------------------------------------------------


def test_gc_collects_unbound_artifacts_and_keeps_bound_ones_until_their_file_goes(
    tmp_path: Path, depot: Path
) -> None:
    bound = artifacts.create_artifact(fill_artifact)
    loose = artifacts.create_artifact(lambda d: fill_artifact(d, "loose"))
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", bound)

    report = scratchspaces.gc()  # the default delay: the loose one waits in the orphanage
    assert report.orphaned == [depot / "artifacts" / loose]
    assert report.kept == [depot / "artifacts" / bound]
    assert report.deleted == {}

    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert list(report.deleted) == [depot / "artifacts" / loose]
    assert report.freed_bytes > 0
    assert names_in(depot / "artifacts") == [bound]

    toml.unlink()
    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert list(report.deleted) == [depot / "artifacts" / bound]
    assert names_in(depot / "artifacts") == []
    assert (depot / "logs" / "artifact_usage.toml").read_text() == ""


def test_gc_deletes_no_artifact_while_a_recorded_file_is_unreadable(
    tmp_path: Path, depot: Path
) -> None:
    h = artifacts.create_artifact(fill_artifact)
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", "a" * 40)
    toml.write_text("[broken\n")
    with pytest.warns(scratchspaces.ScratchspacesWarning, match="cannot be read"):
        report = scratchspaces.gc(collect_delay=timedelta(0))
    assert report.deleted == {}
    assert artifacts.artifact_exists(h)


@pytest.mark.parametrize("damage", ["time", "nul"])
def test_gc_deletes_no_artifact_an_unreadable_usage_record_may_name(
    tmp_path: Path, depot: Path, damage: str
) -> None:
    """The record is the only evidence (no stamp): whether or not its path survived."""
    h = artifacts.create_artifact(fill_artifact)
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", h)
    shutil.rmtree(depot / "logs" / "artifact_usage.d")
    log = depot / "logs" / "artifact_usage.toml"
    text = log.read_bytes()
    if damage == "time":
        log.write_bytes(text.replace(b"time = 20", b"time = 2x"))
    else:
        log.write_bytes(b"\0" * len(text))
    with pytest.warns(scratchspaces.ScratchspacesWarning, match="unreadable"):
        report = scratchspaces.gc(collect_delay=timedelta(0))
    assert report.deleted == {}
    assert artifacts.artifact_exists(h)


def test_gc_never_touches_a_read_only_second_depot(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    use_depots(monkeypatch, site)
    h = artifacts.create_artifact(fill_artifact)  # unbound: an orphan, were it in the user depot
    before = snapshot(site)
    use_depots(monkeypatch, depot, site)
    scratchspaces.gc(collect_delay=timedelta(0))
    assert snapshot(site) == before
    assert artifacts.artifact_exists(h)


def test_gc_all_depots_never_collects_artifacts_of_a_later_depot(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    use_depots(monkeypatch, site)
    bound = artifacts.create_artifact(fill_artifact)
    loose = artifacts.create_artifact(lambda d: fill_artifact(d, "loose"))
    use_depots(monkeypatch, depot, site)
    artifacts.bind_artifact(tmp_path / "Artifacts.toml", "data", bound)
    before = snapshot(site / "artifacts")
    scratchspaces.gc(collect_delay=timedelta(0), all_depots=True)
    assert snapshot(site / "artifacts") == before
    assert artifacts.artifact_exists(bound)
    assert artifacts.artifact_exists(loose)
