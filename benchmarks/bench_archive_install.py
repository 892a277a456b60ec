"""Throughput of ``archive_artifact`` and of an install from a local HTTP server.

The tree: 8 files of 32 MiB (256 MiB). Two contents, since gzip's speed depends on them:
random bytes (incompressible, the worst case for gzip) and text-like bytes (a CSV of
numbers, which compresses about 3:1). For each:

- ``archive_artifact(hash, tarball)``: MB of tree per second (best of 3);
- an install: ``ensure_artifact_installed`` from ``http://127.0.0.1`` (a
  ``ThreadingHTTPServer`` in this process) into an empty artifacts directory, which
  downloads, checks the sha256, extracts safely, checks the tree hash and publishes:
  MB of tree per second (best of 3).

Anchor for the figure: ``gzip -6`` and ``tar xzf`` of the same tarball, run here side by
side (the floor any gzip tarball has). No target: the figures are printed for the README.
The last line is the install throughput of the random tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _http import Server
from scratchspaces import artifacts

FILES = 8
SIZE = 32 << 20
MB = 1e6


def _random(path: Path) -> None:
    with path.open("wb") as f:
        for _ in range(SIZE // (1 << 20)):
            f.write(os.urandom(1 << 20))


def _text(path: Path) -> None:
    line_block = "".join(
        f"{i},{i * 7 % 1000},{i * 13 % 997}.{i % 100:02d}\n" for i in range(40_000)
    )
    data = line_block.encode()
    with path.open("wb") as f:
        written = 0
        while written < SIZE:
            chunk = data[: SIZE - written]
            f.write(chunk)
            written += len(chunk)


def _best(fn: object, repeat: int = 3) -> float:
    assert callable(fn)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _measure(kind: str, fill: object, work: Path) -> float:
    assert callable(fill)
    tree = work / f"tree-{kind}"
    tree.mkdir()
    for i in range(FILES):
        fill(tree / f"part{i}")
    total = FILES * SIZE
    store = work / f"store-{kind}"
    with artifacts.with_artifacts_directory(store):
        h = artifacts.create_artifact(lambda d: shutil.copytree(tree, d, dirs_exist_ok=True))
        served = work / f"served-{kind}"
        served.mkdir()
        tarball = served / "a.tar.gz"
        sha256 = ""

        def archive() -> None:
            nonlocal sha256
            sha256 = artifacts.archive_artifact(h, tarball)

        t_archive = _best(archive)
    gnu = f"tar cf - -C {tree} . | gzip -6 > {work}/gnu.tar.gz"
    t_gzip = _best(lambda: subprocess.run(gnu, shell=True, check=True))  # noqa: S602 - our pipeline
    out = work / "untar"

    def untar() -> None:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        subprocess.run(["tar", "xzf", str(tarball), "-C", str(out)], check=True)

    t_untar = _best(untar)
    shutil.rmtree(out, ignore_errors=True)
    toml = work / f"Artifacts-{kind}.toml"
    with Server(served) as server:
        artifacts.bind_artifact(toml, "tree", h, download_info=[(f"{server.url}/a.tar.gz", sha256)])
        fresh = work / f"fresh-{kind}"

        def install() -> None:
            shutil.rmtree(fresh, ignore_errors=True)
            with artifacts.with_artifacts_directory(fresh):
                artifacts.ensure_artifact_installed("tree", toml)

        t_install = _best(install)
    ratio = tarball.stat().st_size / total
    print(
        f"{kind:6} 8 x 32 MiB (tarball {ratio:.0%} of the tree): "
        f"archive_artifact {total / MB / t_archive:.0f} MB/s vs tar|gzip -6 "
        f"{total / MB / t_gzip:.0f} MB/s; install over HTTP {total / MB / t_install:.0f} MB/s "
        f"vs tar xzf alone {total / MB / t_untar:.0f} MB/s"
    )
    return total / MB / t_install


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        work = Path(tmp)
        os.environ["SCRATCHSPACES_DEPOT_PATH"] = str(work / "depot")
        text = _measure("text", _text, work)
        rand = _measure("random", _random, work)
    print(f"text tree install {text:.0f} MB/s")
    print(f"install throughput (random 256 MiB tree, local HTTP) {rand:.0f} MB/s")


if __name__ == "__main__":
    main()
