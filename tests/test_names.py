"""The name rules (``scratchspaces._names``): space keys, artifact hashes, cache entry ids.

Each name is checked before anything touches the disk: one that breaks its rule is
refused with an error naming it, and the depot stays as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchspaces
from _depots import snapshot
from scratchspaces import GLOBAL, InvalidKey, ScratchspacesError, artifacts, cache
from scratchspaces.errors import InvalidHash

if TYPE_CHECKING:
    from pathlib import Path


# --- space keys --------------------------------------------------------------------------

BAD_KEYS = ["", ".", "..", "../etc", "a/b", "a\\b", "a\0b", "a\n", "x" * 256, "a b"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_raise_before_touching_the_disk(key: str, depot: Path) -> None:
    for call in (
        scratchspaces.get_scratch,
        scratchspaces.delete_scratch,
        scratchspaces.scratch_path,
    ):
        with pytest.raises(ValueError, match="invalid scratch space key") as info:
            call(key)
        assert isinstance(info.value, InvalidKey)
        assert isinstance(info.value, ScratchspacesError)
        assert info.value.key == key
    assert not depot.exists()


def test_delete_dotdot_deletes_nothing(depot: Path) -> None:
    for key in ("a", "b"):
        (scratchspaces.get_scratch(key, "victim") / "file").write_text("keep me")
    before = snapshot(depot)
    for key in ("..", ".", "", "../victim", "victim/.."):
        with pytest.raises(ValueError, match="invalid scratch space key"):
            scratchspaces.delete_scratch(key, "victim")
    assert snapshot(depot) == before


def _key_oracle(key: str) -> bool:
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
    return 1 <= len(key) <= 255 and set(key) <= allowed and key not in {".", ".."}


@given(st.text(max_size=300) | st.text(alphabet="ab._-\n/\\\0 ", max_size=8))
def test_key_rule_property(key: str) -> None:
    """SPEC 3: keys are 1 to 255 characters of A-Z a-z 0-9 . _ -, and not . or .."""
    if _key_oracle(key):
        assert scratchspaces.scratch_path(key, GLOBAL).name == key
    else:
        with pytest.raises(InvalidKey):
            scratchspaces.scratch_path(key, GLOBAL)


# --- artifact hashes and cache entry ids -------------------------------------------------


def test_hashes_are_checked(tmp_path: Path) -> None:
    for bad in ("abc", "g" * 40, "0" * 41, 42):
        with pytest.raises(InvalidHash):
            artifacts.artifact_exists(bad)  # type: ignore[arg-type] # a wrong type on purpose
    with pytest.raises(InvalidHash):
        artifacts.bind_artifact(tmp_path / "Artifacts.toml", "x", "0" * 39)
    assert not (tmp_path / "Artifacts.toml").exists()
    assert artifacts.artifact_exists("A" * 40) is False  # upper case names the same tree


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "g" * 64, "0" * 63, "0" * 65, "0" * 40, "0" * 64 + ".y", "0" * 64 + "x", 42],
)
def test_a_bad_id_is_invalid_hash(tmp_path: Path, bad: object) -> None:
    """Anything but 64 hex digits (optionally ``.x``) is refused by every call taking an id."""
    toml = tmp_path / "Artifacts.toml"
    for call in (
        lambda: cache.bind_my_artifact(toml, "n", bad),  # type: ignore[arg-type] # a wrong type on purpose
        lambda: cache.my_artifact_path(bad),  # type: ignore[arg-type] # a wrong type on purpose
        lambda: cache.my_artifact_exists(bad),  # type: ignore[arg-type] # a wrong type on purpose
    ):
        with pytest.raises(InvalidHash):
            call()
    assert not toml.exists()
