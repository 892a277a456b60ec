"""Depots of many entries: gc and recycling with nothing to do, and ``list`` / ``du``.

The depot (built on the same disk as the temporary directory, ``SCRATCHSPACES_DEPOT_PATH``
set to it), for N = 10,000 and 100,000 (or the sizes given as arguments):

- N spaces ``scratchspaces/ns<i % (N/100)>/k<i>``, each 3 small files (100-400 bytes),
  every one recorded in the access log with one parent that exists (N/100 ``.dist-info``
  folders of a site-packages beside the depot), with its stamp, as ``get_scratch``
  leaves them; the log holds one record per space, sorted, as gc condenses it;
- N content-cache entries, all bound: N/2 file entries bound by name, N/8 directory
  entries of 3 files each, bound by name, whose 3N/8 file entries they link to; 100 names
  per binding file (each in a space of the library's namespace, recorded too); the
  usage records one per binding, sorted, as recycling rewrites them; ids are sha256 git
  blob hashes for the files and distinct digests for the directories (recycling does
  not verify content);
- a few recorded ``Artifacts.toml`` files (binding no installed artifact), and
  ``CACHEDIR.TAG``.

Everything is written directly, in the exact formats the library writes (its own
record formatters), and one ``gc()`` runs before measuring (it writes the empty
orphanages, and reads every stamp, the journal being missing, then makes the journal):
every measured call has nothing to do, and nothing recorded since.

Measured side by side, alternating (du, op, du, op, ...), ``--reps`` rounds on a warm
page cache; each figure is the median:

- anchor: ``du -sb <depot>`` (a subprocess, wall time);
- ``scratchspaces.gc()`` and ``scratchspaces.cache.find_orphanages()``, each in a fresh
  child process that imports the library first: the call's wall time, and the child's
  peak RSS (``ru_maxrss``) with its RSS before the call; also whether the call rewrote
  any log, orphanage or binding file (inode or mtime changed);
- ``python -m scratchspaces list`` and ``python -m scratchspaces du`` (whole process,
  output to ``/dev/null``).

Targets at 100,000: gc and find_orphanages <= 1.0x ``du -sb``, nothing rewritten, memory
flat in the number of entries where possible; ``list`` and ``du`` <= 1.5x; growth from
10,000 to 100,000 no worse than linear (x10). The last line is the worst of the gc and
find_orphanages ratios at the largest N, with its target.

``--keep DIR`` (to iterate on the code measured): each depot is built in ``DIR/<N>`` and
left there (its records name absolute paths: it cannot be moved), and a depot found there
already (a previous run's) is measured as it is, not built again; measuring it changes
nothing but the orphanages' and the journal's first writing. Without it, each depot is
built in a temporary directory (``BENCH_TMP``, if set) and removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIZES = (10_000, 100_000)
REPS = 3
FILES_PER_SPACE = 3
PER_BINDING_FILE = 100
ARTIFACTS_TOMLS = 10
DAY = 86_400
TARGET_COLLECT = 1.0
TARGET_CLI = 1.5
T0 = 1_767_225_600  # 2026-01-01: every time is a whole second after it


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _stamp(path: str, content: str, when: float) -> None:
    _write(path, content.encode())
    os.utime(path, (when, when))


class _Log:
    """The access log being built: each space's record, and its stamp written at once."""

    def __init__(self, depot: str) -> None:
        from scratchspaces import _depot

        self.depot = depot
        self.spaces_root = os.path.join(depot, _depot.SPACES_DIR)
        self.records: dict[str, tuple[float, str]] = {}

    def record(self, namespace: str, key: str, parent: str, when: float) -> None:
        from scratchspaces import _accesslog

        self.records[os.path.join(self.spaces_root, namespace, key)] = (when, parent)
        stamp = _accesslog.stamp_path(self.depot, namespace, key, parent)
        os.makedirs(os.path.dirname(stamp), exist_ok=True)
        _stamp(stamp, parent, when)

    def write(self) -> None:
        """Write the log condensed and sorted, as gc writes it."""
        from scratchspaces import _accesslog

        with open(_accesslog.log_path(self.depot), "wb") as f:
            for space, (when, parent) in sorted(self.records.items()):
                f.write(_accesslog.format_record(space, when, [parent]))


def _parents(root: str, n: int) -> list[str]:
    site = os.path.join(root, "venv", "lib", "python3.12", "site-packages")
    os.makedirs(site)
    parents = []
    for j in range(max(10, n // 100)):
        parent = os.path.join(site, f"package_{j:05d}-1.0.dist-info")
        os.mkdir(parent)
        _write(os.path.join(parent, "METADATA"), f"Name: package-{j:05d}\n".encode())
        parents.append(parent)
    return parents


def _spaces(log: _Log, n: int, parents: list[str], now: int) -> None:
    namespaces = max(1, n // 100)
    for ns in range(namespaces):
        os.makedirs(os.path.join(log.spaces_root, f"ns{ns}"))
    for i in range(n):
        namespace, key = f"ns{i % namespaces}", f"k{i}"
        space = os.path.join(log.spaces_root, namespace, key)
        os.mkdir(space)
        for f in range(FILES_PER_SPACE):
            _write(os.path.join(space, f"f{f}.dat"), b"x" * (100 + (i * 7 + f * 100) % 300))
        log.record(namespace, key, parents[i % len(parents)], float(now - (i % 30) * DAY))


def _cache(log: _Log, n: int, parents: list[str], now: int) -> None:
    """N entries, all bound: file entries, directory entries, binding files, usage records."""
    from scratchspaces import _depot
    from scratchspaces.cache import _bindings, _store

    store = _store.store_of_depot(log.depot)
    os.makedirs(os.path.join(store, _store.LOCKS_DIR))
    for prefix in range(256):
        os.makedirs(os.path.join(store, _store.ENTRIES_DIR, f"{prefix:02x}"))

    def file_entry(content: bytes) -> str:
        digest = hashlib.sha256(b"blob %d\0" % len(content) + content).digest()
        id_ = _store.file_id(digest, executable=False)
        _write(_store.entry_path(store, id_), content, 0o444)
        return id_

    bound: list[tuple[str, tuple[str, ...] | None]] = [
        (file_entry(b"file entry %d\n" % j * 4), None) for j in range(n // 2)
    ]
    for j in range(n // 8):
        files = tuple(sorted(file_entry(b"part %d of dir %d\n" % (k, j) * 4) for k in range(3)))
        id_ = hashlib.sha256(b"dir %d" % j).hexdigest()
        path = _store.entry_path(store, id_)
        os.mkdir(path)
        for k, file_id in enumerate(files):
            os.symlink(_store.link_target(file_id, 0), os.path.join(path, f"part{k}.dat"))
        os.chmod(path, _store.READ_ONLY_DIR)
        bound.append((id_, files))
    packages = max(1, len(bound) // PER_BINDING_FILE)
    names: list[dict[str, str]] = [{} for _ in range(packages)]
    usage: list[tuple[str, _bindings.Use, float, tuple[str, ...] | None]] = []
    pkg_root = os.path.join(log.spaces_root, _depot.CACHE_NAMESPACE)
    for j, (id_, reached) in enumerate(bound):
        toml = os.path.join(pkg_root, f"pkg{j % packages}", _store.BINDINGS_NAME)
        names[j % packages][f"e{j}"] = id_
        usage.append((id_, _bindings.Use(toml, f"e{j}"), float(now - (j % 30) * DAY), reached))
    for p, bindings in enumerate(names):
        os.makedirs(os.path.join(pkg_root, f"pkg{p}"))
        text = "\n".join(f'[{name}]\nsha256 = "{id_}"\n' for name, id_ in sorted(bindings.items()))
        _write(os.path.join(pkg_root, f"pkg{p}", _store.BINDINGS_NAME), text.encode())
        log.record(_depot.CACHE_NAMESPACE, f"pkg{p}", parents[p % len(parents)], float(now))
    usage.sort(key=lambda u: (u[0], u[1]))
    with open(_bindings.usage_path(store), "wb") as out:
        for id_, use, when, reached in usage:
            out.write(_bindings.format_record(id_, use, when, reached))


def _artifact_usage(root: str, depot: str, now: int) -> None:
    """A few recorded ``Artifacts.toml`` files, binding nothing installed."""
    from scratchspaces import _accesslog, _depot
    from scratchspaces.artifacts import _usage

    records = []
    for j in range(ARTIFACTS_TOMLS):
        project = os.path.join(root, "projects", f"project{j}")
        os.makedirs(project)
        toml = os.path.join(project, "Artifacts.toml")
        _write(toml, b"")
        stamp = os.path.join(_usage.stamps_dir(depot), _accesslog.stamp_name(toml))
        os.makedirs(os.path.dirname(stamp), exist_ok=True)
        _stamp(stamp, toml, float(now))
        records.append(_usage.format_record(toml, float(now)))
    with open(_usage.usage_path(depot), "wb") as out:
        out.write(b"".join(sorted(records)))
    os.makedirs(os.path.join(depot, _depot.ARTIFACTS_DIR), exist_ok=True)


def build(root: str, n: int) -> str:
    """Build the depot of ``n`` spaces and ``n`` cache entries under ``root``; return it."""
    from scratchspaces import _fs

    depot = os.path.join(root, "depot")
    now = int(time.time())
    parents = _parents(root, n)
    log = _Log(depot)
    _spaces(log, n, parents, now)
    _cache(log, n, parents, now)
    log.write()
    _artifact_usage(root, depot, now)
    _fs.tag_cache_directory(depot)
    return depot


def watched(depot: str) -> dict[str, tuple[int, int] | None]:
    """Return (inode, mtime_ns) of every file a collection with nothing to do must not write."""
    from scratchspaces import _accesslog, _depot
    from scratchspaces.artifacts import _usage
    from scratchspaces.cache import _bindings, _store

    store = _store.store_of_depot(depot)
    paths = [
        _accesslog.log_path(depot),
        _usage.usage_path(depot),
        _depot.orphanage_path(depot),
        _bindings.usage_path(store),
        _store.orphanage_path(store),
        os.path.join(depot, _depot.SPACES_DIR, _depot.CACHE_NAMESPACE, "pkg0", "Artifacts.toml"),
    ]
    found: dict[str, tuple[int, int] | None] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            found[path] = None
        else:
            found[path] = (st.st_ino, st.st_mtime_ns)
    return found


def child(op: str) -> None:
    """Run ``op`` once in this fresh process; print a JSON line of its figures."""
    import scratchspaces
    from scratchspaces import cache

    depot = os.environ["SCRATCHSPACES_DEPOT_PATH"]
    before = watched(depot)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    report = scratchspaces.gc() if op == "gc" else cache.find_orphanages()
    seconds = time.perf_counter() - start
    after = watched(depot)
    result = {
        "seconds": seconds,
        "rss_before_mb": rss_before,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "deleted": len(report.deleted),
        "orphaned": len(report.orphaned),
        "kept": len(report.kept),
        "rewritten": [os.path.basename(p) for p in before if before[p] != after[p]],
    }
    print(json.dumps(result))


def _env(depot: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SCRATCHSPACES_DEPOT_PATH"] = depot
    env["SCRATCHSPACES_GC_AUTO"] = "0"
    return env


def run_child(depot: str, op: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", op],
        env=_env(depot),
        check=True,
        capture_output=True,
        text=True,
    )
    if done.stderr.strip():
        print(done.stderr.strip())
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(n: int, reps: int, keep: str | None = None) -> dict[str, dict[str, float]]:
    """Build the depot of ``n`` (or reuse the one kept), measure every operation.

    Print and return the medians.
    """
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        root = os.path.realpath(tmp if keep is None else os.path.join(keep, str(n)))
        depot = os.path.join(root, "depot")
        if keep is not None and os.path.isdir(depot):
            print(f"N = {n:,}: the depot kept in {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)  # a build cut short
            os.makedirs(root, exist_ok=True)
            begun = time.perf_counter()
            # Built by a child: the peaks measured are those of children of a small parent
            # (on Linux a child's ru_maxrss starts from its parent's).
            subprocess.run([sys.executable, __file__, "--build", str(n), root], check=True)
            print(f"N = {n:,}: built in {time.perf_counter() - begun:.0f} s", flush=True)
        env = _env(depot)
        run_child(depot, "gc")  # writes the empty orphanages: from here on, nothing to do
        run_child(depot, "find_orphanages")
        du = ["du", "-sb", depot]
        cli = [sys.executable, "-m", "scratchspaces"]
        anchors: list[float] = []
        times: dict[str, list[float]] = {"gc": [], "find_orphanages": [], "list": [], "du": []}
        peaks: dict[str, list[float]] = {"gc": [], "find_orphanages": []}
        bases: dict[str, list[float]] = {"gc": [], "find_orphanages": []}
        timed(du, env)  # the page cache warm for everyone
        for _ in range(reps):
            for op in ("gc", "find_orphanages"):
                anchors.append(timed(du, env))
                result = run_child(depot, op)
                times[op].append(result["seconds"])
                peaks[op].append(result["rss_peak_mb"])
                bases[op].append(result["rss_before_mb"])
                if result["deleted"] or result["orphaned"] or result["rewritten"]:
                    print(f"  {op} did something: {result}")
            for op in ("list", "du"):
                anchors.append(timed(du, env))
                times[op].append(timed([*cli, op], env))
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    anchor = statistics.median(anchors)
    found: dict[str, dict[str, float]] = {"du -sb (anchor)": {"seconds": anchor, "ratio": 1.0}}
    print(f"  du -sb: {anchor:.2f} s (median of {len(anchors)})")
    for op, values in times.items():
        seconds = statistics.median(values)
        line = f"  {op:16s} {seconds:6.2f} s = {seconds / anchor:5.2f}x du -sb"
        found[op] = {"seconds": seconds, "ratio": seconds / anchor}
        if op in peaks:
            peak, base = statistics.median(peaks[op]), statistics.median(bases[op])
            found[op]["peak_mb"] = peak
            line += f", peak RSS {peak:.0f} MB ({base:.0f} MB before the call)"
        target = TARGET_COLLECT if op in peaks else TARGET_CLI
        print(f"{line}  [target <= {target}]", flush=True)
    return found


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--build":
        build(sys.argv[3], int(sys.argv[2]))
        return
    args = sys.argv[1:]
    reps = REPS
    if "--reps" in args:
        at = args.index("--reps")
        reps = int(args[at + 1])
        del args[at : at + 2]
    keep = None
    if "--keep" in args:
        at = args.index("--keep")
        keep = os.path.abspath(args[at + 1])
        del args[at : at + 2]
    sizes = [int(a.replace("_", "")) for a in args] or list(SIZES)
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    results = {n: measure(n, reps, keep) for n in sizes}
    small, large = min(sizes), max(sizes)
    if small != large:
        for op in results[large]:
            growth = results[large][op]["seconds"] / results[small][op]["seconds"]
            print(f"growth {small:,} -> {large:,} of {op}: x{growth:.1f} for x{large / small:.0f}")
            peak = results[large][op].get("peak_mb")
            if peak is not None:
                grown = peak / results[small][op]["peak_mb"]
                print(f"  peak RSS of {op}: x{grown:.1f}")
    worst = max(results[large][op]["ratio"] for op in ("gc", "find_orphanages"))
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    print(
        f"at {large:,} spaces and cache entries: gc and find_orphanages with nothing to do, "
        f"worst {worst:.2f}x du -sb  [target <= {TARGET_COLLECT}]"
    )


if __name__ == "__main__":
    main()
