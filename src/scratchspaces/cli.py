"""The ``scratchspaces`` command line.

Tables for people, ``--json`` for scripts. Errors print one line on stderr and exit 1;
usage errors exit 2. ``rich`` draws the tables when it is installed (the ``cli``
extra) and stdout is a terminal; it is imported by nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from . import _cli_artifacts, _cli_cache, _depot, _fs, _identity, _inventory, _spaces
from ._version import __version__
from .errors import ScratchspacesError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from ._gc import GCReport
    from ._identity import PkgSpec

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(size: int) -> str:
    """Return ``size`` for people: ``512 B``, ``1.5 KiB``, ``1.2 GiB``.

    >>> format_bytes(1536)
    '1.5 KiB'
    """
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError  # pragma: no cover - the loop always returns


class _UsageError(Exception):
    """A command line that cannot be carried out as written (exit 2)."""


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: set[int]) -> None:
    """Print rows under headers: rich on a terminal when installed, else plain columns."""
    if sys.stdout.isatty():
        try:
            from rich.console import Console  # noqa: PLC0415 - the CLI's own dependency
            from rich.table import Table  # noqa: PLC0415
        except ImportError:
            pass
        else:
            table = Table(box=None, header_style="bold")
            for i, header in enumerate(headers):
                table.add_column(header, justify="right" if i in right else "left")
            for row in rows:
                table.add_row(*row)
            Console().print(table)
            return
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    for row in [list(headers), *rows]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def _caller_owner() -> _identity.Owner:
    """Return the owner of code run in the current directory with no file (a shell)."""
    return _identity.owner_of_directory(os.getcwd())


def _pkg_arg(args: argparse.Namespace) -> PkgSpec:
    if getattr(args, "global_", False):
        return _identity.GLOBAL
    pkg: str | None = getattr(args, "pkg", None)
    return pkg


def _cmd_path(args: argparse.Namespace) -> int:
    _spaces.check_key(args.key)
    owner = _caller_owner()
    pkg = _pkg_arg(args)
    if pkg is None:
        namespace, parent = owner.namespace, owner.parent
    elif pkg is _identity.GLOBAL:
        namespace, parent = _identity.GLOBAL_NAMESPACE, _identity.environment_marker()
    else:
        assert isinstance(pkg, str)  # noqa: S101 - narrowed by _pkg_arg
        namespace = _identity.canonicalize_name(pkg)
        parent = _identity.installed_dist_info(pkg) or owner.parent
    print(_spaces.get_space(args.key, namespace, parent))
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    _spaces.delete_scratch(args.key, _pkg_arg(args))
    return 0


def _cmd_clear(args: argparse.Namespace) -> int:
    pkg = _pkg_arg(args)
    if pkg is not None:
        _spaces.clear_scratchspaces(pkg)
        return 0
    depot = _depot.user_depot_string()
    infos = _inventory.inventory(depot)
    if not infos:
        print(f"No scratch spaces in {depot}.")
        return 0
    total = sum(i.size for i in infos)
    what = f"{len(infos)} scratch space{'s' * (len(infos) != 1)} ({format_bytes(total)}) in {depot}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise _UsageError(f"refusing to delete {what} without --yes (stdin is not a terminal)")
        answer = input(f"Delete {what}? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("Nothing deleted.")
            return 1
    _spaces.clear_scratchspaces()
    print(f"Deleted {what}.")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    depot = _depot.user_depot_string()
    _depot.check_depot(depot)
    namespace = None
    if args.pkg is not None:
        namespace = (
            _identity.GLOBAL_NAMESPACE
            if args.pkg in {"_global", "global"}
            else _identity.canonicalize_name(args.pkg)
        )
    infos = _inventory.inventory(depot, namespace)
    if args.json:
        data: list[dict[str, Any]] = [
            {
                "namespace": i.namespace,
                "key": i.key,
                "path": i.path,
                "size": i.size,
                "last_access": i.last_access.isoformat() if i.last_access else None,
                "parents": [{"path": p, "alive": alive} for p, alive in i.parents],
                "status": i.status,
                "orphaned_since": i.orphaned_since.isoformat() if i.orphaned_since else None,
            }
            for i in infos
        ]
        json.dump(data, sys.stdout, indent=2)
        print()
        return 0
    if not infos:
        print(f"No scratch spaces in {depot}.")
        return 0
    rows = [
        [
            i.namespace,
            i.key,
            format_bytes(i.size),
            i.last_access.strftime("%Y-%m-%d %H:%M") if i.last_access else "never recorded",
            f"{sum(alive for _, alive in i.parents)}/{len(i.parents)}",
            i.status,
        ]
        for i in infos
    ]
    print_table(
        ["NAMESPACE", "KEY", "SIZE", "LAST ACCESS (UTC)", "PARENTS ALIVE", "STATUS"],
        rows,
        right={2, 4},
    )
    return 0


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_duration(text: str) -> timedelta:
    """Return ``30s``, ``15m``, ``12h``, ``7d``, ``2w`` or ``0`` as a timedelta.

    >>> parse_duration("12h")
    datetime.timedelta(seconds=43200)
    """
    value = text.strip().lower()
    if value == "0":
        return timedelta(0)
    number, unit = value[:-1], value[-1:]
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if unit not in _DURATION_UNITS or amount < 0:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use a number and one of s, m, h, d, w (30s, 7d) or 0"
        )
    return timedelta(seconds=amount * _DURATION_UNITS[unit])


def parse_size(text: str) -> int:
    """Return ``500M``, ``2G``, ``1.5GiB`` or ``1048576`` as bytes (binary multiples).

    >>> parse_size("2G")
    2147483648
    """
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = value[-1:] if value[-1:] in _SIZE_UNITS else ""
    try:
        amount = float(value[: len(value) - len(unit)])
    except ValueError:
        amount = -1.0
    if amount < 0:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use bytes or a number with K, M, G or T (500M, 2G)"
        )
    return int(amount * _SIZE_UNITS[unit])


def delay_option(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--collect-delay DURATION`` (default 7d)."""
    parser.add_argument(
        "--collect-delay",
        type=parse_duration,
        default=timedelta(days=7),
        metavar="DURATION",
        help=f"{help} (default 7d)",
    )


def print_report_json(report: GCReport, **extra: object) -> None:
    """Print a GCReport for scripts."""
    data = {
        **extra,
        "deleted": {str(p): n for p, n in report.deleted.items()},
        "orphaned": [str(p) for p in report.orphaned],
        "kept": [str(p) for p in report.kept],
        "freed_bytes": report.freed_bytes,
    }
    json.dump(data, sys.stdout, indent=2)
    print()


def _cmd_gc(args: argparse.Namespace) -> int:
    from ._gc import gc  # noqa: PLC0415 - dataclasses only when collecting

    report = gc(
        collect_delay=args.collect_delay,
        max_age=args.max_age,
        max_size=args.max_size,
        dry_run=args.dry_run,
        all_depots=args.all_depots,
    )
    if args.json:
        print_report_json(report, dry_run=args.dry_run)
        return 0
    verb = "Would delete" if args.dry_run else "Deleted"
    for path, size in sorted(report.deleted.items()):
        print(f"{'would delete' if args.dry_run else 'deleted'} {path} ({format_bytes(size)})")
    stores = _artifact_stores()
    user = _depot.user_depot_string()
    artifacts = sum(1 for p in report.deleted if p.parent in stores)
    entries = sum(1 for p in report.deleted if _cli_cache.is_entry(p, user))
    count = len(report.deleted) - artifacts - entries
    freed = format_bytes(report.freed_bytes)
    summary = f"{verb} {count} scratch space{'s' * (count != 1)}"
    if artifacts:
        summary += f", {artifacts} artifact{'s' * (artifacts != 1)}"
    if entries:
        summary += f", {entries} cache entr{'y' if entries == 1 else 'ies'}"
    summary += f" ({freed})"
    if report.orphaned:
        until = _kept_until(report.orphaned, args.collect_delay)
        summary += f"; {len(report.orphaned)} orphaned, kept until {until}"
    print(summary)
    return 0


def _artifact_stores() -> set[Path]:
    """Return ``<depot>/artifacts`` of every depot: what tells an artifact from a space."""
    from pathlib import Path  # noqa: PLC0415

    return {Path(d) / "artifacts" for d in _depot.depot_strings()}


def _kept_until(orphans: Sequence[Path], delay: timedelta) -> str:
    """Return the first date an orphan of this gc may be deleted."""
    from . import _records  # noqa: PLC0415

    now = datetime.now(timezone.utc)
    seen: dict[str, datetime] = {}
    # <depot>/scratchspaces/<namespace>/<key> or <depot>/artifacts/<hash>
    stores = _artifact_stores()
    user = _depot.user_depot_string()
    depots = {
        str(p.parent.parent if p.parent in stores else p.parent.parent.parent)
        for p in orphans
        if not _cli_cache.is_entry(p, user)
    }
    for depot in depots:
        seen.update(_records.read_orphanage(depot))
    seen.update(_cli_cache.orphans(user))
    first = min(seen.get(str(p), now) for p in orphans)
    return f"{first + delay:%Y-%m-%d}"


def _cmd_du(args: argparse.Namespace) -> int:
    depot = _depot.user_depot_string()
    _depot.check_depot(depot)
    infos = _inventory.inventory(depot)
    per_namespace: dict[str, list[int]] = {}
    for info in infos:
        count_size = per_namespace.setdefault(info.namespace, [0, 0])
        count_size[0] += 1
        count_size[1] += info.size
    artifacts = [_fs.tree_size(p) for _h, p in _cli_artifacts.installed_in(depot)]
    entries, cached = _cli_cache.usage(depot)
    total = sum(i.size for i in infos) + sum(artifacts) + cached
    if args.json:
        data = {
            "depot": depot,
            "namespaces": {n: {"spaces": c, "bytes": b} for n, (c, b) in per_namespace.items()},
            "artifacts": {"count": len(artifacts), "bytes": sum(artifacts)},
            "cache": {"count": entries, "bytes": cached},
            "total_bytes": total,
        }
        json.dump(data, sys.stdout, indent=2)
        print()
        return 0
    rows = [[n, str(c), format_bytes(b)] for n, (c, b) in sorted(per_namespace.items())]
    rows.append(["(artifacts)", str(len(artifacts)), format_bytes(sum(artifacts))])
    rows.append(["(cache)", str(entries), format_bytes(cached)])
    rows.append(["total", str(len(infos) + len(artifacts) + entries), format_bytes(total)])
    print_table(["NAMESPACE", "ENTRIES", "SIZE"], rows, right={1, 2})
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scratchspaces",
        description="Managed, garbage-collected data directories for Python packages.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    path = commands.add_parser("path", help="print a space's path, creating it")
    path.add_argument("key")
    who = path.add_mutually_exclusive_group()
    who.add_argument(
        "--pkg", metavar="NAME", help="the package's namespace (default: the project here)"
    )
    who.add_argument("--global", dest="global_", action="store_true", help="the global namespace")
    path.set_defaults(func=_cmd_path)

    listing = commands.add_parser("list", help="one row per space")
    listing.add_argument("pkg", nargs="?", metavar="PKG", help="only this package's spaces")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_cmd_list)

    delete = commands.add_parser("delete", help="delete one space")
    delete.add_argument("key")
    who = delete.add_mutually_exclusive_group(required=True)
    who.add_argument("--pkg", metavar="NAME")
    who.add_argument("--global", dest="global_", action="store_true")
    delete.set_defaults(func=_cmd_delete)

    clear = commands.add_parser("clear", help="delete a namespace, or every space")
    clear.add_argument("pkg", nargs="?", metavar="PKG", help="only this package's namespace")
    clear.add_argument("--global", dest="global_", action="store_true", help="the global namespace")
    clear.add_argument("--yes", action="store_true", help="do not ask before deleting every space")
    clear.set_defaults(func=_cmd_clear)

    collect = commands.add_parser("gc", help="delete the spaces nobody uses any more")
    delay_option(collect, "how long an orphan is kept")
    collect.add_argument(
        "--max-age",
        type=parse_duration,
        metavar="DURATION",
        help="also delete spaces not recorded for this long, even if in use",
    )
    collect.add_argument(
        "--max-size",
        type=parse_size,
        metavar="SIZE",
        help="then delete the least recently used spaces until they fit (500M, 2G)",
    )
    collect.add_argument("--dry-run", action="store_true", help="report, change nothing")
    collect.add_argument(
        "--all-depots", action="store_true", help="every depot, not just the user depot"
    )
    collect.add_argument("--json", action="store_true", help="machine-readable output")
    collect.set_defaults(func=_cmd_gc)

    _cli_artifacts.add_commands(commands)
    _cli_cache.add_commands(commands)

    usage = commands.add_parser(
        "du", help="bytes per namespace, artifacts, the content cache, and the total"
    )
    usage.add_argument("--json", action="store_true", help="machine-readable output")
    usage.set_defaults(func=_cmd_du)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "global_", False) and getattr(args, "pkg", None):
        parser.error("give a package or --global, not both")
    try:
        status: int = args.func(args)
    except _UsageError as exc:
        print(f"scratchspaces: error: {exc}", file=sys.stderr)
        return 2
    except (ScratchspacesError, OSError, ValueError) as exc:
        print(f"scratchspaces: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scratchspaces: interrupted", file=sys.stderr)
        return 130
    return status
