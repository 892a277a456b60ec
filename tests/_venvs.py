"""Real wheels and real virtual environments for tests and benchmarks.

A wheel is a zip with a ``.dist-info``; writing one needs no build backend, so the tests
stay offline. Installed distributions (platformdirs, filelock) are repackaged as wheels
from their own RECORD, and scratchspaces from ``src/``, so a fresh venv gets the real
code through real ``pip`` with ``--no-index``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "scratchspaces"


def _digest(data: bytes) -> str:
    raw = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def write_wheel(
    dest: Path,
    name: str,
    version: str,
    files: dict[str, str | bytes],
    *,
    requires: tuple[str, ...] = (),
) -> Path:
    """Write ``<name>-<version>-py3-none-any.whl`` holding ``files``; return its path.

    The ``.dist-info`` has METADATA, WHEEL and RECORD and no ``top_level.txt``, like
    the wheels hatchling and flit build.
    """
    escaped = re.sub(r"[-_.]+", "_", name)
    dist_info = f"{escaped}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    contents: dict[str, bytes] = {
        path: data.encode() if isinstance(data, str) else data for path, data in files.items()
    }
    contents[f"{dist_info}/METADATA"] = metadata.encode()
    contents[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: scratchspaces-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    record = "".join(f"{p},{_digest(d)},{len(d)}\n" for p, d in contents.items())
    record += f"{dist_info}/RECORD,,\n"
    contents[f"{dist_info}/RECORD"] = record.encode()
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"{escaped}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in contents.items():
            zf.writestr(path, data)
    return wheel


def repackage_installed(dest: Path, name: str) -> Path:
    """Write a wheel of the installed distribution ``name`` from the files its RECORD lists."""
    dist = importlib.metadata.distribution(name)
    files: dict[str, str | bytes] = {}
    for entry in dist.files or ():
        path = str(entry)
        if ".dist-info/" in path or "__pycache__" in path or path.startswith(".."):
            continue
        files[path] = Path(str(dist.locate_file(entry))).read_bytes()
    return write_wheel(dest, dist.metadata["Name"], dist.version, files)


def scratchspaces_wheel(dest: Path) -> Path:
    """Write a wheel of scratchspaces from the source tree (whatever is installed here)."""
    files: dict[str, str | bytes] = {
        f"scratchspaces/{p.relative_to(SRC).as_posix()}": p.read_bytes()
        for p in sorted(SRC.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    version = re.search(r'__version__ = "([^"]+)"', (SRC / "_version.py").read_text())
    assert version is not None
    return write_wheel(
        dest,
        "scratchspaces",
        version.group(1),
        files,
        requires=("platformdirs", "filelock", "tomli; python_version < '3.11'", "tomli-w"),
    )


def runtime_wheels(dest: Path) -> list[Path]:
    """Wheels of scratchspaces and everything it needs at run time, for ``--no-index``."""
    wheels = [scratchspaces_wheel(dest)]
    needed = ["platformdirs", "filelock", "tomli-w"]
    if sys.version_info < (3, 11):
        needed.append("tomli")
    wheels.extend(repackage_installed(dest, n) for n in needed)
    return wheels


def pip_env() -> dict[str, str]:
    """The environment for pip: offline, quiet, no user configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_NO_CACHE_DIR="1",
    )
    return env


class Venv:
    """A real virtual environment made with ``python -m venv --without-pip``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(path)],
            check=True,
            capture_output=True,
        )
        bindir = "Scripts" if os.name == "nt" else "bin"
        self.python = path / bindir / ("python.exe" if os.name == "nt" else "python")
        out = self.run("import sysconfig, json; print(json.dumps(sysconfig.get_paths()))")
        self.site_packages = Path(json.loads(out)["purelib"])

    def pip(self, *args: str) -> None:
        """Run the test interpreter's pip against this environment (``--python``)."""
        cmd = [sys.executable, "-m", "pip", "--python", str(self.python), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, env=pip_env(), check=False)
        if result.returncode != 0:
            raise AssertionError(f"{cmd} failed:\n{result.stdout}\n{result.stderr}")

    def install(self, *targets: str | os.PathLike[str]) -> None:
        """Install wheels (or ``-e DIR``) offline, without dependency resolution."""
        self.pip("install", "--no-index", "--no-deps", *map(str, targets))

    def uninstall(self, *names: str) -> None:
        """``pip uninstall -y`` the named distributions."""
        self.pip("uninstall", "-y", *names)

    def run(
        self,
        code: str,
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> str:
        """Run ``python -c code`` in this environment; return stdout, raise on failure.

        The default working directory is the venv's parent, never this repository, whose
        ``pyproject.toml`` would make code with no file belong to scratchspaces.
        """
        result = subprocess.run(
            [str(self.python), "-c", code],
            capture_output=True,
            text=True,
            cwd=self.path.parent if cwd is None else cwd,
            env=env,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"python -c failed:\n{code}\n{result.stdout}\n{result.stderr}")
        return result.stdout


def tiny_wheel(wheelhouse: Path, version: str) -> Path:
    """The test package ``Tiny_Pkg`` (module ``tinymod``) at ``version``, from conftest."""
    return wheelhouse / f"Tiny_Pkg-{version}-py3-none-any.whl"


def _drop_override() -> list[str] | None:
    """A command prefix under which permission bits bind; None if there is none.

    Root ignores them; without CAP_DAC_OVERRIDE (and CAP_FOWNER, to chmod what it does
    not own) it is refused like anyone else. Not root: nothing to drop.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    return [
        "setpriv",
        "--bounding-set=-dac_override,-dac_read_search,-fowner",
        "--inh-caps=-all",
        "--",
    ]


DROP_OVERRIDE = _drop_override()


def run_bound_by_permissions(code: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` so that file permissions bind (see ``DROP_OVERRIDE``)."""
    assert DROP_OVERRIDE is not None
    return subprocess.run(
        [*DROP_OVERRIDE, *extra, sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
