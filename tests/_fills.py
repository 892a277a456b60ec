"""What tests store: the ``fn`` given to ``create_artifact`` and ``create_my_artifact``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

# Two small files: a directory entry (or an artifact) with nothing special about it.
DATASET = {"a.csv": b"1,2\n", "b.csv": b"3,4\n"}


def writer(files: dict[str, bytes]) -> Callable[[Path], None]:
    """Return an ``fn`` writing ``files`` (relative paths, folders made as needed) into it."""

    def fn(work: Path) -> None:
        for rel, data in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_bytes(data)

    return fn


def dataset(work: Path) -> None:
    """Write DATASET into ``work``."""
    writer(DATASET)(work)


def file_writer(data: bytes, name: str = "f.bin") -> Callable[[Path], Path]:
    """Return an ``fn`` writing ``data`` to ``name`` and returning it: a file entry."""

    def fn(work: Path) -> Path:
        (work / name).write_bytes(data)
        return work / name

    return fn


def fill_artifact(d: Path, tag: str = "") -> None:
    """A small tree with a folder, an executable, a symlink and an empty folder.

    ``tag`` changes the table's content, and so the tree hash.
    """
    (d / "data").mkdir(exist_ok=True)
    (d / "data" / "table.csv").write_text(f"a,b\n1,2\n{tag}")
    (d / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (d / "run.sh").chmod(0o755)
    (d / "latest").symlink_to("data/table.csv")
    (d / "empty").mkdir(exist_ok=True)
