"""Locks that do not exclude: a depot on NFS mounted ``nolock`` or Lustre ``localflock``.

There ``flock`` holds on one machine only, so processes on two nodes never wait for each
other. Here every process loads a shim (compiled by the test) that makes ``flock`` a
no-op, which is what each node sees of the others. Under the default ``collect_delay``
nothing recorded may be lost and no live space deleted: the stamps are records too, gc
reads them before the spaces and checks each doomed space's stamps just before and just
after moving it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import scratchspaces
from _depots import access_log, write_orphanage
from test_crashes import space_recorded

WRITERS = 16
SPACES = 30
GC_LOOPS = 2

_SHIM = """
#include <sys/file.h>
/* flock that never excludes: what one node sees of another on a localflock mount */
int flock(int fd, int operation) { (void)fd; (void)operation; return 0; }
"""

_CHECK_SHIM = """
import fcntl, sys
a, b = open(sys.argv[1], "w"), open(sys.argv[1], "w")
fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB)
fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB)  # blocks without the shim: raises here
print("no-op")
"""

_WRITER = """
import os, random, sys, time
from scratchspaces import _accesslog, _depot
writer, start, spaces, parent = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
depot = _depot.user_depot_string()
pace = random.Random(writer)
while not os.path.exists(start):
    time.sleep(0.001)
for i in range(spaces):
    space = _accesslog.ensure_space(depot, "ns", f"s{(i + writer) % spaces}", parent)
    (space / f"w{writer}-{i}").write_bytes(b"written after get_scratch returned")
    print(space, flush=True)
    time.sleep(pace.uniform(0, 0.06))  # spread over many gc runs
"""

_GC_LOOP = """
import os, sys, time
import scratchspaces
start, stop = sys.argv[1], sys.argv[2]
while not os.path.exists(start):
    time.sleep(0.001)
runs = 0
while not os.path.exists(stop) or runs == 0:
    scratchspaces.gc()  # the default collect_delay
    runs += 1
print(runs)
"""


@pytest.fixture(scope="module")
def no_flock(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the path of a shared library making ``flock`` a no-op for LD_PRELOAD."""
    if sys.platform != "linux":
        pytest.skip("LD_PRELOAD shims are for Linux")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the no-op flock shim")
    where = tmp_path_factory.mktemp("shim")
    (where / "noflock.c").write_text(_SHIM)
    library = where / "noflock.so"
    built = subprocess.run(
        [compiler, "-shared", "-fPIC", "-o", str(library), str(where / "noflock.c")],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        pytest.skip(f"cannot build the no-op flock shim: {built.stderr.strip()}")
    return str(library)


def _spawn(code: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_shim_makes_flock_a_no_op(no_flock: str, tmp_path: Path) -> None:
    env = {**os.environ, "LD_PRELOAD": no_flock}
    cmd = [sys.executable, "-c", _CHECK_SHIM, str(tmp_path / "lock")]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "no-op", result.stderr
    unshimmed = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert "BlockingIOError" in unshimmed.stderr  # the check itself tells the difference


def test_writers_and_gc_loops_without_locks_lose_nothing(
    no_flock: str, depot: Path, tmp_path: Path
) -> None:
    """16 writers revive 30 spaces orphaned a month ago while two gc loops collect."""
    old = datetime.now(timezone.utc) - timedelta(days=30)
    for n in range(SPACES):
        space = depot / "scratchspaces" / "ns" / f"s{n}"
        space.mkdir(parents=True)
        (space / "old").write_bytes(b"orphaned for a month")
    (depot / "logs").mkdir()
    write_orphanage(
        depot, {str(depot / "scratchspaces" / "ns" / f"s{n}"): old for n in range(SPACES)}
    )
    parents = [tmp_path / f"pkg{w}-1.0.dist-info" for w in range(WRITERS)]
    for parent in parents:
        parent.mkdir()
    start, stop = tmp_path / "start", tmp_path / "stop"
    env = {**os.environ, "LD_PRELOAD": no_flock}

    writers = [
        _spawn(textwrap.dedent(_WRITER), [str(w), str(start), str(SPACES), str(p)], env)
        for w, p in enumerate(parents)
    ]
    loops = [_spawn(_GC_LOOP, [str(start), str(stop)], env) for _ in range(GC_LOOPS)]
    time.sleep(0.5)  # every process imported and waiting
    start.touch()
    written = [proc.communicate(timeout=300) for proc in writers]
    stop.touch()
    collected = [proc.communicate(timeout=300) for proc in loops]

    for proc, (_out, err) in zip(writers + loops, written + collected, strict=False):
        assert proc.returncode == 0, err
        assert err == "", err  # no warning: not one record failed
    runs = sum(int(out) for out, _ in collected)
    returned = {(w, line) for w, (out, _) in enumerate(written) for line in out.split()}
    assert len(returned) == WRITERS * SPACES
    # No live space deleted: every file written after get_scratch returned is there.
    missing = [
        f"{space}/w{w}-{i}"
        for w in range(WRITERS)
        for i in range(SPACES)
        for space in [depot / "scratchspaces" / "ns" / f"s{(i + w) % SPACES}"]
        if not (space / f"w{w}-{i}").exists()
    ]
    assert missing == [], f"{len(missing)} files lost over {runs} gc runs, first: {missing[:3]}"
    # Nothing recorded lost: every pair a writer was returned is in the log or in its
    # stamp, which gc reads before it judges that space on the log alone. (A gc whose
    # log another gc's stale rewrite replaced may have forgotten the journal's note of
    # a stamp whose record the log no longer holds: that record is in its stamp.)
    scratchspaces.gc()
    pairs = [(space, str(parents[w])) for w, space in returned]
    lost = [pair for pair in pairs if not space_recorded(depot, Path(pair[0]), pair[1])]
    assert lost == [], f"{len(lost)} of {len(returned)} records lost over {runs} gc runs"
    logged = {(r.key, p) for r in access_log(depot) for p in r.parents}
    stamped = len([pair for pair in pairs if pair not in logged])
    # With no journal, gc reads every stamp: then every pair is in the log.
    shutil.rmtree(depot / "logs" / "scratch_usage.new")
    scratchspaces.gc()
    logged = {(r.key, p) for r in access_log(depot) for p in r.parents}
    assert [pair for pair in pairs if pair not in logged] == []
    print(
        f"{WRITERS} writers, {len(returned)} records, {runs} gc runs without locks: none lost "
        f"({stamped} in their stamps only, until a gc read every stamp)"
    )
