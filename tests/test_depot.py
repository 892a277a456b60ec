"""Where depots are (``scratchspaces._depot``): the depot path read at call time, its default.

``SCRATCHSPACES_DEPOT_PATH`` names the depots, the first one the user's; without it the
user depot is platformdirs' user cache directory. A depot that is a file is an error
that names it, from every call.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs
import pytest

import scratchspaces


def test_depot_path_is_read_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one, two, shared = tmp_path / "one", tmp_path / "two", tmp_path / "shared"
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", str(one))
    assert scratchspaces.get_scratch("k", "d") == one / "scratchspaces" / "d" / "k"
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", os.pathsep.join(["", str(two), "", str(shared)]))
    assert scratchspaces.depots() == [two, shared]
    assert scratchspaces.user_depot() == two
    assert scratchspaces.get_scratch("k", "d") == two / "scratchspaces" / "d" / "k"
    assert not shared.exists()  # later depots are never written


def test_default_depot_is_platformdirs_user_cache_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCRATCHSPACES_DEPOT_PATH")
    expected = Path(platformdirs.user_cache_dir("scratchspaces", appauthor=False))
    assert scratchspaces.depots() == [expected]
    assert scratchspaces.user_depot() == expected
    assert scratchspaces.get_scratch("k", "d") == expected / "scratchspaces" / "d" / "k"
    # and it follows the environment platformdirs reads, at call time
    monkeypatch.setenv("XDG_CACHE_HOME", str(expected.parent / "moved"))
    moved = Path(platformdirs.user_cache_dir("scratchspaces", appauthor=False))
    assert moved != expected
    assert scratchspaces.user_depot() == moved


def test_a_depot_that_is_a_file_is_a_clear_error(depot: Path) -> None:
    depot.write_text("not a directory")
    for call in (scratchspaces.depots, scratchspaces.user_depot):
        with pytest.raises(OSError, match=re.escape(str(depot))) as info:
            call()
        assert isinstance(info.value, scratchspaces.DepotError)
    with pytest.raises(scratchspaces.DepotError, match="exists and is not a directory"):
        scratchspaces.get_scratch("k", "d")
    with pytest.raises(scratchspaces.DepotError, match=re.escape(str(depot))):
        scratchspaces.delete_scratch("k", "d")
    with pytest.raises(scratchspaces.DepotError, match=re.escape(str(depot))):
        scratchspaces.clear_scratchspaces()
    assert depot.read_text() == "not a directory"
