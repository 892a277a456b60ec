"""Creating a content cache entry: ``create_my_artifact`` vs ``tree_hash`` of 256 MiB.

Measured: wall time of ``cache.create_my_artifact(fn)`` storing a directory of 256 MiB
(plus a few hundred small files) against ``tree_hash(src, "sha256")`` of the same
directory: what storing costs beyond the hash it cannot avoid. The directory: 64 files
of 4 MiB in 4 subdirectories and 256 files of 1-16 KiB in a fifth, random bytes,
different in every round, so every create stores new content (never the path where the
entry exists already).

Each round builds the directory beside the depot (same filesystem, in a temporary
directory), syncs it to disk and reads it once, all outside the timed sections, so both
sides hash from the page cache and no writeback of the build lands in them. ``fn``
renames the directory into its ``working_dir`` and returns its path: one ``os.rename``,
part of the timed create but free. Creating then hashes every file (``tree_listing``),
makes them read-only, builds the tree of links and renames files and tree into the store
under its locks. The rounds alternate the order of the two timings; when the create
goes first, ``tree_hash`` runs on a twin of the source made of hard links to the file
entries just created (the same inodes at the same paths), and either way its hash must
equal the entry's id. The store's ``artifacts/<ab>/`` folders are made in the warm-up: a
store in use has them (the first fill of a store makes all 256 once).

Nothing is deleted until the last round is timed (about 3 GB of disk for 11 rounds).
On ext4 without a journal, as on this machine, the kernel will not reuse an inode
deleted in the last 60 s (360 s while its inode table block is dirty) and checks every
such inode each time it allocates one (``recently_deleted`` in ``fs/ext4/ialloc.c``).
Deleting the last round's ~650 inodes before a create made each of its ~320 links cost
up to 0.8 ms of kernel time instead of 30 us (``perf``: ``find_inode_bit`` ->
``recently_deleted``): a cost of the benchmark's cleanup, which any program creating
files there would pay, not of storing.

Anchor: ``tree_hash(src, "sha256")`` of the same directory. Target: ratio of medians
``create / tree_hash <= 2.0``; the last line is that ratio.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench_tree_hash import warm

from scratchspaces import _fs

if TYPE_CHECKING:
    from collections.abc import Callable

ROUNDS = 11
BIG_FILES = 64
BIG_SIZE = 4 << 20
BIG_DIRS = 4
SMALL_FILES = 256
MIB = 1 << 20
KIB = 1 << 10
MB = 1e6
TARGET = 2.0


def build(top: str, seed: int) -> int:
    """Write the tree at ``top`` with random bytes from ``seed``; return its bytes."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    total = 0
    for d in range(BIG_DIRS):
        os.makedirs(os.path.join(top, f"shard-{d}"))
    for i in range(BIG_FILES):
        with open(os.path.join(top, f"shard-{i % BIG_DIRS}", f"part-{i:03d}.bin"), "wb") as f:
            for _ in range(BIG_SIZE // MIB):
                f.write(rng.randbytes(MIB))
        total += BIG_SIZE
    meta = os.path.join(top, "meta")
    os.mkdir(meta)
    for i in range(SMALL_FILES):
        data = rng.randbytes(rng.randint(KIB, 16 * KIB))
        with open(os.path.join(meta, f"item-{i:03d}.json"), "wb") as f:
            f.write(data)
        total += len(data)
    return total


def twin(entry: str, out: str) -> None:
    """Make ``out`` the directory ``entry`` was made from: hard links to its file entries."""
    os.mkdir(out)
    for root, dirs, names in os.walk(entry):
        rel = os.path.relpath(root, entry)
        for name in dirs:
            os.mkdir(os.path.join(out, rel, name))
        for name in names:
            link = os.path.join(root, name)
            os.link(os.path.realpath(link), os.path.join(out, rel, name))


def mover(src: str) -> Callable[[Path], Path]:
    """Return an ``fn`` for ``create_my_artifact`` that renames ``src`` into its directory."""

    def fn(work: Path) -> Path:
        data = work / "data"
        os.rename(src, data)
        return data

    return fn


def remove(path: str) -> None:
    """Remove a tree, read-only entries included."""
    _fs.remove_in_place(path)


def one_round(i: int, tmp: str) -> tuple[float, float, int]:
    """Build, warm, time both sides in this round's order; return (tree_hash, create, bytes)."""
    from scratchspaces import cache
    from scratchspaces._treehash import tree_hash

    src = os.path.join(tmp, f"src-{i}")
    total = build(src, seed=1000 + i)
    os.sync()  # the build's dirty pages go now, not during a timed section
    warm(src)
    hashed = created = ""
    t_hash = t_create = 0.0
    if i % 2 == 0:
        start = time.perf_counter()
        hashed = tree_hash(src, "sha256")
        t_hash = time.perf_counter() - start
        start = time.perf_counter()
        created = cache.create_my_artifact(mover(src))
        t_create = time.perf_counter() - start
    else:
        start = time.perf_counter()
        created = cache.create_my_artifact(mover(src))
        t_create = time.perf_counter() - start
        src = os.path.join(tmp, f"twin-{i}")
        twin(str(cache.my_artifact_path(created)), src)
        start = time.perf_counter()
        hashed = tree_hash(src, "sha256")
        t_hash = time.perf_counter() - start
    assert hashed == created, (hashed, created)
    return t_hash, t_create, total


def main() -> None:
    tmp = tempfile.mkdtemp(prefix="bench-cache-create-")
    os.environ["SCRATCHSPACES_DEPOT_PATH"] = os.path.join(tmp, "depot")
    from scratchspaces import cache
    from scratchspaces._treehash import tree_hash

    try:
        # Warm up both sides (imports, the thread pool, the store's directories).
        small = os.path.join(tmp, "warm-up")
        os.makedirs(small)
        for k in range(4):
            with open(os.path.join(small, f"f{k}"), "wb") as f:
                f.write(os.urandom(3 * MIB))
        tree_hash(small, "sha256")
        entry = cache.my_artifact_path(cache.create_my_artifact(mover(small)))
        store = str(entry.parent.parent.parent)
        assert os.path.basename(store) == "_cache", store
        for prefix in range(256):
            os.makedirs(os.path.join(store, "artifacts", f"{prefix:02x}"), exist_ok=True)

        print(
            f"cpus: {os.cpu_count()}, rounds: {ROUNDS}, tree: {BIG_FILES} x 4 MiB in "
            f"{BIG_DIRS} dirs + {SMALL_FILES} x 1-16 KiB"
        )
        hashes: list[float] = []
        creates: list[float] = []
        total = 0
        for i in range(ROUNDS):
            t_hash, t_create, total = one_round(i, tmp)
            hashes.append(t_hash)
            creates.append(t_create)
            order = "tree_hash first" if i % 2 == 0 else "create first"
            print(
                f"round {i} ({order:15}): tree_hash {t_hash:.3f} s "
                f"({total / MB / t_hash:.0f} MB/s), create {t_create:.3f} s "
                f"({total / MB / t_create:.0f} MB/s), ratio {t_create / t_hash:.2f}"
            )
    finally:
        remove(tmp)
    hash_med = statistics.median(hashes)
    create_med = statistics.median(creates)
    print(
        f"{total / MB:.0f} MB: tree_hash median {hash_med:.3f} s (min {min(hashes):.3f}), "
        f"{total / MB / hash_med:.0f} MB/s; create_my_artifact median {create_med:.3f} s "
        f"(min {min(creates):.3f}), {total / MB / create_med:.0f} MB/s"
    )
    print(
        f"create_my_artifact / tree_hash (ratio of medians) {create_med / hash_med:.2f} "
        f"(target <= {TARGET})"
    )


if __name__ == "__main__":
    main()
