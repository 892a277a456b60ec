"""gc on a full disk: it frees what it decided to free even when it cannot write its logs.

A depot on a small real tmpfs, filled by blocks or by inodes. gc's bookkeeping (the
condensed log, the orphanage, the stamps) needs space; deleting does not. So gc deletes
first what it decided, warns that it could not write, and the next run, with room
again, reads what is on disk and counts anything the trash still held.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

import scratchspaces
from _cli import run_cli
from _depots import use_depots
from _tmpfs import Tmpfs, mounted
from scratchspaces import ScratchspacesWarning, _accesslog

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tmpfs]:
    with mounted(tmp_path / "mnt", size=8 * 2**20, nr_inodes=400) as fs:
        use_depots(monkeypatch, fs.path / "depot")
        yield fs


def _orphan_and_live(fs: Tmpfs, tmp_path: Path) -> tuple[Path, Path]:
    depot = str(fs.path / "depot")
    gone = tmp_path / "gone-1.0.dist-info"
    gone.mkdir()
    orphan = _accesslog.ensure_space(depot, "pkg", "orphan", str(gone))
    (orphan / "blob").write_bytes(b"x" * 2**20)
    live = scratchspaces.get_scratch("live", "pkg")
    (live / "blob").write_bytes(b"y" * 4096)
    gone.rmdir()
    # No stamps: pruning the orphan's would free the few bytes the log needs.
    shutil.rmtree(fs.path / "depot" / "logs" / "scratch_usage.d")
    return orphan, live


@pytest.mark.parametrize("fill", ["blocks", "inodes"])
def test_gc_on_a_full_disk_frees_what_it_decided(small: Tmpfs, tmp_path: Path, fill: str) -> None:
    orphan, live = _orphan_and_live(small, tmp_path)
    log = small.path / "depot" / "logs" / "scratch_usage.toml"
    before = log.read_bytes()
    small.fill_blocks() if fill == "blocks" else small.fill_inodes()
    if fill == "blocks":
        with pytest.raises(OSError, match="No space"):
            (small.path / "probe").write_bytes(b"z" * 8192)
    else:
        with pytest.raises(OSError, match="No space"):
            (small.path / "probe").touch()

    with pytest.warns(ScratchspacesWarning, match="could not write"):
        report = scratchspaces.gc(collect_delay=timedelta(0))
    assert not orphan.exists()
    assert list(report.deleted) == [orphan]
    assert report.freed_bytes >= 2**20
    assert (live / "blob").read_bytes() == b"y" * 4096
    assert log.read_bytes() == before  # not half-written: untouched

    small.free()
    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert report.deleted == {}
    assert live.is_dir()
    assert [r.key for r in scratchspaces._records.read_records(str(log))] == [str(live)]


def test_the_cli_on_a_full_disk_frees_and_says_so(small: Tmpfs, tmp_path: Path) -> None:
    orphan, live = _orphan_and_live(small, tmp_path)
    small.fill_blocks()
    result = run_cli("gc", "--collect-delay", "0")
    assert result.returncode == 0, result.stderr
    assert "Deleted 1 scratch space (1.0 MiB)" in result.stdout
    assert "could not write" in result.stderr
    assert not orphan.exists()
    assert live.is_dir()


def test_what_a_gc_killed_mid_removal_left_is_counted_by_the_next(
    small: Tmpfs, tmp_path: Path
) -> None:
    orphan, _live = _orphan_and_live(small, tmp_path)
    trash = small.path / "depot" / ".trash"
    trash.mkdir()
    os.rename(orphan, trash / "orphan.1.abcd")  # where a gc killed after its move left it
    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert report.deleted == {trash / "orphan.1.abcd": 2**20}
    assert not trash.exists()
