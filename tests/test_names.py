"""The name rules (``scratchspaces._names``): space keys, artifact hashes, cache entry ids.

Each name is checked before anything touches the disk: one that breaks its rule is
refused with an error naming it, and the depot stays as it was.
"""

from __future__ import annotations

import os
import runpy
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchspaces
from _depots import snapshot
from scratchspaces import (
    GLOBAL,
    InvalidKey,
    InvalidName,
    ScratchspacesError,
    _names,
    artifacts,
    cache,
)
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
    """Keys are 1 to 255 characters of A-Z a-z 0-9 . _ -, and not . or .."""
    if _key_oracle(key):
        assert scratchspaces.scratch_path(key, GLOBAL).name == key
    else:
        with pytest.raises(InvalidKey):
            scratchspaces.scratch_path(key, GLOBAL)


# --- names longer than a folder's name may be ----------------------------------------------

NAME_MAX = 255  # bytes in a file or folder name, on every filesystem a depot lives on


@pytest.mark.parametrize("length", [256, 300, 5000])
def test_a_namespace_over_name_max_is_refused_before_touching_the_disk(
    length: int, depot: Path
) -> None:
    """A valid distribution name too long for a folder: InvalidName, never ENAMETOOLONG."""
    name = "a" * length
    for call in (
        lambda: scratchspaces.get_scratch("k", name),
        lambda: scratchspaces.scratch_path("k", name),
        lambda: scratchspaces.delete_scratch("k", name),
        lambda: scratchspaces.clear_scratchspaces(name),
    ):
        with pytest.raises(InvalidName, match="at most 255 bytes") as info:
            call()
        assert isinstance(info.value, ValueError)
        assert info.value.name == name
    # The content cache keys its binding space by the namespace: refused as a key.
    with pytest.raises(InvalidKey):
        cache.my_artifacts_toml(name)
    assert not depot.exists()


def test_a_namespace_of_exactly_name_max_bytes_works(depot: Path) -> None:
    """255 bytes is a folder's name: the space is made, found, deleted and cleared."""
    name = "a" * NAME_MAX
    space = scratchspaces.get_scratch("k", name)
    assert space.is_dir()
    assert space.parent.name == name
    scratchspaces.delete_scratch("k", name)
    assert not space.exists()
    scratchspaces.get_scratch("k", name)
    scratchspaces.clear_scratchspaces(name)
    assert not space.parent.exists()


def test_a_project_name_over_name_max_is_refused(tmp_path: Path, depot: Path) -> None:
    """The namespace of an uninstalled project comes from pyproject.toml: checked too."""
    project = tmp_path / "project"
    project.mkdir()
    long_name = "p" * 300
    (project / "pyproject.toml").write_text(f'[project]\nname = "{long_name}"\n')
    (project / "use.py").write_text("import scratchspaces\nscratchspaces.get_scratch('k')\n")
    with pytest.raises(InvalidName, match="255 bytes"):
        runpy.run_path(str(project / "use.py"))
    assert not depot.exists()


def test_a_key_of_name_max_bytes_goes_through_the_trash(depot: Path) -> None:
    """A 255-character key: deleted and collected by way of the trash (its trash name is
    cut to fit), never a raw ENAMETOOLONG."""
    key = "k" * NAME_MAX
    (scratchspaces.get_scratch(key, "pkg") / "f").write_bytes(b"x")
    scratchspaces.delete_scratch(key, "pkg")
    assert not scratchspaces.scratch_path(key, "pkg").exists()
    orphan = depot / "scratchspaces" / "pkg" / ("o" * NAME_MAX)  # never recorded
    orphan.mkdir(parents=True)
    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert orphan in report.deleted
    assert not orphan.exists()


@given(st.text(min_size=1, max_size=300))
def test_namespace_length_rule_property(name: str) -> None:
    """A namespace is refused exactly when its UTF-8 form is over 255 bytes."""
    try:
        encoded = os.fsencode(name)
    except UnicodeError:
        return  # not a name any filesystem could hold: outside this rule
    if len(encoded) > NAME_MAX:
        with pytest.raises(InvalidName, match=str(len(encoded))):
            _names.check_namespace(name)
    else:
        assert _names.check_namespace(name) == name


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
