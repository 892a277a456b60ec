"""Races forced, not hoped for: processes released together by a barrier.

Spaces created and deleted at once, and collected while they are created; six processes
downloading one URL into the content cache; binders and recyclers of the cache at once.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import scratchspaces
from _depots import cache_entries, cache_store, check_cache_entry, temporaries
from _git import blob_sha256
from _http import Server
from _processes import running
from scratchspaces import _summary, cache
from scratchspaces.cache import _bindings
from scratchspaces.errors import ArtifactNotFound

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from multiprocessing.synchronize import Barrier, Event

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

ZERO = timedelta(0)


# --- spaces ------------------------------------------------------------------------------

WORKERS = 8
SHARED_KEYS = 20
OWN_KEYS = 5


def _create_spaces(barrier: Barrier, worker: int) -> None:
    barrier.wait(60)
    for i in range(SHARED_KEYS):
        (scratchspaces.get_scratch(f"shared-{i}", "race-ns") / f"from-{worker}").touch()
    for i in range(OWN_KEYS):
        scratchspaces.get_scratch(f"own-{worker}-{i}", "race-ns")
    scratchspaces.get_scratch("global", scratchspaces.GLOBAL)


def test_eight_processes_creating_spaces_leave_a_whole_log(depot: Path) -> None:
    barrier = multiprocessing.get_context("spawn").Barrier(WORKERS)
    with running(_create_spaces, [(barrier, w) for w in range(WORKERS)]) as procs:
        pass
    assert [p.exitcode for p in procs] == [0] * WORKERS

    # A strict TOML parser is the oracle: no torn or interleaved record.
    data = tomllib.loads((depot / "logs" / "scratch_usage.toml").read_text())
    root = depot / "scratchspaces"
    expected = {str(root / "race-ns" / f"shared-{i}") for i in range(SHARED_KEYS)}
    expected |= {
        str(root / "race-ns" / f"own-{w}-{i}") for w in range(WORKERS) for i in range(OWN_KEYS)
    }
    expected.add(str(root / "_global" / "global"))
    assert set(data) == expected
    for path in expected:
        assert (depot / path).is_dir()
    # Every process ran from this test file, so every space had one parent, recorded once.
    counts = Counter(len(entries) for entries in data.values())
    assert counts == {1: len(expected)}
    for i in range(SHARED_KEYS):
        assert len(list((root / "race-ns" / f"shared-{i}").iterdir())) == WORKERS


def _churn(barrier: Barrier, worker: int) -> None:
    barrier.wait(60)
    for i in range(150):
        path = scratchspaces.get_scratch(f"w{worker}-{i}", "churn")
        (path / "f").touch()
        scratchspaces.delete_scratch(f"w{worker}-{i}", "churn")
        # a delete must really delete, even while others empty the shared trash
        assert not path.exists(), path


def test_concurrent_deletes_sharing_the_trash_all_delete(depot: Path) -> None:
    barrier = multiprocessing.get_context("spawn").Barrier(4)
    with running(_churn, [(barrier, w) for w in range(4)]) as procs:
        pass
    assert [p.exitcode for p in procs] == [0] * 4
    assert list((depot / "scratchspaces" / "churn").iterdir()) == []


def _create(barrier: object, worker: int, count: int) -> None:
    assert hasattr(barrier, "wait")
    barrier.wait(60)
    for i in range(count):
        scratchspaces.get_scratch(f"w{worker}-{i}", "racers")


def _collect_until(stop: object) -> None:
    assert hasattr(stop, "is_set")
    while not stop.is_set():
        scratchspaces.gc(collect_delay=ZERO)


def test_gc_in_a_loop_never_takes_a_space_being_created(depot: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, stop = ctx.Barrier(4), ctx.Event()
    collector = ctx.Process(target=_collect_until, args=(stop,))
    creators = [ctx.Process(target=_create, args=(barrier, w, 40)) for w in range(4)]
    collector.start()
    try:
        for proc in creators:
            proc.start()
        for proc in creators:
            proc.join(120)
    finally:
        stop.set()
        collector.join(120)
        for proc in [collector, *creators]:
            if proc.is_alive():
                proc.kill()
                proc.join()
    assert [p.exitcode for p in [collector, *creators]] == [0] * 5
    summary = _summary.summarize(str(depot))
    for worker in range(4):
        for i in range(40):
            space = depot / "scratchspaces" / "racers" / f"w{worker}-{i}"
            assert space.is_dir(), space
            assert str(space) in summary.spaces, space
            assert summary.spaces[str(space)].parents


# --- the content cache's bindings --------------------------------------------------------


def _bindings_of(toml: Path) -> dict[str, str]:
    """name -> id of every binding in ``toml`` (none if the file does not exist)."""
    if not toml.exists():
        return {}
    data = tomllib.loads(toml.read_text())
    found: dict[str, str] = {}
    for name, table in data.items():
        assert isinstance(table, dict), (toml, name, table)
        assert set(table) == {"sha256"}, (toml, name, table)
        found[name] = table["sha256"]
    return found


# --- six processes, one URL --------------------------------------------------------------

DOWNLOADERS = 6
PAYLOAD_SIZE = 2 * 1024 * 1024
HOLD_SECONDS = 0.15


def _download_as(barrier: Barrier, url: str, name: str, toml: str, out: str) -> None:
    """Download ``url`` as ``name``, timing every real download this process makes."""
    from scratchspaces import _transfer

    real = _transfer.download
    spans: list[tuple[float, float]] = []

    def timed(url: str, dest: str, *, label: str, expected_size: int | None = None) -> str:
        start = time.monotonic()
        try:
            return real(url, dest, label=label, expected_size=expected_size)
        finally:
            # Hold the download open a little: unserialized downloads would overlap.
            time.sleep(HOLD_SECONDS)
            spans.append((start, time.monotonic()))

    _transfer.download = timed
    barrier.wait(60)
    id_ = cache.download_my_artifact(url, name, toml)
    Path(out).write_text(json.dumps({"id": id_, "spans": spans}))


def test_six_processes_downloading_one_url_share_one_entry(depot: Path, tmp_path: Path) -> None:
    """Six processes downloading one URL under six names take turns and share one entry.

    The downloads never overlap (the URL's lock), exactly one entry holds the served
    bytes, all six names are bound to it in the one binding file, and the usage records
    hold all six bindings.
    """
    served = tmp_path / "served"
    served.mkdir()
    payload = random.Random(6).randbytes(PAYLOAD_SIZE)  # noqa: S311 - test data, not secrets
    (served / "data.bin").write_bytes(payload)
    toml = cache.my_artifacts_toml("six-downloads")
    assert toml == depot / "scratchspaces" / "scratchspaces" / "six-downloads" / "Artifacts.toml"
    outs = [tmp_path / f"result-{i}.json" for i in range(DOWNLOADERS)]

    with Server(served) as server:
        url = f"{server.url}/data.bin"
        barrier = multiprocessing.get_context("spawn").Barrier(DOWNLOADERS)
        args = [(barrier, url, f"name{i}", str(toml), str(outs[i])) for i in range(DOWNLOADERS)]
        with running(_download_as, args) as procs:
            pass
        requests = list(server.requests)
    assert [p.exitcode for p in procs] == [0] * DOWNLOADERS

    results = [json.loads(out.read_text()) for out in outs]
    ids = {r["id"] for r in results}
    assert len(ids) == 1, ids
    (id_,) = ids
    assert id_ == blob_sha256(payload)

    store = cache_store(depot)
    entries = cache_entries(depot)
    assert list(entries) == [id_]
    assert entries[id_].read_bytes() == payload
    assert not entries[id_].stat().st_mode & 0o222
    assert not temporaries(store)

    assert _bindings_of(toml) == {f"name{i}": id_ for i in range(DOWNLOADERS)}
    usage = _bindings.read_usage(str(store))
    assert usage.skipped == 0
    assert set(usage.records) == {id_}
    assert set(usage.records[id_]) == {
        _bindings.Use(str(toml), f"name{i}") for i in range(DOWNLOADERS)
    }

    # One at a time: every download ended before the next began.
    spans = sorted((start, end) for r in results for start, end in r["spans"])
    assert 1 <= len(spans) <= DOWNLOADERS
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, f"downloads overlapped: {spans}"
    assert requests == ["/data.bin"] * len(spans)


# --- binders and two recyclers at once ---------------------------------------------------

BINDERS = 3
RECYCLERS = 2
NAMES = 5
POOL = 10
# The run goes in rounds, all processes starting each one together at a barrier.
ROUNDS = 12
BINDS_PER_ROUND = 3
RECYCLES_PER_ROUND = 2
# round -> the binder whose bind is forced into a recycler's run, in a quiet part after the
# round; recycler ``binder % RECYCLERS`` runs it. Every binder is forced once.
FORCED = {2: 0, 5: 1, 8: 2}
# Every barrier and event wait gives up after WAIT seconds: a bug fails, it does not hang.
WAIT = 120.0
# How long a forced recycler run holds the store's lock once the binder calls bind: a bind
# that does not wait for the lock gets in (and binds an entry being deleted) meanwhile.
HOLD = 1.0
# Directories every binder makes now and then: the same entries, bound by several files.
COMMON = (
    {"p-0": False, "p-1": False, "sub/p-2": False},
    {"p-1": False, "x-3": True, "sub/deeper/p-4": False},
    {"p-5": False, "p-6": False},
)


def _pool_content(k: int) -> bytes:
    return f"pool file {k}\n".encode() * (k + 1)


def _content_of(name: str) -> bytes:
    """What a file named ``name`` holds: ``p-<k>`` and ``x-<k>`` the pool's, ``u-<tag>`` its own."""
    kind, _, rest = name.partition("-")
    if kind in {"p", "x"}:
        return _pool_content(int(rest))
    assert kind == "u", name
    return f"unique file {rest}\n".encode()


def _make(files: dict[str, bool], single: str | None) -> Callable[[Path], str | None]:
    """An ``fn`` for create_my_artifact writing ``files`` (path -> executable)."""

    def fill(work: Path) -> str | None:
        for rel, executable in files.items():
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_content_of(path.name))
            if executable:
                path.chmod(0o755)
        return single

    return fill


def _pick(rng: random.Random, tag: str, roll: float) -> tuple[dict[str, bool], str | None]:
    """What to make next: a single pool file, a common directory, or a random mix."""
    if roll < 0.3:
        k = rng.randrange(POOL)
        return {f"p-{k}": False}, f"p-{k}"
    if roll < 0.5:
        return dict(rng.choice(COMMON)), None
    files: dict[str, bool] = {}
    for k in rng.sample(range(POOL), rng.randint(1, 5)):
        executable = rng.random() < 0.2
        folder = rng.choice(["", "", "sub/", "sub/deeper/"])
        files[f"{folder}{'x' if executable else 'p'}-{k}"] = executable
    files[f"{rng.choice(['', 'sub/'])}u-{tag}"] = False
    return files, None


def _still_whole(toml: Path, name: str) -> None:
    """Raise if ``name``'s bound entry, or a file it links to, is missing right now."""
    id_ = cache.my_artifact_hash(name, toml)
    if id_ is None:
        return
    path = cache.my_artifact_path(id_)
    if not cache.my_artifact_exists(id_):
        raise AssertionError(f"{name} in {toml} is bound to {id_}, which is gone")
    if path.is_dir():
        for dirpath, _dirs, filenames in os.walk(path):
            for file in filenames:
                if not Path(dirpath, file).exists():
                    raise AssertionError(f"{name} -> {id_}: {dirpath}/{file} does not resolve")


def _schedule(worker: int, round_: int) -> tuple[int, bool, bool]:
    """What binder ``worker`` does in ``round_``: how many binds, then an alias?, an unbind?"""
    return BINDS_PER_ROUND, (worker + round_) % 2 == 0, (worker + round_) % 3 == 0


def _expected(worker: int) -> dict[str, int]:
    """The counts binder ``worker`` reports: exact, whatever the interleaving."""
    plan = [_schedule(worker, r) for r in range(ROUNDS)]
    forced = sum(1 for w in FORCED.values() if w == worker)
    return {
        "binds": sum(binds for binds, _, _ in plan) + forced,
        "aliases": sum(alias for _, alias, _ in plan),
        "unbinds": sum(unbind for _, _, unbind in plan),
        "forced": forced,
    }


def _forced_id(worker: int) -> str:
    """The entry binder ``worker`` has recycled under it: one file only it makes."""
    return blob_sha256(_content_of(f"u-forced{worker}"))


class _Handshake(NamedTuple):
    """One forced bind: a binder and a recycler run, step by step."""

    created: Event  # binder: the entry is on disk, and nothing binds it
    planned: Event  # recycler: its run decided to delete it, and holds the store's lock
    binding: Event  # binder: it calls bind_my_artifact now


@contextmanager
def _or_abort(barrier: Barrier) -> Iterator[None]:
    """Break ``barrier`` if this process fails: the others then fail at once, not in WAIT."""
    try:
        yield
    except BaseException:
        barrier.abort()
        raise


def _wait(event: Event, barrier: Barrier, what: str) -> None:
    """Wait for ``event``; fail after WAIT seconds, or once another process has failed."""
    deadline = time.monotonic() + WAIT
    while not event.wait(0.05):
        if barrier.broken or time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")


def _create_and_bind(
    toml: Path,
    name: str,
    files: dict[str, bool],
    single: str | None,
    stats: dict[str, int],
    *,
    before_bind: Callable[[], None] | None = None,
) -> None:
    """Create an entry and bind ``name`` to it, again while it is recycled in between.

    ``before_bind`` runs once, between the first create and its bind.
    """
    for _attempt in range(50):
        id_ = cache.create_my_artifact(_make(files, single))
        if before_bind is not None:
            before_bind()
            before_bind = None
        try:
            cache.bind_my_artifact(toml, name, id_, force=True)
        except ArtifactNotFound:
            # Recycled between creating and binding: nothing bound it yet.
            stats["retries"] += 1
            continue
        stats["binds"] += 1
        return
    raise AssertionError(f"could not bind {files} in 50 attempts")


def _bind_in_rounds(
    barrier: Barrier, shake: _Handshake, worker: int, toml_name: str, out: str
) -> None:
    """Create entries, bind, rebind (forced), alias and unbind names: the rounds' schedule.

    In its forced round, after the others are done with it, create an entry nothing
    binds, let a recycler run decide to delete it, and bind it while that run is under
    way: the bind must wait for the run, find the entry gone, and create it again.
    """
    toml = Path(toml_name)
    rng = random.Random(worker)  # noqa: S311 - test data, not secrets
    names = [f"n{j}" for j in range(NAMES)]
    stats = {"binds": 0, "aliases": 0, "unbinds": 0, "retries": 0, "forced": 0}

    def bound() -> list[str]:
        return [n for n in names if cache.my_artifact_hash(n, toml) is not None]

    def race_a_recycler() -> None:
        shake.created.set()
        _wait(shake.planned, barrier, "the recycler to plan")
        shake.binding.set()

    with _or_abort(barrier):
        for round_ in range(ROUNDS):
            barrier.wait(WAIT)
            binds, alias, unbind = _schedule(worker, round_)
            last = ""
            for k in range(binds):
                last = rng.choice(names)
                files, single = _pick(rng, f"{worker}.{round_}.{k}", rng.random())
                _create_and_bind(toml, last, files, single, stats)
                _still_whole(toml, rng.choice(names))
            if alias:
                # Bind a second name to what this round last bound: it is bound, so it exists.
                other = cache.my_artifact_hash(last, toml)
                assert other is not None, (toml, last)
                alias_name = rng.choice([n for n in names if n != last])
                cache.bind_my_artifact(toml, alias_name, other, force=True)
                stats["aliases"] += 1
                _still_whole(toml, rng.choice(names))
            if unbind:
                cache.unbind_my_artifact(toml, rng.choice(bound()))
                stats["unbinds"] += 1
                _still_whole(toml, rng.choice(names))
            if round_ in FORCED:
                barrier.wait(WAIT)  # the quiet part: only the forced pair acts
                if FORCED[round_] == worker:
                    retries = stats["retries"]
                    own = f"u-forced{worker}"
                    name = rng.choice(names)
                    _create_and_bind(
                        toml, name, {own: False}, own, stats, before_bind=race_a_recycler
                    )
                    stats["forced"] += stats["retries"] - retries
                barrier.wait(WAIT)  # the forced run is over: what it deleted is gone
                for name in names:
                    _still_whole(toml, name)
        for name in names:
            _still_whole(toml, name)
    Path(out).write_text(json.dumps(stats))


def _recycle_in_rounds(barrier: Barrier, shakes: list[_Handshake], me: int, out: str) -> None:
    """Recycle with no grace period, RECYCLES_PER_ROUND times a round, and forced runs.

    A forced run waits for its binder's entry, decides (under the store's lock) to
    delete it, tells the binder, and holds on for HOLD seconds once the binder binds.
    """
    from scratchspaces.cache import _recycle

    real_plan = _recycle.plan
    holding: list[_Handshake] = []

    def plan_and_hold(*args: Any, **kwargs: Any) -> Any:  # the plan, as the real one returns it
        decided = real_plan(*args, **kwargs)
        if holding:
            shake = holding.pop()
            shake.planned.set()
            _wait(shake.binding, barrier, "the forced binder to bind")
            time.sleep(HOLD)  # a bind that does not wait for the store's lock gets in now
        return decided

    _recycle.plan = plan_and_hold
    runs = 0
    deleted: set[str] = set()

    def recycle() -> None:
        nonlocal runs
        report = cache.find_orphanages(collect_delay=ZERO)
        runs += 1
        deleted.update(path.name for path in report.deleted)

    with _or_abort(barrier):
        for round_ in range(ROUNDS):
            barrier.wait(WAIT)
            for _ in range(RECYCLES_PER_ROUND):
                recycle()
            if round_ in FORCED:
                barrier.wait(WAIT)  # the quiet part: only the forced pair acts
                worker = FORCED[round_]
                if worker % RECYCLERS == me:
                    _wait(shakes[worker].created, barrier, f"binder {worker}'s entry")
                    holding.append(shakes[worker])
                    recycle()
                    assert not holding, "find_orphanages did not plan through _recycle.plan"
                barrier.wait(WAIT)  # the forced run is over
    Path(out).write_text(json.dumps({"runs": runs, "deleted": sorted(deleted)}))


def test_binders_and_two_recyclers_at_once_lose_nothing(depot: Path, tmp_path: Path) -> None:
    """Binders sharing files and two zero-delay recyclers, all at once, lose nothing bound.

    Three processes create directory entries that share file entries (and file entries
    that directories also link to), bind, force-rebind, alias and unbind names in their
    own binding files, while two more run find_orphanages(collect_delay=0), racing the
    binders and each other. They go in rounds, each process doing a fixed share of
    the work in each; and once for every binder, a bind is forced into a recycler run
    that deletes its entry: the bind waits for the run, finds the entry gone, and the
    binder creates it again.
    Every name still bound then points to an entry that exists and whose links all
    resolve to the right content, every binding has its usage record, and a last
    find_orphanages deletes exactly the entries nothing binds.
    """
    assert sorted(FORCED.values()) == list(range(BINDERS))
    assert max(FORCED) < ROUNDS
    tomls = [tmp_path / "bindings" / f"w{w}" / "Artifacts.toml" for w in range(BINDERS)]
    for toml in tomls:
        toml.parent.mkdir(parents=True)
    outs = [tmp_path / f"binder-{w}.json" for w in range(BINDERS)]
    recycler_outs = [tmp_path / f"recycler-{r}.json" for r in range(RECYCLERS)]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(BINDERS + RECYCLERS)
    shakes = [_Handshake(ctx.Event(), ctx.Event(), ctx.Event()) for _ in range(BINDERS)]

    binders = [(barrier, shakes[w], w, str(tomls[w]), str(outs[w])) for w in range(BINDERS)]
    recyclers = [(barrier, shakes, r, str(recycler_outs[r])) for r in range(RECYCLERS)]
    with (
        running(_bind_in_rounds, binders) as binding,
        running(_recycle_in_rounds, recyclers) as recycling,
    ):
        pass
    # A process that failed printed why (to the captured stderr); the others then broke off.
    assert [p.exitcode for p in binding] == [0] * BINDERS
    assert [p.exitcode for p in recycling] == [0] * RECYCLERS

    stats = [json.loads(out.read_text()) for out in outs]
    done = [json.loads(out.read_text()) for out in recycler_outs]
    # The work was done as scheduled, and every forced bind found its entry recycled.
    for worker, got in enumerate(stats):
        assert {k: got[k] for k in _expected(worker)} == _expected(worker), (worker, got)
        assert got["retries"] >= got["forced"] == 1, (worker, got)
    for me, got in enumerate(done):
        forced = [w for w in FORCED.values() if w % RECYCLERS == me]
        assert got["runs"] == ROUNDS * RECYCLES_PER_ROUND + len(forced), (me, got)
        assert {_forced_id(w) for w in forced} <= set(got["deleted"]), (me, got)

    store = cache_store(depot)
    bound: dict[_bindings.Use, str] = {}
    for toml in tomls:
        for name, id_ in _bindings_of(toml).items():
            bound[_bindings.Use(str(toml), name)] = id_
    assert bound, "nothing is bound at the end"
    entries = cache_entries(depot)
    closure: set[str] = set()
    for use, id_ in sorted(bound.items()):
        assert id_ in entries, f"{use} is bound to {id_}, which is gone"
        closure.add(id_)
        closure |= check_cache_entry(store, entries[id_], _content_of)
    # Directories of different binders shared file entries.
    assert any(entries[i].is_dir() for i in closure)

    usage = _bindings.read_usage(str(store))
    assert usage.skipped == 0
    for use, id_ in bound.items():
        assert use in usage.records.get(id_, {}), f"no usage record for {use} -> {id_}"

    report = cache.find_orphanages(collect_delay=ZERO)
    unbound = set(entries) - closure
    assert set(report.deleted) == {entries[i] for i in unbound}
    assert set(cache_entries(depot)) == closure
    assert report.freed_bytes == sum(report.deleted.values())
    for id_ in set(bound.values()):
        check_cache_entry(store, entries[id_], _content_of)
    # What is left of the records is exactly the bindings.
    usage = _bindings.read_usage(str(store))
    standing = {(use, id_) for id_, uses in usage.records.items() for use in uses}
    assert standing == set(bound.items())
