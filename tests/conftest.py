"""Shared fixtures: every test gets its own depot, home and XDG directories.

Also the fixtures tests of several modules share: real wheels and environments, a
published artifact, and the site where hand-made tarballs are installed.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

from _artifacts import OK_DATA, Site, hash_of_files, make_site
from _fills import fill_artifact
from _venvs import Venv, runtime_wheels, write_wheel
from scratchspaces import _accesslog, _autogc, _identity, _warn, artifacts

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the depot, HOME and XDG_* at ``tmp_path``: nothing touches the real home."""
    home = tmp_path / "home"
    home.mkdir()
    depot = tmp_path / "depot"
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("SCRATCHSPACES_DEPOT_PATH", str(depot))
    monkeypatch.delenv("SCRATCHSPACES_TRACK_ACCESS", raising=False)
    # No test starts a gc in the background unless it means to (tests/test_autogc.py).
    monkeypatch.setenv("SCRATCHSPACES_GC_AUTO", "0")
    _identity.invalidate_caches()
    _accesslog.forget()
    _autogc.forget()
    _warn.reset()
    yield depot
    _identity.invalidate_caches()
    _accesslog.forget()
    _autogc.forget()
    _warn.reset()


@pytest.fixture
def depot(isolated: Path) -> Path:
    """The user depot of this test (not created yet)."""
    return isolated


TINY_INIT = '''
"""A tiny package that uses scratch spaces at import, as real packages do."""
import scratchspaces

__version__ = "{version}"
_major, _minor = __version__.split(".")[:2]

VERSION_SPACE = scratchspaces.get_scratch(f"data-{{_major}}.{{_minor}}")
MAJOR_SPACE = scratchspaces.get_scratch(f"major-{{_major}}")
GLOBAL_SPACE = scratchspaces.get_scratch("shared", scratchspaces.GLOBAL)

from tinymod.sub import mod as _mod  # noqa: E402 - a sub-module that detects us too

SUB_SPACE = _mod.SPACE
'''

TINY_SUB = """
import scratchspaces

SPACE = scratchspaces.get_scratch("from-sub")
"""


ACME_INIT = "import scratchspaces\nSPACE = scratchspaces.get_scratch('k')\n"


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of scratchspaces, its dependencies and the tiny test packages.

    ``Tiny_Pkg`` (import name ``tinymod``: it differs from the distribution name, like
    ``yaml`` and ``PyYAML``) at 1.0.0, 1.1.0 and 2.0.0; ``acme-alpha`` and ``acme-beta``,
    two distributions sharing the namespace package ``acme``.
    """
    house = tmp_path_factory.mktemp("wheelhouse")
    runtime_wheels(house / "runtime")
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        write_wheel(
            house,
            "Tiny_Pkg",
            version,
            {
                "tinymod/__init__.py": textwrap.dedent(TINY_INIT.format(version=version)),
                "tinymod/sub/__init__.py": "",
                "tinymod/sub/mod.py": textwrap.dedent(TINY_SUB),
            },
            requires=("scratchspaces",),
        )
    for part in ("alpha", "beta"):
        write_wheel(
            house,
            f"acme-{part}",
            "1.0",
            {f"acme/{part}/__init__.py": ACME_INIT},
        )
    return house


@pytest.fixture
def venv(tmp_path: Path, wheelhouse: Path) -> Venv:
    """A fresh virtual environment with scratchspaces and its dependencies installed."""
    env = Venv(tmp_path / "venv")
    env.install(*sorted((wheelhouse / "runtime").glob("*.whl")))
    return env


@pytest.fixture
def published(tmp_path: Path) -> tuple[str, str, Path]:
    """An artifact archived into a served directory, then removed from the depot.

    ``(tree hash, sha256 of a.tar.gz, the directory holding a.tar.gz)``.
    """
    h = artifacts.create_artifact(fill_artifact)
    served = tmp_path / "served"
    served.mkdir()
    sha256 = artifacts.archive_artifact(h, served / "a.tar.gz")
    artifacts.remove_artifact(h)
    return h, sha256, served


@pytest.fixture
def site(tmp_path: Path, depot: Path) -> Site:
    """Where hand-made tarballs are installed (see ``_artifacts.make_site``)."""
    return make_site(tmp_path, depot)


@pytest.fixture(scope="module")
def ok_hash(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tree hash of a tree holding only ``ok.txt``: what a silently sanitised archive gives."""
    return hash_of_files(tmp_path_factory.mktemp("ok") / "tree", {"ok.txt": (OK_DATA, False)})
