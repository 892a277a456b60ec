"""Fuzzing every file gc reads: damage is read around, never trusted, never a crash.

Issue 12 (items 4 to 7): "A damaged record must never cause a deletion of what it names,
whatever the delay." Each example builds a real depot beside a canary folder: spaces
whose parents exist, orphans (one holding links to the canary), artifacts bound by
``Artifacts.toml`` files (one inside a space), content-cache entries bound by a
package's binding file beside the store and by one elsewhere. A first gc settles it.
Then one file is damaged (see ``_strategies.py``) and every reader runs on it:

(a) nothing raises but the library's own errors (``ScratchspacesError``);
(b) what was alive survives: gc with the default delay deletes nothing at all (but an
    orphan the damaged orphanage still reads as orphaned for a week); gc and
    ``find_orphanages`` with ``collect_delay=0`` keep each alive thing while any evidence
    of it remains: its stamp, or its record or binding, readable and naming it, or made
    unreadable by the damage. Only a record cut off cleanly (a truncation at its start),
    or rewritten into another readable record, is no evidence;
(c) the canary is byte-identical, down to mtimes and inodes;
(d) after one more gc, given no new damage, every log the library writes parses as TOML.

Each collector that would rewrite the damaged file is given the damage again first.

The oracle reads the damaged file on its own terms, with a strict TOML parser, record
by record as the formats lay them out: it does not ask the library what is readable.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import scratchspaces
from _cli import run_cli
from _depots import access_log_file, cache_store, snapshot, use_depots
from _fills import dataset, file_writer, fill_artifact
from _strategies import (
    BLOCK,
    INVALID_UTF8,
    AddRecords,
    At,
    Damaged,
    Flip,
    Insert,
    NewRecord,
    NulFill,
    NulRecord,
    Op,
    Ref,
    ReplaceChar,
    ReplaceValue,
    Run,
    Style,
    Truncate,
    damage,
    damages,
    toml_string,
)
from scratchspaces import (
    ScratchspacesError,
    ScratchspacesWarning,
    _accesslog,
    _identity,
    _inventory,
    _spaces,
    _warn,
    artifacts,
    cache,
)
from scratchspaces.cli import _cache as _cli_cache

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

ZERO = timedelta(0)
WEEK = timedelta(days=7)

RAN: Counter[str] = Counter()
"""Examples run per file kind (shrinking included), reported when the module ends."""
TOLERATED: Counter[str] = Counter()
"""Library errors (allowed by (a)) per file kind and reader."""


@pytest.fixture(scope="module", autouse=True)
def _report_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many cases ran per file kind once the module is done (past the capture)."""
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or not RAN:
        return
    lines = ["fuzz cases per file kind: " + ", ".join(f"{k} {n}" for k, n in sorted(RAN.items()))]
    if TOLERATED:
        lines.append(
            "library errors on damage: " + ", ".join(f"{w} {n}" for w, n in TOLERATED.items())
        )
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


# --- a realistic depot -----------------------------------------------------------------------

LIVE_SPACES = ("data", "more", "k", "binder")
ORPHAN_SPACES = ("old", "stray")


@dataclass
class World:
    """A settled depot, its parents, its binding files, and the canary beside it."""

    root: Path
    depot: Path
    canary: Path
    spaces: dict[str, Path]
    """``data`` ``more`` ``k`` ``binder`` (alive), ``old`` ``stray`` (orphans)."""
    parents: dict[str, Path]
    """``alpha`` ``beta`` ``delta`` (exist), ``gamma`` (removed)."""
    tomls: dict[str, Path]
    """``project``, ``space`` (in space ``data``): artifacts; ``binder`` (beside the
    store), ``app``: the content cache's."""
    artifacts: dict[str, str] = field(default_factory=dict)
    """``project`` ``space`` (bound by those files), ``loose`` (an orphan) -> hash."""
    entries: dict[str, str] = field(default_factory=dict)
    """``dir`` (bound in ``binder``), ``dir/<file>`` (reached from it), ``file`` (bound
    in ``app``), ``loose`` (an orphan) -> id."""

    @property
    def store(self) -> Path:
        return cache_store(self.depot)

    def things(self) -> dict[str, Path]:
        """Everything gc may delete, or must not: by a name for messages."""
        found = {f"space {n}": p for n, p in self.spaces.items()}
        found |= {f"artifact {n}": self.depot / "artifacts" / h for n, h in self.artifacts.items()}
        found |= {f"entry {n}": self.entry_path(i) for n, i in self.entries.items()}
        found |= {f"toml {n}": p for n, p in self.tomls.items()}
        return found

    def entry_path(self, id_: str) -> Path:
        return self.store / "artifacts" / id_[:2] / id_

    def logs(self) -> dict[str, Path]:
        """Every log the library writes."""
        return {
            "access log": access_log_file(self.depot),
            "orphanage": self.depot / "logs" / "orphaned.toml",
            "artifacts' usage log": self.depot / "logs" / "artifact_usage.toml",
            "cache's usage records": self.store / "usage.toml",
            "cache's orphanage": self.store / "orphaned.toml",
        }


def _make_canary(canary: Path) -> None:
    (canary / "sub" / "deeper").mkdir(parents=True)
    (canary / "a.txt").write_text("the canary must not change\n")
    (canary / "sub" / "b.bin").write_bytes(bytes(range(256)))
    (canary / "sub" / "deeper" / "c").write_bytes(b"")
    (canary / "sub" / "run.sh").write_text("#!/bin/sh\n")
    (canary / "sub" / "run.sh").chmod(0o755)
    (canary / "link").symlink_to("a.txt")
    (canary / "sub" / "up").symlink_to(canary)


def build(root: Path) -> World:
    """Build and settle a depot in ``root`` (the environment points at ``root/depot``)."""
    depot = root / "depot"
    canary = root / "canary"
    _make_canary(canary)
    parents = {
        "alpha": root / "parents" / "alpha-1.0.dist-info",
        "beta": root / "parents" / "beta" / "pyproject.toml",
        "gamma": root / "parents" / "gamma-0.1.dist-info",
        "delta": root / "parents" / "delta-2.0.dist-info",
    }
    for name in ("alpha", "gamma", "delta"):
        parents[name].mkdir(parents=True)
        (parents[name] / "METADATA").write_text(f"Name: {name}\n")
    parents["beta"].parent.mkdir()
    parents["beta"].write_text('[project]\nname = "beta"\n')

    spaces = {
        "data": _spaces.get_space("data", "alpha", str(parents["alpha"])),
        "more": _spaces.get_space("more", "alpha", str(parents["alpha"])),
        "k": _spaces.get_space("k", "beta", str(parents["beta"])),
        # what my_artifacts_toml gives package "delta": a space of the library's namespace
        "binder": _spaces.get_space("delta", "scratchspaces", str(parents["delta"])),
        "old": _spaces.get_space("old", "gamma", str(parents["gamma"])),
        "stray": depot / "scratchspaces" / "stray" / "k",  # never recorded
    }
    _spaces.get_space("more", "alpha", str(parents["beta"]))  # a second parent
    spaces["stray"].mkdir(parents=True)
    for name, space in spaces.items():
        (space / "blob").write_bytes(name.encode() * 100)
    # Orphans that gc deletes hold links out of the depot: removal never follows one.
    (spaces["old"] / "canary").symlink_to(canary)
    (spaces["stray"] / "canary-file").symlink_to(canary / "a.txt")

    tomls = {
        "project": root / "project" / "Artifacts.toml",
        "space": spaces["data"] / "Artifacts.toml",
        "binder": spaces["binder"] / "Artifacts.toml",
        "app": root / "app" / "Artifacts.toml",
    }
    tomls["project"].parent.mkdir()
    tomls["app"].parent.mkdir()
    world = World(root, depot, canary, spaces, parents, tomls)
    for name in ("project", "space", "loose"):
        world.artifacts[name] = artifacts.create_artifact(
            functools.partial(fill_artifact, tag=name)
        )
    artifacts.bind_artifact(tomls["project"], "one", world.artifacts["project"])
    artifacts.bind_artifact(tomls["space"], "two", world.artifacts["space"])

    world.entries["dir"] = cache.create_my_artifact(dataset)
    world.entries["file"] = cache.create_my_artifact(file_writer(b"bound elsewhere\n"))
    world.entries["loose"] = cache.create_my_artifact(file_writer(b"nobody binds me\n"))
    cache.bind_my_artifact(tomls["binder"], "dataset", world.entries["dir"])
    cache.bind_my_artifact(tomls["app"], "file", world.entries["file"])
    for link in world.entry_path(world.entries["dir"]).iterdir():
        world.entries[f"dir/{link.name}"] = Path(os.readlink(link)).name

    shutil.rmtree(parents["gamma"])
    scratchspaces.gc()  # settled: logs condensed, orphans in the orphanages since now
    assert all(p.exists() for p in world.things().values())
    return world


# The library fsyncs every log it writes: on a disk, that is most of an example's time
# (7 times a tmpfs's here). Damage is about what the files hold, not about durability.
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def _forget() -> None:
    """Forget what this process remembers of depots (as the autouse fixture does)."""
    _identity.invalidate_caches()
    _accesslog.forget()
    _warn.reset()


@contextlib.contextmanager
def fresh_world() -> Iterator[World]:
    """A new settled depot in a new temporary folder, made the user depot meanwhile.

    Not ``tmp_path``: a function-scoped fixture is shared by every example of a test.
    """
    with (
        tempfile.TemporaryDirectory(prefix="fuzz-", dir=SCRATCH) as tmp,
        pytest.MonkeyPatch.context() as mp,
    ):
        root = Path(tmp)
        use_depots(mp, root / "depot")
        _forget()
        try:
            yield build(root)
        finally:
            _forget()


# --- the file kinds --------------------------------------------------------------------------


def _string(ref: Ref, pool: list[str]) -> str:
    """A TOML string: a real value from ``pool`` (by index), or the random text itself."""
    return toml_string(pool[ref % len(pool)] if isinstance(ref, int) else ref)


def _space_keys(w: World) -> list[str]:
    return [str(p) for p in w.spaces.values()] + [str(w.depot / "scratchspaces" / "gone" / "k")]


def _render_access(w: World, r: NewRecord) -> bytes:
    parents = [str(p) for p in w.parents.values()] + ["/nonexistent/parent"]
    found = ", ".join(_string(p, parents) for p in r.refs)
    key = _string(r.key, _space_keys(w))
    return f"\n[[{key}]]\ntime = {r.when}\nparent_projects = [{found}]\n".encode()


def _render_artifact_usage(w: World, r: NewRecord) -> bytes:
    tomls = [str(p) for p in w.tomls.values()] + [str(w.root / "nowhere" / "Artifacts.toml")]
    return f"\n[[{_string(r.key, tomls)}]]\ntime = {r.when}\n".encode()


def _render_cache_usage(w: World, r: NewRecord) -> bytes:
    ids = list(w.entries.values())
    toml = _string(r.toml, [str(p) for p in w.tomls.values()])
    name = _string(r.name, ["file", "dataset", "one"])
    text = f"\n[[{_string(r.key, ids)}]]\ntoml = {toml}\nname = {name}\ntime = {r.when}\n"
    if r.refs:
        text += f"files = [{', '.join(_string(f, ids) for f in r.refs)}]\n"
    return text.encode()


def _render_orphanage(w: World, r: NewRecord) -> bytes:
    keys = _space_keys(w) + [str(p) for n, p in w.things().items() if n.startswith("artifact")]
    return f"{_string(r.key, keys)} = {r.when}\n".encode()


def _render_cache_orphanage(w: World, r: NewRecord) -> bytes:
    return f"{_string(r.key, list(w.entries.values()))} = {r.when}\n".encode()


def _render_artifact_bindings(w: World, r: NewRecord) -> bytes:
    hashes = [*w.artifacts.values(), "0" * 40]
    name = _string(r.name, ["one", "two", "three"])
    return f"\n[{name}]\ngit-tree-sha1 = {_string(r.key, hashes)}\n".encode()


def _render_cache_bindings(w: World, r: NewRecord) -> bytes:
    name = _string(r.name, ["dataset", "file", "other"])
    return f"\n[{name}]\nsha256 = {_string(r.key, list(w.entries.values()))}\n".encode()


@dataclass(frozen=True)
class Kind:
    """A kind of file: where it is, how its records are laid out, a random record of it."""

    style: Style
    path: Callable[[World, str], Path]
    """The file, given the world and which one (binding files: a key of ``tomls``)."""
    render: Callable[[World, NewRecord], bytes]


KINDS = {
    "access_log": Kind("records", lambda w, _: access_log_file(w.depot), _render_access),
    "orphanage": Kind("lines", lambda w, _: w.depot / "logs" / "orphaned.toml", _render_orphanage),
    "cache_orphanage": Kind(
        "lines", lambda w, _: w.store / "orphaned.toml", _render_cache_orphanage
    ),
    "artifact_usage": Kind(
        "records", lambda w, _: w.depot / "logs" / "artifact_usage.toml", _render_artifact_usage
    ),
    "cache_usage": Kind("records", lambda w, _: w.store / "usage.toml", _render_cache_usage),
    "artifact_bindings": Kind(
        "records", lambda w, which: w.tomls[which], _render_artifact_bindings
    ),
    "cache_bindings": Kind("records", lambda w, which: w.tomls[which], _render_cache_bindings),
}


# --- the oracle ------------------------------------------------------------------------------


def parse(data: bytes) -> dict[str, Any] | None:
    """Parse ``data`` as a strict reader would: UTF-8 and TOML, else None."""
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None


def _exists(path: str) -> bool:
    return "\0" not in path and os.path.exists(path)


HEX = set("0123456789abcdef")


def _is_id(value: object) -> bool:
    digits = value.removesuffix(".x") if isinstance(value, str) else ""
    return len(digits) == 64 and set(digits) <= HEX


Names: TypeAlias = "Callable[[dict[str, Any]], bool | None]"
"""Whether a readable record names the thing alive; None if it is not of its file's shape."""


def _names_space(space: str) -> Names:
    def names(data: dict[str, Any]) -> bool | None:
        found = False
        for key, entries in data.items():
            if not isinstance(entries, list):
                return None
            for entry in entries:
                parents = entry.get("parent_projects", []) if isinstance(entry, dict) else None
                if not isinstance(entry, dict) or not isinstance(entry.get("time"), datetime):
                    return None
                if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
                    return None
                found |= os.path.normpath(key) == space and any(_exists(p) for p in parents)
        return found

    return names


def _names_toml(toml: str) -> Names:
    def names(data: dict[str, Any]) -> bool | None:
        for entries in data.values():
            if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("time"), datetime) for e in entries
            ):
                return None
        return any(os.path.normpath(key) == toml for key in data)

    return names


def _names_binding(id_: str, toml: str, name: str) -> Names:
    def names(data: dict[str, Any]) -> bool | None:
        if len(data) != 1:
            return None
        ((key, tables),) = data.items()
        if not _is_id(key) or not isinstance(tables, list) or len(tables) != 1:
            return None
        (table,) = tables
        if not isinstance(table, dict):
            return None
        files = table.get("files", [])
        if not (
            isinstance(table.get("toml"), str)
            and isinstance(table.get("name"), str)
            and isinstance(table.get("time"), datetime)
            and isinstance(files, list)
            and all(_is_id(f) for f in files)
        ):
            return None
        return key == id_ and os.path.normpath(table["toml"]) == toml and table["name"] == name

    return names


def record_evidence(damaged: Damaged, key: str, names: Names) -> bool:
    """Whether a record of ``key`` still vouches for it after the damage.

    It does if it is unreadable now (damage is no evidence of absence), or readable and
    still naming it alive; not if it was cut off cleanly, or now reads as another record.
    """
    for index, ((a, b), _after) in enumerate(damaged.spans):
        original = parse(damaged.before[a:b])
        if original is None or key not in {os.path.normpath(k) for k in original}:
            continue
        region = damaged.region(index)
        if region is None or not region.strip(b" \t\r\n"):
            continue  # cut off cleanly: indistinguishable from a log without it
        data = parse(region)
        if data is None or names(data) is not False:
            return True
    return False


def _bound_values(entry: object, key: str, *, arrays: bool) -> set[str] | None:
    """What one binding binds (lower-cased), None if it is malformed."""
    tables = entry if isinstance(entry, list) and arrays else [entry]
    found: set[str] = set()
    for table in tables:
        value = table.get(key) if isinstance(table, dict) else None
        if key == "git-tree-sha1":
            valid = isinstance(value, str) and len(value) == 40 and set(value.lower()) <= HEX
        else:
            valid = _is_id(value.lower() if isinstance(value, str) else None)
        if not valid:
            return None
        found.add(value.lower() if isinstance(value, str) else "")
    return found


def binding_evidence(after: bytes, name: str, value: str, *, key: str, arrays: bool) -> bool:
    """Whether a damaged binding file still binds ``value`` (once bound as ``name``).

    It does if it cannot be parsed, or its entry ``name`` is malformed (unreadable), or
    any well-formed entry binds ``value``.
    """
    data = parse(after)
    if data is None:
        return True
    if name in data and _bound_values(data[name], key, arrays=arrays) is None:
        return True
    return any(value in (_bound_values(e, key, arrays=arrays) or ()) for e in data.values())


def long_orphaned(after: bytes, orphans: dict[str, str], now: datetime) -> set[str]:
    """The orphans a damaged orphanage still reads, whole, as orphaned for a week."""
    data = parse(after)
    if data is None:
        return set()
    old: set[str] = set()
    for key, value in data.items():
        if isinstance(value, datetime):
            when = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
            if now - when >= WEEK - timedelta(minutes=1):
                old.add(os.path.normpath(key))
    return {name for name, key in orphans.items() if key in old}


@dataclass(frozen=True)
class Case:
    """One damaged file in one world."""

    kind: str
    world: World
    target: Path
    damaged: Damaged
    stamps: bool
    """Whether the stamps were kept (without, the logs alone say what is recorded)."""
    which: str
    """Which binding file was damaged (``tomls``' key), for the binding files' kinds."""

    def write(self) -> None:
        """Put the damaged file in place (again: a collector may have rewritten it)."""
        self.target.write_bytes(self.damaged.after)

    def __str__(self) -> str:
        extra = [f"{'with' if self.stamps else 'without'} stamps"] if self.kind in STAMPED else []
        return f"the {self.kind} damaged" + "".join(f" ({e})" for e in [*extra, self.which] if e)

    def survive_delay(self, now: datetime) -> set[str]:
        """What must survive gc with the default delay: everything, but long orphans."""
        w = self.world
        everything = set(w.things())
        if self.kind == "orphanage":
            orphans = {f"space {n}": str(w.spaces[n]) for n in ORPHAN_SPACES}
            orphans["artifact loose"] = str(w.depot / "artifacts" / w.artifacts["loose"])
            return everything - long_orphaned(self.damaged.after, orphans, now)
        if self.kind == "cache_orphanage":
            orphans = {"entry loose": w.entries["loose"]}
            return everything - long_orphaned(self.damaged.after, orphans, now)
        return everything

    def survive_zero(self) -> set[str]:
        """What must survive gc with no delay: what was alive, while evidence of it remains.

        Evidence is the damaged file's alone: the other files are whole, and the stamps
        (if kept) vouch for every record of the access log and the artifacts' usage log.
        """
        alive = {f"space {n}" for n in LIVE_SPACES} | {f"toml {n}" for n in self.world.tomls}
        alive |= {"artifact project", "artifact space", "entry file", *self._dir_entries()}
        if self.kind in STAMPED and self.stamps:
            return alive
        lost = {
            "access_log": self._lost_spaces,
            "artifact_usage": self._lost_artifact_records,
            "cache_usage": self._lost_entry_records,
            "artifact_bindings": self._lost_artifact_bindings,
            "cache_bindings": self._lost_entry_bindings,
        }.get(self.kind, set)
        return alive - lost()

    def _dir_entries(self) -> set[str]:
        return {f"entry {n}" for n in self.world.entries if n.startswith("dir")}

    def _lost_spaces(self) -> set[str]:
        lost: set[str] = set()
        for n in LIVE_SPACES:
            space = str(self.world.spaces[n])
            if not record_evidence(self.damaged, space, _names_space(space)):
                lost.add(f"space {n}")
        if "space data" in lost:  # and so the binding file in it, and what it binds
            lost |= {"toml space", "artifact space"}
        if "space binder" in lost:
            lost |= {"toml binder", *self._dir_entries()}
        return lost

    def _lost_artifact_records(self) -> set[str]:
        lost: set[str] = set()
        for n in ("project", "space"):
            toml = str(self.world.tomls[n])
            if not record_evidence(self.damaged, toml, _names_toml(toml)):
                lost.add(f"artifact {n}")
        return lost

    def _lost_entry_records(self) -> set[str]:
        # The binding file beside the store is read whatever the records say; the one
        # elsewhere only through its record.
        w = self.world
        names = _names_binding(w.entries["file"], str(w.tomls["app"]), "file")
        return set() if record_evidence(self.damaged, w.entries["file"], names) else {"entry file"}

    def _lost_artifact_bindings(self) -> set[str]:
        name = {"project": "one", "space": "two"}[self.which]
        value = self.world.artifacts[self.which]
        if binding_evidence(self.damaged.after, name, value, key="git-tree-sha1", arrays=True):
            return set()
        return {f"artifact {self.which}"}

    def _lost_entry_bindings(self) -> set[str]:
        name, entry = {"binder": ("dataset", "dir"), "app": ("file", "file")}[self.which]
        value = self.world.entries[entry]
        if binding_evidence(self.damaged.after, name, value, key="sha256", arrays=False):
            return set()
        return self._dir_entries() if entry == "dir" else {"entry file"}


# --- one example -----------------------------------------------------------------------------

STAMPED = ("access_log", "artifact_usage")
"""The logs whose records also leave stamps (see ``scratchspaces._stamps``)."""


@contextlib.contextmanager
def damaged(
    kind: str, ops: tuple[Op, ...], *, stamps: bool = True, which: str = ""
) -> Iterator[Case]:
    """A fresh settled depot with one file of ``kind`` damaged by ``ops``."""
    spec = KINDS[kind]
    with fresh_world() as world:
        if not stamps:
            shutil.rmtree(world.depot / "logs" / "scratch_usage.d")
            shutil.rmtree(world.depot / "logs" / "artifact_usage.d")
        target = spec.path(world, which)
        render = functools.partial(spec.render, world)
        broken = damage(target.read_bytes(), ops, spec.style, render)
        case = Case(kind, world, target, broken, stamps, which)
        case.write()
        yield case


def _read(case: Case, what: str, reader: Callable[[], object]) -> None:
    """Run a reader on the damage: (a) the library's own errors are allowed, and counted."""
    try:
        reader()
    except ScratchspacesError as exc:
        TOLERATED[f"{case.kind}: {what} {type(exc).__name__}"] += 1
        event(f"{what} raised {type(exc).__name__}")


def _check_kept(case: Case, names: set[str], after: str) -> None:
    """(b): every one of ``names`` is still there after ``after``."""
    things = case.world.things()
    gone = sorted(n for n in names if not os.path.lexists(things[n]))
    assert not gone, f"{after} deleted {gone}, with {case}"


def check(case: Case) -> None:
    """Run every reader of the damaged file; check (a) to (d) of the module."""
    world = case.world
    keep_all = case.survive_delay(datetime.now(timezone.utc))
    keep_alive = case.survive_zero()
    canary = snapshot(world.canary)

    _read(case, "list", lambda: _inventory.inventory(str(world.depot)))
    _read(case, "cache list", _cli_cache.describe)
    _read(case, "gc", scratchspaces.gc)
    _check_kept(case, keep_all, "gc() with the default delay")
    if case.kind.startswith("cache"):
        case.write()
        _read(case, "find_orphanages", lambda: cache.find_orphanages(collect_delay=ZERO))
        _check_kept(case, keep_alive, "find_orphanages(collect_delay=0)")
    case.write()
    _read(case, "gc(0)", lambda: scratchspaces.gc(collect_delay=ZERO))
    _check_kept(case, keep_alive, "gc(collect_delay=0)")
    assert snapshot(world.canary) == canary, "the canary beside the depot changed"

    _read(case, "the following gc", scratchspaces.gc)
    for name, log in world.logs().items():
        if log.exists():
            assert parse(log.read_bytes()) is not None, f"the {name} does not parse"


def fuzz(kind: str, ops: tuple[Op, ...], *, stamps: bool = True, which: str = "") -> None:
    """Damage one file of ``kind`` in a fresh depot with ``ops``; check it is read around."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with damaged(kind, ops, stamps=stamps, which=which) as case:
            check(case)
    foreign = [w for w in caught if not issubclass(w.category, ScratchspacesWarning)]
    assert not foreign, sorted({f"{w.category.__name__}: {w.message}" for w in foreign})


# --- what fuzzing found ----------------------------------------------------------------------
# Minimal inputs that once made a collector delete what a damaged record named, or crash,
# each pinned twice: as a case of its own below, and as an explicit example of its kind's
# fuzz test (so that a regression fails deterministically, not when Hypothesis finds it).

NUL_TAIL = (NulFill(At(record=0, line=2)),)  # NULs from the first record's time line on
TWO_BOUNDARIES = (Flip(At(record=1), 1), Flip(At(record=0), 1))  # "\n[[" -> "\v[[", twice
BAD_UTF8_KEY = (Insert(At(record=0, line=1, offset=10), b"\xff"),)
BAD_UTF8_PARENT = (ReplaceChar(0, "parent_projects", 5, b"\xff"),)
YEAR_ONE = (AddRecords(0, (NewRecord(key=0, when="0001-01-01T00:00:00"),)),)
NUL_LAST = (NulRecord(record=-1, skip=1),)  # all of the last record but its newline
ONE_BOUNDARY = (Flip(At(record=1), 1),)
NUL_FIRST = (NulRecord(record=0, skip=1),)
CUT_HEADER = (Truncate(At(record=0, line=1, offset=5)),)  # "\n[[\"5": the id cut short
BAD_UTF8_TOML = (ReplaceChar(0, "toml", 5, b"\xff"),)
DEEP_NEST = (ReplaceValue(0, 0, Run(b"", b"[", 1000, b"")),)  # "<first key> = [[[[..."
# A space inside the key and the line break before it flipped: damaged, with a key
# salvaged that names no file (the damage changed it).
CHANGED_KEY = (Insert(At(record=0, line=1, offset=3), b" "), Flip(At(record=0), 1))
# "[[" of the second header flipped to "Z[": its record merges into the first, unnamed.
FLIPPED_HEADER = (Flip(At(record=1, line=1, offset=0), 1),)
# A byte of a key flipped into a control character (DEL): read as it stands, another path.
CONTROL_IN_KEY = (Flip(At(record=0, line=1, offset=14), 5),)
# A byte of a parent's path flipped into a lone CR ("r" ^ 0x7f): read as it stands, the
# parent was another path, gone, and its live space was deleted.
LONE_CR_IN_PARENT = (Flip(At(record=0, line=28, offset=337), 127),)

# What each did before it was fixed.
SALVAGES_ONE = "Reader.slow salvages one key per chunk: the records merged into it are lost"
WHY = {
    "access-nul-tail": f"NULs from the first record's time line to the end: {SALVAGES_ONE}; "
    "gc(0) deletes spaces more, k and binder (and the cache entries binder binds)",
    "access-two-boundaries": f"the newlines before two [[ flipped to \\v: {SALVAGES_ONE}; "
    "gc(0) deletes space more",
    "access-bad-utf8-key": "invalid UTF-8 in a key is read as U+FFFD, a record of another "
    "path; gc(0) deletes space data",
    "access-bad-utf8-parent": "invalid UTF-8 in a parent's path is read as U+FFFD, a parent "
    "that does not exist; gc(0) deletes space data",
    "access-year-one": "a record of the right shape at local time 0001-01-01T00:00:00: the "
    "fast reader keeps it naive (the slow one takes it as UTC) and _summary.summarize "
    "calls .timestamp() on it: ValueError 'year 0 is out of range' from gc and list",
    "artifacts-nul-last": "the last record NUL-filled: parse_toml strips NULs, so the chunk "
    "before it parses whole and nothing counts as damaged; gc(0) deletes the artifact the "
    "file it named binds",
    "artifacts-boundary": "one newline before [[ flipped (these records have no parents "
    f"line, so all take the slow path): {SALVAGES_ONE}; gc(0) deletes an artifact",
    "artifacts-bad-utf8-key": "invalid UTF-8 in a key is read as U+FFFD, another file; "
    "gc(0) deletes the artifact the real one binds",
    "cache-nul-record": "a NUL-filled record leaves no id and no toml line to salvage: "
    "find_orphanages(0) deletes the entry it named, bound by a file outside the spaces",
    "cache-cut-header": "a record cut inside its [[id]] leaves no id and no toml line to "
    "salvage: find_orphanages(0) deletes the entry, bound by a file outside the spaces",
    "cache-bad-utf8-toml": "invalid UTF-8 in a record's toml path is read as U+FFFD, a "
    "binding file that does not exist: find_orphanages(0) deletes the entry it bound",
    "orphanage-deep-nest": "on 3.10, _toml.loads raises TOMLDecodeError('nested too deeply "
    "to be read'): tomli 2 deprecates free-form arguments, so any deep nest costs a "
    "DeprecationWarning, an error under -W error (this suite's filterwarnings)",
}
KNOWN = [
    pytest.param(kind, ops, options, id=name)
    for name, kind, ops, options in [
        ("access-nul-tail", "access_log", NUL_TAIL, {"stamps": False}),
        ("access-two-boundaries", "access_log", TWO_BOUNDARIES, {"stamps": False}),
        ("access-bad-utf8-key", "access_log", BAD_UTF8_KEY, {"stamps": False}),
        ("access-bad-utf8-parent", "access_log", BAD_UTF8_PARENT, {"stamps": False}),
        ("access-year-one", "access_log", YEAR_ONE, {}),
        ("artifacts-nul-last", "artifact_usage", NUL_LAST, {"stamps": False}),
        ("artifacts-boundary", "artifact_usage", ONE_BOUNDARY, {"stamps": False}),
        ("artifacts-bad-utf8-key", "artifact_usage", BAD_UTF8_KEY, {"stamps": False}),
        ("cache-nul-record", "cache_usage", NUL_FIRST, {}),
        ("cache-cut-header", "cache_usage", CUT_HEADER, {}),
        ("cache-bad-utf8-toml", "cache_usage", BAD_UTF8_TOML, {}),
    ]
]
KNOWN.append(pytest.param("orphanage", DEEP_NEST, {}, id="orphanage-deep-nest"))


@pytest.mark.parametrize(("kind", "ops", "options"), KNOWN)
def test_known_damage(kind: str, ops: tuple[Op, ...], options: dict[str, Any]) -> None:
    fuzz(kind, ops, **options)


# --- the fuzz tests, one per file kind -------------------------------------------------------

EXAMPLES = 80
"""Per file kind: 3 to 6 s each on a 2-core machine, so that with every kind passing (none
stopped early by a pinned failure) the module stays under a minute."""


def fuzzing(test: Callable[..., None]) -> Callable[..., None]:
    """Hypothesis settings for one file kind: ``EXAMPLES`` fresh depots, no deadline."""
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )(test)


def counted(kind: str, ops: tuple[Op, ...], *, stamps: bool = True, which: str = "") -> None:
    RAN[kind] += 1
    fuzz(kind, ops, stamps=stamps, which=which)


@fuzzing
@given(ops=damages, stamps=st.booleans())
@example(ops=NUL_TAIL, stamps=False)
@example(ops=TWO_BOUNDARIES, stamps=False)
@example(ops=BAD_UTF8_KEY, stamps=False)
@example(ops=BAD_UTF8_PARENT, stamps=False)
@example(ops=YEAR_ONE, stamps=True)
@example(ops=CONTROL_IN_KEY, stamps=False)
@example(ops=LONE_CR_IN_PARENT, stamps=False)
def test_access_log(ops: tuple[Op, ...], stamps: bool) -> None:
    counted("access_log", ops, stamps=stamps)


@fuzzing
@given(ops=damages)
@example(ops=DEEP_NEST)
def test_orphanage(ops: tuple[Op, ...]) -> None:
    counted("orphanage", ops)


@fuzzing
@given(ops=damages)
@example(ops=DEEP_NEST)
def test_cache_orphanage(ops: tuple[Op, ...]) -> None:
    counted("cache_orphanage", ops)


@fuzzing
@given(ops=damages, stamps=st.booleans())
@example(ops=NUL_LAST, stamps=False)
@example(ops=ONE_BOUNDARY, stamps=False)
@example(ops=BAD_UTF8_KEY, stamps=False)
@example(ops=CHANGED_KEY, stamps=False)
@example(ops=FLIPPED_HEADER, stamps=False)
def test_artifact_usage(ops: tuple[Op, ...], stamps: bool) -> None:
    counted("artifact_usage", ops, stamps=stamps)


@fuzzing
@given(ops=damages)
@example(ops=NUL_FIRST)
@example(ops=CUT_HEADER)
@example(ops=BAD_UTF8_TOML)
def test_cache_usage(ops: tuple[Op, ...]) -> None:
    counted("cache_usage", ops)


@fuzzing
@given(ops=damages, which=st.sampled_from(["project", "space"]))
@example(ops=DEEP_NEST, which="project")
def test_artifact_bindings(ops: tuple[Op, ...], which: str) -> None:
    counted("artifact_bindings", ops, which=which)


@fuzzing
@given(ops=damages, which=st.sampled_from(["binder", "app"]))
@example(ops=DEEP_NEST, which="app")
def test_cache_bindings(ops: tuple[Op, ...], which: str) -> None:
    counted("cache_bindings", ops, which=which)


# --- beyond what is drawn ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["access_log", "cache_usage"])
def test_a_line_longer_than_the_readers_block(kind: str) -> None:
    """A line of 4 MiB and more between two records: the reader's block boundary."""
    RAN[kind] += 1
    fuzz(kind, (Insert(At(record=1), Run(b"\n", b"x", BLOCK + 7, b"")),), stamps=False)


CLI_CASES = [
    pytest.param("access_log", NUL_LAST, id="access-nul-last"),
    pytest.param("access_log", (ReplaceChar(0, "time", 5, b"x"),), id="access-bad-time"),
    pytest.param(
        "access_log",
        (ReplaceValue(0, "parent_projects", Run(b"", b"[", 6000, b"")),),
        id="access-nest",
    ),
    pytest.param("access_log", YEAR_ONE, id="access-year-one"),
    pytest.param("orphanage", (Insert(At(0, 0, 3), INVALID_UTF8[0]),), id="orphanage-bad-utf8"),
    pytest.param(
        "cache_usage", (Insert(At(0, 2), Run(b"x = ", b"[", 6000, b"\n")),), id="cache-nest"
    ),
    pytest.param(
        "cache_bindings",
        (ReplaceValue(0, "sha256", Run(b"", b"{a=", 6000, b"")),),
        id="binding-nest",
    ),
]


@pytest.mark.parametrize(("kind", "ops"), CLI_CASES)
def test_list_in_a_fresh_process_reads_around_damage(kind: str, ops: tuple[Op, ...]) -> None:
    """``scratchspaces list`` and ``cache list`` succeed and show every space and entry.

    ``list`` leaves out the library's own spaces (binding files): ``cache list`` shows them.
    """
    which = "binder" if kind == "cache_bindings" else ""
    with damaged(kind, ops, stamps=False, which=which) as case:
        spaces = run_cli("list", "--json")
        entries = run_cli("cache", "list", "--json")
        for result in (spaces, entries):
            assert result.returncode == 0, result.stderr
            assert "Traceback" not in result.stderr, result.stderr
        listed = {row["path"] for row in json.loads(spaces.stdout)}
        ordinary = {p for p in case.world.spaces.values() if p.parent.name != "scratchspaces"}
        assert listed == {str(p) for p in ordinary}
        ids = {row["id"] for row in json.loads(entries.stdout)}
        assert ids == set(case.world.entries.values())
