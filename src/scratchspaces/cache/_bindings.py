"""Binding files and the usage records of the content cache.

A binding file is an ``Artifacts.toml`` of names, each ``[name]`` with ``sha256 = "<id>"``.
It is read without a lock (every write is an atomic rename) and written under its own
lock, ``<file>.lock``; keys this library does not write are kept.

The usage records, ``<store>/usage.toml``, say which binding file bound which entry under
which name, and when::

    [["<id>"]]
    toml = "/home/u/.cache/scratchspaces/scratchspaces/scratchspaces/mypkg/Artifacts.toml"
    name = "iris"
    time = 2026-11-21T10:00:00.123Z
    files = ["<id>", "<id>"]

``files`` lists the file entries a bound directory reaches, so every one of them is
recorded too. Binders append a record under the store's lock; recycling reads them record
by record (a damaged one is skipped, and the entry it names is kept for another round),
drops those whose binding is gone or changed, and rewrites the rest.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import _fs, _usage
from ..errors import DepotError, InvalidArtifactsToml
from ._store import check_id, is_id

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from filelock import BaseFileLock

USAGE_NAME = "usage.toml"
_HEADER = re.compile(r'\[\["([0-9a-f]{64}(?:\.x)?)"\]\]')
_TOML_LINE = re.compile(r'^toml = ("(?:[^"\\\n]|\\.)*")$', re.MULTILINE)


# --- binding files -------------------------------------------------------------------------


def load(path: str) -> dict[str, Any]:
    """Return the parsed file, or ``{}`` if it does not exist.

    Raises:
        InvalidArtifactsToml: the file is not valid TOML.
        DepotError: it cannot be read.
    """
    from .. import _toml  # noqa: PLC0415

    return _toml.load_bindings(path)


def bound_id(data: Mapping[str, Any], name: str, path: str) -> str | None:
    """Return the id ``name`` is bound to in the parsed file, or None.

    Raises:
        InvalidArtifactsToml: the binding is not a table with a valid ``sha256``.
    """
    entry = data.get(name)
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        raise InvalidArtifactsToml(path, name, 'a binding is a table with sha256 = "<hash>"')
    try:
        return check_id(entry["sha256"])
    except ValueError as exc:
        raise InvalidArtifactsToml(path, name, str(exc)) from exc


def write(path: str, data: Mapping[str, Any]) -> None:
    """Atomically replace the binding file with ``data``."""
    import tomli_w  # noqa: PLC0415 - only when writing

    _fs.atomic_write(path, tomli_w.dumps(dict(sorted(data.items()))).encode("utf-8"))


def binding_lock(path: str) -> BaseFileLock:
    """Return the lock of one binding file: ``<file>.lock`` beside it."""
    from filelock import FileLock  # noqa: PLC0415

    return FileLock(path + ".lock", timeout=-1)


# --- usage records -------------------------------------------------------------------------


class Use(NamedTuple):
    """One binding of an entry: which file, which name."""

    toml: str
    name: str


class Usage(NamedTuple):
    """The usage records, condensed: per entry, per binding, the latest time and files."""

    records: dict[str, dict[Use, tuple[datetime, tuple[str, ...]]]]
    damaged: set[str]
    """Entries named by records that could not be read."""
    damaged_tomls: set[str]
    """Binding files named by records that could not be read."""
    skipped: int


def usage_path(store: str) -> str:
    """Return ``<store>/usage.toml``."""
    return os.path.join(store, USAGE_NAME)


def format_record(id_: str, use: Use, when: float, files: Iterable[str] | None) -> bytes:
    """Return one usage record, starting on a line of its own."""
    text = (
        f"\n[[{_usage.toml_string(id_)}]]\ntoml = {_usage.toml_string(use.toml)}\n"
        f"name = {_usage.toml_string(use.name)}\ntime = {_usage.format_time(when)}\n"
    )
    if files is not None:
        text += "files = [" + ", ".join(f'"{f}"' for f in sorted(files)) + "]\n"
    return text.encode("utf-8")


def append_record(store: str, record: bytes) -> None:
    """Append a record (hold the store's lock)."""
    _usage.append(usage_path(store), record)


def _chunks(text: str) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("[[") and current:
            chunks.append("".join(current))
            current = []
        current.append(line)
    if current:
        chunks.append("".join(current))
    return [c for c in chunks if c.strip()]


def _parse(chunk: str) -> tuple[str, Use, datetime, tuple[str, ...]] | None:
    from .. import _toml  # noqa: PLC0415

    try:
        data = _toml.loads(chunk)
    except ValueError:
        return None
    if len(data) != 1:
        return None
    ((id_, tables),) = data.items()
    if not is_id(id_) or not isinstance(tables, list) or len(tables) != 1:
        return None
    (table,) = tables
    toml, name, when = table.get("toml"), table.get("name"), table.get("time")
    files = table.get("files", [])
    if not (
        isinstance(toml, str)
        and isinstance(name, str)
        and isinstance(when, datetime)
        and isinstance(files, list)
        and all(isinstance(f, str) and is_id(f) for f in files)
    ):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return id_, Use(os.path.normpath(toml), name), when, tuple(files)


def _string(literal: str) -> list[str]:
    """Return the TOML basic string ``literal`` decoded, or nothing if it is not one."""
    from .. import _toml  # noqa: PLC0415

    try:
        value = _toml.loads(f"v = {literal}")["v"]
    except ValueError:
        return []
    return [os.path.normpath(value)] if isinstance(value, str) else []


def read_usage(store: str) -> Usage:
    """Read the usage records around whatever is damaged (one warning for all of it)."""
    usage = Usage({}, set(), set(), 0)
    path = usage_path(store)
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return usage
    except OSError as exc:
        raise DepotError(path, f"cannot read the content cache's usage records ({exc})") from exc
    skipped = 0
    for chunk in _chunks(text):
        parsed = _parse(chunk)
        if parsed is None:
            skipped += 1
            header = _HEADER.match(chunk.strip())
            if header:
                usage.damaged.add(header.group(1))
            toml = _TOML_LINE.search(chunk)
            if toml:
                usage.damaged_tomls.update(_string(toml.group(1)))
            continue
        id_, use, when, files = parsed
        uses = usage.records.setdefault(id_, {})
        known = uses.get(use)
        if known is None or when >= known[0]:
            uses[use] = (when, files)
    if skipped:
        from .._warn import warn_once  # noqa: PLC0415

        warn_once(
            "cache-usage-damaged",
            f"skipped {skipped} unreadable record{'s' * (skipped != 1)} in {path}; "
            "the entries they name are kept for another round",
        )
    return usage._replace(skipped=skipped)


def write_usage(
    store: str, records: Mapping[str, Mapping[Use, tuple[datetime, Iterable[str]]]]
) -> None:
    """Atomically rewrite the usage records (hold the store's lock)."""
    data = b"".join(
        format_record(id_, use, when.timestamp(), files if files else None)
        for id_, uses in sorted(records.items())
        for use, (when, files) in sorted(uses.items())
    )
    _fs.atomic_write(usage_path(store), data)
