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
import time
from datetime import datetime, timezone
from errno import ENOENT
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .. import _fs, _locks, _names, _records, _toml
from ..errors import ArtifactNotFound, BindingExists, DepotError, InvalidArtifactsToml
from . import _store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from filelock import BaseFileLock

USAGE_NAME = "usage.toml"

Replace = Literal["never", "always", "if-missing"]
"""How a binding that exists is treated: raise, replace, or replace only if its entry is
gone (a download re-creating a recycled entry)."""


# --- binding files -------------------------------------------------------------------------


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
        return _names.check_id(entry["sha256"])
    except ValueError as exc:
        raise InvalidArtifactsToml(path, name, str(exc)) from exc


def write(path: str, data: Mapping[str, Any]) -> None:
    """Atomically replace the binding file with ``data``."""
    import tomli_w  # noqa: PLC0415 - a TOML writer only when a file is written

    _fs.atomic_write(path, tomli_w.dumps(dict(sorted(data.items()))).encode("utf-8"))


def binding_lock(path: str) -> BaseFileLock:
    """Return the lock of one binding file: ``<file>.lock`` beside it."""
    return _locks.lock(path + ".lock")


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
    unknown: int = 0
    """Damaged records that say neither which entry nor which file: they may name any."""


def usage_path(store: str) -> str:
    """Return ``<store>/usage.toml``."""
    return os.path.join(store, USAGE_NAME)


def format_record(id_: str, use: Use, when: float, files: Iterable[str] | None) -> bytes:
    """Return one usage record, starting on a line of its own."""
    fields = [
        ("toml", _records.toml_string(use.toml)),
        ("name", _records.toml_string(use.name)),
        ("time", _records.format_time(when)),
    ]
    if files is not None:
        fields.append(("files", _records.toml_strings(sorted(files))))
    return _records.format_record(id_, fields)


def _parse(chunk: str) -> tuple[str, Use, datetime, tuple[str, ...]] | None:
    data = _records.parse_toml(chunk)
    if data is None or len(data) != 1:
        return None
    ((id_, tables),) = data.items()
    if not _names.is_id(id_) or not isinstance(tables, list) or len(tables) != 1:
        return None
    (table,) = tables
    toml, name, when = table.get("toml"), table.get("name"), table.get("time")
    files = table.get("files", [])
    if not (
        isinstance(toml, str)
        and isinstance(name, str)
        and isinstance(when, datetime)
        and isinstance(files, list)
        and all(isinstance(f, str) and _names.is_id(f) for f in files)
    ):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return id_, Use(os.path.normpath(toml), name), when, tuple(files)


def read_usage(store: str) -> Usage:
    """Read the usage records around whatever is damaged (one warning for all of it)."""
    usage = Usage({}, set(), set(), 0)
    path = usage_path(store)
    skipped = unknown = 0
    try:
        for chunk in _records.chunks_of_file(path):
            if _records.is_blank(chunk):
                continue
            parsed = None if _records.garbled(chunk) is not None else _parse(chunk)
            if parsed is None:
                skipped += 1
                ids = [k for k in _records.salvage_keys(chunk) if _names.is_id(k)]
                usage.damaged.update(ids)
                toml = _records.salvage_field(chunk, "toml")
                if toml is not None:
                    usage.damaged_tomls.add(os.path.normpath(toml))
                if toml is None or not _records.attributed(chunk, ids):
                    unknown += 1
                continue
            id_, use, when, files = parsed
            uses = usage.records.setdefault(id_, {})
            known = uses.get(use)
            if known is None or when >= known[0]:
                uses[use] = (when, files)
    except OSError as exc:
        raise DepotError(path, f"cannot read the content cache's usage records ({exc})") from exc
    _records.warn_skipped(
        "cache-usage-damaged", skipped, path, "; the entries they name are kept for another round"
    )
    return usage._replace(skipped=skipped, unknown=unknown)


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


# --- binding -------------------------------------------------------------------------------


def check_args(artifacts_toml: str | os.PathLike[str], name: object) -> str:
    """Return the binding file's absolute path, or refuse a bad name or a missing folder."""
    if not isinstance(name, str) or not name:
        raise InvalidArtifactsToml(
            os.fspath(artifacts_toml), repr(name), "a name is a non-empty string"
        )
    toml = os.path.abspath(os.fspath(artifacts_toml))
    if not os.path.isdir(os.path.dirname(toml)):
        raise DepotError(
            os.path.dirname(toml), f"the folder of the binding file {toml} does not exist", ENOENT
        )
    return toml


def bind_locked(
    store: str,
    toml: str,
    name: str,
    id_: str,
    *,
    replace: Replace,
    publish: Callable[[], None] | None = None,
) -> None:
    """Bind under the binding file's lock: publish, record, write the file, all at once.

    The record goes first: a binding without its record (a crash in between) could be
    taken for no binding; a record without its binding is dropped by recycling.
    """
    data = _toml.load_bindings(toml)
    if name in data:
        current = bound_id(data, name, toml)  # a malformed one is not overwritten
        replaceable = replace == "always" or (
            replace == "if-missing" and (current is None or _store.find(current) is None)
        )
        if not replaceable:
            raise BindingExists(toml, name)
    with _store.store_lock(store):
        if publish is not None:
            publish()
        path = _store.find(id_)
        if path is None:
            where = _store.entry_path(store, id_)
            raise ArtifactNotFound(id_, f"not in the content cache ({where})")
        files = _store.reached(path) if _store.kind_of(path) == "directory" else None
        record = format_record(id_, Use(toml, name), time.time(), files)
        try:
            _records.append(usage_path(store), record)
        except OSError as exc:
            raise DepotError.of(usage_path(store), "cannot record the binding", exc) from exc
        data[name] = {"sha256": id_}
        write(toml, data)
