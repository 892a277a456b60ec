"""Package identity and the access log in real virtual environments, with real pip."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING

import pytest

from _depots import access_log, parents_of
from _venvs import Venv, tiny_wheel

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.venv

SHOW = (
    "import json, tinymod as t; print(json.dumps({k: str(getattr(t, k)) for k in "
    "('VERSION_SPACE', 'MAJOR_SPACE', 'GLOBAL_SPACE', 'SUB_SPACE')}))"
)


def test_versions_share_spaces_exactly_when_keys_are_equal(
    venv: Venv, wheelhouse: Path, depot: Path
) -> None:
    seen: dict[str, dict[str, str]] = {}
    dist_infos: dict[str, str] = {}
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        venv.install(tiny_wheel(wheelhouse, version))  # pip upgrades in place
        seen[version] = json.loads(venv.run(SHOW))
        dist_infos[version] = str(venv.site_packages / f"Tiny_Pkg-{version}.dist-info")

    spaces = depot / "scratchspaces"
    # The distribution is Tiny_Pkg, the module tinymod: the namespace is the normalized
    # distribution name, found from the caller's frame with no top_level.txt to help.
    assert seen["1.0.0"] == {
        "VERSION_SPACE": str(spaces / "tiny-pkg" / "data-1.0"),
        "MAJOR_SPACE": str(spaces / "tiny-pkg" / "major-1"),
        "GLOBAL_SPACE": str(spaces / "_global" / "shared"),
        "SUB_SPACE": str(spaces / "tiny-pkg" / "from-sub"),
    }
    assert seen["1.1.0"]["VERSION_SPACE"] == str(spaces / "tiny-pkg" / "data-1.1")
    assert seen["2.0.0"]["VERSION_SPACE"] == str(spaces / "tiny-pkg" / "data-2.0")
    assert seen["1.0.0"]["MAJOR_SPACE"] == seen["1.1.0"]["MAJOR_SPACE"]
    assert seen["2.0.0"]["MAJOR_SPACE"] == str(spaces / "tiny-pkg" / "major-2")
    assert len({s["GLOBAL_SPACE"] for s in seen.values()}) == 1
    assert len({s["VERSION_SPACE"] for s in seen.values()}) == 3
    for paths in seen.values():
        for path in paths.values():
            assert (depot / path).is_dir()

    # Each version's .dist-info is the parent of what that version used.
    assert parents_of(depot, spaces / "tiny-pkg" / "data-1.0") == {dist_infos["1.0.0"]}
    assert parents_of(depot, spaces / "tiny-pkg" / "data-1.1") == {dist_infos["1.1.0"]}
    assert parents_of(depot, spaces / "tiny-pkg" / "major-1") == {
        dist_infos["1.0.0"],
        dist_infos["1.1.0"],
    }
    assert parents_of(depot, spaces / "tiny-pkg" / "from-sub") == set(dist_infos.values())
    # A global space is kept alive by the environment, not by a package.
    assert parents_of(depot, spaces / "_global" / "shared") == {str(venv.path / "pyvenv.cfg")}


def test_log_grows_only_for_new_parents(venv: Venv, wheelhouse: Path, depot: Path) -> None:
    venv.install(tiny_wheel(wheelhouse, "1.0.0"))
    log = depot / "logs" / "scratch_usage.toml"
    venv.run("import tinymod")
    first = log.read_bytes()
    assert len(access_log(depot)) == 4  # data-1.0, major-1, shared, from-sub

    # The same process touching the spaces again, and new processes: no growth.
    venv.run(
        "import scratchspaces, tinymod\n"
        "for _ in range(100): scratchspaces.get_scratch('data-1.0', 'tiny-pkg')"
    )
    for _ in range(3):
        venv.run("import tinymod")
    assert log.read_bytes() == first

    # A new parent (the upgraded distribution) is recorded at once.
    venv.install(tiny_wheel(wheelhouse, "1.1.0"))
    venv.run("import tinymod")
    # data-1.1 is new, major-1 and from-sub have a new parent; the global space's
    # parent is still this environment, so it is not recorded again.
    records = access_log(depot)
    assert len(records) == 7
    assert log.read_bytes().startswith(first)
    venv.run("import tinymod")
    assert len(access_log(depot)) == 7

    # Another environment is another parent of the global space.
    other = Venv(depot.parent / "other-venv")
    other.install(*sorted((wheelhouse / "runtime").glob("*.whl")), tiny_wheel(wheelhouse, "1.1.0"))
    other.run("import tinymod")
    shared = depot / "scratchspaces" / "_global" / "shared"
    assert parents_of(depot, shared) == {
        str(venv.path / "pyvenv.cfg"),
        str(other.path / "pyvenv.cfg"),
    }


def test_namespace_package_portions_resolve_per_distribution(
    venv: Venv, wheelhouse: Path, depot: Path
) -> None:
    venv.install(
        wheelhouse / "acme_alpha-1.0-py3-none-any.whl",
        wheelhouse / "acme_beta-1.0-py3-none-any.whl",
    )
    out = venv.run(
        "import acme.alpha, acme.beta, scratchspaces\n"
        "print(acme.alpha.SPACE); print(acme.beta.SPACE)\n"
        "print(scratchspaces.get_scratch('m', acme.beta))\n"
        "import acme\n"
        "try:\n"
        "    scratchspaces.get_scratch('x', acme)\n"
        "except ValueError as e:\n"
        "    print('refused:', e)\n"
    ).splitlines()
    spaces = depot / "scratchspaces"
    assert out[0] == str(spaces / "acme-alpha" / "k")
    assert out[1] == str(spaces / "acme-beta" / "k")
    assert out[2] == str(spaces / "acme-beta" / "m")
    assert out[3].startswith("refused:")
    assert "acme-alpha" in out[3]
    assert "acme-beta" in out[3]
    assert not (spaces / "acme").exists()


BACKEND = '''
"""A minimal PEP 517/660 backend, so an editable install needs no network."""
import base64, hashlib, os, zipfile

NAME, VERSION = "edit_me", "0.3"
DIST = f"{NAME}-{VERSION}.dist-info"


def _wheel(directory, files):
    files[f"{DIST}/METADATA"] = f"Metadata-Version: 2.1\\nName: edit-me\\nVersion: {VERSION}\\n"
    files[f"{DIST}/WHEEL"] = (
        "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    )
    record = ""
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record += f"{path},sha256={digest.decode()},{len(text.encode())}\\n"
    files[f"{DIST}/RECORD"] = record + f"{DIST}/RECORD,,\\n"
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, name), "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src")
    return _wheel(wheel_directory, {"_edit_me.pth": src + "\\n"})


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise NotImplementedError("only editable installs in this test")


def build_sdist(sdist_directory, config_settings=None):
    raise NotImplementedError("only editable installs in this test")
'''


def test_editable_install_is_its_distribution(venv: Venv, tmp_path: Path, depot: Path) -> None:
    project = tmp_path / "edit-me"
    (project / "src" / "editme" / "deep").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
        '[project]\nname = "edit-me"\nversion = "0.3"\n'
    )
    (project / "backend.py").write_text(textwrap.dedent(BACKEND))
    (project / "src" / "editme" / "__init__.py").write_text("")
    (project / "src" / "editme" / "deep" / "mod.py").write_text(
        "import scratchspaces\nSPACE = scratchspaces.get_scratch('k')\n"
    )
    venv.install("-e", str(project))
    dist_info = venv.site_packages / "edit_me-0.3.dist-info"
    assert (dist_info / "direct_url.json").is_file()  # pip says: editable

    out = venv.run("import editme.deep.mod as m; print(m.SPACE)", cwd=tmp_path)
    space = depot / "scratchspaces" / "edit-me" / "k"
    assert out.strip() == str(space)
    # Installed (editable): the .dist-info is the parent, not the pyproject.toml.
    assert parents_of(depot, space) == {str(dist_info)}

    venv.uninstall("edit-me")
    venv.run("import sys; sys.path.insert(0, 'src'); import editme.deep.mod", cwd=project)
    # Not installed any more: the project itself keeps the space alive.
    assert parents_of(depot, space) == {str(dist_info), str(project / "pyproject.toml")}


def test_uninstalled_name_falls_back_to_callers_parent(
    venv: Venv, wheelhouse: Path, depot: Path
) -> None:
    venv.install(tiny_wheel(wheelhouse, "1.0.0"))
    venv.run(
        "import scratchspaces\n"
        "scratchspaces.get_scratch('borrowed', 'tiny-pkg')\n"
        "scratchspaces.get_scratch('lent', 'not-installed-anywhere')\n"
        "scratchspaces.get_scratch('kept', scratchspaces.GLOBAL, calling_pkg='Tiny.Pkg')\n"
    )
    spaces = depot / "scratchspaces"
    tiny = str(venv.site_packages / "Tiny_Pkg-1.0.0.dist-info")
    marker = str(venv.path / "pyvenv.cfg")
    assert parents_of(depot, spaces / "tiny-pkg" / "borrowed") == {tiny}
    assert parents_of(depot, spaces / "not-installed-anywhere" / "lent") == {marker}
    assert parents_of(depot, spaces / "_global" / "kept") == {tiny}


def test_detection_reads_no_metadata_library(venv: Venv, wheelhouse: Path) -> None:
    """Detection at import time must not pay for importlib.metadata, filelock or typing."""
    venv.install(tiny_wheel(wheelhouse, "1.0.0"))
    venv.run("import tinymod")  # first run records; the second is the common case
    loaded = venv.run("import sys, tinymod; print(' '.join(sorted(sys.modules)))").split()
    assert "importlib.metadata" not in loaded
    assert "filelock" not in loaded
    assert "tomllib" not in loaded
    assert "typing" not in loaded  # costs a third of what platformdirs costs to import
