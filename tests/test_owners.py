"""Temporaries' owners (``scratchspaces._owners``): a crash's leftover, or work in flight.

A collector removes a temporary at once only when its name says it was written on this
machine, in this pid namespace, by a process that no longer runs; anything else waits a
day, since where locks hold on one node only its writer may still be at work.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from scratchspaces import _owners


def _ended_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_only_a_gone_writer_here_makes_a_young_temporary_abandoned() -> None:
    now = time.time()
    here = _owners.host()
    assert _owners.abandoned(f"a.toml.tmp-{_ended_pid()}-ab12@{here}", now, now)
    assert not _owners.abandoned(f"a.toml.tmp-{os.getpid()}-ab12@{here}", now, now)
    # Another machine, or another pid namespace on this one (a container with the same
    # host name): its pids mean other processes, so it waits.
    assert not _owners.abandoned(f"a.toml.tmp-{_ended_pid()}-ab12@another-node", now, now)
    other_ns = here.rsplit(".", 1)[0] + ".1"
    assert not _owners.abandoned(f"a.toml.tmp-{_ended_pid()}-ab12@{other_ns}", now, now)
    # Written by an older version (no owner in the name): it waits too.
    assert not _owners.abandoned(f"a.toml.tmp-{_ended_pid()}-ab12", now, now)


def test_any_temporary_a_day_old_is_abandoned() -> None:
    now = time.time()
    old = now - _owners.STALE_AFTER - 1
    assert _owners.abandoned(f"a.toml.tmp-{os.getpid()}-ab12@{_owners.host()}", old, now)
    assert _owners.abandoned("a.toml.tmp-1-ab12@another-node", old, now)


def test_names_say_who_writes_them() -> None:
    name = _owners.temporary_name("/depot/logs/scratch_usage.toml")
    assert name.startswith("/depot/logs/scratch_usage.toml.tmp-")
    assert name.endswith(f"@{_owners.host()}")
    assert _owners.is_temporary(os.path.basename(name))
    assert "/" not in _owners.host()
    assert "@" not in _owners.host()
