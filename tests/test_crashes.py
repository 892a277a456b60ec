"""Crashes at every instant: a process SIGKILLed at each of its filesystem events.

Each operation (``get_scratch`` of a new space and of a stale one, ``gc``,
``create_artifact``, an install over HTTP, creating and binding a content-cache entry,
``find_orphanages``) first runs to its end in a child of the fault server (``_faults.py``),
which counts its filesystem events E. Then for each N in ``1..E`` (an even sample past
:data:`MOST`) the depot is restored, the operation is killed just before its event N,
and the depot is checked; then the follow-ups a user's next processes would run (a
collection with no delay, the operation again, a collection a day later) run one by one,
each followed by the checks again. The invariants, one test each per operation:

- ``whole``: nothing half-done under a real name. A space is there with exactly what
  the test put in it (and what the operation wrote after ``get_scratch`` returned) or
  absent; an artifact holds the tree its name says (real ``git write-tree`` is the
  oracle) and is read-only; a cache entry holds its blob or tree (git again) and every
  link of a directory entry resolves.
- ``lost``: nothing promised is lost. Every (space, parent) returned is in the access
  log or a stamp, and a collection with no delay keeps its space; every artifact an
  install put in place has its ``Artifacts.toml`` recorded first; what is bound stays;
  no binding of the cache names a missing entry.
- ``debris``: after the next collection no trash is left, no artifact install lock, and
  no temporary of a writer in ``logs`` (its pid says it is gone). What the library keeps
  for a day because a process at work may own it (temporary folders of the artifact
  store and the cache, temporaries of atomic writes in the cache's store and binding
  spaces, the cache's lock files) must be gone after a collection "a day later": one
  whose clocks run two days ahead (``clock`` in ``_faults.py``), so that whatever rule
  of age it applies (a time in the name, the mtime, the ctime) the leftovers are old.
- ``logs``: every log, orphanage and binding file parses as TOML whole (appends are
  one ``write`` and rewrites are renames, so not even a torn tail is excused), and
  every stamp holds a whole path.
- ``finish``: every follow-up runs to its end without an error or a warning, and the
  collections finish what the killed one started (what is due is gone).

A failure names the operation, N, the event it was killed before, the step, and shows
the depot at that moment; the report ends with every event of the operation, numbered.
The run without a kill goes through the same checks first, as the control.

Set ``CRASHES_TRACE=1`` to print each operation's events (with ``-s``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import stat
import sys
import textwrap
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from _depots import cache_store, read_orphanage, write_orphanage
from _faults import FINISH, Crashes, Injector, Outcome, Problem, Step, crash_everywhere
from _fills import file_writer, fill_artifact, writer
from _git import HAVE_GIT, Git, blob_sha256, git_write_tree
from _http import Server
from scratchspaces import _accesslog, artifacts, cache

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

pytestmark = pytest.mark.skipif(
    not (hasattr(os, "fork") and HAVE_GIT), reason="needs fork and git (the hash oracle)"
)

MOST = 60
"""Kill points per operation at most: an even sample beyond, both ends included."""
KINDS = ("whole", "lost", "debris", "logs", FINISH)
DAY = 24 * 60 * 60
OLD = timedelta(days=8)  # an orphan first seen this long ago is due under the default delay
RECENT = timedelta(days=1)  # ... and one seen this long ago is not
TMP_DIR = re.compile(r"\.tmp-([a-z]+)-(\d+)-([0-9a-f]+)")
HASH40 = re.compile(r"[0-9a-f]{40}")
ENTRY_ID = re.compile(r"[0-9a-f]{64}(\.x)?")

GC = "import scratchspaces\nscratchspaces.gc()\n"
GC_NOW = (
    "import scratchspaces\nfrom datetime import timedelta\n"
    "scratchspaces.gc(collect_delay=timedelta(0))\n"
)
RECYCLE = "from scratchspaces import cache\ncache.find_orphanages()\n"
RECYCLE_NOW = (
    "from scratchspaces import cache\nfrom datetime import timedelta\n"
    "cache.find_orphanages(collect_delay=timedelta(0))\n"
)

# --- the world every case lives in ---------------------------------------------------------


@dataclass
class World:
    """The fixed places of a test: the depot is restored from ``template`` before each run."""

    tmp: Path
    depot: Path
    template: Path
    project: Path
    """A project that is not installed: ``crash-pkg``, kept alive by its pyproject.toml."""
    parents: Path
    oracle: Oracle

    @property
    def module(self) -> Path:
        """The file operations run as: detection finds the project above it."""
        return self.project / "mod.py"

    @property
    def parent(self) -> str:
        """What keeps the project's spaces alive."""
        return str(self.project / "pyproject.toml")

    @property
    def store(self) -> Path:
        return cache_store(self.depot)

    def space(self, key: str, namespace: str = "crash-pkg") -> Path:
        return self.depot / "scratchspaces" / namespace / key

    def alive(self, name: str) -> str:
        """A parent that exists."""
        path = self.parents / name
        path.touch()
        return str(path)

    def gone(self, name: str) -> str:
        """A parent that does not exist."""
        return str(self.parents / name)

    def save(self) -> None:
        """Make the depot as it is now the state every run starts from."""
        remove(self.template)
        shutil.copytree(self.depot, self.template, symlinks=True)

    def restore(self) -> None:
        remove(self.depot)
        shutil.copytree(self.template, self.depot, symlinks=True)


def remove(path: Path) -> None:
    """Remove a tree whatever its modes (read-only entries and folders included)."""
    if not os.path.lexists(path):
        return
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            sub = os.path.join(dirpath, name)
            if not os.path.islink(sub):
                os.chmod(sub, 0o700)
    os.chmod(path, 0o700)
    shutil.rmtree(path)


@pytest.fixture
def world(tmp_path: Path, depot: Path) -> World:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "crash-pkg"\n')
    (project / "mod.py").write_text("# the operations run as this file\n")
    parents = tmp_path / "parents"
    parents.mkdir()
    return World(tmp_path, depot, tmp_path / "template", project, parents, Oracle(tmp_path))


# --- oracles -------------------------------------------------------------------------------


class Oracle:
    """Real git's tree hashes, asked once per distinct content."""

    def __init__(self, tmp: Path) -> None:
        self.where = tmp / "oracle"
        self._known: dict[tuple[object, ...], str] = {}
        self._runs = 0
        self._git: Git | None = None

    def _scratch(self) -> Path:
        self._runs += 1
        return self.where / f"run-{self._runs}"

    def artifact(self, tree: Path) -> str:
        """git's sha1 tree hash of ``tree``."""
        key = ("sha1", *sorted(_fingerprint(tree)))
        if key not in self._known:
            self.where.mkdir(exist_ok=True)
            self._known[key] = git_write_tree(tree, self._scratch(), "sha1")
        return self._known[key]

    def cache_directory(self, files: dict[str, tuple[bytes, bool]]) -> str:
        """git's sha256 tree hash of a tree holding ``files`` (path -> (content, executable))."""
        key = ("sha256", *sorted(files.items()))
        if key not in self._known:
            if self._git is None:
                self._git = Git(self.where / "git")
            tree = self._scratch()
            for rel, (data, executable) in files.items():
                (tree / rel).parent.mkdir(parents=True, exist_ok=True)
                (tree / rel).write_bytes(data)
                (tree / rel).chmod(0o755 if executable else 0o644)
            self._known[key] = self._git.write_tree(tree)
        return self._known[key]


def _fingerprint(tree: Path) -> Iterator[tuple[str, str, str]]:
    for dirpath, _dirnames, filenames in os.walk(tree):
        for name in filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(tree).as_posix()
            if path.is_symlink():
                yield rel, "link", os.readlink(path)
            else:
                kind = "exec" if path.stat().st_mode & stat.S_IXUSR else "file"
                yield rel, kind, hashlib.sha256(path.read_bytes()).hexdigest()


# --- reading what is on disk ---------------------------------------------------------------


def files_in(space: Path) -> dict[str, bytes]:
    """Every regular file under ``space``, relative path -> content."""
    found = {}
    for dirpath, _dirnames, filenames in os.walk(space):
        for name in filenames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                found[path.relative_to(space).as_posix()] = path.read_bytes()
    return found


def parse_toml(path: Path) -> dict[str, object] | None:
    """The whole file parsed, None if it is missing; raises if it is not valid TOML."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return tomllib.loads(data.decode("utf-8"))


def stamp_contents(folder: Path) -> set[str]:
    """What the stamps in ``folder`` record (temporaries left out)."""
    if not folder.is_dir():
        return set()
    return {
        p.read_text("utf-8")
        for p in folder.iterdir()
        if p.is_file() and not p.is_symlink() and ".tmp-" not in p.name
    }


def space_recorded(depot: Path, space: Path, parent: str) -> bool:
    """Whether the access log or a stamp records ``parent`` for ``space``."""
    try:
        log = parse_toml(depot / "logs" / "scratch_usage.toml") or {}
    except (ValueError, UnicodeDecodeError):
        log = {}
    entries = log.get(str(space), [])
    if isinstance(entries, list) and any(
        parent in entry.get("parent_projects", []) for entry in entries if isinstance(entry, dict)
    ):
        return True
    rel = space.relative_to(depot / "scratchspaces")
    return parent in stamp_contents(depot / "logs" / "scratch_usage.d" / rel)


def toml_recorded(depot: Path, toml: Path) -> bool:
    """Whether the artifacts' usage log or a stamp records the ``Artifacts.toml`` ``toml``."""
    try:
        log = parse_toml(depot / "logs" / "artifact_usage.toml") or {}
    except (ValueError, UnicodeDecodeError):
        log = {}
    return str(toml) in log or str(toml) in stamp_contents(depot / "logs" / "artifact_usage.d")


def listing(depot: Path, limit: int = 70) -> str:
    """The depot as a compact tree (entries' insides left out), for failure messages."""
    lines = []
    for dirpath, dirnames, filenames in os.walk(depot):
        dirnames.sort()
        rel = Path(dirpath).relative_to(depot)
        inside_entry = any(HASH40.fullmatch(part) or ENTRY_ID.fullmatch(part) for part in rel.parts)
        if inside_entry:
            dirnames[:] = []
            continue
        for name in sorted(dirnames):
            lines.append(f"  {(rel / name).as_posix()}/")
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.is_symlink():
                lines.append(f"  {(rel / name).as_posix()} -> {os.readlink(path)}")
            else:
                lines.append(f"  {(rel / name).as_posix()} ({path.lstat().st_size} B)")
    if len(lines) > limit:
        lines = [*lines[:limit], f"  ... {len(lines) - limit} more"]
    return "\n".join(lines) or "  (no depot)"


# --- the checks ----------------------------------------------------------------------------


@dataclass
class Expect:
    """What must hold of the depot at one step."""

    whole: dict[Path, dict[str, bytes]] = field(default_factory=dict)
    """Spaces that must be there, with exactly these files."""
    whole_or_gone: dict[Path, dict[str, bytes]] = field(default_factory=dict)
    """Spaces that may be gone; if there, with exactly these files."""
    optional: dict[Path, dict[str, bytes]] = field(default_factory=dict)
    """Files a space may hold beyond those (written by the operation)."""
    gone: set[Path] = field(default_factory=set)
    """Spaces, artifacts or cache entries a collection must have finished deleting."""
    records: set[tuple[Path, str]] = field(default_factory=set)
    """(space, parent) pairs that must be recorded."""
    tomls: set[Path] = field(default_factory=set)
    """``Artifacts.toml`` files that must be recorded in the artifacts' usage log or a stamp."""
    artifacts: set[str] = field(default_factory=set)
    """Artifacts that must be there."""
    entries: set[str] = field(default_factory=set)
    """Content-cache entries that must be there."""
    problems: list[Problem] = field(default_factory=list)
    """What the case's own checks found."""
    debris: str | None = None
    """``"young"``: no debris but what the library keeps for a day (see the module's
    docstring); ``"none"``: no debris at all (a collection a day later ran); None: not
    checked (no collection ran yet)."""


class Checker:
    """The invariants of a depot, each giving the problems it finds (none when all holds)."""

    def __init__(self, world: World, extra_tomls: Iterable[Path] = ()) -> None:
        self.world = world
        self.extra_tomls = list(extra_tomls)

    def __call__(self, expect: Expect) -> list[Problem]:
        problems = self.logs() + self.spaces(expect) + self.records(expect)
        problems += self.artifacts(expect) + self.cache(expect) + expect.problems
        if expect.debris is not None:
            problems += self.debris(aged=expect.debris == "none")
        return problems

    def logs(self) -> list[Problem]:
        depot, store = self.world.depot, self.world.store
        files = [
            depot / "logs" / "scratch_usage.toml",
            depot / "logs" / "artifact_usage.toml",
            depot / "logs" / "orphaned.toml",
            depot / "config.toml",
            store / "usage.toml",
            store / "orphaned.toml",
            *sorted(store.parent.glob("*/Artifacts.toml")),
            *self.extra_tomls,
        ]
        problems = []
        for path in files:
            try:
                parse_toml(path)
            except (ValueError, UnicodeDecodeError) as exc:
                tail = path.read_bytes()[-120:]
                problems.append(("logs", f"{path} is not whole TOML ({exc}); it ends {tail!r}"))
        stamps = [
            *(depot / "logs" / "scratch_usage.d").glob("*/*/*"),
            *(depot / "logs" / "artifact_usage.d").glob("*"),
        ]
        for stamp in stamps:
            if stamp.is_file() and ".tmp-" not in stamp.name:
                data = stamp.read_bytes()
                if not data or b"\0" in data:
                    problems.append(("logs", f"the stamp {stamp} holds {data!r}, not a path"))
        return problems

    def spaces(self, expect: Expect) -> list[Problem]:
        problems: list[Problem] = []
        for space, files in [*expect.whole.items(), *expect.whole_or_gone.items()]:
            if not os.path.lexists(space):
                if space in expect.whole:
                    problems.append(("lost", f"the space {space} is gone"))
                continue
            if space.is_symlink() or not space.is_dir():
                problems.append(("whole", f"the space {space} is not a directory"))
                continue
            found = files_in(space)
            allowed = {**files, **expect.optional.get(space, {})}
            missing = sorted(set(files) - set(found))
            extra = sorted(set(found) - set(allowed))
            changed = sorted(r for r in found.keys() & allowed.keys() if found[r] != allowed[r])
            if missing or extra or changed:
                problems.append(
                    (
                        "whole",
                        f"the space {space} is not whole: missing {missing}, "
                        f"unexpected {extra}, changed {changed}",
                    )
                )
        problems += [
            (FINISH, f"{path} is still there: the collection did not finish")
            for path in sorted(expect.gone)
            if os.path.lexists(path)
        ]
        return problems

    def records(self, expect: Expect) -> list[Problem]:
        depot = self.world.depot
        problems = [
            ("lost", f"{space} was returned for {parent}, and no record or stamp has it")
            for space, parent in sorted(expect.records)
            if not space_recorded(depot, space, parent)
        ]
        problems += [
            ("lost", f"{toml} binds an installed artifact, and no record or stamp has it")
            for toml in sorted(expect.tomls)
            if not toml_recorded(depot, toml)
        ]
        return problems

    def artifacts(self, expect: Expect) -> list[Problem]:
        root = self.world.depot / "artifacts"
        problems: list[Problem] = []
        names = sorted(os.listdir(root)) if root.is_dir() else []
        for name in names:
            path = root / name
            if not HASH40.fullmatch(name):
                if not (TMP_DIR.fullmatch(name) or re.fullmatch(r"\.[0-9a-f]{40}\.lock", name)):
                    problems.append(("debris", f"unexpected {path} in the artifact store"))
                continue
            if path.is_symlink() or not path.is_dir():
                problems.append(("whole", f"the artifact {name} is not a directory"))
                continue
            got = self.world.oracle.artifact(path)
            if got != name:
                problems.append(
                    ("whole", f"the artifact {name} holds the tree {got}: {sorted(files_in(path))}")
                )
            writable = [rel for rel in files_in(path) if (path / rel).lstat().st_mode & 0o222]
            if writable:
                problems.append(("whole", f"the artifact {name} has writable files {writable}"))
        missing = sorted(expect.artifacts - set(names))
        problems += [("lost", f"the artifact {h} is gone") for h in missing]
        return problems

    def cache(self, expect: Expect) -> list[Problem]:
        entries = self.world.store / "artifacts"
        found = {p.name: p for p in entries.glob("*/*")} if entries.is_dir() else {}
        problems: list[Problem] = []
        for id_, path in sorted(found.items()):
            if ENTRY_ID.fullmatch(id_) and path.parent.name == id_[:2]:
                problems += self._entry(id_, path, found)
            elif ".tmp-" not in id_:
                problems.append(("debris", f"unexpected {path} in the cache's store"))
        missing = sorted(expect.entries - set(found))
        problems += [("lost", f"the cache entry {i} is gone") for i in missing]
        for toml in sorted(self.world.store.parent.glob("*/Artifacts.toml")):
            try:
                data = parse_toml(toml) or {}
            except (ValueError, UnicodeDecodeError):
                continue  # a problem of its own, found by logs()
            for name, binding in data.items():
                bound = binding.get("sha256") if isinstance(binding, dict) else None
                if bound not in found:
                    problems.append(("lost", f"{toml} binds {name!r} to {bound}, not in the cache"))
        return problems

    def _entry(self, id_: str, path: Path, found: dict[str, Path]) -> list[Problem]:
        if path.is_symlink():
            return [("whole", f"the cache entry {id_} is a link")]
        if path.is_file():
            data = path.read_bytes()
            mode = path.stat().st_mode
            problems: list[Problem] = []
            if blob_sha256(data) != id_.removesuffix(".x"):
                problems.append(("whole", f"the cache file entry {id_} holds {data[:40]!r}"))
            if mode & 0o222 or bool(mode & stat.S_IXUSR) != id_.endswith(".x"):
                problems.append(("whole", f"the cache file entry {id_} has mode {oct(mode)}"))
            return problems
        files: dict[str, tuple[bytes, bool]] = {}
        for dirpath, _dirnames, filenames in os.walk(path):
            for name in filenames:
                link = Path(dirpath, name)
                rel = link.relative_to(path).as_posix()
                target = os.readlink(link) if link.is_symlink() else None
                linked = Path(target).name if target else ""
                if linked not in found or not Path(dirpath, str(target)).is_file():
                    return [
                        (
                            "whole",
                            f"the cache directory entry {id_} has {rel} -> {target}, "
                            "which does not resolve",
                        )
                    ]
                files[rel] = (found[linked].read_bytes(), linked.endswith(".x"))
        got = self.world.oracle.cache_directory(files)
        if got != id_:
            return [
                ("whole", f"the cache directory entry {id_} holds the tree {got}: {sorted(files)}")
            ]
        return []

    def debris(self, *, aged: bool) -> list[Problem]:
        """Leftovers; ``aged``: none at all, else what the day rules keep is allowed."""
        depot, store = self.world.depot, self.world.store
        folders = {depot / "artifacts", store}  # temporary folders: a day
        writes = {store, *store.parent.iterdir()} if store.is_dir() else set()  # files: a day
        problems = []
        for dirpath, dirnames, filenames in os.walk(depot):
            for name in dirnames + filenames:
                path = Path(dirpath, name)
                if ".tmp-" not in name:
                    continue
                if path.is_dir():
                    kept = TMP_DIR.fullmatch(name) is not None and path.parent in folders
                else:
                    kept = path.parent in writes
                if aged or not kept:
                    problems.append(f"left behind: {path.relative_to(depot)}")
            dirnames[:] = [d for d in dirnames if ".tmp-" not in d]
        for trash in (depot / ".trash", store / ".trash", depot / "artifacts" / ".trash"):
            if trash.is_dir() and os.listdir(trash):
                problems.append(f"the trash {trash} holds {sorted(os.listdir(trash))}")
        for lock in sorted((depot / "artifacts").glob(".*.lock")):
            problems.append(f"an install lock is left behind: {lock.name}")
        if aged:
            for lock in sorted((store / "locks").glob("*")):
                problems.append(f"a lock file of the cache over a day old is left: {lock.name}")
        return [("debris", p) for p in problems]


# --- one test per operation and invariant -------------------------------------------------

_found: dict[str, Crashes | Exception] = {}


class BrokenInvariantError(AssertionError):
    """An invariant failed after some kill: what an xfail of a known bug expects, nothing else."""


def check(
    operation: str, kind: str, world: World, run: Callable[[World, Injector], Crashes]
) -> None:
    """Kill ``operation`` everywhere once per session (``run``), then check one invariant.

    The first test of an operation runs it; the others read what it found (or the error
    that kept it from running).
    """
    if operation not in _found:
        try:
            with Injector(world.tmp, shorten=world.tmp) as injector:
                crashes = run(world, injector)
        except Exception as exc:
            _found[operation] = exc
            raise
        _found[operation] = crashes
        print(
            f"\n{crashes.operation}: {crashes.events} events, {len(crashes.points)} kill points, "
            f"{len(crashes.failures)} failing, {crashes.seconds:.1f} s"
        )
        if os.environ.get("CRASHES_TRACE"):
            print("\n".join(crashes.trace))
    found = _found[operation]
    if isinstance(found, Exception):
        pytest.fail(f"killing {operation} everywhere could not run: {found!r}")
    if found.of(kind):
        raise BrokenInvariantError(found.report(kind))


def kinds(**known_bugs: str) -> list[Any]:
    """The invariants as parameters; each of ``known_bugs`` (kind -> what) a strict xfail."""
    return [
        pytest.param(
            kind,
            marks=pytest.mark.xfail(
                strict=True, raises=BrokenInvariantError, reason=known_bugs[kind]
            ),
        )
        if kind in known_bugs
        else kind
        for kind in KINDS
    ]


class Case:
    """One operation to kill everywhere in a world, with its checker."""

    def __init__(
        self,
        world: World,
        injector: Injector,
        operation: str,
        code: str,
        *,
        args: dict[str, Any] | None = None,
        extra_tomls: Iterable[Path] = (),
    ) -> None:
        self.world = world
        self.injector = injector
        self.operation = operation
        self.code = code
        self.args = args or {}
        self.checker = Checker(world, extra_tomls)

    def step(
        self,
        label: str,
        code: str,
        expect: Callable[[Outcome], Expect],
        args: dict[str, Any] | None = None,
        *,
        later: bool = False,
    ) -> Step:
        """A follow-up; ``later``: run two days later (its clocks two days ahead)."""
        return Step(
            label,
            lambda outcome: self.checker(expect(outcome)),
            code,
            args if args is not None else self.args,
            clock=2 * DAY if later else 0.0,
        )

    def run(self, after_kill: Callable[[Outcome], Expect], steps: list[Step]) -> Crashes:
        return crash_everywhere(
            self.injector,
            self.operation,
            self.code,
            file=self.world.module,
            reset=self.world.restore,
            after_kill=lambda outcome: self.checker(after_kill(outcome)),
            steps=steps,
            state=lambda: listing(self.world.depot),
            args=self.args,
            most=MOST,
        )


# --- get_scratch ---------------------------------------------------------------------------

GET = """
import scratchspaces
space = scratchspaces.get_scratch(args["key"])
flag("returned", str(space))
(space / "written.bin").write_bytes(b"written after get_scratch returned")
flag("written", str(space))
"""
GC_MAX_AGE = (
    "import scratchspaces\nfrom datetime import timedelta\n"
    "scratchspaces.gc(collect_delay=timedelta(0), max_age=timedelta(days=1))\n"
)
WRITTEN = {"written.bin": b"written after get_scratch returned"}
KEPT = {"a.txt": b"kept\n", "sub/b.txt": b"b\n"}


def _fill(space: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (space / rel).parent.mkdir(parents=True, exist_ok=True)
        (space / rel).write_bytes(data)


def _kept_space(world: World) -> None:
    """A space of the project, recorded, with files: every case's bystander."""
    _fill(_accesslog.ensure_space(str(world.depot), "crash-pkg", "kept", world.parent), KEPT)


def _get_scratch(world: World, injector: Injector, key: str, before: dict[str, bytes]) -> Crashes:
    kept, target = world.space("kept"), world.space(key)
    case = Case(world, injector, f"get_scratch({key!r})", GET, args={"key": key})

    def expect(returned: bool = False, debris: str | None = None) -> Callable[[Outcome], Expect]:
        def expected(outcome: Outcome) -> Expect:
            # A space recorded before (the stale one) counts as returned already.
            returned_now = returned or bool(before) or bool(outcome.flagged("returned"))
            files = {**before, **(WRITTEN if outcome.flagged("written") or returned else {})}
            there = {kept: KEPT, **({target: files} if returned_now else {})}
            return Expect(
                whole=there,
                whole_or_gone={} if target in there else {target: files},
                optional={target: WRITTEN},
                records={(kept, world.parent)}
                | ({(target, world.parent)} if returned_now else set()),
                debris=debris,
            )

        return expected

    return case.run(
        expect(),
        [
            # A collection with no delay right after the crash: what was returned stays.
            case.step("gc(collect_delay=0) after the kill", GC_NOW, expect()),
            case.step("get_scratch again", GET, expect(returned=True)),
            # Recorded again just now, whatever the kill left: max_age spares it.
            case.step("gc(collect_delay=0, max_age=1 day)", GC_MAX_AGE, expect(True, "young")),
            case.step("gc(collect_delay=0) a day later", GC_NOW, expect(True, "none"), later=True),
        ],
    )


def _new_space(world: World, injector: Injector) -> Crashes:
    _kept_space(world)
    world.save()
    return _get_scratch(world, injector, "fresh", {})


def _stale_space(world: World, injector: Injector) -> Crashes:
    """A space last recorded two days ago, log and stamp: get_scratch records it again."""
    _kept_space(world)
    stale = _accesslog.ensure_space(str(world.depot), "crash-pkg", "stale", world.parent)
    _fill(stale, {"old.txt": b"from before\n"})
    then = time.time() - 2 * DAY
    (world.depot / "logs" / "scratch_usage.toml").write_bytes(
        _accesslog.format_record(str(world.space("kept")), time.time(), [world.parent])
        + _accesslog.format_record(str(stale), then, [world.parent])
    )
    for stamp in (world.depot / "logs" / "scratch_usage.d" / "crash-pkg" / "stale").iterdir():
        os.utime(stamp, (then, then))
    world.save()
    return _get_scratch(world, injector, "stale", {"old.txt": b"from before\n"})


@pytest.mark.parametrize("kind", kinds())
def test_get_scratch_of_a_new_space(world: World, kind: str) -> None:
    check("get_scratch (new)", kind, world, _new_space)


@pytest.mark.parametrize("kind", kinds())
def test_get_scratch_recording_a_stale_space_again(world: World, kind: str) -> None:
    check("get_scratch (stale)", kind, world, _stale_space)


# --- gc ------------------------------------------------------------------------------------


@dataclass
class GcDepot:
    """A depot with something of everything gc decides about (see :func:`_gc_depot`)."""

    live: dict[Path, dict[str, bytes]]
    """Spaces with a parent alive: every collection keeps them."""
    records: set[tuple[Path, str]]
    """Their (space, parent alive) pairs."""
    not_due: dict[Path, dict[str, bytes]]
    """Orphans first seen a day ago, and one never recorded: the default delay keeps them."""
    due: dict[Path, dict[str, bytes]]
    """Orphans first seen eight days ago: the default delay deletes them."""
    bound_artifacts: set[str]
    new_artifacts: set[str]
    due_artifacts: set[str]
    bound_entries: set[str]
    """Cache entries bound, and the file entries bound directories reach."""
    orphan_entries: set[str]
    """Cache entries only the default delay keeps."""
    due_entries: set[str]
    project_toml: Path


def _reached(id_: str) -> set[str]:
    """The file entries a directory entry links to."""
    return {p.resolve().name for p in cache.my_artifact_path(id_).rglob("*") if p.is_symlink()}


def _spaces_for_gc(world: World) -> tuple[dict[Path, dict[str, bytes]], ...]:
    """Live spaces (one recorded by its stamp only), orphans due and not, a stale stamp."""
    depot = str(world.depot)

    def record(key: str, *parents: str, namespace: str = "crash-pkg") -> Path:
        for parent in parents:
            space = _accesslog.ensure_space(depot, namespace, key, parent)
        _fill(space, {"data.txt": f"{namespace}/{key}\n".encode(), "sub/zeros": b"\0" * 300})
        return space

    live_a, live_b = world.alive("live-a"), world.alive("live-b")
    gone_x, gone_y = world.gone("gone-x"), world.gone("gone-y")
    stamped = record("stamped", live_a)  # recorded by its stamp only: its record is cut below
    live = [record("live-a", live_a), record("live-b", gone_x, live_b), stamped]
    due = [record("due", gone_x), record("due-too", gone_y, namespace="other-pkg")]
    not_due = [record("not-due", gone_y)]
    remove(record("vanished", gone_x))  # a record and a stamp of a space deleted by hand
    stray = world.space("stray", "stray-ns")  # never recorded
    _fill(stray, {"stray.txt": b"stray\n"})
    not_due.append(stray)
    log = world.depot / "logs" / "scratch_usage.toml"
    text = log.read_bytes()
    header = f'\n[["{stamped}"]]\n'.encode()
    start = text.index(header)
    log.write_bytes(text[:start] + text[text.index(b"\n[[", start + 1) :])
    return tuple({p: files_in(p) for p in group} for group in (live, not_due, due))


def _gc_depot(world: World) -> GcDepot:
    """Spaces, artifacts and cache entries: alive, orphaned lately, orphaned long ago."""
    depot = str(world.depot)
    live, not_due, due = _spaces_for_gc(world)
    records = {
        (space, parent)
        for space in live
        for parent in (world.alive("live-a"), world.alive("live-b"))
        if space_recorded(world.depot, space, parent)
    }
    now = datetime.now(timezone.utc)
    # What a gc killed mid-sweep before this one left in the trash.
    _fill(world.depot / ".trash" / "leftover.1234.0badcafe", {"x.bin": b"x" * 100})

    project_toml = world.project / "Artifacts.toml"
    made = {
        tag: artifacts.create_artifact(functools.partial(fill_artifact, tag=tag)) for tag in "abc"
    }
    artifacts.bind_artifact(project_toml, "bound", made["a"])
    orphans = {str(world.depot / "artifacts" / made["c"]): now - OLD}

    # The cache: bindings of crash-pkg (alive) and of gone-pkg (its space is due).
    mine = _accesslog.ensure_space(depot, "scratchspaces", "crash-pkg", world.parent)
    theirs = _accesslog.ensure_space(depot, "scratchspaces", "gone-pkg", world.gone("gone-z"))
    d1 = cache.create_my_artifact(writer({**SHARED, "b.csv": b"3,4\n", "sub/c.txt": b"c\n"}))
    f1 = cache.create_my_artifact(file_writer(b"f1\n"))
    d2 = cache.create_my_artifact(writer({**SHARED, "z.csv": b"z\n"}))
    f2, f3, f4 = (cache.create_my_artifact(file_writer(b"%d\n" % i)) for i in (2, 3, 4))
    cache.bind_my_artifact(mine / "Artifacts.toml", "d1", d1)
    cache.bind_my_artifact(mine / "Artifacts.toml", "f1", f1)
    cache.bind_my_artifact(theirs / "Artifacts.toml", "f4", f4)
    z_file = blob_sha256(b"z\n")
    write_orphanage(
        world.depot, {d2: now - OLD, f2: now - OLD, z_file: now - OLD, f3: now - RECENT}, cache=True
    )
    orphans[str(theirs)] = now - OLD
    orphans |= {str(p): now - OLD for p in due}
    orphans |= {str(p): now - RECENT for p in not_due}
    write_orphanage(world.depot, orphans)
    return GcDepot(
        live={**live, mine: files_in(mine)},
        records=records | {(mine, world.parent)},
        not_due=not_due,
        due={**due, theirs: files_in(theirs)},
        bound_artifacts={made["a"]},
        new_artifacts={made["b"]},
        due_artifacts={made["c"]},
        bound_entries={d1, f1} | _reached(d1),
        orphan_entries={f3, f4},
        due_entries={d2, f2, z_file},
        project_toml=project_toml,
    )


def _entry_paths(world: World, ids: Iterable[str]) -> set[Path]:
    return {world.store / "artifacts" / i[:2] / i for i in ids}


def _gc(world: World, injector: Injector, *, code: str = GC, name: str = "gc()") -> Crashes:
    state = _gc_depot(world)
    world.save()
    args = {"depot": str(world.depot)}
    case = Case(world, injector, name, code, args=args, extra_tomls=[state.project_toml])
    artifacts_dir = world.depot / "artifacts"
    assert {space for space, _ in state.records} == set(state.live)

    def during(_: Outcome) -> Expect:
        return Expect(
            whole={**state.live, **state.not_due},
            whole_or_gone=state.due,
            records=state.records,
            artifacts=state.bound_artifacts | state.new_artifacts,
            entries=state.bound_entries | state.orphan_entries,
        )

    def finished(_: Outcome) -> Expect:
        gone = set(state.due) | {artifacts_dir / h for h in state.due_artifacts}
        return Expect(
            whole={**state.live, **state.not_due},
            gone=gone | _entry_paths(world, state.due_entries),
            records=state.records,
            artifacts=state.bound_artifacts | state.new_artifacts,
            entries=state.bound_entries | state.orphan_entries,
            debris="young",
        )

    def only_live(debris: str) -> Callable[[Outcome], Expect]:
        def expected(_: Outcome) -> Expect:
            gone = set(state.not_due) | set(state.due)
            gone |= {artifacts_dir / h for h in state.new_artifacts | state.due_artifacts}
            gone |= _entry_paths(world, state.due_entries | state.orphan_entries)
            return Expect(
                whole=state.live,
                gone=gone,
                records=state.records,
                artifacts=state.bound_artifacts,
                entries=state.bound_entries,
                debris=debris,
            )

        return expected

    return case.run(
        during,
        [
            case.step("gc() again", GC, finished),
            case.step("gc(collect_delay=0)", GC_NOW, only_live("young")),
            case.step("gc(collect_delay=0) a day later", GC_NOW, only_live("none"), later=True),
        ],
    )


@pytest.mark.parametrize("kind", kinds())
def test_gc(world: World, kind: str) -> None:
    check("gc()", kind, world, _gc)


AUTO_GC = "from scratchspaces import _background\n_background.run(args['depot'])\n"


@pytest.mark.parametrize("kind", kinds())
def test_automatic_gc(world: World, kind: str) -> None:
    """The automatic gc's own run: the gc, its schedule and its log, killed anywhere."""
    check("automatic gc", kind, world, functools.partial(_gc, code=AUTO_GC, name="automatic gc"))


# --- the size cap and the policy -------------------------------------------------------------

GC_CAPPED = "import scratchspaces\nscratchspaces.gc(max_size=1)\n"
STRAY = {"x.bin": b"x" * 500}


def _aged(path: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then), follow_symlinks=False)


def _capped(world: World, injector: Injector) -> Crashes:
    """Spaces, artifacts and cache entries used long ago, evicted for a cap of one byte."""
    recent = _accesslog.ensure_space(str(world.depot), "crash-pkg", "recent", world.parent)
    _fill(recent, KEPT)
    strays = [world.space(key, "stray-ns") for key in ("s1", "s2")]  # never recorded: oldest
    for stray in strays:
        stray.mkdir(parents=True)
        _fill(stray, STRAY)
    old_artifact = artifacts.create_artifact(functools.partial(fill_artifact, tag="old"))
    new_artifact = artifacts.create_artifact(functools.partial(fill_artifact, tag="new"))
    _aged(world.depot / "artifacts" / old_artifact, 30)
    old_dir = cache.create_my_artifact(writer({**SHARED, "o.csv": b"o\n"}))
    old_file = cache.create_my_artifact(file_writer(b"old\n"))
    new_file = cache.create_my_artifact(file_writer(b"new\n"))
    old_entries = {old_dir, old_file} | _reached(old_dir)
    for path in _entry_paths(world, old_entries):
        _aged(path, 30)
    world.save()
    evicted = set(strays) | {world.depot / "artifacts" / old_artifact}
    evicted |= _entry_paths(world, old_entries)
    case = Case(world, injector, "gc(max_size=1)", GC_CAPPED)

    def expect(finished: bool, debris: str | None) -> Callable[[Outcome], Expect]:
        return lambda _: Expect(
            whole={recent: KEPT},
            whole_or_gone={} if finished else dict.fromkeys(strays, STRAY),
            gone=evicted if finished else set(),
            records={(recent, world.parent)},
            artifacts={new_artifact},
            entries={new_file},
            debris=debris,
        )

    return case.run(
        expect(finished=False, debris=None),
        [
            case.step("gc(max_size=1) again", GC_CAPPED, expect(finished=True, debris="young")),
            case.step("gc() a day later", GC, expect(finished=True, debris="none"), later=True),
        ],
    )


@pytest.mark.parametrize("kind", kinds())
def test_gc_with_a_size_cap(world: World, kind: str) -> None:
    check("gc(max_size=1)", kind, world, _capped)


SET_POLICY = (
    "from scratchspaces import _policy\n_policy.update(args['depot'], 'gc.max-size', '2G')\n"
)
POLICY = '[gc]\ncollect-delay = "14d"\n\n[later]\nkey = 1\n'


def _setting_the_policy(world: World, injector: Injector) -> Crashes:
    """``scratchspaces config set``: the policy is the old one or the new one, never torn."""
    _kept_space(world)
    (world.depot / "config.toml").write_text(POLICY)
    world.save()
    args = {"depot": str(world.depot)}
    case = Case(world, injector, "config set", SET_POLICY, args=args)
    kept = world.space("kept")

    def expect(finished: bool, debris: str | None) -> Callable[[Outcome], Expect]:
        def expected(_: Outcome) -> Expect:
            problems: list[Problem] = []
            try:
                data = parse_toml(world.depot / "config.toml") or {}
            except ValueError:
                data = {}  # reported by the logs' check
            table = data.get("gc")
            settings = table if isinstance(table, dict) else {}
            if data.get("later") != {"key": 1} or settings.get("collect-delay") != "14d":
                problems.append(("lost", f"the policy lost what it held: {data}"))
            if settings.get("max-size") not in ({"2G"} if finished else {None, "2G"}):
                problems.append((FINISH if finished else "whole", f"the policy holds {data}"))
            return Expect(
                whole={kept: KEPT}, records={(kept, world.parent)}, problems=problems, debris=debris
            )

        return expected

    return case.run(
        expect(finished=False, debris=None),
        [
            case.step("config set again", SET_POLICY, expect(finished=True, debris=None)),
            case.step("gc() a day later", GC, expect(finished=True, debris="none"), later=True),
        ],
    )


@pytest.mark.parametrize("kind", kinds())
def test_setting_the_policy(world: World, kind: str) -> None:
    check("config set", kind, world, _setting_the_policy)


# --- artifacts -----------------------------------------------------------------------------

CREATE_ARTIFACT = """
from scratchspaces import artifacts
from _fills import fill_artifact
flag("returned", artifacts.create_artifact(fill_artifact))
"""


def _create_artifact(world: World, injector: Injector) -> Crashes:
    _kept_space(world)
    world.save()
    world.restore()
    [[made]] = injector.run(CREATE_ARTIFACT, file=world.module).ok().flagged("returned")
    case = Case(world, injector, "create_artifact(fn)", CREATE_ARTIFACT)
    kept, records = {world.space("kept"): KEPT}, {(world.space("kept"), world.parent)}

    def expect(debris: str | None = None, *, made_now: bool = False) -> Callable[[Outcome], Expect]:
        def expected(outcome: Outcome) -> Expect:
            there = {made} if made_now or outcome.flagged("returned") else set()
            return Expect(whole=kept, records=records, artifacts=there, debris=debris)

        return expected

    return case.run(
        expect(),
        [
            # Not bound yet, it is an orphan: the default delay keeps it.
            case.step("gc() after the kill", GC, expect("young")),
            case.step("create_artifact again", CREATE_ARTIFACT, expect(made_now=True)),
            case.step("gc() a day later", GC, expect("none", made_now=True), later=True),
        ],
    )


@pytest.mark.parametrize("kind", kinds())
def test_create_artifact(world: World, kind: str) -> None:
    check("create_artifact", kind, world, _create_artifact)


INSTALL = """
from scratchspaces import artifacts
flag("returned", str(artifacts.ensure_artifact_installed("data", args["toml"])))
"""


def _install(world: World, injector: Injector, published: tuple[str, str, Path]) -> Crashes:
    hash_, sha256, served = published
    remove(world.depot)
    _kept_space(world)
    world.save()
    toml = world.tmp / "installer" / "Artifacts.toml"  # written by hand: not recorded yet
    toml.parent.mkdir()
    kept, records = {world.space("kept"): KEPT}, {(world.space("kept"), world.parent)}
    case = Case(
        world,
        injector,
        "ensure_artifact_installed",
        INSTALL,
        args={"toml": str(toml)},
        extra_tomls=[toml],
    )

    def expect(
        debris: str | None = None, *, installed: bool = False
    ) -> Callable[[Outcome], Expect]:
        def expected(outcome: Outcome) -> Expect:
            there = installed or bool(outcome.flagged("returned"))
            # Recorded before it is installed: gc never sees it unbound.
            placed = (world.depot / "artifacts" / hash_).exists()
            return Expect(
                whole=kept,
                records=records,
                tomls={toml} if placed else set(),
                artifacts={hash_} if there else set(),
                debris=debris,
            )

        return expected

    with Server(served) as server:
        toml.write_text(
            textwrap.dedent(
                f"""\
                [data]
                git-tree-sha1 = "{hash_}"

                    [[data.download]]
                    url = "{server.url}/a.tar.gz"
                    sha256 = "{sha256}"
                """
            )
        )
        return case.run(
            expect(),
            [
                case.step("gc(collect_delay=0) after the kill", GC_NOW, expect("young")),
                case.step("install again", INSTALL, expect(installed=True)),
                case.step(
                    "gc(collect_delay=0) a day later",
                    GC_NOW,
                    expect("none", installed=True),
                    later=True,
                ),
            ],
        )


@pytest.mark.parametrize("kind", kinds())
def test_install_over_http(world: World, published: tuple[str, str, Path], kind: str) -> None:
    check("install", kind, world, lambda w, i: _install(w, i, published))


# --- the content cache ---------------------------------------------------------------------

SHARED = {"shared.csv": b"1,2\n"}
CREATE_AND_BIND = """
from scratchspaces import cache
from _fills import writer
toml = cache.my_artifacts_toml()
flag("returned", str(toml.parent))
id_ = cache.create_my_artifact(writer({k: v.encode() for k, v in args["files"].items()}))
flag("created", id_)
cache.bind_my_artifact(toml, "ds", id_, force=args["force"])
flag("bound", id_)
"""
NEW_FILES = {"shared.csv": "1,2\n", "new.csv": "5,6\n", "sub/deep.txt": "d\n"}


def _create_and_bind(world: World, injector: Injector) -> Crashes:
    _kept_space(world)
    # Another package binds a directory entry sharing a file with the one created.
    other = _accesslog.ensure_space(
        str(world.depot), "scratchspaces", "other-pkg", world.alive("o")
    )
    held = cache.create_my_artifact(writer({**SHARED, "other.csv": b"7,8\n"}))
    cache.bind_my_artifact(other / "Artifacts.toml", "theirs", held)
    held_all = {held} | _reached(held)
    world.save()
    world.restore()
    args: dict[str, Any] = {"files": NEW_FILES, "force": False}
    [[made]] = injector.run(CREATE_AND_BIND, file=world.module, args=args).ok().flagged("bound")
    made_all = {made} | _reached(made)
    mine = world.space("crash-pkg", "scratchspaces")
    case = Case(
        world, injector, "create_my_artifact + bind_my_artifact", CREATE_AND_BIND, args=args
    )

    def expect(debris: str | None = None, *, bound: bool = False) -> Callable[[Outcome], Expect]:
        def expected(outcome: Outcome) -> Expect:
            records = {(world.space("kept"), world.parent)}
            if bound or outcome.flagged("returned"):
                records.add((mine, world.parent))
            entries = held_all | (made_all if bound or outcome.flagged("bound") else set())
            return Expect(
                whole={world.space("kept"): KEPT}, records=records, entries=entries, debris=debris
            )

        return expected

    again = {"files": NEW_FILES, "force": True}
    return case.run(
        expect(),
        [
            # What was bound before the kill survives a recycling with no delay.
            case.step("find_orphanages(collect_delay=0) after the kill", RECYCLE_NOW, expect()),
            case.step("create and bind again", CREATE_AND_BIND, expect(bound=True), again),
            case.step("gc(collect_delay=0)", GC_NOW, expect("young", bound=True)),
            case.step(
                "gc(collect_delay=0) a day later", GC_NOW, expect("none", bound=True), later=True
            ),
        ],
    )


@pytest.mark.parametrize("kind", kinds())
def test_cache_create_and_bind(world: World, kind: str) -> None:
    check("cache create + bind", kind, world, _create_and_bind)


def _recycling(world: World, injector: Injector) -> Crashes:
    """A store with bound entries, orphans due and not, and a record whose binding went."""
    mine = _accesslog.ensure_space(str(world.depot), "scratchspaces", "crash-pkg", world.parent)
    toml = mine / "Artifacts.toml"
    d1 = cache.create_my_artifact(writer({**SHARED, "b.csv": b"3,4\n", "sub/c.txt": b"c\n"}))
    f1 = cache.create_my_artifact(file_writer(b"f1\n"))
    d2 = cache.create_my_artifact(writer({**SHARED, "z.csv": b"z\n"}))
    f2, f3, unbound = (cache.create_my_artifact(file_writer(b"%d\n" % i)) for i in (2, 3, 5))
    for name, id_ in (("d1", d1), ("f1", f1), ("gone", unbound)):
        cache.bind_my_artifact(toml, name, id_)
    cache.unbind_my_artifact(toml, "gone")  # its record stays until a recycling drops it
    now = datetime.now(timezone.utc)
    z_file = blob_sha256(b"z\n")
    due = {d2: now - OLD, f2: now - OLD, z_file: now - OLD}
    write_orphanage(world.depot, {**due, f3: now - RECENT}, cache=True)
    assert set(read_orphanage(world.depot, cache=True)) == {*due, f3}
    world.save()
    bound, kept = {d1, f1} | _reached(d1), {f3, unbound}
    records = {(mine, world.parent)}
    case = Case(world, injector, "find_orphanages()", RECYCLE)

    def expect(
        must: set[str], gone: set[str], debris: str | None = None
    ) -> Callable[[Outcome], Expect]:
        return lambda _: Expect(
            records=records, entries=must, gone=_entry_paths(world, gone), debris=debris
        )

    return case.run(
        expect(bound | kept, set()),
        [
            case.step("find_orphanages() again", RECYCLE, expect(bound | kept, set(due), "young")),
            case.step(
                "find_orphanages(collect_delay=0)",
                RECYCLE_NOW,
                expect(bound, kept | set(due), "young"),
            ),
            case.step("gc() a day later", GC, expect(bound, kept | set(due), "none"), later=True),
        ],
    )


@pytest.mark.parametrize("kind", kinds())
def test_find_orphanages(world: World, kind: str) -> None:
    check("find_orphanages", kind, world, _recycling)


# --- the harness itself: it sees what it claims to see -------------------------------------

NAIVE_DELETE = """
import os
space = args["space"]
for name in ("sub/b.txt", "a.txt"):
    os.remove(os.path.join(space, name))
os.rmdir(os.path.join(space, "sub"))
os.rmdir(space)
"""

NAIVE_REWRITE = """
import os
log, stamp = args["log"], args["stamp"]
with open(log, "rb") as f:
    data = f.read()
with open(stamp, "rb") as f:
    recorded = f.read()
os.remove(stamp)
f = open(log, "wb")
os.mkdir(args["log"] + ".busy")
f.write(data)
f.close()
os.rmdir(args["log"] + ".busy")
with open(stamp, "wb") as f:
    f.write(recorded)
"""

NAIVE_PUBLISH = """
import os, shutil
os.makedirs(os.path.dirname(args["target"]), exist_ok=True)
shutil.copytree(args["source"], args["target"], symlinks=True)
"""


def _harness_case(world: World, injector: Injector, code: str, args: dict[str, Any]) -> Crashes:
    kept = world.space("kept")
    case = Case(world, injector, "a naive operation", code, args=args)
    return case.run(
        lambda _: Expect(whole_or_gone={kept: KEPT}, records={(kept, world.parent)}), []
    )


def test_the_harness_sees_a_space_emptied_in_place(world: World) -> None:
    _kept_space(world)
    world.save()
    with Injector(world.tmp, shorten=world.tmp) as injector:
        found = _harness_case(world, injector, NAIVE_DELETE, {"space": str(world.space("kept"))})
    assert found.events == 4
    # Killed before the first removal the space is whole; before any other, it is not.
    assert [f.where for f in found.of("whole")] == [
        "a naive operation, N=2 (2: os.remove(<tmp>/depot/scratchspaces/crash-pkg/kept/a.txt))",
        "a naive operation, N=3 (3: os.rmdir(<tmp>/depot/scratchspaces/crash-pkg/kept/sub))",
        "a naive operation, N=4 (4: os.rmdir(<tmp>/depot/scratchspaces/crash-pkg/kept))",
    ]
    assert "missing ['a.txt', 'sub/b.txt']" in found.of("whole")[1].of("whole")[0]
    assert "a.txt" in found.report("whole")


def test_the_harness_sees_a_record_lost(world: World) -> None:
    _kept_space(world)
    world.save()
    [stamp] = (world.depot / "logs" / "scratch_usage.d" / "crash-pkg" / "kept").iterdir()
    args = {"log": str(world.depot / "logs" / "scratch_usage.toml"), "stamp": str(stamp)}
    with Injector(world.tmp, shorten=world.tmp) as injector:
        found = _harness_case(world, injector, NAIVE_REWRITE, args)
    # Only between truncating the log and writing it back, with the stamp gone.
    [lost] = found.of("lost")
    assert lost.where.startswith("a naive operation, N=3 (3: os.mkdir(<tmp>/depot/logs/")
    assert f"{world.space('kept')} was returned" in lost.of("lost")[0]


def test_the_harness_sees_an_artifact_published_file_by_file(world: World) -> None:
    source = world.tmp / "source"
    source.mkdir()
    fill_artifact(source)
    for path in source.rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o222)
    name = git_write_tree(source, world.tmp / "git-oracle", "sha1")
    _kept_space(world)
    world.save()
    args = {"source": str(source), "target": str(world.depot / "artifacts" / name)}
    with Injector(world.tmp, shorten=world.tmp) as injector:
        found = _harness_case(world, injector, NAIVE_PUBLISH, args)
    broken = found.of("whole")
    assert broken, found.report("whole")
    problems = [p for f in broken for p in f.of("whole")]
    assert all(p.startswith(f"the artifact {name} ") for p in problems), problems
    # Killed while files are missing, then while the last one is still writable.
    assert any("holds the tree" in p for p in problems)
    assert "has writable files ['data/table.csv']" in problems[-1]
    assert found.of("lost") == found.of("debris") == []  # whole after the last event
