"""``scratchspaces path | list | delete | clear``: one space, or many."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from .. import _depot, _identity, _inventory, _names, _sitedir, _spaces
from ..errors import DepotError
from ._output import (
    SIZE_WIDTH,
    UsageError,
    format_bytes,
    json_option,
    plural,
    print_json_list,
    print_table,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator
    from datetime import datetime

    from .._identity import PkgSpec


def _pkg_arg(args: argparse.Namespace) -> PkgSpec:
    if getattr(args, "global_", False):
        return _identity.GLOBAL
    pkg: str | None = getattr(args, "pkg", None)
    return pkg


def _cmd_path(args: argparse.Namespace) -> int:
    _names.check_key(args.key)
    # The owner of code run in the current directory with no file (a shell).
    owner = _identity.owner_of_directory(os.getcwd())
    pkg = _pkg_arg(args)
    if pkg is None:
        namespace, parent = owner.namespace, owner.parent
    elif pkg is _identity.GLOBAL:
        namespace, parent = _identity.GLOBAL_NAMESPACE, _identity.environment_marker()
    else:
        assert isinstance(pkg, str)  # noqa: S101 - narrowed by _pkg_arg
        namespace = _identity.canonicalize_name(pkg)
        parent = _sitedir.installed_dist_info(pkg) or owner.parent
    print(_spaces.get_space(args.key, namespace, parent))
    return 0


def _ordinary(infos: list[_inventory.SpaceInfo]) -> list[_inventory.SpaceInfo]:
    """Leave out the library's own spaces: gc and ``scratchspaces cache`` manage them."""
    return [i for i in infos if i.namespace != _depot.CACHE_NAMESPACE]


def _cmd_delete(args: argparse.Namespace) -> int:
    _spaces.delete_scratch(args.key, _pkg_arg(args))
    return 0


def _cmd_clear(args: argparse.Namespace) -> int:
    pkg = _pkg_arg(args)
    if pkg is not None:
        _spaces.clear_scratchspaces(pkg)
        return 0
    depot = _depot.user_depot_string()
    infos = _ordinary(_inventory.inventory(depot))
    if not infos:
        print(f"No scratch spaces in {depot}.")
        return 0
    total = sum(i.size for i in infos)
    what = f"{plural(len(infos), 'scratch space')} ({format_bytes(total)}) in {depot}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to delete {what} without --yes (stdin is not a terminal)")
        answer = input(f"Delete {what}? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("Nothing deleted.")
            return 1
    try:
        _spaces.clear_scratchspaces()
    except DepotError:
        # Say only what is really gone: the error line tells what is still there.
        left = {i.path for i in _ordinary(_inventory.inventory(depot))}
        gone = [i for i in infos if i.path not in left]
        if gone:
            freed = format_bytes(sum(i.size for i in gone))
            print(f"Deleted {plural(len(gone), 'scratch space')} ({freed}) of {len(infos)}.")
        raise
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

    # Each row is printed as its space is measured: memory does not grow with the rows.
    # A table's names are as wide as the widest listed (a listing first, names only),
    # its sizes as wide as a size can be written.
    def spaces(*, ordered: bool = True) -> Iterator[tuple[str, str, str]]:
        for found in _inventory.iter_spaces(depot, namespace, ordered=ordered):
            if found[1] != _depot.CACHE_NAMESPACE:
                yield found

    if args.json:
        print_json_list(_as_json(i) for i in _inventory.describe(depot, spaces()))
        return 0
    count = namespaces = keys = 0
    for _path, space_namespace, key in spaces(ordered=False):
        count += 1
        namespaces = max(namespaces, len(space_namespace))
        keys = max(keys, len(key))
    if not count:
        print(f"No scratch spaces in {depot}.")
        return 0
    print_table(
        ["NAMESPACE", "KEY", "SIZE", "LAST ACCESS (UTC)", "PARENTS ALIVE", "STATUS"],
        (_as_row(i) for i in _inventory.describe(depot, spaces())),
        right={2, 4},
        widths=[namespaces, keys, SIZE_WIDTH, len("YYYY-MM-DD HH:MM"), 0, 0],
    )
    return 0


def _as_json(info: _inventory.SpaceInfo) -> dict[str, Any]:
    return {
        "namespace": info.namespace,
        "key": info.key,
        "path": info.path,
        "size": info.size,
        "last_access": info.last_access.isoformat() if info.last_access else None,
        "parents": [{"path": p, "alive": alive} for p, alive in info.parents],
        "status": info.status,
        "orphaned_since": info.orphaned_since.isoformat() if info.orphaned_since else None,
    }


def _as_row(info: _inventory.SpaceInfo) -> list[str]:
    last = info.last_access
    return [
        info.namespace,
        info.key,
        format_bytes(info.size),
        _minutes(last) if last else "never recorded",
        f"{sum(alive for _, alive in info.parents)}/{len(info.parents)}",
        info.status,
    ]


def _minutes(when: datetime) -> str:
    """Return ``when`` as ``YYYY-MM-DD HH:MM``, as ``strftime`` writes it (a third of its cost)."""
    if when.year < 1000:  # strftime writes such a year without its leading zeros
        return when.strftime("%Y-%m-%d %H:%M")
    return when.isoformat(" ", "minutes")[:16]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``path``, ``list``, ``delete`` and ``clear``."""
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
    json_option(listing)
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
