"""Shared fixtures: every test gets its own depot, home and XDG directories."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

from _venvs import Venv, runtime_wheels, write_wheel
from scratchspaces import _accesslog, _identity, _warn
from scratchspaces.cache import _store as _cache_store

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
    _identity.invalidate_caches()
    _accesslog.forget()
    _cache_store.forget()
    _warn.reset()
    yield depot
    _identity.invalidate_caches()
    _accesslog.forget()
    _cache_store.forget()
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
