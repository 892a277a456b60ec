"""Package identity (``scratchspaces._identity``): module, name, project or global, and parents.

Which namespace a caller's space goes in, and which parent (a ``.dist-info``, a
``pyproject.toml``, the environment) keeps it alive.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import filelock
import platformdirs
import pytest
from filelock import _api as filelock_api
from hypothesis import given
from hypothesis import strategies as st

import scratchspaces
from _depots import parents_of
from scratchspaces import GLOBAL, _identity

SHOW_SPACE = "import scratchspaces; print(scratchspaces.get_scratch('k'))"


def _run(args: list[str], cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "tools" / "deep").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "Local.Proj_X"\nversion = "1"\n')
    (root / "tools" / "deep" / "run.py").write_text(SHOW_SPACE + "\n")
    return root


def test_script_in_an_uninstalled_project(project: Path, depot: Path, tmp_path: Path) -> None:
    out = _run([str(project / "tools" / "deep" / "run.py")], cwd=tmp_path)
    expected = depot / "scratchspaces" / "local-proj-x" / "k"
    assert out == str(expected)
    assert parents_of(depot, out) == {str(project / "pyproject.toml")}


def test_repl_in_an_uninstalled_project_uses_the_current_directory(
    project: Path, depot: Path
) -> None:
    out = _run(["-c", SHOW_SPACE], cwd=project / "tools")
    assert out == str(depot / "scratchspaces" / "local-proj-x" / "k")


def test_nearest_pyproject_wins_and_one_without_a_name_means_global(
    project: Path, depot: Path
) -> None:
    inner = project / "tools" / "deep"
    (inner / "pyproject.toml").write_text("[tool.black]\nline-length = 100\n")
    out = _run([str(inner / "run.py")], cwd=project)
    assert out == str(depot / "scratchspaces" / "_global" / "k")
    # A global space is kept alive by the running environment.
    assert parents_of(depot, out) == {_identity.environment_marker()}


def test_anything_else_is_global(tmp_path: Path, depot: Path) -> None:
    (tmp_path / "loose.py").write_text(SHOW_SPACE + "\n")
    assert _run([str(tmp_path / "loose.py")], cwd=tmp_path) == str(
        depot / "scratchspaces" / "_global" / "k"
    )
    assert _run(["-c", SHOW_SPACE], cwd=tmp_path) == str(depot / "scratchspaces" / "_global" / "k")


def test_a_deleted_working_directory_is_global(tmp_path: Path, depot: Path) -> None:
    code = (
        "import os, tempfile, scratchspaces\n"
        "d = tempfile.mkdtemp(); os.chdir(d); os.rmdir(d)\n"
        "print(scratchspaces.get_scratch('k'))\n"
    )
    assert _run(["-c", code], cwd=tmp_path) == str(depot / "scratchspaces" / "_global" / "k")


def test_module_objects_resolve_to_their_distribution(depot: Path) -> None:
    for module, name in ((filelock, "filelock"), (platformdirs, "platformdirs")):
        path = scratchspaces.get_scratch("k", module)
        assert path == depot / "scratchspaces" / name / "k"
        [parent] = parents_of(depot, str(path))
        assert parent.endswith(".dist-info")
        assert Path(parent).name.lower().startswith(name)
    # a sub-module resolves to the same distribution
    assert (
        scratchspaces.scratch_path("k", filelock_api) == depot / "scratchspaces" / "filelock" / "k"
    )


def test_a_built_in_module_is_global(depot: Path) -> None:
    assert scratchspaces.scratch_path("k", sys) == depot / "scratchspaces" / "_global" / "k"


MAIN_AND_DEFAULT = (
    "import sys, types, scratchspaces\n"
    "a = scratchspaces.get_scratch('k')\n"
    "b = scratchspaces.get_scratch('k', sys.modules['__main__'])\n"
    "c = scratchspaces.get_scratch('k', types.ModuleType('made_up'))\n"
    "print(a if a == b == c else f'{a} {b} {c}')\n"
)


def test_a_module_without_a_file_takes_the_fallback_of_code_without_one(
    project: Path, depot: Path, tmp_path: Path
) -> None:
    """Ported from Scratch.jl ``test/runtests.jl`` (commit d68e430dee44), "UUID lookup for
    active project when running in Main": ``get_scratch!(@__MODULE__, key)`` in ``Main``
    is ``@get_scratch!(key)``. Here ``__main__`` of ``-c`` or of stdin, and a module made
    at run time, take the project of the current directory, as a caller without a file
    does; with no project there, both are global."""
    in_project = depot / "scratchspaces" / "local-proj-x" / "k"
    assert _run(["-c", MAIN_AND_DEFAULT], cwd=project / "tools") == str(in_project)
    stdin = subprocess.run(
        [sys.executable, "-"],
        input=MAIN_AND_DEFAULT,
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    assert stdin.stdout.strip() == str(in_project)
    elsewhere = depot / "scratchspaces" / "_global" / "k"
    assert _run(["-c", MAIN_AND_DEFAULT], cwd=tmp_path) == str(elsewhere)


def test_calling_pkg_names_whose_lifecycle_keeps_the_space(depot: Path) -> None:
    path = scratchspaces.get_scratch("k", "other-dist", calling_pkg="filelock")
    assert path == depot / "scratchspaces" / "other-dist" / "k"
    [parent] = parents_of(depot, str(path))
    assert Path(parent).name.startswith("filelock-")
    path = scratchspaces.get_scratch("g", GLOBAL, calling_pkg=platformdirs)
    [parent] = parents_of(depot, str(path))
    assert Path(parent).name.startswith("platformdirs-")
    with pytest.raises(ValueError, match="invalid package name"):
        scratchspaces.get_scratch("k", "dist", calling_pkg="not valid")


def test_environment_marker_follows_the_specs_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    monkeypatch.setattr(sys, "prefix", str(prefix))
    _identity.invalidate_caches()
    assert _identity.environment_marker() == str(Path(sys.executable).resolve())
    (prefix / "conda-meta").mkdir()
    _identity.invalidate_caches()
    assert _identity.environment_marker() == str(prefix / "conda-meta")
    (prefix / "pyvenv.cfg").write_text("home = /usr/bin\n")
    _identity.invalidate_caches()
    assert _identity.environment_marker() == str(prefix / "pyvenv.cfg")


@given(st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,30}[A-Za-z0-9])?", fullmatch=True))
def test_canonicalize_name_is_pep_503(name: str) -> None:
    """PEP 503: the name lowercased, with runs of -, _ and . replaced by a single -."""
    assert scratchspaces.canonicalize_name(name) == re.sub(r"[-_.]+", "-", name).lower()


@given(st.text(max_size=12) | st.sampled_from(["\u212a", "a\u017fb", "x\n"]))
def test_only_pep_508_names_are_accepted(name: str) -> None:
    """PEP 508: ^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$ with re.IGNORECASE.

    ASCII only: without re.ASCII, IGNORECASE would let the Kelvin sign fold to "k".
    """
    rule = r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]"
    valid = re.fullmatch(rule, name, re.IGNORECASE | re.ASCII)
    if valid:
        scratchspaces.canonicalize_name(name)
    else:
        with pytest.raises(ValueError, match="invalid package name"):
            scratchspaces.canonicalize_name(name)


def test_canonicalize_name() -> None:
    assert scratchspaces.canonicalize_name("Scikit_Learn") == "scikit-learn"
    assert scratchspaces.canonicalize_name("a.-_b") == "a-b"
    assert scratchspaces.canonicalize_name("X") == "x"


def test_calling_pkg_of_the_wrong_type_is_a_type_error(depot: Path) -> None:
    with pytest.raises(TypeError, match="calling_pkg must be"):
        scratchspaces.get_scratch("k", "dist", calling_pkg=3)  # type: ignore[arg-type] # the point
    assert not depot.exists()
