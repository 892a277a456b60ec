"""The spaces API (``scratchspaces._spaces``): paths, creation, deletion, clearing, overrides."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import pytest

import scratchspaces
from _venvs import DROP_OVERRIDE, run_bound_by_permissions
from scratchspaces import GLOBAL

if TYPE_CHECKING:
    from pathlib import Path


def test_get_scratch_creates_and_returns_absolute_path(depot: Path) -> None:
    path = scratchspaces.get_scratch("k", "Some_Dist.Name")
    assert path == depot / "scratchspaces" / "some-dist-name" / "k"
    assert path.is_absolute()
    assert path.is_dir()
    assert scratchspaces.get_scratch("k", "some.dist_name") == path
    assert scratchspaces.get_scratch("k", GLOBAL) == depot / "scratchspaces" / "_global" / "k"


def test_scratch_path_neither_creates_nor_logs(depot: Path) -> None:
    path = scratchspaces.scratch_path("k", "dist")
    assert path == depot / "scratchspaces" / "dist" / "k"
    assert not depot.exists()


@pytest.mark.parametrize("name", ["", "-a", "a-", "a b", "a/b", "_global", ".x"])
def test_bad_package_names_are_value_errors(name: str, depot: Path) -> None:
    with pytest.raises(ValueError, match="invalid package name"):
        scratchspaces.get_scratch("k", name)
    assert not depot.exists()


def test_wrong_pkg_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="pkg must be"):
        scratchspaces.get_scratch("k", 3)  # type: ignore[arg-type] # the point of the test


def test_spaces_are_disposable(depot: Path) -> None:
    path = scratchspaces.get_scratch("k", "dist")
    (path / "f").write_text("x")
    scratchspaces.delete_scratch("k", "dist")
    assert not path.exists()
    assert scratchspaces.get_scratch("k", "dist").is_dir()  # simply re-created
    scratchspaces.delete_scratch("k", "dist")
    scratchspaces.delete_scratch("k", "dist")  # no error when it does not exist


def test_delete_never_follows_links(depot: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "precious").write_text("do not touch")
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "data").write_text("do not touch either")

    space = scratchspaces.get_scratch("k", "dist")
    (space / "sub").mkdir()
    (space / "sub" / "file").write_text("x")
    (space / "to-home").symlink_to(home)
    (space / "to-file").symlink_to(home / "precious")
    (space / "dangling").symlink_to(tmp_path / "nowhere")

    scratchspaces.delete_scratch("k", "dist")
    assert not space.exists()
    assert (home / "precious").read_text() == "do not touch"
    assert (outside_dir / "data").exists()
    assert not (depot / ".trash").exists()

    # A space that is itself a link to the user's home is removed as a link.
    link_space = depot / "scratchspaces" / "dist" / "linked"
    link_space.symlink_to(outside_dir, target_is_directory=True)
    scratchspaces.delete_scratch("linked", "dist")
    assert not link_space.is_symlink()
    assert (outside_dir / "data").read_text() == "do not touch either"


def test_clear_one_namespace_or_all(depot: Path) -> None:
    a = scratchspaces.get_scratch("k", "a")
    b = scratchspaces.get_scratch("k", "b")
    g = scratchspaces.get_scratch("k", GLOBAL)
    scratchspaces.clear_scratchspaces("A")
    assert not a.exists()
    assert b.exists()
    assert g.exists()
    scratchspaces.clear_scratchspaces(GLOBAL)
    assert not g.exists()
    assert b.exists()
    scratchspaces.get_scratch("k", "c")
    scratchspaces.clear_scratchspaces()
    assert list((depot / "scratchspaces").iterdir()) == []
    assert (depot / "logs" / "scratch_usage.toml").exists()  # gc's business, not clear's


def test_clear_on_an_empty_depot_is_quiet(depot: Path) -> None:
    scratchspaces.clear_scratchspaces()
    scratchspaces.clear_scratchspaces("a")
    assert not (depot / "scratchspaces").exists()


def test_scratch_dir(depot: Path, tmp_path: Path) -> None:
    assert scratchspaces.scratch_dir() == depot / "scratchspaces"
    assert scratchspaces.scratch_dir("a", "b") == depot / "scratchspaces" / "a" / "b"
    with scratchspaces.with_scratch_directory(tmp_path / "elsewhere") as root:
        assert root == tmp_path / "elsewhere"
        assert scratchspaces.scratch_dir("a") == tmp_path / "elsewhere" / "a"


def test_with_scratch_directory_changes_nothing_else(depot: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    with scratchspaces.with_scratch_directory(other):
        path = scratchspaces.get_scratch("k", "dist")
        assert path == other / "dist" / "k"
        assert path.is_dir()
        assert scratchspaces.scratch_path("k", GLOBAL) == other / "_global" / "k"
        scratchspaces.delete_scratch("k", "dist")
        assert not path.exists()
        scratchspaces.get_scratch("j", "dist")
        scratchspaces.clear_scratchspaces()
        assert list(other.iterdir()) == []
    assert not depot.exists()  # nothing created, nothing logged
    assert scratchspaces.get_scratch("k", "dist") == depot / "scratchspaces" / "dist" / "k"


def test_with_scratch_directory_does_not_leak_across_threads(depot: Path, tmp_path: Path) -> None:
    inside = threading.Event()
    checked = threading.Event()
    seen: dict[str, Path] = {}

    def overriding() -> None:
        with scratchspaces.with_scratch_directory(tmp_path / "override"):
            seen["overriding"] = scratchspaces.get_scratch("k", "dist")
            inside.set()
            assert checked.wait(10)

    def plain() -> None:
        assert inside.wait(10)
        seen["plain"] = scratchspaces.get_scratch("k", "dist")
        checked.set()

    threads = [threading.Thread(target=overriding), threading.Thread(target=plain)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen["overriding"] == tmp_path / "override" / "dist" / "k"
    assert seen["plain"] == depot / "scratchspaces" / "dist" / "k"


def test_with_scratch_directory_does_not_leak_across_tasks(depot: Path, tmp_path: Path) -> None:
    async def overriding(entered: asyncio.Event, done: asyncio.Event) -> Path:
        with scratchspaces.with_scratch_directory(tmp_path / "override"):
            entered.set()
            await done.wait()
            return scratchspaces.scratch_path("k", "dist")

    async def plain(entered: asyncio.Event, done: asyncio.Event) -> Path:
        await entered.wait()
        try:
            return scratchspaces.scratch_path("k", "dist")
        finally:
            done.set()

    async def main() -> tuple[Path, Path]:
        entered, done = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(overriding(entered, done), plain(entered, done))

    inner, outer = asyncio.run(main())
    assert inner == tmp_path / "override" / "dist" / "k"
    assert outer == depot / "scratchspaces" / "dist" / "k"


def test_a_namespace_that_is_a_file_is_a_clear_error(depot: Path) -> None:
    (depot / "scratchspaces").mkdir(parents=True)
    (depot / "scratchspaces" / "d").write_text("oops")
    with pytest.raises(scratchspaces.DepotError, match="scratchspaces/d"):
        scratchspaces.get_scratch("k", "d")


@pytest.mark.skipif(DROP_OVERRIDE is None, reason="root without setpriv: permissions never bind")
def test_read_only_trees_are_removed_when_permissions_bind(tmp_path: Path, depot: Path) -> None:
    nested = depot / "scratchspaces" / "dist" / "k" / "ro" / "deeper"
    nested.mkdir(parents=True)
    (nested / "file").write_text("x")
    (nested / "file").chmod(0o444)
    nested.chmod(0o555)
    nested.parent.chmod(0o500)
    probe = run_bound_by_permissions(f"open({str(nested / 'new')!r}, 'w')", tmp_path)
    assert probe.returncode != 0  # the permissions really bind
    code = "import scratchspaces; scratchspaces.delete_scratch('k', 'dist')"
    result = run_bound_by_permissions(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (depot / "scratchspaces" / "dist" / "k").exists()
    assert not (depot / ".trash").exists()
