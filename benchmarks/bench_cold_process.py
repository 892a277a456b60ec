"""Cold process: a package calling ``get_scratch`` at import vs one calling platformdirs.

Measured: whole-process wall time of ``<venv python> -c "import a"`` against
``-c "import b"`` in one real venv holding 154 installed distributions (148 tiny filler
packages, ``a``, ``b``, ``c`` and the runtime wheels). ``a/__init__.py`` calls
``scratchspaces.get_scratch("k")`` (automatic detection, access log on);
``b/__init__.py`` calls ``platformdirs.user_cache_dir("b", ensure_exists=True)``. Both
use their default location (``SCRATCHSPACES_DEPOT_PATH`` unset, ``HOME`` and
``XDG_CACHE_HOME`` in a temporary directory). One warm-up of each first, so the space
exists and is recorded, as on every start after the first; then paired runs, the order
alternating within pairs.

Also measured, as a second figure: the worst case for detection, package ``c`` whose
distribution is named ``zz-unrelated-dist`` (no name to guess from and no
``top_level.txt``), so the first call reads the RECORDs until it finds the owner.

Anchor: ``import b``. Target: median of the per-pair ratios <= 1.10 for ``a``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _venvs import Venv, runtime_wheels, write_wheel  # noqa: E402 - after tests/ is put on sys.path

FILLERS = 148
PAIRS = 40
A_INIT = 'import scratchspaces\n\nSPACE = scratchspaces.get_scratch("k")\n'
B_INIT = 'import platformdirs\n\nCACHE = platformdirs.user_cache_dir("b", ensure_exists=True)\n'
C_INIT = 'import scratchspaces\n\nSPACE = scratchspaces.get_scratch("k")\n'


def wall_time(python: Path, module: str, env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(python), "-c", f"import {module}"], env=env, cwd=cwd, check=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_str:
        tmp = Path(tmp_str)
        wheels = tmp / "wheels"
        built = runtime_wheels(wheels)
        for i in range(FILLERS):
            name = f"filler{i:03d}"
            built.append(write_wheel(wheels, name, "1.0", {f"{name}/__init__.py": "X = 1\n"}))
        built.append(write_wheel(wheels, "a", "1.0", {"a/__init__.py": A_INIT}))
        built.append(write_wheel(wheels, "b", "1.0", {"b/__init__.py": B_INIT}))
        built.append(write_wheel(wheels, "zz-unrelated-dist", "1.0", {"c/__init__.py": C_INIT}))

        print(f"building a venv with {len(built)} distributions ...")
        venv = Venv(tmp / "venv")
        venv.install(*built)
        count = sum(1 for p in venv.site_packages.iterdir() if p.name.endswith(".dist-info"))
        print(f"installed distributions: {count}")

        home = tmp / "home"
        home.mkdir()
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SCRATCHSPACES_", "PYTHON"))
        }
        env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
        work = str(home)  # run from a directory with no pyproject.toml

        for module in ("a", "b", "c"):  # warm-up: creates and records the space, writes .pyc
            wall_time(venv.python, module, env, work)
        log = home / ".cache" / "scratchspaces" / "logs" / "scratch_usage.toml"
        size = log.stat().st_size if log.is_file() else -1
        print(f"access log {log}: exists={log.is_file()}, {size} bytes")
        wall_time(venv.python, "a", env, work)
        after = log.stat().st_size
        print(f"after another `import a`: {after} bytes (grown: {after != size})")

        times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
        ratios: list[float] = []
        worst: list[float] = []
        for i in range(PAIRS):
            for module in ("a", "b", "c") if i % 2 == 0 else ("c", "b", "a"):
                times[module].append(wall_time(venv.python, module, env, work))
            ratios.append(times["a"][-1] / times["b"][-1])
            worst.append(times["c"][-1] / times["b"][-1])
            print(
                f"pair {i + 1:2d}: import a {times['a'][-1] * 1e3:6.1f} ms  "
                f"import b {times['b'][-1] * 1e3:6.1f} ms  ratio {ratios[-1]:.2f}"
            )

        a_med = statistics.median(times["a"]) * 1e3
        b_med = statistics.median(times["b"]) * 1e3
        c_med = statistics.median(times["c"]) * 1e3
        print(
            f"median wall time: import a {a_med:.1f} ms, import b {b_med:.1f} ms, "
            f"import c {c_med:.1f} ms"
        )
        print(
            f"worst case (import c, distribution zz-unrelated-dist, / import b): "
            f"{statistics.median(worst):.2f}"
        )
        print(
            f"cold process ratio (import a / import b, median of {PAIRS} pairs): "
            f"{statistics.median(ratios):.2f}  [target <= 1.10]"
        )


if __name__ == "__main__":
    main()
