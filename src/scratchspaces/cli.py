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
from typing import TYPE_CHECKING, Any

from . import _depot, _identity, _inventory, _spaces
from ._version import __version__
from .errors import ScratchspacesError

if TYPE_CHECKING:
    from collections.abc import Sequence

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


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: set[int]) -> None:
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
        ]
        for i in infos
    ]
    _print_table(
        ["NAMESPACE", "KEY", "SIZE", "LAST ACCESS (UTC)", "PARENTS ALIVE"], rows, right={2, 4}
    )
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
