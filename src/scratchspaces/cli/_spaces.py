"""``scratchspaces path | list | delete | clear``: one space, or many."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NamedTuple

from .. import _depot, _fs, _identity, _inventory, _names, _sitedir, _spaces
from ..errors import DepotError
from . import _listing
from ._output import (
    UsageError,
    format_bytes,
    json_option,
    plural,
    print_json,
    write_lines,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

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


class Target(NamedTuple):
    """A space to delete, measured before it goes."""

    namespace: str
    key: str
    path: str
    size: int


def _namespace_of(pkg: PkgSpec) -> str:
    """Return the namespace ``--pkg NAME`` or ``--global`` names, refusing the library's own."""
    if pkg is _identity.GLOBAL:
        namespace = _identity.GLOBAL_NAMESPACE
    else:
        assert isinstance(pkg, str)  # noqa: S101 - narrowed by _pkg_arg
        namespace = _identity.canonicalize_name(pkg)
    # The library's own spaces (the content cache's) are refused here as the deleting
    # functions refuse them, before anything is measured or asked.
    return _spaces._ordinary(namespace)


def _user_depot() -> str:
    depot = _depot.user_depot_string()
    _depot.check_depot(depot)
    return depot


def _cmd_delete(args: argparse.Namespace) -> int:
    _names.check_key(args.key)
    pkg = _pkg_arg(args)
    namespace = _namespace_of(pkg)
    depot = _user_depot()
    path = os.path.join(depot, _depot.SPACES_DIR, namespace, args.key)
    name = f"{namespace}/{args.key}"
    if not os.path.lexists(path):
        return _report(args, [], [], f"No scratch space {name} in {depot}; nothing to delete.")
    target = Target(namespace, args.key, path, _fs.tree_size(path))
    if args.dry_run:
        return _report(args, [target], [], f"Would delete scratch space {name} ({_size(target)}).")
    try:
        _spaces.delete_scratch(args.key, pkg)
    except DepotError as exc:
        _report(args, [], [(path, exc)], None)
        raise
    return _report(args, [target], [], f"Deleted scratch space {name} ({_size(target)}).")


def _size(target: Target) -> str:
    return format_bytes(target.size)


def _cmd_clear(args: argparse.Namespace) -> int:
    pkg = _pkg_arg(args)
    namespace = None if pkg is None else _namespace_of(pkg)
    depot = _user_depot()
    targets = [
        Target(n, k, p, _fs.dir_size(p))
        for p, n, k in _inventory.iter_spaces(depot, namespace)
        if n != _depot.CACHE_NAMESPACE  # gc and `scratchspaces cache` manage it
    ]
    where = f"in {depot}" if namespace is None else f"of {namespace} in {depot}"
    if not targets:
        return _report(args, [], [], f"No scratch spaces {where}; nothing to delete.")
    total = format_bytes(sum(t.size for t in targets))
    what = f"{plural(len(targets), 'scratch space')} ({total}) {where}"
    if args.dry_run:
        if not args.json:
            write_lines(f"would delete {t.namespace}/{t.key} ({_size(t)})\n" for t in targets)
        return _report(args, targets, [], f"Would delete {what}.")
    if not args.yes and not _confirm(what):
        _report(args, [], [], "Nothing deleted.")
        return 1
    try:
        _spaces.clear_scratchspaces(pkg)
    except DepotError as exc:
        # Say only what is really gone: the error line tells what is still there.
        gone = [t for t in targets if not os.path.lexists(t.path)]
        left = [(t.path, _cause(exc, t)) for t in targets if os.path.lexists(t.path)]
        freed = format_bytes(sum(t.size for t in gone))
        done = f"Deleted {plural(len(gone), 'scratch space')} ({freed}) of {len(targets)}."
        _report(args, gone, left or [(exc.path, exc)], done if gone else None)
        raise
    return _report(args, targets, [], f"Deleted {what}.")


def _cause(exc: DepotError, target: Target) -> DepotError:
    """Return the error that kept ``target``'s namespace: ``exc``, or the first it names."""
    first = exc.__cause__
    namespace = os.path.dirname(target.path)
    if isinstance(first, DepotError) and os.path.normpath(first.path) == namespace:
        return first
    return exc


def _confirm(what: str) -> bool:
    """Ask on the terminal whether to delete ``what``; refuse without one (a usage error)."""
    if not sys.stdin.isatty():
        raise UsageError(f"refusing to delete {what} without --yes (stdin is not a terminal)")
    # The question goes to stderr, so that stdout holds only the report (--json).
    print(f"Delete {what}? [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in {"y", "yes"}


def _report(
    args: argparse.Namespace,
    deleted: list[Target],
    failed: Sequence[tuple[str, Exception]],
    message: str | None,
) -> int:
    """Print what was (or would be) deleted: ``message``, or the JSON report; return 0."""
    if args.json:
        print_json(
            {
                "dry_run": args.dry_run,
                # Each as gc, ``cache recycle`` and ``artifacts remove`` report theirs.
                "deleted": [
                    {
                        "path": t.path,
                        "bytes": t.size,
                        "kind": "space",
                        "namespace": t.namespace,
                        "key": t.key,
                    }
                    for t in deleted
                ],
                "failed": [{"path": p, "error": str(e)} for p, e in failed],
                "freed_bytes": sum(t.size for t in deleted),
            }
        )
    elif message is not None:
        print(message)
    return 0


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

    _listing.add_command(commands)

    delete = commands.add_parser("delete", help="delete one space")
    delete.add_argument("key")
    who = delete.add_mutually_exclusive_group(required=True)
    who.add_argument("--pkg", metavar="NAME", help="the package's namespace")
    who.add_argument("--global", dest="global_", action="store_true", help="the global namespace")
    _dry_run_and_json(delete)
    delete.set_defaults(func=_cmd_delete)

    clear = commands.add_parser("clear", help="delete a namespace, or every space")
    clear.add_argument("pkg", nargs="?", metavar="PKG", help="only this package's namespace")
    clear.add_argument("--global", dest="global_", action="store_true", help="the global namespace")
    clear.add_argument(
        "--yes", action="store_true", help="do not ask before deleting (needed without a terminal)"
    )
    _dry_run_and_json(clear)
    clear.set_defaults(func=_cmd_clear)


def _dry_run_and_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would be deleted, delete nothing"
    )
    json_option(parser)
