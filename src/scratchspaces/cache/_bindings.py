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
drops those whose binding is gone or changed, and rewrites the rest, if that changes
anything: records exactly as written before, none dropped, are left as they are.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from errno import ENOENT
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .. import _fs, _locks, _logformat, _names, _records, _toml
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


# A binding file exactly as :func:`write` writes what this library binds: bare names, one
# ``sha256`` each. Patterns as text: re compiles (and caches) them on first use.
_BINDING = r'\[([A-Za-z0-9_-]+)\]\nsha256 = "([0-9a-f]{64}(?:\.x)?)"\n'
_ONLY_BINDINGS = rf"\n*(?:{_BINDING}\n*)*"


def bound_ids(path: str) -> dict[str, str | None] | None:
    """Return each name of a binding file -> the id it binds (None: a malformed binding).

    None if there is no such file. A file in the shape :func:`write` gives what this
    library binds is read without a TOML parser (a recycling reads every package's
    file); anything else, by one.

    Raises:
        InvalidArtifactsToml: the file is not valid TOML.
        DepotError: it cannot be read.
    """
    import re  # noqa: PLC0415 - only when binding files are read

    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except (OSError, ValueError):
        text = ""  # the parser below says why
    if text and re.fullmatch(_ONLY_BINDINGS, text):
        pairs = re.findall(_BINDING, text)
        found: dict[str, str | None] = dict(pairs)
        if len(found) == len(pairs):  # a name twice is invalid TOML: the parser says so
            return found
    data = _toml.load_bindings(path)
    ids: dict[str, str | None] = {}
    for name in data:
        try:
            ids[name] = bound_id(data, name, path)
        except InvalidArtifactsToml:
            ids[name] = None
    return ids


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
    condensed: bool = False
    """Whether the file is byte for byte what :func:`write_usage` writes of ``records``."""


def usage_path(store: str) -> str:
    """Return ``<store>/usage.toml``."""
    return os.path.join(store, USAGE_NAME)


def format_record(id_: str, use: Use, when: float | datetime, files: Iterable[str] | None) -> bytes:
    """Return one usage record, starting on a line of its own."""
    fields = [
        ("toml", _logformat.toml_string(use.toml)),
        ("name", _logformat.toml_string(use.name)),
        (
            "time",
            _logformat.format_time(when)
            if isinstance(when, float | int)
            else _logformat.format_datetime(when),
        ),
    ]
    if files is not None:
        fields.append(("files", _logformat.toml_strings(sorted(files))))
    return _logformat.format_record(id_, fields)


_ID = r"[0-9a-f]{64}(?:\.x)?"
_TEXT = r'[^"\\\x00-\x1f\x7f\ufffd]*'  # needs no escape, holds nothing damage leaves
_RECORD = (
    rf'\[\["({_ID})"\]\]\ntoml = "({_TEXT})"\nname = "({_TEXT})"\n'
    rf"time = ({_records.CANONICAL_TIME})\n"
    rf'(?:files = \[("{_ID}"(?:, "{_ID}")*)\]\n)?'
)


def _fast(chunk: str) -> tuple[str, str, str, str, tuple[str, ...]] | None:
    """Parse a record exactly as :func:`format_record` writes it: id, toml, name, time, files.

    None if it is shaped otherwise (the TOML parser decides then), or holds a character
    no writer writes unescaped (damage, see :func:`.._records.garbled`).
    """
    found = _records.pattern(_RECORD).fullmatch(chunk)
    if found is None:
        return None
    files = tuple(f[1:-1] for f in found[5].split(", ")) if found[5] else ()
    return found[1], found[2], found[3], found[4], files


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


def _parse_chunk(
    chunk: str, normalized: dict[str, str]
) -> tuple[tuple[str, Use, datetime, tuple[str, ...]] | None, bool]:
    """Return a record's (id, use, time, files), None if damaged; and if written as is.

    ``normalized``: each binding file's path as read -> normalized (filled as it goes).
    """
    fast = _fast(chunk)
    if fast is None:
        return (None if _records.garbled(chunk) is not None else _parse(chunk)), False
    id_, toml, name, text, files = fast
    try:
        when = _records.parse_time(text)
    except ValueError:  # a canonical shape, but no such date (month 13)
        return _parse(chunk), False
    key = normalized.get(toml)
    if key is None:
        key = normalized[toml] = os.path.normpath(toml)
    exact = key == toml and list(files) == sorted(files)
    return (id_, Use(key, name), when, files), exact


def read_usage(store: str) -> Usage:
    """Read the usage records around whatever is damaged (one warning for all of it)."""
    usage = Usage({}, set(), set(), 0)
    path = usage_path(store)
    skipped = unknown = 0
    condensed = True  # so far, each record once, in order, exactly as written
    last: tuple[str, Use] | None = None
    normalized: dict[str, str] = {}  # each binding file's path, normalized once
    try:
        for chunk in _records.chunks_of_file(path):
            if _records.is_blank(chunk):
                condensed = condensed and chunk == "" and last is None
                continue
            parsed, exact = _parse_chunk(chunk, normalized)
            condensed = condensed and exact
            if parsed is None:
                skipped += 1
                ids = [k for k in _records.salvage_keys(chunk) if _names.is_id(k)]
                usage.damaged.update(ids)
                salvaged = _records.salvage_field(chunk, "toml")
                if salvaged is not None:
                    usage.damaged_tomls.add(os.path.normpath(salvaged))
                if salvaged is None or not _records.attributed(chunk, ids):
                    unknown += 1
                continue
            id_, use, when, files = parsed
            condensed = condensed and (last is None or (id_, use) > last)
            last = (id_, use)
            uses = usage.records.setdefault(id_, {})
            known = uses.get(use)
            if known is None or when >= known[0]:
                uses[use] = (when, files)
    except OSError as exc:
        raise DepotError(path, f"cannot read the content cache's usage records ({exc})") from exc
    _records.warn_skipped(
        "cache-usage-damaged", skipped, path, "; the entries they name are kept for another round"
    )
    return usage._replace(skipped=skipped, unknown=unknown, condensed=condensed)


def write_usage(
    store: str, records: Mapping[str, Mapping[Use, tuple[datetime, Iterable[str]]]]
) -> None:
    """Atomically rewrite the usage records (hold the store's lock)."""
    data = b"".join(
        format_record(id_, use, when, files if files else None)
        for id_, uses in sorted(records.items())
        for use, (when, files) in sorted(uses.items())
    )
    _logformat.rewrite(usage_path(store), data)


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
