"""``list`` through the console script: sorted, filtered, cut, quiet, and readable.

One depot of five spaces whose sizes, last accesses and statuses all differ, so that
each order and each filter picks its own rows. Times are written into the access log
relative to now, with margins of hours, so a relative time reads the same however long
the command takes to start.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from _cli import SCRIPT, run_script
from _depots import write_access_log, write_orphanage
from _processes import drain
from scratchspaces.cli._output import relative_time

NAMES = ("manual/never", "pkg/big", "pkg/fresh", "pkg/old", "pkg/orphan")


@pytest.fixture
def spaces(depot: Path, tmp_path: Path) -> dict[str, Path]:
    """Five spaces, by ``namespace/key``.

    ========== ======= ============== =========================
    space      bytes   last access    status
    ========== ======= ============== =========================
    never      0       never recorded unused
    big        2 MiB   2.5 hours ago  in use
    fresh      3000    3 days ago     in use
    old        100     40 days ago    unused (its parent gone)
    orphan     50      20 days ago    orphaned 2 days ago
    ========== ======= ============== =========================
    """
    alive, gone = tmp_path / "alive.toml", tmp_path / "gone.toml"
    alive.write_text("")
    now = datetime.now(timezone.utc)
    found: dict[str, Path] = {}
    for name, size in zip(NAMES, (0, 2 * 2**20, 3000, 100, 50), strict=True):
        path = depot / "scratchspaces" / name
        path.mkdir(parents=True)
        if size:
            (path / "data").write_bytes(b"x" * size)
        found[name] = path
    write_access_log(
        depot,
        [
            (found["pkg/big"], now - timedelta(hours=2, minutes=30), [str(alive)]),
            (found["pkg/fresh"], now - timedelta(days=3, hours=2), [str(alive)]),
            (found["pkg/old"], now - timedelta(days=40), [str(gone)]),
            (found["pkg/orphan"], now - timedelta(days=20), [str(gone)]),
        ],
    )
    write_orphanage(depot, {str(found["pkg/orphan"]): now - timedelta(days=2)})
    return found


def listed(*args: str) -> list[str]:
    """Run ``list -q args``; return the ``namespace/key`` of each path printed, in order."""
    done = run_script("list", "-q", *args)
    assert done.returncode == 0, done.stderr
    return ["/".join(Path(line).parts[-2:]) for line in done.stdout.splitlines()]


def test_quiet_prints_only_paths(spaces: dict[str, Path]) -> None:
    done = run_script("list", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(f"{spaces[n]}\n" for n in NAMES)
    assert run_script("list", "pkg", "--quiet", "--sort", "size").stdout.splitlines()[0] == str(
        spaces["pkg/big"]
    )
    assert run_script("list", "-q", "--json").returncode == 2


@pytest.mark.parametrize(
    ("args", "names"),
    [
        ((), list(NAMES)),
        (("--sort", "name", "--reverse"), list(reversed(NAMES))),
        (("--sort", "size"), ["pkg/big", "pkg/fresh", "pkg/old", "pkg/orphan", "manual/never"]),
        (
            ("--sort", "size", "--reverse"),
            ["manual/never", "pkg/orphan", "pkg/old", "pkg/fresh", "pkg/big"],
        ),
        (
            ("--sort", "accessed"),  # the latest first, never recorded last
            ["pkg/big", "pkg/fresh", "pkg/orphan", "pkg/old", "manual/never"],
        ),
        (
            ("--sort", "status"),  # in use, unused, orphaned; then by name
            ["pkg/big", "pkg/fresh", "manual/never", "pkg/old", "pkg/orphan"],
        ),
    ],
)
def test_sort(spaces: dict[str, Path], args: tuple[str, ...], names: list[str]) -> None:
    assert listed(*args) == names


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("--filter", "status=in-use"), ["pkg/big", "pkg/fresh"]),
        (("--filter", "status=in use"), ["pkg/big", "pkg/fresh"]),
        (("--filter", "status=unused"), ["manual/never", "pkg/old"]),
        (("--filter", "status=orphaned"), ["pkg/orphan"]),
        (("--filter", "status!=in-use"), ["manual/never", "pkg/old", "pkg/orphan"]),
        (("--filter", "status=unused,orphaned"), ["manual/never", "pkg/old", "pkg/orphan"]),
        (("--filter", "size>1K"), ["pkg/big", "pkg/fresh"]),
        (("--filter", "size<1K"), ["manual/never", "pkg/old", "pkg/orphan"]),
        (("--filter", "size>=100"), ["pkg/big", "pkg/fresh", "pkg/old"]),
        (("--filter", "size>1M"), ["pkg/big"]),
        (("--filter", "accessed>30d"), ["manual/never", "pkg/old"]),  # never: long ago
        (("--filter", "accessed<7d"), ["pkg/big", "pkg/fresh"]),
        (("--filter", "accessed>1d", "--filter", "status=in-use"), ["pkg/fresh"]),
        (("--filter", "size<1K", "--sort", "size", "--limit", "1"), ["pkg/old"]),
        (("--limit", "2"), ["manual/never", "pkg/big"]),
        (("--limit", "2", "--sort", "size"), ["pkg/big", "pkg/fresh"]),
        (("--limit", "2", "--sort", "size", "--reverse"), ["manual/never", "pkg/orphan"]),
        (("--limit", "0"), []),
        (("--filter", "size>1T"), []),
    ],
)
def test_filter_and_limit(spaces: dict[str, Path], args: tuple[str, ...], names: list[str]) -> None:
    assert listed(*args) == names


@pytest.mark.parametrize(
    "expr", ["bogus", "name=x", "size=1K", "size>lots", "status=dead", "accessed>6M", "status>1"]
)
def test_a_bad_filter_is_a_usage_error_naming_what_is_accepted(expr: str) -> None:
    done = run_script("list", "--filter", expr)
    assert done.returncode == 2
    assert done.stdout == ""
    last = done.stderr.splitlines()[-1]
    assert f"invalid filter {expr!r}" in last
    assert "Traceback" not in done.stderr
    if expr in {"bogus", "name=x", "size=1K", "status>1"}:
        for form in ("status=WORD", "size>SIZE", "accessed>DURATION", "in-use, unused, orphaned"):
            assert form in last


def test_a_bad_limit_is_a_usage_error() -> None:
    for value in ("-1", "many"):
        done = run_script("list", "--limit", value)
        assert done.returncode == 2
        assert f"invalid limit {value!r}" in done.stderr


def test_the_table_says_times_as_people_do(spaces: dict[str, Path], depot: Path) -> None:
    for args in ((), ("--sort", "name")):  # streamed, and sorted
        done = run_script("list", *args)
        assert done.returncode == 0, done.stderr
        header, *lines = done.stdout.splitlines()
        assert "LAST ACCESS" in header
        assert "UTC" not in header
        rows = {"/".join(line.split()[:2]): line for line in lines}
        assert list(rows) == list(NAMES)
        assert "never recorded" in rows["manual/never"]
        assert "2 hours ago" in rows["pkg/big"]
        assert "3 days ago" in rows["pkg/fresh"]
        assert "5 weeks ago" in rows["pkg/old"]
        assert "2 weeks ago" in rows["pkg/orphan"]
        assert (
            rows["pkg/orphan"]
            .rstrip()
            .endswith(f"orphaned since {datetime.now(timezone.utc) - timedelta(days=2):%Y-%m-%d}")
        )
    none = run_script("list", "--filter", "size>1T")
    assert none.stdout == f"No scratch spaces in {depot} match.\n"


def test_json_keeps_iso_times_and_says_bytes(spaces: dict[str, Path]) -> None:
    for args in ((), ("--sort", "size")):
        rows = {
            f"{r['namespace']}/{r['key']}": r
            for r in json.loads(run_script("list", "--json", *args).stdout)
        }
        assert set(rows) == set(NAMES)
        for row in rows.values():
            assert list(row) == [
                "namespace",
                "key",
                "path",
                "bytes",
                "last_access",
                "parents",
                "status",
                "orphaned_since",
            ]
        assert rows["pkg/big"]["bytes"] == 2 * 2**20
        assert rows["pkg/big"]["status"] == "in use"
        assert rows["pkg/old"]["status"] == "unused"
        assert rows["pkg/orphan"]["status"] == "orphaned"
        assert rows["pkg/orphan"]["orphaned_since"].endswith("+00:00")
        assert rows["pkg/fresh"]["last_access"].endswith("+00:00")
        assert datetime.fromisoformat(rows["pkg/fresh"]["last_access"]) < datetime.now(
            timezone.utc
        ) - timedelta(days=3)
        assert rows["manual/never"]["last_access"] is None
    assert run_script("list", "--json", "--filter", "size>1T").stdout == "[]\n"


LONG_NAMESPACE = "a-namespace-much-wider-than-a-narrow-terminal"
LONG_KEY = "a-key-that-is-far-too-long-for-forty-columns-" + "x" * 60


def _stdout_on_a_terminal(command: list[str], columns: int) -> tuple[int, str]:
    """Run ``command`` with stdout on a pseudo-terminal ``columns`` wide; return what it drew."""
    leader, follower = os.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm"}
    try:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.DEVNULL, env=env
        )
    finally:
        os.close(follower)
    drawn = drain(leader)
    return proc.wait(60), drawn.decode(errors="replace")


@pytest.mark.parametrize("args", [(), ("--sort", "size")])
def test_no_key_is_cut_short_on_a_narrow_terminal(depot: Path, args: tuple[str, ...]) -> None:
    pytest.importorskip("rich")  # the table a terminal shows; plain columns never cut
    (depot / "scratchspaces" / LONG_NAMESPACE / LONG_KEY).mkdir(parents=True)
    status, drawn = _stdout_on_a_terminal([str(SCRIPT), "list", *args], 40)
    assert status == 0, drawn
    assert LONG_KEY in drawn
    assert LONG_NAMESPACE in drawn
    assert "…" not in drawn
    piped = run_script("list", *args, env={**os.environ, "COLUMNS": "40"})
    assert LONG_KEY in piped.stdout


@pytest.mark.parametrize(
    ("ago", "said"),
    [
        (None, "never recorded"),
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=-30), "just now"),
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(minutes=59, seconds=59), "59 minutes ago"),
        (timedelta(hours=2, minutes=30), "2 hours ago"),
        (timedelta(days=1), "1 day ago"),
        (timedelta(days=3, hours=23), "3 days ago"),
        (timedelta(days=13), "13 days ago"),
        (timedelta(days=14), "2 weeks ago"),
        (timedelta(days=59), "8 weeks ago"),
        (timedelta(days=60), "2 months ago"),
        (timedelta(days=364), "12 months ago"),
        (timedelta(days=365), "1 year ago"),
        (timedelta(days=3 * 365 + 100), "3 years ago"),
        (timedelta(hours=-2), "in 2 hours"),
    ],
)
def test_relative_time(ago: timedelta | None, said: str) -> None:
    now = datetime(2026, 11, 24, 4, 18, tzinfo=timezone.utc)
    assert relative_time(None if ago is None else now - ago, now) == said
