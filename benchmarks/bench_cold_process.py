"""Cold process: a package calling ``get_scratch`` at import vs one calling platformdirs.

Measured: whole-process wall time of ``<venv python> -c "import a"`` against
``-c "import b"`` in one real venv holding 155 installed distributions (148 tiny filler
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

Automatic gc is in place (``SCRATCHSPACES_GC_AUTO`` unset in the children's
environment). The warm-up starts the first gc (no ``logs/gc_next`` yet); the script
waits for it to log its run, so the marker is a day ahead and each measured ``import a``
pays what every start pays while gc is not due: one ``stat``. The main figure (the last
line) is thus measured with the check in place. Each pair also runs ``import a`` with
``SCRATCHSPACES_GC_AUTO=0`` (the same code without the check): printed, the median
per-pair ratio check on / off (expected ~1.0: the check adds nothing measurable) and
check off / ``import b``, and how many gc runs were logged (expected 0).

Also measured, as a third figure: gc due at every start. The depot's policy is set to
``[gc] interval = "0"`` (``<depot>/config.toml``, the marker dated due), so every
``import a`` takes the lock and spawns ``/bin/sh``, which starts gc in the background
and exits (expected: the spawn, ~1-3 ms). Runs of ``a``, ``a`` with the check off and
``b`` again, the order alternating; after each ``import a`` the script waits (outside
the timing) for the gc it started to log its run and release its lock, so no gc
overlaps a timed run and every ``import a`` finds gc due and the lock free. Printed:
how many gc runs were logged, the background gc's own median duration (which no caller
waits for), the median wall times (``a`` minus ``a`` with the check off: the cost of
starting gc) and the median per-pair ratio ``a`` / ``b``.

Anchor: ``import b``. Target: median of the per-pair ratios <= 1.10 for ``a``, with the
check in place (the last line). Check on / off: ~1.0. Gc due at every start: no target of
its own; the expected cost is the spawn (``a`` minus ``a`` with the check off).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scratchspaces import _autogc, _background

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _gcwait import logged_runs, runs_since, wait_for_gc  # noqa: E402 - after tests/ is put on sys.path
from _venvs import Venv, runtime_wheels, write_wheel  # noqa: E402 - after tests/ is put on sys.path

FILLERS = 148
PAIRS = 40
OFF = "a, check off"  # `import a` with SCRATCHSPACES_GC_AUTO=0: the same code, no check
DUE_PAIRS = 30  # each waits for one background gc (a Python start, a gc)
GC_TIMEOUT = 60.0  # seconds to wait for one background gc to log its run
A_INIT = 'import scratchspaces\n\nSPACE = scratchspaces.get_scratch("k")\n'
B_INIT = 'import platformdirs\n\nCACHE = platformdirs.user_cache_dir("b", ensure_exists=True)\n'
C_INIT = 'import scratchspaces\n\nSPACE = scratchspaces.get_scratch("k")\n'


def wall_time(python: Path, module: str, env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(python), "-c", f"import {module}"], env=env, cwd=cwd, check=True)
    return time.perf_counter() - start


# The log drops its oldest runs past KEEP: counting them needs fewer.
assert DUE_PAIRS + 1 < _background.KEEP, "more gc runs than the log keeps"


def warm_up(python: Path, env: dict[str, str], cwd: str, depot: str) -> None:
    """Run each module once (creates and records the space, writes .pyc), let gc run once."""
    for module in ("a", "b", "c"):
        wall_time(python, module, env, cwd)
    # `import a` created the depot, then `import c` found gc due (no marker yet) and
    # started it: once it has run the marker is a day ahead, each check one stat.
    wait_for_gc(depot, 0, GC_TIMEOUT)
    due = _autogc.due_at(depot)
    assert due is not None, "the first gc wrote no marker"
    print(
        f"auto gc: check in place ({_autogc.AUTO_VAR} unset), {logged_runs(depot)} run "
        f"logged, next due in {(due - time.time()) / 3600:.1f} h"
    )


def measure_gc_due(python: Path, env: dict[str, str], cwd: str, depot: str) -> float:
    """Pairs of ``import a`` / ``import b`` with gc due at every start; return the median ratio.

    Policy ``gc.interval = 0``: each gc dates the next one at its own start, so the check
    of every later process finds it due.
    """
    Path(depot, "config.toml").write_text('[gc]\ninterval = "0"\n', encoding="utf-8")
    now = time.time()
    os.utime(_autogc.marker_path(depot), (now, now))  # due now, as the policy says
    envs = {"a": env, OFF: {**env, _autogc.AUTO_VAR: "0"}, "b": env}
    runs_before = logged_runs(depot)
    times: dict[str, list[float]] = {"a": [], OFF: [], "b": []}
    ratios: list[float] = []
    for i in range(DUE_PAIRS):
        for run in ("a", OFF, "b") if i % 2 == 0 else ("b", OFF, "a"):
            before = logged_runs(depot)
            times[run].append(wall_time(python, run[0], envs[run], cwd))
            if run == "a":
                # Outside the timing: no gc overlaps a timed run.
                wait_for_gc(depot, before, GC_TIMEOUT)
        ratios.append(times["a"][-1] / times["b"][-1])
        print(
            f"gc due, pair {i + 1:2d}: import a {times['a'][-1] * 1e3:6.1f} ms  "
            f"import a (check off) {times[OFF][-1] * 1e3:6.1f} ms  "
            f"import b {times['b'][-1] * 1e3:6.1f} ms  ratio {ratios[-1]:.2f}"
        )
    count, errors, gc_seconds = runs_since(depot, runs_before)
    print(
        f"background gc runs logged while gc was due: {count} of {DUE_PAIRS} imports "
        f"of a, {errors} with an error, median {gc_seconds * 1e3:.0f} ms each "
        f"(not waited for by the importer)"
    )
    a_med = statistics.median(times["a"]) * 1e3
    off_med = statistics.median(times[OFF]) * 1e3
    b_med = statistics.median(times["b"]) * 1e3
    print(
        f"median wall time, gc due at every start: import a {a_med:.1f} ms, "
        f"import a (check off) {off_med:.1f} ms, import b {b_med:.1f} ms "
        f"(a - a with the check off: {a_med - off_med:+.1f} ms)"
    )
    ratio = statistics.median(ratios)
    print(f"gc due at every start (import a / import b, median of {DUE_PAIRS} pairs): {ratio:.2f}")
    return ratio


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
        assert _autogc.AUTO_VAR not in env, "the check is measured in place"
        work = str(home)  # run from a directory with no pyproject.toml
        depot = str(home / ".cache" / "scratchspaces")  # the default user depot

        warm_up(venv.python, env, work, depot)
        log = home / ".cache" / "scratchspaces" / "logs" / "scratch_usage.toml"
        size = log.stat().st_size if log.is_file() else -1
        print(f"access log {log}: exists={log.is_file()}, {size} bytes")
        wall_time(venv.python, "a", env, work)
        after = log.stat().st_size
        print(f"after another `import a`: {after} bytes (grown: {after != size})")

        envs = {"a": env, OFF: {**env, _autogc.AUTO_VAR: "0"}, "b": env, "c": env}
        runs_before = logged_runs(depot)
        times: dict[str, list[float]] = {"a": [], OFF: [], "b": [], "c": []}
        ratios: list[float] = []
        worst: list[float] = []
        on_off: list[float] = []
        off_ratios: list[float] = []
        for i in range(PAIRS):
            for run in ("a", OFF, "b", "c") if i % 2 == 0 else ("c", "b", OFF, "a"):
                times[run].append(wall_time(venv.python, run[0], envs[run], work))
            ratios.append(times["a"][-1] / times["b"][-1])
            worst.append(times["c"][-1] / times["b"][-1])
            on_off.append(times["a"][-1] / times[OFF][-1])
            off_ratios.append(times[OFF][-1] / times["b"][-1])
            print(
                f"pair {i + 1:2d}: import a {times['a'][-1] * 1e3:6.1f} ms  "
                f"import a (check off) {times[OFF][-1] * 1e3:6.1f} ms  "
                f"import b {times['b'][-1] * 1e3:6.1f} ms  ratio {ratios[-1]:.2f}"
            )

        print(
            f"background gc runs logged during the {PAIRS} pairs (gc not due): "
            f"{logged_runs(depot) - runs_before}"
        )
        print(
            f"import a, check on / off ({_autogc.AUTO_VAR}=0), gc not due "
            f"(median of {PAIRS} per-pair ratios): {statistics.median(on_off):.2f}; "
            f"check off / import b: {statistics.median(off_ratios):.2f} "
            f"(import a, check off: median {statistics.median(times[OFF]) * 1e3:.1f} ms)"
        )

        measure_gc_due(venv.python, env, work, depot)

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
