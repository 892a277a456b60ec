"""Warm call: ``get_scratch("k")`` on an existing space vs ``platformdirs.user_cache_dir``.

Measured: time per call, in one process, of ``scratchspaces.get_scratch("k")`` (automatic
package detection from this module file's globals, access log on) on a space that
already exists and is recorded, against ``platformdirs.user_cache_dir("bench-app",
ensure_exists=True)``. Both use their default location (``SCRATCHSPACES_DEPOT_PATH``
unset, ``XDG_CACHE_HOME`` and ``HOME`` in a temporary directory). Rounds alternate
A B A B ... so both sides share the machine's noise.

Automatic gc is in place throughout (``SCRATCHSPACES_GC_AUTO`` unset). The first call
creates the depot; a second check (as in the next process) finds gc due (no
``logs/gc_next`` yet) and starts it in the background; the script waits for that gc to
log its run, so the marker is a day ahead and gc is not due while the warm call is
measured. Also measured, as earlier lines:

- the check on vs off: the same warm call with ``SCRATCHSPACES_GC_AUTO=0`` against
  unset, rounds alternating, each round starting afresh (``_autogc.forget()`` and one
  call, which makes the check) before timing. After the check a call only reads the
  module flag, so the ratio of medians (on / off) is expected at ~1.0: the check adds
  nothing measurable to the warm call.
- the first call of a process (the one that makes the check), one call per round, a
  warm call and ``_autogc.forget()`` just before it: with gc not due (one ``stat``) and
  with gc due (the marker dated a second back: ``flock``, the ``/bin/sh`` spawn and the
  wait for that shell, which starts gc in the background and exits; expected ~1-3 ms).
  Between rounds the script waits (outside the timing) for the started gc to log its
  run and release its lock, so runs never pile up. Printed: the median milliseconds of
  each, and the background gc's own median duration from ``logs/gc_auto.log`` (which
  the caller never waits for).

Anchor: ``platformdirs.user_cache_dir``. Target: ratio of medians <= 1.0 (the last
line). The check on / off: ~1.0.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

import platformdirs

import scratchspaces
from scratchspaces import _autogc, _background

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _gcwait import logged_runs, runs_since, wait_for_gc

ROUNDS = 20
CALLS = 2000
ON_OFF_ROUNDS = 40  # the two sides run the same code after the check: only noise differs
FIRST_ROUNDS = 20  # each due round waits for one background gc (a Python start, a gc)
GC_TIMEOUT = 60.0  # seconds to wait for one background gc to log its run


# The log drops its oldest runs past KEEP: counting them needs fewer.
assert FIRST_ROUNDS + 1 < _background.KEEP, "more gc runs than the log keeps"


def set_auto(on: bool) -> None:
    """Turn automatic gc on (``SCRATCHSPACES_GC_AUTO`` unset) or off (``=0``)."""
    if on:
        os.environ.pop(_autogc.AUTO_VAR, None)
    else:
        os.environ[_autogc.AUTO_VAR] = "0"


def measure_on_off() -> float:
    """Time the warm call with the check on and off, alternating; return on / off medians."""
    timer = timeit.Timer('scratchspaces.get_scratch("k")', globals=globals())
    times: dict[bool, list[float]] = {True: [], False: []}
    for i in range(ON_OFF_ROUNDS):
        for on in (True, False) if i % 2 == 0 else (False, True):
            set_auto(on)
            _autogc.forget()
            scratchspaces.get_scratch("k")  # the check, as at the first call of a process
            times[on].append(timer.timeit(CALLS) / CALLS * 1e6)
        print(
            f"round {i + 1:2d}: check on {times[True][-1]:6.2f} us  "
            f"check off (SCRATCHSPACES_GC_AUTO=0) {times[False][-1]:6.2f} us"
        )
    set_auto(True)
    on_med = statistics.median(times[True])
    off_med = statistics.median(times[False])
    print(f"median per warm call: check on {on_med:.2f} us, check off {off_med:.2f} us")
    print(f"auto gc check on / off, warm call (ratio of medians): {on_med / off_med:.2f}")
    return on_med / off_med


def first_call_ms() -> float:
    """Time one call that makes the check, the caches warmed by a call just before."""
    scratchspaces.get_scratch("k")  # both sides alike: not right after an idle wait
    _autogc.forget()
    start = time.perf_counter()
    scratchspaces.get_scratch("k")
    return (time.perf_counter() - start) * 1e3


def measure_first_call(depot: str) -> None:
    """Time the call that makes the check, with gc not due and with gc due."""
    marker = _autogc.marker_path(depot)
    not_due: list[float] = []
    due: list[float] = []
    runs_before = logged_runs(depot)
    for i in range(FIRST_ROUNDS):
        for is_due in (True, False) if i % 2 == 0 else (False, True):
            if is_due:
                before = logged_runs(depot)
                past = time.time() - 1
                os.utime(marker, (past, past))
                due.append(first_call_ms())
                # Then the gc has dated the marker a day ahead again.
                wait_for_gc(depot, before, GC_TIMEOUT)
            else:
                assert (_autogc.due_at(depot) or 0) > time.time(), "gc is due"
                not_due.append(first_call_ms())
        print(
            f"round {i + 1:2d}: first call, gc not due {not_due[-1]:6.3f} ms  "
            f"gc due {due[-1]:6.3f} ms"
        )
    count, errors, gc_seconds = runs_since(depot, runs_before)
    print(
        f"background gc runs logged: {count} of {FIRST_ROUNDS} due calls, "
        f"{errors} with an error, median {gc_seconds * 1e3:.0f} ms each (not waited for)"
    )
    print(
        f"median first call of a process: gc not due {statistics.median(not_due):.3f} ms, "
        f"gc due (starts it in the background) {statistics.median(due):.3f} ms"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("SCRATCHSPACES_DEPOT_PATH", None)
        os.environ.pop("SCRATCHSPACES_TRACK_ACCESS", None)
        set_auto(True)  # the check in place, as by default
        os.environ["HOME"] = os.path.join(tmp, "home")
        os.environ["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
        depot = os.path.join(tmp, "cache", "scratchspaces")
        _autogc.forget()  # this process's first use checks, wherever it is imported from

        # globals() carries this module's __file__, so get_scratch detects its caller
        # exactly as it would from any module that calls it.
        space = scratchspaces.get_scratch("k")
        log = os.path.join(tmp, "cache", "scratchspaces", "logs", "scratch_usage.toml")
        print(f"scratchspaces {scratchspaces.__version__}, platformdirs {platformdirs.__version__}")
        print(f"space: {space}")
        print(f"access log exists: {os.path.isfile(log)}")
        # The first call's check found no depot yet (nothing to collect). As the first
        # call of the next process would, check again: no marker, so gc is due and is
        # started; once it has run the marker is a day ahead, every later check one stat.
        _autogc.forget()
        scratchspaces.get_scratch("k")
        wait_for_gc(depot, 0, GC_TIMEOUT)
        due = _autogc.due_at(depot)
        assert due is not None, "the first gc wrote no marker"
        print(
            f"auto gc: check in place ({_autogc.AUTO_VAR} unset), "
            f"{logged_runs(depot)} run logged, next due in {(due - time.time()) / 3600:.1f} h"
        )

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

        measure_on_off()
        measure_first_call(depot)
        assert (_autogc.due_at(depot) or 0) > time.time(), "gc due after the measurements"

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
