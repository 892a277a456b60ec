"""Tree hash: ``tree_hash`` vs ``sha1sum`` over the same files, warm page cache.

Measured: wall time of ``scratchspaces._treehash.tree_hash(T)`` (sha1, default
threads) against the anchor ``find T -type f -print0 | xargs -0 sha1sum > /dev/null``
run through the shell, on two trees built under a temporary directory:

- 8 files of 32 MiB of random data (throughput: the thread pool and the read loop);
- 20,000 files of 1-5 KiB of random data in 100 directories (per-file overhead: the
  walk, the opens and the batching).

Every file is read once before timing, so both sides hash from the page cache. Rounds
alternate A B A B ... so both sides share the machine's noise; the figure is the median
of the rounds (the minimum is printed beside it). For the README, ``git init -q && git
add -A && git write-tree`` with a fresh git directory per round is timed too (fewer
rounds: it writes every object to disk); it is not part of the ratio.

Anchor: ``sha1sum`` through ``find | xargs``. Target: ratio of medians
``tree_hash / sha1sum <= 1.0`` for both trees; the last line is the worse of the two.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

from scratchspaces._treehash import tree_hash

ROUNDS = 15  # the machine is noisy: more rounds, a steadier median
GIT_ROUNDS = 3
MIB = 1 << 20


def build_big(top: str) -> None:
    """Eight files of 32 MiB of random data."""
    os.makedirs(top)
    rng = random.Random(1)  # noqa: S311 - test data, not secrets
    for i in range(8):
        with open(os.path.join(top, f"blob-{i}.bin"), "wb") as f:
            for _ in range(32):
                f.write(rng.randbytes(MIB))


def build_small(top: str) -> None:
    """20,000 files of 1-5 KiB of random data, 200 in each of 100 directories."""
    rng = random.Random(2)  # noqa: S311 - test data, not secrets
    for d in range(100):
        sub = os.path.join(top, f"dir-{d:03d}")
        os.makedirs(sub)
        for i in range(200):
            with open(os.path.join(sub, f"file-{i:03d}.txt"), "wb") as f:
                f.write(rng.randbytes(rng.randint(1024, 5 * 1024)))


def warm(top: str) -> None:
    """Read every file once, so every round hashes from the page cache."""
    for root, _, names in os.walk(top):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                while f.read(MIB):
                    pass


def time_tree_hash(top: str) -> float:
    start = time.perf_counter()
    tree_hash(top)
    return time.perf_counter() - start


def time_sha1sum(top: str) -> float:
    command = "find . -type f -print0 | xargs -0 sha1sum > /dev/null"
    start = time.perf_counter()
    subprocess.run(command, shell=True, check=True, cwd=top)  # noqa: S602 - our fixed pipeline
    return time.perf_counter() - start


def time_git(top: str, scratch: str) -> float:
    """``git init``, ``add -A`` and ``write-tree`` over ``top`` with a fresh git directory."""
    git_dir = os.path.join(scratch, "git-dir")
    shutil.rmtree(git_dir, ignore_errors=True)
    env = {
        **os.environ,
        "GIT_DIR": git_dir,
        "GIT_WORK_TREE": top,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,  # git's defaults, not this user's settings
    }
    command = "git init -q && git add -A && git write-tree > /dev/null"
    start = time.perf_counter()
    subprocess.run(command, shell=True, check=True, cwd=top, env=env)  # noqa: S602 - our own fixed pipeline
    elapsed = time.perf_counter() - start
    shutil.rmtree(git_dir)
    return elapsed


def measure(label: str, top: str, scratch: str) -> float:
    """Print one tree's figures and return its ratio of medians, tree_hash / sha1sum."""
    warm(top)
    time_tree_hash(top)  # warm both before measuring (imports, the thread pool, dentries)
    time_sha1sum(top)
    ours: list[float] = []
    anchor: list[float] = []
    for i in range(ROUNDS):
        pair = [(time_tree_hash, ours), (time_sha1sum, anchor)]
        for timer, out in pair if i % 2 == 0 else reversed(pair):
            out.append(timer(top))
    git = [time_git(top, scratch) for _ in range(GIT_ROUNDS)]
    ours_med = statistics.median(ours)
    anchor_med = statistics.median(anchor)
    ratio = ours_med / anchor_med
    print(
        f"{label}: tree_hash {ours_med:.3f} s (min {min(ours):.3f}), "
        f"sha1sum {anchor_med:.3f} s (min {min(anchor):.3f}), "
        f"git {statistics.median(git):.2f} s, ratio {ratio:.2f} (target <= 1.0)"
    )
    return ratio


def main() -> None:
    print(f"cpus: {os.cpu_count()}, rounds: {ROUNDS} (git: {GIT_ROUNDS})")
    with tempfile.TemporaryDirectory() as tmp:
        big = os.path.join(tmp, "big")
        small = os.path.join(tmp, "small")
        build_big(big)
        build_small(small)
        ratios = [
            measure("8 x 32 MiB", big, tmp),
            measure("20,000 x 1-5 KiB in 100 dirs", small, tmp),
        ]
    print(f"ratio (worst of the two trees) {max(ratios):.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
