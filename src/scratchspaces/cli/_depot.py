"""``scratchspaces gc | du``: collect the depot, and what it holds (its trash too)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .. import _collect, _depot, _fs, _inventory, _names, _policy
from . import _artifacts, _cache, _reports
from ._output import (
    delay_option,
    format_bytes,
    json_option,
    parse_duration,
    parse_size,
    plural,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from .._collect import GCReport


def _artifact_stores() -> set[Path]:
    """Return ``<depot>/artifacts`` of every depot: what tells an artifact from a space."""
    return {Path(d) / _depot.ARTIFACTS_DIR for d in _depot.depot_strings()}


def _kept_until(orphans: Sequence[Path], delay: timedelta) -> str:
    """Return the first date an orphan of this gc may be deleted."""
    now = datetime.now(timezone.utc)
    seen: dict[str, datetime] = {}
    # <depot>/scratchspaces/<namespace>/<key> or <depot>/artifacts/<hash>
    stores = _artifact_stores()
    user = _depot.user_depot_string()
    depots = {
        str(p.parent.parent if p.parent in stores else p.parent.parent.parent)
        for p in orphans
        if not _cache.is_entry(p, user)
    }
    for depot in depots:
        seen.update(_collect.read_orphanage(_depot.orphanage_path(depot)))
    seen.update(_cache.orphans(user))
    first = min(seen.get(str(p), now) for p in orphans)
    return f"{first + delay:%Y-%m-%d}"


def _cmd_gc(args: argparse.Namespace) -> int:
    from .._gc import gc  # noqa: PLC0415 - the artifacts' and the cache's code only to collect

    report = gc(
        collect_delay=args.collect_delay,
        max_age=args.max_age,
        max_size=args.max_size,
        dry_run=args.dry_run,
        all_depots=args.all_depots,
    )
    depots = _depot.depot_strings() if args.all_depots else [_depot.user_depot_string()]
    places = _reports.Places(_depot.depot_strings())
    # Whether a space is in use is read from the log, which a real run has rewritten.
    in_use = _reports.spaces_in_use(places, report.deleted) if args.dry_run else None
    if args.json:
        trash = [t for d in depots for t in _reports.trash_folders(d)]
        data = _reports.report_json(
            report,
            places,
            dry_run=args.dry_run,
            failed=_reports.failures_left(trash, dry_run=args.dry_run),
            in_use=in_use,
            counts={"in_use": None if in_use is None else sum(in_use.values())},
        )
        print_json(data)
        return 0
    for path, size in sorted(report.deleted.items()):
        note = ", in use" if in_use and in_use.get(str(path)) else ""
        verb = "would delete" if args.dry_run else "deleted"
        print(f"{verb} {path} ({format_bytes(size)}{note})")
    print(_gc_summary(args, report, places, in_use))
    return 0


def _gc_summary(
    args: argparse.Namespace,
    report: GCReport,
    places: _reports.Places,
    in_use: dict[str, bool] | None,
) -> str:
    """Return ``Would delete 5 scratch spaces (2.0 MiB); 3 of them in use; ...``."""
    kinds = places.kinds(report.deleted)
    spaces = kinds.get("space", 0) + kinds.get("other", 0)
    parts = [plural(spaces, "scratch space")]
    if kinds.get("artifact"):
        parts.append(plural(kinds["artifact"], "artifact"))
    if kinds.get("cache"):
        parts.append(plural(kinds["cache"], "cache entry", "cache entries"))
    if kinds.get("trash"):
        parts.append(f"{plural(kinds['trash'], 'leftover')} in the trash")
    verb = "Would delete" if args.dry_run else "Deleted"
    summary = f"{verb} {', '.join(parts)} ({format_bytes(report.freed_bytes)})"
    if in_use is not None and spaces:
        count = sum(in_use.values())
        them = "them" if len(parts) == 1 else "the spaces"
        summary += f"; {count or 'none'} of {them} in use"
    if report.orphaned:
        delay = args.collect_delay
        if delay is None:
            delay = _policy.policy(_depot.user_depot_string()).collect_delay
        until = _kept_until(report.orphaned, delay)
        summary += f"; {len(report.orphaned)} orphaned, kept until {until}"
    return summary


class Tally(NamedTuple):
    """What ``du`` and ``info`` show of a depot: no more than sizes, so the log is not read."""

    namespaces: dict[str, tuple[int, int]]
    """Namespace -> how many spaces it holds and their bytes."""
    artifacts: list[int]
    """The bytes of each artifact."""
    entries: int
    """How many entries the content cache holds."""
    cached: int
    """The bytes of those entries, each file counted once."""
    trash: tuple[int, int] = (0, 0)
    """How many things sit in the depot's trash folders (a collection could not remove
    them yet), and their bytes."""

    @property
    def spaces(self) -> tuple[int, int]:
        """How many spaces, and their bytes."""
        counts = self.namespaces.values()
        return sum(c for c, _b in counts), sum(b for _c, b in counts)

    @property
    def total_count(self) -> int:
        """Every space, artifact, cache entry and thing in the trash."""
        return self.spaces[0] + len(self.artifacts) + self.entries + self.trash[0]

    @property
    def total(self) -> int:
        """Every byte counted."""
        return self.spaces[1] + sum(self.artifacts) + self.cached + self.trash[1]


def tally(depot: str) -> Tally:
    """Return what ``depot`` holds: spaces by namespace, artifacts, cache entries, trash.

    One walk of the depot's folders, memory that does not grow with its spaces; each
    space counted alone (a file linked into two counts in both), links not followed.
    """
    namespaces: dict[str, tuple[int, int]] = {}
    for path, namespace, _key in _inventory.iter_spaces(depot, ordered=False):
        count, size = namespaces.get(namespace, (0, 0))
        namespaces[namespace] = (count + 1, size + _fs.dir_size(path))
    artifacts = [_fs.tree_size(p) for _h, p in _artifacts.installed_in(depot)]
    entries, cached = cache_usage(depot)
    return Tally(
        dict(sorted(namespaces.items())), artifacts, entries, cached, _reports.trash_usage(depot)
    )


def cache_usage(depot: str) -> tuple[int, int]:
    """Return how many entries ``depot``'s content cache holds and their bytes (files once).

    Entries are counted as the store lists them (``<ab>/<id>`` in a real folder ``<ab>``),
    without holding their names.
    """
    root = _cache.entries_root(depot)
    count = 0
    for prefix in _fs.listdir(root):
        folder = os.path.join(root, prefix)
        if len(prefix) == 2 and not os.path.islink(folder):
            count += sum(1 for n in _fs.listdir(folder) if n.startswith(prefix) and _names.is_id(n))
    return count, _fs.tree_size(root)


def _cmd_du(args: argparse.Namespace) -> int:
    depot = _depot.user_depot_string()
    _depot.check_depot(depot)
    found = tally(depot)
    if args.json:
        print_json(
            {
                "depot": depot,
                "namespaces": [
                    {"namespace": n, "count": c, "bytes": b}
                    for n, (c, b) in found.namespaces.items()
                ],
                "artifacts": {"count": len(found.artifacts), "bytes": sum(found.artifacts)},
                "cache": {"count": found.entries, "bytes": found.cached},
                "trash": {"count": found.trash[0], "bytes": found.trash[1]},
                "total_bytes": found.total,
            }
        )
        return 0
    rows = [[n, str(c), format_bytes(b)] for n, (c, b) in found.namespaces.items()]
    rows.append(["(artifacts)", str(len(found.artifacts)), format_bytes(sum(found.artifacts))])
    rows.append(["(cache)", str(found.entries), format_bytes(found.cached)])
    rows.append(["(trash)", str(found.trash[0]), format_bytes(found.trash[1])])
    rows.append(["total", str(found.total_count), format_bytes(found.total)])
    print_table(["NAMESPACE", "ENTRIES", "SIZE"], rows, right={1, 2})
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gc`` and ``du``."""
    collect = commands.add_parser("gc", help="delete the spaces nobody uses any more")
    delay_option(collect, "how long an orphan is kept", policy=True)
    collect.add_argument(
        "--max-age",
        type=parse_duration,
        metavar="DURATION",
        help="also delete spaces not recorded for this long, even if in use "
        "(default: the policy, none unless set)",
    )
    collect.add_argument(
        "--max-size",
        type=parse_size,
        metavar="SIZE",
        help="then evict the least recently used spaces, artifacts and cache entries until "
        "the depot fits (500M, 2G; default: the policy, none unless set)",
    )
    collect.add_argument("--dry-run", action="store_true", help="report, change nothing")
    collect.add_argument(
        "--all-depots", action="store_true", help="every depot, not just the user depot"
    )
    json_option(collect)
    collect.set_defaults(func=_cmd_gc)

    usage = commands.add_parser(
        "du", help="bytes per namespace, artifacts, the content cache, and the total"
    )
    json_option(usage)
    usage.set_defaults(func=_cmd_du)
