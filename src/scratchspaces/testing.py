"""A pytest plugin: the ``scratch_depot`` fixture gives a test a depot of its own.

A package that uses scratchspaces tests it without touching its user's home: in a test
that asks for ``scratch_depot``, every space, artifact and cache entry the library makes
is in a fresh directory under the test's ``tmp_path``, no garbage collection starts in
the background, and what the library remembers per process (the owners of modules, the
spaces it recorded, the warnings it gave) is forgotten, so that no test sees another's::

    import mypkg

    def test_the_download_is_kept(scratch_depot):
        path = mypkg.fetch("data.csv")  # calls scratchspaces.get_scratch(...)
        assert path.is_relative_to(scratch_depot)

The plugin comes with scratchspaces: pytest loads it through the ``pytest11`` entry point
named ``scratchspaces.testing``, so there is nothing to configure
(``pytest -p no:scratchspaces.testing`` leaves it out; where plugins are not loaded
automatically, ``-p scratchspaces.testing`` or ``pytest_plugins = ["scratchspaces.testing"]``
in a ``conftest.py`` loads it). It changes nothing for a test that does not ask for the
fixture: it adds no option, no autouse fixture and no hook that acts on tests.

This module imports pytest only when pytest loads it as a plugin, and ``import
scratchspaces`` never imports this module.
"""

from __future__ import annotations

from . import _accesslog, _autogc, _identity, _warn
from ._autogc import AUTO_VAR
from ._depot import DEPOT_PATH_VAR

TYPE_CHECKING = False  # not typing's: this module loads with every pytest run
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import pytest

__all__ = ["scratch_depot"]

DEPOT_NAME = "scratchspaces-depot"
"""The name of the fixture's depot in the test's ``tmp_path``."""


def scratch_depot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Give the test a depot of its own, ``tmp_path / "scratchspaces-depot"``; return it.

    A pytest fixture (function scope). For the test's duration:

    - ``SCRATCHSPACES_DEPOT_PATH`` names this depot only, so spaces, artifacts and cache
      entries are made in it (it is created on first use, as a user's depot is), and
      nothing is read from or written to the user's depots;
    - ``SCRATCHSPACES_GC_AUTO=0``: no garbage collection starts in the background;
    - the library's memory of this process (owners of modules and files, spaces recorded
      in an access log, warnings given once per process) starts empty, and is emptied
      again after the test. Whether this process has checked for an automatic gc, and
      which warnings it gave, are as before the test afterwards.

    Subprocesses the test starts inherit both variables. The variables are set with the
    test's ``monkeypatch``, so a test may change them again (``monkeypatch.setenv``) and
    all is undone in order at the end.
    """
    depot = tmp_path / DEPOT_NAME
    monkeypatch.setenv(DEPOT_PATH_VAR, str(depot))
    monkeypatch.setenv(AUTO_VAR, "0")
    checked, warned = _autogc.checked, set(_warn._warned)
    _forget()
    yield depot
    _forget()
    _autogc.checked = checked
    _warn._warned.clear()
    _warn._warned.update(warned)


def _forget() -> None:
    """Forget what this process remembers of distributions, depots and warnings."""
    _identity.invalidate_caches()
    _accesslog.forget()
    _autogc.forget()
    _warn.reset()


def pytest_configure(config: pytest.Config) -> None:
    """Register :func:`scratch_depot` as a fixture (pytest calls this on loading the plugin).

    The fixture is made here, not at import, so that importing this module needs no pytest.
    """
    import pytest  # noqa: PLC0415 - only pytest loads this plugin, with pytest loaded

    fixture = pytest.fixture(scratch_depot)

    class Fixtures:
        """The plugin's fixtures, for pytest to find."""

        scratch_depot = fixture

    config.pluginmanager.register(Fixtures, f"{__name__}.fixtures")
