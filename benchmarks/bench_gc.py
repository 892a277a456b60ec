"""gc over a large depot: ``scratchspaces.gc()`` with 10,000 spaces and a long access log.

Measured: wall time (``perf_counter``) of one ``scratchspaces.gc()`` call, default
options (``collect_delay`` of 7 days, so the first call deletes nothing: it condenses the
log and writes the orphanage, the realistic case), and the process's peak RSS
(``ru_maxrss``) just before and just after it. Each log size runs in a fresh subprocess
of this script (``--one N``), so the peaks are per size.

The depot (``SCRATCHSPACES_DEPOT_PATH`` in a temporary directory): 10,000 spaces
``scratchspaces/ns<i % 100>/k<i>``, empty except one in 500 holding a 1 KiB file, and
the stamp of every recorded (space, parent) pair, as ``get_scratch`` leaves them. Beside
it, 50 parents that exist (40 ``.dist-info`` directories, 10 ``pyproject.toml`` files)
and 200 that no longer do. 90 % of the spaces have 1 to 3 live parents (a third of those
also a dead one); the other 10 % only 1 or 2 dead parents, so they become orphans. The
access log holds N records (N = 100,000 and 1,000,000), each naming one space (drawn at
random, ~N/10,000 each) and one of its parents, times ascending over the last 60 days,
each record byte for byte what ``format_record`` returns (the log is written in large
chunks from per-pair templates cut out of ``format_record``'s output, checked against it).

Anchor: linear growth (x10 time for x10 records). Targets at 1,000,000 records:
gc <= 10 s, peak RSS <= 300 MB, and growth from 100,000 records no worse than linear.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = (100_000, 1_000_000)
SPACES = 10_000
NAMESPACES = 100
LIVE_DIRS = 40
LIVE_FILES = 10
DEAD = 200
DAYS = 60
CHUNK = 20_000
SEED = 20_260_101
T0 = 1_000_000_000.0  # the sentinel time cut out of format_record's output
TARGET_SECONDS = 10.0
TARGET_MB = 300.0


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_parents(tmp: str) -> tuple[list[str], list[str]]:
    site = os.path.join(tmp, "venv", "lib", "python3.12", "site-packages")
    os.makedirs(site)
    live: list[str] = []
    for j in range(LIVE_DIRS):
        path = os.path.join(site, f"package_{j:03d}-1.{j}.0.dist-info")
        os.mkdir(path)
        Path(path, "METADATA").write_text(f"Name: package-{j:03d}\n")
        live.append(path)
    for j in range(LIVE_FILES):
        project = os.path.join(tmp, "projects", f"project_{j:02d}")
        os.makedirs(project)
        path = os.path.join(project, "pyproject.toml")
        Path(path).write_text(f'[project]\nname = "project-{j:02d}"\n')
        live.append(path)
    dead = [os.path.join(site, f"old_package_{j:03d}-0.{j}.0.dist-info") for j in range(DEAD)]
    return live, dead


def make_spaces(
    depot: str, live: list[str], dead: list[str], rng: random.Random
) -> list[tuple[str, list[str]]]:
    """Create the spaces and their stamps; return each one's path and parents."""
    from scratchspaces import _accesslog

    spaces: list[tuple[str, list[str]]] = []
    for i in range(SPACES):
        namespace, key = f"ns{i % NAMESPACES}", f"k{i}"
        path = os.path.join(depot, "scratchspaces", namespace, key)
        os.makedirs(path)
        if i % 500 == 0:
            Path(path, "data.bin").write_bytes(b"\0" * 1024)
        if i % 10 == 0:  # an orphan-to-be: only parents that are gone
            parents = rng.sample(dead, rng.randint(1, 2))
        else:
            parents = rng.sample(live, rng.randint(1, 3))
            if rng.random() < 1 / 3:
                parents.append(rng.choice(dead))
        for parent in parents:
            stamp = _accesslog.stamp_path(depot, namespace, key, parent)
            os.makedirs(os.path.dirname(stamp), exist_ok=True)
            with open(stamp, "wb"):
                pass
        spaces.append((path, parents))
    return spaces


def write_log(
    path: str, spaces: list[tuple[str, list[str]]], records: int, rng: random.Random
) -> None:
    """Write ``records`` records in large chunks, times ascending over the last 60 days."""
    from scratchspaces._accesslog import format_record
    from scratchspaces._records import format_time

    sentinel = format_time(T0).encode()
    templates: dict[tuple[int, int], tuple[bytes, bytes]] = {}
    start = time.time() - DAYS * 86_400
    step = DAYS * 86_400 / records
    with open(path, "wb") as f:
        chunk: list[bytes] = []
        for n in range(records):
            s = rng.randrange(SPACES)
            space, parents = spaces[s]
            p = rng.randrange(len(parents))
            template = templates.get((s, p))
            if template is None:
                prefix, _, suffix = format_record(space, T0, [parents[p]]).partition(sentinel)
                template = templates[s, p] = (prefix, suffix)
            when = start + (n + rng.random()) * step
            record = template[0] + format_time(when).encode() + template[1]
            if n % 1000 == 0:
                assert record == format_record(space, when, [parents[p]])
            chunk.append(record)
            if len(chunk) == CHUNK:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))


def one(records: int, *, profile: bool) -> None:
    """Build a depot with ``records`` log records, run gc once, print a JSON line."""
    with tempfile.TemporaryDirectory() as tmp_str:
        tmp = os.path.realpath(tmp_str)
        depot = os.path.join(tmp, "depot")
        os.environ["SCRATCHSPACES_DEPOT_PATH"] = depot
        import scratchspaces
        from scratchspaces import _accesslog

        rng = random.Random(SEED)  # noqa: S311 - reproducible test data, not secrets
        live, dead = make_parents(tmp)
        spaces = make_spaces(depot, live, dead, rng)
        log = _accesslog.log_path(depot)
        begun = time.perf_counter()
        write_log(log, spaces, records, rng)
        print(f"  wrote {records:,} records in {time.perf_counter() - begun:.1f} s", flush=True)
        before_bytes = os.path.getsize(log)
        rss_before = rss_mb()

        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            start = time.perf_counter()
            report = profiler.runcall(scratchspaces.gc)
            seconds = time.perf_counter() - start
            pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
        else:
            start = time.perf_counter()
            report = scratchspaces.gc()
            seconds = time.perf_counter() - start
        result = {
            "records": records,
            "spaces": len(spaces),
            "seconds": seconds,
            "rss_before_mb": rss_before,
            "rss_peak_mb": rss_mb(),
            "log_before": before_bytes,
            "log_after": os.path.getsize(log),
            "kept": len(report.kept),
            "orphaned": len(report.orphaned),
            "deleted": len(report.deleted),
        }
        print(json.dumps(result), flush=True)


def run(records: int) -> dict[str, float]:
    print(f"gc with {records:,} records (fresh process) ...", flush=True)
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(records)],
        check=True,
        capture_output=True,
        text=True,
    )
    lines = done.stdout.rstrip().splitlines()
    for line in lines[:-1]:
        print(line)
    if done.stderr.strip():
        print(done.stderr.strip())
    result: dict[str, float] = json.loads(lines[-1])
    print(
        f"  records {result['records']:,}, spaces {result['spaces']:,}: "
        f"gc {result['seconds']:.2f} s, peak RSS {result['rss_peak_mb']:.0f} MB "
        f"(before gc {result['rss_before_mb']:.0f} MB), "
        f"log {result['log_before'] / 1e6:.1f} MB -> {result['log_after'] / 1e6:.2f} MB; "
        f"kept {result['kept']:,}, orphaned {result['orphaned']:,}, "
        f"deleted {result['deleted']:,}",
        flush=True,
    )
    return result


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "--one":
        one(int(sys.argv[2]), profile="--profile" in sys.argv[3:])
        return
    small, large = (run(n) for n in SIZES)
    growth = large["seconds"] / small["seconds"]
    ratio = large["records"] / small["records"]
    print(f"growth: time({large['records']:,}) / time({small['records']:,}) = {growth:.1f}")
    print(
        f"gc over {SPACES:,} spaces: {large['records']:,} records {large['seconds']:.1f} s, "
        f"{large['rss_peak_mb']:.0f} MB peak; {small['records']:,} records "
        f"{small['seconds']:.1f} s; growth x{growth:.1f} for x{ratio:.0f} records  "
        f"[targets <= {TARGET_SECONDS:.0f} s, <= {TARGET_MB:.0f} MB, growth <= linear]"
    )


if __name__ == "__main__":
    main()
