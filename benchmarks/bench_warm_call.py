"""Warm call: ``get_scratch("k")`` on an existing space vs ``platformdirs.user_cache_dir``.

Measured: time per call, in one process, of ``scratchspaces.get_scratch("k")`` (automatic
package detection from this module file's globals, access log on) on a space that
already exists and is recorded, against ``platformdirs.user_cache_dir("bench-app",
ensure_exists=True)``. Both use their default location (``SCRATCHSPACES_DEPOT_PATH``
unset, ``XDG_CACHE_HOME`` and ``HOME`` in a temporary directory). Rounds alternate
A B A B ... so both sides share the machine's noise.

Anchor: ``platformdirs.user_cache_dir``. Target: ratio of medians <= 1.0.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import timeit

import platformdirs

import scratchspaces

ROUNDS = 20
CALLS = 2000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("SCRATCHSPACES_DEPOT_PATH", None)
        os.environ.pop("SCRATCHSPACES_TRACK_ACCESS", None)
        os.environ["HOME"] = os.path.join(tmp, "home")
        os.environ["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")

        # globals() carries this module's __file__, so get_scratch detects its caller
        # exactly as it would from any module that calls it.
        space = scratchspaces.get_scratch("k")
        log = os.path.join(tmp, "cache", "scratchspaces", "logs", "scratch_usage.toml")
        print(f"scratchspaces {scratchspaces.__version__}, platformdirs {platformdirs.__version__}")
        print(f"space: {space}")
        print(f"access log exists: {os.path.isfile(log)}")

        ours = timeit.Timer('scratchspaces.get_scratch("k")', globals=globals())
        anchor = timeit.Timer(
            'platformdirs.user_cache_dir("bench-app", ensure_exists=True)',
            globals=globals(),
        )
        ours.timeit(CALLS)  # warm both before measuring
        anchor.timeit(CALLS)

        ours_us: list[float] = []
        anchor_us: list[float] = []
        for i in range(ROUNDS):
            pair = [(ours, ours_us), (anchor, anchor_us)]
            for timer, out in pair if i % 2 == 0 else reversed(pair):
                out.append(timer.timeit(CALLS) / CALLS * 1e6)
            print(
                f"round {i + 1:2d}: get_scratch {ours_us[-1]:6.2f} us  "
                f"user_cache_dir {anchor_us[-1]:6.2f} us"
            )

        ours_med = statistics.median(ours_us)
        anchor_med = statistics.median(anchor_us)
        print(
            f"median per call: get_scratch {ours_med:.2f} us, "
            f"platformdirs.user_cache_dir {anchor_med:.2f} us"
        )
        print(
            f"warm call ratio (get_scratch / platformdirs.user_cache_dir): "
            f"{ours_med / anchor_med:.2f}  [target <= 1.0]"
        )


if __name__ == "__main__":
    main()
