"""Installing an artifact over HTTP vs ``pooch.retrieve`` with ``pooch.Untar()``.

Needs pooch: ``pip install -e '.[bench]'``.

Measured: wall time to fetch and unpack the same gzip tarball, served by a real HTTP
server on 127.0.0.1 (a ``ThreadingHTTPServer`` in this process, the file in the page
cache), for two trees of random data:

- 20,000 files of 1-5 KiB, 200 in each of 100 directories (per-file costs);
- 8 files of 32 MiB (throughput).

The tarball is the one ``archive_artifact`` writes (gzip -6, PAX headers). Each side,
each round, starts from a fresh empty directory, so both really download and extract:

- ours: ``ensure_artifact_installed(name, toml)`` in a fresh depot
  (``SCRATCHSPACES_DEPOT_PATH``; automatic gc off, as on any call but the day's first),
  the ``Artifacts.toml`` binding the tree's git tree hash to the tarball's URL and
  sha256. It checks the **sha256 of the download**, extracts under Tar.jl's rules (no
  absolute path, no ``..``, no link leaving the tree, nothing written through a link,
  plain data only), checks the **git tree hash of the extracted tree**, and publishes it;
- pooch: ``pooch.retrieve(url, known_hash="sha256:...", path=<fresh dir>,
  processor=pooch.Untar())``. It checks the **sha256 of the download** only, and
  extracts with ``tarfile``'s ``extractall`` (the ``data`` filter from Python 3.12).

Rounds alternate A B A B (which side goes first alternates too); ``os.sync()`` flushes
the last round's writes outside the timing. The small tree's rounds are deleted only at
the end: on ext4 without a journal (as on the VM this was written on) every inode
created checks the inodes deleted in the last minute, so a round after a deletion of
20,000 files pays for it, whichever side it is (the large tree's, 8 files, are deleted
after each round: 8.5 GB otherwise). The figure is the median of the rounds (the
minimum is printed beside it).

Anchor: pooch. Target: ratio of medians ``ours / pooch <= 1.0`` for both trees; the
last line is the worse of the two.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_tree_hash import build_big, build_small

from _http import Server
from scratchspaces import artifacts

ROUNDS = 7  # pairs per tree; a round of the small tree takes seconds
NAME = "tree"


def _pooch() -> Any:
    try:
        pooch = importlib.import_module("pooch")  # untyped: kept out of mypy's sight
    except ImportError:
        sys.exit("this benchmark needs pooch: pip install -e '.[bench]'")
    pooch.get_logger().setLevel(logging.WARNING)  # it logs every download and extraction
    return pooch


def _fresh(top: Path) -> Path:
    top.mkdir(parents=True)
    os.sync()  # the previous round's writes are not flushed during this one
    return top


def _prepare(build: Any, work: Path, served: Path, tag: str) -> tuple[str, str]:
    """Build the tree, archive it as ``served/<tag>.tar.gz``; return (tree hash, sha256)."""
    tree = work / f"tree-{tag}"
    build(str(tree))
    with artifacts.with_artifacts_directory(work / "build-store"):
        h = artifacts.create_artifact(lambda d: shutil.copytree(tree, d, dirs_exist_ok=True))
        sha256 = artifacts.archive_artifact(h, served / f"{tag}.tar.gz")
    return h, sha256


def measure(label: str, tag: str, build: Any, work: Path, server: Server, *, keep: bool) -> float:
    """Print one tree's figures and return its ratio of medians, ours / pooch."""
    pooch = _pooch()
    served = work / "served"
    h, sha256 = _prepare(build, work, served, tag)
    url = f"{server.url}/{tag}.tar.gz"
    toml = work / f"Artifacts-{tag}.toml"
    artifacts.bind_artifact(toml, NAME, h, download_info=[(url, sha256)])
    size = (served / f"{tag}.tar.gz").stat().st_size

    rounds = itertools.count()

    def ours() -> float:
        depot = _fresh(work / f"depot-{tag}-{next(rounds)}")
        os.environ["SCRATCHSPACES_DEPOT_PATH"] = str(depot)
        start = time.perf_counter()
        path = artifacts.ensure_artifact_installed(NAME, toml)
        elapsed = time.perf_counter() - start
        assert path.name == h
        if not keep:
            shutil.rmtree(depot)
        return elapsed

    def theirs() -> float:
        cache = _fresh(work / f"pooch-{tag}-{next(rounds)}")
        start = time.perf_counter()
        files = pooch.retrieve(
            url,
            known_hash=f"sha256:{sha256}",
            path=str(cache),
            processor=pooch.Untar(),
            progressbar=False,
        )
        elapsed = time.perf_counter() - start
        assert files
        if not keep:
            shutil.rmtree(cache)
        return elapsed

    ours()  # warm both first: imports, the HTTP server's threads, the page cache
    theirs()
    times: dict[str, list[float]] = {"ours": [], "pooch": []}
    for i in range(ROUNDS):
        pair = [("ours", ours), ("pooch", theirs)]
        for side, timer in pair if i % 2 == 0 else reversed(pair):
            times[side].append(timer())
    ours_med = statistics.median(times["ours"])
    pooch_med = statistics.median(times["pooch"])
    ratio = ours_med / pooch_med
    print(
        f"{label} (tarball {size / 1e6:.1f} MB): install {ours_med:.3f} s "
        f"(min {min(times['ours']):.3f}), pooch {pooch_med:.3f} s "
        f"(min {min(times['pooch']):.3f}), ratio {ratio:.2f} (target <= 1.0)",
        flush=True,
    )
    return ratio


def main() -> None:
    os.environ["SCRATCHSPACES_GC_AUTO"] = "0"
    print(f"cpus: {os.cpu_count()}, rounds: {ROUNDS} pairs per tree", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-pooch-") as tmp:
        work = Path(tmp)
        served = work / "served"
        served.mkdir()
        with Server(served) as server:
            ratios = [
                measure(
                    "20,000 x 1-5 KiB in 100 dirs", "small", build_small, work, server, keep=True
                ),
                measure("8 x 32 MiB", "big", build_big, work, server, keep=False),
            ]
    print(f"ratio install / pooch (worst of the two trees) {max(ratios):.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
