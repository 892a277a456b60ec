"""What every collector shares: its report, the grace rule, the orphanage, the sweep.

Three collectors delete data: gc of spaces, gc of artifacts, and the content cache's
recycling. Each decides under its own lock, and each keeps the same promises:

- **Grace.** What nothing uses is an *orphan*, first seen at some time, kept in an
  orphanage file; it is deleted only once it has been an orphan for ``collect_delay``
  (with a zero delay, in the run that first sees it). An orphan that is used again
  leaves the orphanage. Whatever a damaged record named starts a new grace period
  instead of being judged on missing evidence.
- **Trash, then sweep.** Under the lock, what goes is renamed into a trash folder on the
  same filesystem, in one step each; after the lock is released the trash is removed.
  A collector killed at any point leaves nothing half-deleted under a real name, and
  the next run empties what the last one left in the trash.
- **Sizes** are apparent bytes, measured in the trash just before removal: what was
  deleted is what is reported.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import _fs, _logformat, _progress, _remove, _toml

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

RECENT = timedelta(days=1)
"""What was used this recently is never evicted to meet a size cap."""


@dataclass(frozen=True, slots=True)
class GCReport:
    """What :func:`scratchspaces.gc` (or the content cache's recycling) did.

    ``deleted`` maps each deleted path to the bytes it freed, ``orphaned`` lists orphans
    kept for now, ``kept`` what is still in use; ``freed_bytes`` is the sum of
    ``deleted``.
    """

    deleted: dict[Path, int] = field(default_factory=dict)
    orphaned: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    freed_bytes: int = 0

    @classmethod
    def merge(cls, reports: Iterable[GCReport]) -> GCReport:
        """Return one report of several collections."""
        listed = list(reports)
        deleted = {p: n for r in listed for p, n in r.deleted.items()}
        if not deleted:  # hashing a path costs: spare it the many kept (and make none)
            return cls(
                orphaned=_joined(_ORPHANED.__get__(r) for r in listed),
                kept=_joined(_KEPT.__get__(r) for r in listed),
            )
        return cls(
            deleted=deleted,
            orphaned=[p for r in listed for p in r.orphaned if p not in deleted],
            kept=[p for r in listed for p in r.kept if p not in deleted],
            freed_bytes=sum(deleted.values()),
        )


class _Paths:
    """The paths of a report's list, made when it is first read.

    A daily gc of a depot of many entries keeps them all, and nobody reads the list of
    what an automatic gc kept: a path each would cost it more than its decisions.
    """

    __slots__ = ("keys",)

    def __init__(self, keys: list[str | Path]) -> None:
        self.keys = keys

    def made(self) -> list[Path]:
        return [k if isinstance(k, Path) else Path(k) for k in self.keys]


def _lazy(slot: Any) -> property:
    """Return the field ``slot`` (a slot's descriptor) as a list of paths made when first read."""

    def get(report: GCReport) -> list[Path]:
        value = slot.__get__(report)
        if type(value) is _Paths:
            value = value.made()
            slot.__set__(report, value)  # made once
        return cast("list[Path]", value)

    def put(report: GCReport, value: list[Path]) -> None:
        slot.__set__(report, value)  # the dataclass's __init__ (frozen: only through it)

    return property(get, put, doc=slot.__doc__)


_ORPHANED: Any = GCReport.__dict__["orphaned"]
_KEPT: Any = GCReport.__dict__["kept"]
for _field, _slot in (("orphaned", _ORPHANED), ("kept", _KEPT)):
    setattr(GCReport, _field, _lazy(_slot))  # the field's type unchanged: list[Path]


def _joined(parts: Iterable[list[Path] | _Paths]) -> list[Path]:
    """Return the lists ``parts`` one after the other; made when first read if any is."""
    keys: list[str | Path] = []
    lazy = False
    for part in parts:
        if type(part) is _Paths:
            lazy = True
            keys.extend(part.keys)
        else:
            keys.extend(cast("list[Path]", part))
    return cast("list[Path]", _Paths(keys)) if lazy else cast("list[Path]", keys)


@dataclass
class Plan:
    """One collector's decisions, by key (a path, or an entry's id), made under its lock."""

    delete: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    orphanage: dict[str, datetime] = field(default_factory=dict)
    """Every orphan still kept -> when it was first seen one: the orphanage to write."""

    def settle(self, keys: Iterable[str], doomed: set[str]) -> None:
        """Sort ``keys`` into deleted, orphaned (kept for now) and kept, in their order."""
        for key in keys:
            if key in doomed:
                self.delete.append(key)
                self.orphanage.pop(key, None)
            elif key in self.orphanage:
                self.orphaned.append(key)
            else:
                self.kept.append(key)


class Grace:
    """The grace rule: which orphans have been orphans for long enough to go."""

    def __init__(self, known: dict[str, datetime], now: datetime, delay: timedelta) -> None:
        if delay < timedelta(0):
            raise ValueError("collect_delay must not be negative")
        self.known = known
        self.now = now
        self.delay = delay

    def judge(self, plan: Plan, key: str, *, damaged: bool = False) -> bool:
        """Enter the orphan ``key`` in ``plan``'s orphanage; return whether it is due.

        ``damaged``: a record about it could not be read, so its grace starts anew.
        """
        first = self.now if damaged else self.known.get(key, self.now)
        plan.orphanage[key] = first
        return self.now - first >= self.delay and not damaged


def paths(keys: Iterable[str]) -> list[Path]:
    """Return ``keys`` (paths as strings) as paths, for a report, made when first read."""
    return cast("list[Path]", _Paths(list(keys)))  # read as a list, see _Paths


def now() -> datetime:
    """Return the time a collection runs at (aware, UTC)."""
    return datetime.now(timezone.utc)


def read_orphanage(path: str) -> dict[str, datetime]:
    """Return key -> when it was first seen orphaned, from an orphanage file.

    A damaged file is read as empty, with one warning: every orphan then starts a new
    grace period, which errs on the side of keeping data.
    """
    try:
        with open(path, "rb") as f:
            data = _toml.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        from ._warn import warn_once  # noqa: PLC0415 - damage only

        warn_once("corrupt-orphanage", f"cannot read {path} ({exc}); orphans start anew")
        return {}
    found: dict[str, datetime] = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            found[os.path.normpath(key)] = (
                value if value.tzinfo else value.replace(tzinfo=timezone.utc)
            )
    return found


def write_orphanage(path: str, entries: dict[str, datetime]) -> None:
    """Atomically write an orphanage file: ``"<key>" = <time>`` per line, sorted.

    Left as it is if it holds exactly that already.
    """
    text = "".join(
        f"{_logformat.toml_string(key)} = {_logformat.format_datetime(when)}\n"
        for key, when in sorted(entries.items())
    )
    _logformat.rewrite(path, text.encode("utf-8"))


class Sweep:
    """Deleting a collector's doomed paths: into the trash under its lock, removed after."""

    def __init__(self, trash_root: str, *, dry_run: bool) -> None:
        self.trash_root = trash_root
        self.dry_run = dry_run
        self.moved: dict[str, str] = {}
        self.failures: list[str] = []
        self.unwritten: list[str] = []
        self.used = False
        """Whether the trash may exist: found, or made by a move; else nothing to tidy."""

    def attempt(self, what: str, write: Callable[..., None], *args: Any) -> None:
        """Call ``write(*args)``; if it fails (a full or read-only disk), note it and go on.

        What was moved into the trash is still removed: a collection that cannot write
        its bookkeeping still frees the space it decided to free.
        """
        try:
            write(*args)
        except OSError as exc:
            self.unwritten.append(f"{what} ({type(exc).__name__}: {exc})")

    def empty_trash(self) -> dict[Path, int]:
        """Remove what crashed or interrupted collections left in the trash.

        Returns what was removed (by its name in the trash) and the bytes it freed: a
        collection that could not finish, on a full disk say, is counted by the next.
        """
        if self.dry_run or not _remove.own_folder(self.trash_root):
            return {}
        self.used = True
        sizes = {
            os.path.join(self.trash_root, name): _fs.tree_size(os.path.join(self.trash_root, name))
            for name in _fs.listdir(self.trash_root)
        }
        self.failures.extend(_fs.empty_trash(self.trash_root))
        return {Path(path): size for path, size in sizes.items() if not os.path.lexists(path)}

    def move(self, paths: Iterable[str], *, before: Callable[[str], None] | None = None) -> None:
        """Rename each path into the trash (hold the collector's lock); nothing in a dry run.

        ``before(path)`` runs first (to make a read-only directory renamable).
        """
        if self.dry_run:
            return
        for path in paths:
            if before is not None:
                before(path)
            self.used = True
            trash = _fs.move_to_trash(path, self.trash_root)
            if trash is not None:
                self.moved[path] = trash

    def finish(
        self, paths: Iterable[str], sizes: dict[str, int] | None = None, label: str = "Deleting"
    ) -> dict[Path, int]:
        """Remove what was moved; return the bytes freed per path (what would be, if dry).

        A path gone before it could be moved (another gc, ``delete_scratch``) freed
        nothing here and is left out. Each removal is a step of the task ``label`` for
        whoever watches (a progress bar).
        """
        deleted: dict[Path, int] = {}
        if self.dry_run:
            for path in paths:
                deleted[Path(path)] = (sizes or {}).get(path) or _fs.tree_size(path)
            return deleted
        moved = [(path, self.moved[path]) for path in paths if path in self.moved]
        with _progress.task(label, len(moved)) as advance:
            for path, trash in moved:
                deleted[Path(path)] = _fs.tree_size(trash)
                self.failures.extend(_fs.remove_in_place(trash))
                advance(1)
        if self.used:
            with contextlib.suppress(OSError):
                os.rmdir(self.trash_root)  # only when empty: what failed stays for the next run
        return deleted

    def warn(self, kind: str, who: str, then: str) -> None:
        """Warn once if anything could not be removed, and once if anything not written."""
        from ._warn import count, warn_once  # noqa: PLC0415 - failures only

        if self.unwritten:
            warn_once(
                f"{kind}-write",
                f"{who} could not write {', '.join(self.unwritten)}; what it deleted is "
                "gone, and the next run reads what is on disk",
            )
        if self.failures:
            warn_once(
                kind,
                f"{who} could not remove {count(len(self.failures), 'entry', 'entries')} "
                f"(first: {self.failures[0]}); {then}",
            )
