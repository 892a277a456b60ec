"""Import: ``import scratchspaces`` vs ``import platformdirs``, in a fresh venv.

Measured: the cumulative microseconds ``python -X importtime`` reports for the top-level
module, in a venv holding only the runtime wheels (scratchspaces, platformdirs,
filelock), runs alternating A B A B ...; medians reported. Also checked: which modules
of a forbidden set ``import scratchspaces`` loads (they belong to slow paths only).

Anchor: ``import platformdirs``. Target: no forbidden module; the ratio is reported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _venvs import Venv, runtime_wheels  # noqa: E402 - after tests/ is put on sys.path

RUNS = 15
FORBIDDEN = {
    "importlib.metadata", "filelock", "tomllib", "tomli", "tomli_w", "rich", "fsspec", "json",
    "datetime", "hashlib", "dataclasses", "inspect", "urllib.request", "http.client",
}  # fmt: skip


def import_time_us(python: Path, module: str, env: dict[str, str]) -> int:
    """Return the cumulative import time of ``module`` that ``-X importtime`` reports."""
    result = subprocess.run(
        [str(python), "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in result.stderr.splitlines():
        # "import time:  self [us] | cumulative | imported package", top level unindented
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[2] == f" {module}":
            return int(fields[1])
    raise RuntimeError(f"no import time line for {module}:\n{result.stderr}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_str:
        tmp = Path(tmp_str)
        venv = Venv(tmp / "venv")
        venv.install(*runtime_wheels(tmp / "wheels"))
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SCRATCHSPACES_", "PYTHON"))
        }
        env.update(HOME=str(tmp), XDG_CACHE_HOME=str(tmp / "cache"))

        code = (
            "import sys; s = set(sys.modules); import scratchspaces; print(*set(sys.modules) - s)"
        )
        loaded = set(venv.run(code, env=env).split())
        bad = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
        print(f"import scratchspaces loads {len(loaded)} new modules; forbidden: {bad or 'none'}")

        times: dict[str, list[int]] = {"scratchspaces": [], "platformdirs": []}
        import_time_us(venv.python, "scratchspaces", env)  # write .pyc files first
        import_time_us(venv.python, "platformdirs", env)
        for i in range(RUNS):
            for module in sorted(times, reverse=i % 2 == 1):
                times[module].append(import_time_us(venv.python, module, env))
            print(
                f"run {i + 1:2d}: scratchspaces {times['scratchspaces'][-1]:6d} us  "
                f"platformdirs {times['platformdirs'][-1]:6d} us"
            )

        ours = statistics.median(times["scratchspaces"]) / 1e3
        anchor = statistics.median(times["platformdirs"]) / 1e3
        print(
            f"import scratchspaces: {ours:.1f} ms cumulative vs import platformdirs: "
            f"{anchor:.1f} ms (ratio {ours / anchor:.2f})"
        )


if __name__ == "__main__":
    main()
