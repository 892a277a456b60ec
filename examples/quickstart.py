"""Cache an index of this environment's installed files in a scratch space.

The real data is your environment: the first run reads the RECORD of every installed
distribution (what ``pip show -f`` reads) and writes an index into a scratch space; the
next runs load the index instead. If the space is deleted (``python -m scratchspaces
clear``, or garbage collection once nothing uses it) the next run simply rebuilds it.

Run it twice::

    python examples/quickstart.py && python examples/quickstart.py
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys
import time
from pathlib import Path

import scratchspaces


def build_index(target: Path) -> None:
    """Write ``{distribution: [files]}`` for every installed distribution to ``target``."""
    index = {
        f"{dist.metadata['Name']} {dist.version}": sorted(str(f) for f in dist.files or ())
        for dist in importlib.metadata.distributions()
    }
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(index))
    tmp.replace(target)  # atomic: another process never reads half an index


def main() -> int:
    # One space per environment: the key is derived from sys.prefix. The namespace is
    # found automatically (the project whose pyproject.toml is above this file).
    env_id = hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]
    space = scratchspaces.get_scratch(f"installed-files-{env_id}")
    index_file = space / "index.json"

    start = time.perf_counter()
    if index_file.exists():
        action = "loaded"
    else:
        build_index(index_file)
        action = "built"
    index = json.loads(index_file.read_text())
    elapsed = (time.perf_counter() - start) * 1000

    files = sum(len(v) for v in index.values())
    print(f"{action} an index of {len(index)} distributions ({files} files) in {elapsed:.1f} ms")
    print(f"scratch space: {space}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
