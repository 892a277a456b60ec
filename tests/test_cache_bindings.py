"""Binding files and usage records (``scratchspaces.cache._bindings``), and damage to them.

A usage record is written before its binding; a damaged record still names the binding
file to read, and garbage or a torn record in ``usage.toml`` costs a warning, never an
entry something binds.
"""

from __future__ import annotations

import errno
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import scratchspaces
from _depots import cache_entries, cache_store, read_tree
from _fills import dataset, file_writer, writer
from _git import blob_sha256
from scratchspaces import _records, _warn, cache
from scratchspaces.cache import _bindings, _recycle, _store
from scratchspaces.errors import ScratchspacesWarning

WEEK = timedelta(days=7)


def test_a_record_is_written_before_its_binding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the record cannot be written (a full disk), the binding file is not either."""
    toml = tmp_path / "Artifacts.toml"
    h = cache.create_my_artifact(dataset)

    def full(path: str, record: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_records, "append", full)
    with pytest.raises(OSError, match="No space"):
        cache.bind_my_artifact(toml, "data", h)
    assert cache.my_artifact_hash("data", toml) is None


def test_a_damaged_record_still_says_which_file_to_read(tmp_path: Path) -> None:
    """A binding file outside the usual place, named only by a damaged record, keeps its entry."""
    toml = tmp_path / "project" / "Artifacts.toml"
    toml.parent.mkdir()
    h = cache.create_my_artifact(dataset)
    cache.bind_my_artifact(toml, "data", h)
    usage = Path(_bindings.usage_path(_store.current_store()))
    usage.write_text(usage.read_text().replace("time = ", "time = not a time "))
    start = datetime.now(timezone.utc)
    with pytest.warns(ScratchspacesWarning, match="unreadable record"):
        _recycle.recycle(_store.current_store(), collect_delay=WEEK, now=start)
    _recycle.recycle(_store.current_store(), collect_delay=WEEK, now=start + timedelta(days=8))
    assert cache.my_artifact_exists(h)
    records = _bindings.read_usage(_store.current_store()).records
    assert _bindings.Use(str(toml), "data") in records[h]  # written back whole


def test_damaged_usage_records_and_unreadable_binding_files_are_read_around(
    tmp_path: Path, depot: Path
) -> None:
    """Garbage and a torn record in usage.toml cost a warning: records after them still
    count, nothing a damaged record names is deleted, and an unreadable binding file keeps
    its entries bound. Garbage that does not say which entry it was may have named any:
    nothing is freed in that run, and an entry with no record at all is freed in the next."""
    toml = tmp_path / "Artifacts.toml"
    ids = {k: cache.create_my_artifact(file_writer(k.encode())) for k in ("k1", "k2", "k3", "u")}
    torn = cache.create_my_artifact(writer({"t1.txt": b"t1\n", "t2.txt": b"t2\n"}))
    usage = cache_store(depot) / "usage.toml"

    def append(text: str) -> None:
        with usage.open("a") as f:
            f.write(text)

    cache.bind_my_artifact(toml, "k1", ids["k1"])
    append("[[garbage\n\x00\x01 not toml at all = = =\n")
    cache.bind_my_artifact(toml, "k2", ids["k2"])
    append(f'[["{torn}"]]\ntoml = "{toml}"\nname = "to')  # a writer died mid-record
    cache.bind_my_artifact(toml, "k3", ids["k3"])

    unreadable = tmp_path / "other" / "Artifacts.toml"
    unreadable.parent.mkdir()
    held = cache.create_my_artifact(file_writer(b"held by an unreadable file\n"))
    cache.bind_my_artifact(unreadable, "held", held)
    unreadable.write_text("[broken\n")

    with pytest.warns(scratchspaces.ScratchspacesWarning) as caught:
        report = cache.find_orphanages(collect_delay=timedelta(0))
    messages = " | ".join(str(w.message) for w in caught)
    assert "unreadable record" in messages
    assert "cannot be read" in messages

    path = cache.my_artifact_path
    assert report.deleted == {}
    assert path(ids["u"]) in report.orphaned
    kept = {path(ids[k]) for k in ("k1", "k2", "k3")} | {path(held)}
    assert kept <= set(report.kept)
    assert path(torn) in report.orphaned
    assert read_tree(path(torn)) == {"t1.txt": b"t1\n", "t2.txt": b"t2\n"}
    assert set(cache_entries(depot)) == set(ids.values()) | {
        torn,
        held,
        blob_sha256(b"t1\n"),
        blob_sha256(b"t2\n"),
    }

    _warn.reset()  # the unreadable binding file warns again
    with pytest.warns(scratchspaces.ScratchspacesWarning, match="cannot be read"):
        report = cache.find_orphanages(collect_delay=timedelta(0))
    assert path(ids["u"]) in report.deleted  # the damage is gone: judged on the records
    assert kept <= set(report.kept)
