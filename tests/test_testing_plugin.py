"""The pytest plugin (``scratchspaces.testing``): run through pytest itself, with pytester.

Each inner session is a fresh ``python -m pytest`` process, so the plugin is found the
way a package's test suite finds it: through the ``pytest11`` entry point of the
installed distribution (which is recorded at install time: after changing it, reinstall).
"""

from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING

from _processes import modules_after

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

pytest_plugins = ["pytester"]

PLUGIN = "scratchspaces.testing"

ISOLATED = """
import os
import subprocess
import sys

import pytest

import scratchspaces

seen = []


def test_spaces_go_to_the_depot_of_the_test(scratch_depot, tmp_path):
    assert scratch_depot.parent == tmp_path
    assert not scratch_depot.exists()
    assert os.environ["SCRATCHSPACES_DEPOT_PATH"] == str(scratch_depot)
    assert os.environ["SCRATCHSPACES_GC_AUTO"] == "0"
    space = scratchspaces.get_scratch("downloads", "some-pkg")
    assert space.is_dir()
    assert space.is_relative_to(scratch_depot)
    # a process the test starts uses the same depot
    code = "import scratchspaces; print(scratchspaces.get_scratch('downloads', 'some-pkg'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == str(space), out.stderr


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_has_its_own_depot_and_warnings(scratch_depot, monkeypatch, run):
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "proj"))
    import badproject

    # the library warns once per process; each test starts anew
    with pytest.warns(scratchspaces.ScratchspacesWarning, match="cannot read"):
        space = badproject.space()
    assert space.is_relative_to(scratch_depot)
    seen.append(scratch_depot)
    assert len(set(seen)) == len(seen) == run
"""

# Tests run in the order they are written: the one in the middle asks for the fixture.
ORDER = """
import os

from scratchspaces import _autogc, _warn


def before_and_after(request):
    assert "scratch_depot" not in request.fixturenames
    assert "SCRATCHSPACES_DEPOT_PATH" not in os.environ
    assert os.environ["SCRATCHSPACES_GC_AUTO"] == "no"


def test_1_without(request):
    before_and_after(request)
    # as after a first get_scratch and a warning
    _autogc.checked = True
    _warn._warned.add("some-kind")


def test_2_with(scratch_depot):
    assert os.environ["SCRATCHSPACES_DEPOT_PATH"] == str(scratch_depot)
    assert not _autogc.checked
    assert not _warn._warned


def test_3_without(request):
    before_and_after(request)
    assert _autogc.checked
    assert _warn._warned == {"some-kind"}
"""

BAD_PROJECT = """
import scratchspaces


def space():
    return scratchspaces.get_scratch("k")
"""


def _inner_environment(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """An empty home that would hold the default depot; automatic gc off, spelled apart."""
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CACHE_HOME", "SCRATCHSPACES_DEPOT_PATH", "SCRATCHSPACES_TRACK_ACCESS"):
        monkeypatch.delenv(var, raising=False)
    # "no" rather than "0": a test without the fixture sees it was restored
    monkeypatch.setenv("SCRATCHSPACES_GC_AUTO", "no")


def test_a_test_that_asks_gets_its_own_depot_and_the_rest_are_as_before(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Spaces land in the test's depot, never in HOME; other tests see nothing of it.

    Each test starts with the library's per-process memory empty (it warns again), and a
    test without the fixture finds the environment and that memory as they were.
    """
    home = tmp_path / "inner-home"
    _inner_environment(monkeypatch, home)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_isolated=ISOLATED, test_order=ORDER)
    pytester.mkdir("proj")
    (pytester.path / "proj" / "badproject.py").write_text(textwrap.dedent(BAD_PROJECT))
    (pytester.path / "proj" / "pyproject.toml").write_text("[project\nname = 'broken'\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)
    assert list(home.iterdir()) == []


def test_no_leaves_it_out(pytester: pytest.Pytester) -> None:
    """``-p no:scratchspaces.testing``: no fixture (the other tests find it unasked)."""
    pytester.makepyfile("def test_it(scratch_depot):\n    assert scratch_depot.name\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", f"no:{PLUGIN}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'scratch_depot' not found*"])


def test_naming_it_again_registers_it_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pytest_plugins`` (or ``-p``) with the module's name finds the plugin loaded already.

    Where plugins are not loaded automatically, that name loads it.
    """
    pytester.makeconftest(f"pytest_plugins = [{PLUGIN!r}]\n")
    pytester.makepyfile("def test_it(scratch_depot):\n    assert scratch_depot.name\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_it_adds_no_option(pytester: pytest.Pytester) -> None:
    """``pytest --help`` says the same with the plugin and without it."""
    with_it = pytester.runpytest_subprocess("--help").stdout.str()
    without = pytester.runpytest_subprocess("--help", "-p", f"no:{PLUGIN}").stdout.str()
    assert "--strict-markers" in with_it
    assert with_it == without


def test_a_process_that_imported_the_package_first_starts_pytest_cleanly(
    pytester: pytest.Pytester,
) -> None:
    """No warning when the package is imported before pytest runs (a script, a notebook).

    pytest marks the distribution of every plugin for assertion rewriting, and warns about
    a marked package imported already (an error under ``filterwarnings = error``) unless
    its docstring says ``PYTEST_DONT_REWRITE``.
    """
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile("def test_it(scratch_depot):\n    assert scratch_depot.name\n")
    code = "import sys, scratchspaces, pytest; sys.exit(pytest.main(['-p', 'no:cacheprovider']))"
    result = pytester.run(sys.executable, "-c", code)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert "already imported" not in result.stdout.str() + result.stderr.str()


def test_loading_it_costs_no_more_than_importing_the_package(tmp_path: Path) -> None:
    """Without pytest, importing the plugin loads the package and one small module.

    ``import scratchspaces`` and a first ``get_scratch`` never load the plugin.
    """
    show = 'print(" ".join(sorted(sys.modules)))'
    package = modules_after(f"import sys, scratchspaces\n{show}", tmp_path)
    used = modules_after(
        f"import sys, scratchspaces\nscratchspaces.get_scratch('k', 'p')\n{show}", tmp_path
    )
    plugin = modules_after(f"import sys, {PLUGIN}\n{show}", tmp_path)
    assert PLUGIN not in used
    assert "pytest" not in plugin
    assert plugin - package <= {PLUGIN, "scratchspaces._warn"}
