"""``scratchspaces list``: one row per space, sorted, filtered and cut as asked.

Without ``--sort``, ``--filter`` or ``--limit`` each row is printed as its space is
measured, in name order, and memory does not grow with the rows. Sorting needs every
row first (a ``--limit`` keeps only that many); filtering keeps only the rows that match.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import operator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import _depot, _identity, _inventory, _units
from ._output import (
    RELATIVE_WIDTH,
    SIZE_WIDTH,
    format_bytes,
    print_json_list,
    print_table,
    relative_time,
    write_lines,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from .._inventory import SpaceInfo

STATUSES = ("in use", "unused", "orphaned")
"""A space's status without an orphan's date, in the order ``--sort status`` puts them."""
SORTS = ("name", "size", "accessed", "status")
FILTER_FORMS = (
    "status=WORD or status!=WORD (in-use, unused, orphaned; several joined by commas), "
    "size>SIZE or size<SIZE (500M, 2G), accessed>DURATION or accessed<DURATION "
    "(last access longer or shorter ago than 30d, 12h); >= and <= too"
)


def status_word(info: SpaceInfo) -> str:
    """Return ``in use``, ``unused`` or ``orphaned``: the status without its date."""
    return info.status.split(" since ", 1)[0]


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class Filter(NamedTuple):
    """One ``--filter`` expression, as written and as a test of a space at a time ``now``."""

    text: str
    test: Callable[[SpaceInfo, datetime], bool]

    def __call__(self, info: SpaceInfo, now: datetime) -> bool:
        """Return whether ``info`` matches."""
        return self.test(info, now)


def parse_filter(text: str) -> Filter:
    """Return the ``--filter`` ``text`` (``status=in-use``, ``size>100M``, ``accessed>30d``).

    A space never recorded counts as last accessed infinitely long ago.

    Raises:
        argparse.ArgumentTypeError: anything else (a usage error), naming what is accepted.
    """
    for op in ("!=", ">=", "<=", "=", ">", "<"):  # two-character operators first
        if op in text:
            break
    else:
        raise argparse.ArgumentTypeError(f"invalid filter {text!r}: use {FILTER_FORMS}")
    field, _op, value = (part.strip() for part in text.partition(op))
    field = field.lower()
    compare = _COMPARE.get(op)
    try:
        if field == "status" and op in {"=", "!="}:
            return Filter(text, _status_test(value, wanted=op == "="))
        if field == "size" and compare is not None:
            size = _units.parse_size(value)
            return Filter(text, lambda i, _now: compare(i.size, size))
        if field == "accessed" and compare is not None:
            return Filter(text, _age_test(compare, _units.parse_duration(value), op))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid filter {text!r}: {exc}") from None
    raise argparse.ArgumentTypeError(f"invalid filter {text!r}: use {FILTER_FORMS}")


def _status_test(value: str, *, wanted: bool) -> Callable[[SpaceInfo, datetime], bool]:
    """Test whether a space's status is (``wanted``) or is not one of ``value``'s words."""
    words = {w.strip().lower().replace("-", " ") for w in value.split(",")}
    unknown = sorted(words - set(STATUSES))
    if unknown:
        raise ValueError(f"no status is {unknown[0]!r}")
    return lambda i, _now: (status_word(i) in words) == wanted


def _age_test(
    compare: Callable[[Any, Any], bool], age: timedelta, op: str
) -> Callable[[SpaceInfo, datetime], bool]:
    """Test how long ago a space was last accessed; never is longer than any ``age``."""
    never = op in {">", ">="}
    return lambda i, now: compare(now - i.last_access, age) if i.last_access else never


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid limit {text!r}: use a whole number, 0 or more")
    return value


def _sort_key(order: str) -> Callable[[SpaceInfo], tuple[Any, ...]]:
    """Return the key that puts spaces in ``order``, ties in name order.

    The biggest first, the latest used first (never recorded last), and by status in
    use, unused, then orphaned (the longest orphaned first, the nearest to deletion).
    """
    never = datetime.max.replace(tzinfo=timezone.utc)
    if order == "size":
        return lambda i: (-i.size, i.namespace, i.key)
    if order == "accessed":
        return lambda i: (
            i.last_access is None,
            -i.last_access.timestamp() if i.last_access is not None else 0.0,
            i.namespace,
            i.key,
        )
    if order == "status":
        return lambda i: (
            STATUSES.index(status_word(i)) if status_word(i) in STATUSES else len(STATUSES),
            i.orphaned_since or never,
            i.namespace,
            i.key,
        )
    return lambda i: (i.namespace, i.key)


def _namespace(pkg: str | None) -> str | None:
    if pkg is None:
        return None
    if pkg in {"_global", "global"}:
        return _identity.GLOBAL_NAMESPACE
    return _identity.canonicalize_name(pkg)


def _cmd_list(args: argparse.Namespace) -> int:
    depot = _depot.user_depot_string()
    _depot.check_depot(depot)
    namespace = _namespace(args.pkg)

    def spaces(*, ordered: bool = True) -> Iterator[tuple[str, str, str]]:
        for found in _inventory.iter_spaces(depot, namespace, ordered=ordered):
            if found[1] != _depot.CACHE_NAMESPACE:  # gc and `scratchspaces cache` manage it
                yield found

    now = datetime.now(timezone.utc)
    shaped = args.sort is not None or args.reverse or args.filter or args.limit is not None
    if not shaped:
        if args.quiet:  # paths need no measuring, nor the log
            write_lines(f"{path}\n" for path, _n, _k in spaces())
        elif args.json:
            print_json_list(_as_json(i) for i in _inventory.describe(depot, spaces()))
        else:
            _stream_table(depot, spaces, now)
        return 0
    found = _shaped(args, _inventory.describe(depot, spaces()), now)
    if args.quiet:
        write_lines(f"{i.path}\n" for i in found)
    elif args.json:
        print_json_list(_as_json(i) for i in found)
    else:
        cells: _Cells = {}
        rows = [_as_row(i, now, cells) for i in found]  # each column as wide as its widest
        if rows:
            print_table(HEADERS, rows, right={2, 4})
        else:
            print(f"No scratch spaces in {depot} match.")
    return 0


def _shaped(
    args: argparse.Namespace, infos: Iterable[SpaceInfo], now: datetime
) -> Iterable[SpaceInfo]:
    """Return the spaces ``--filter`` keeps, in ``--sort`` order, ``--limit`` of them.

    Unsorted, they come one by one as they are measured.
    """
    if args.filter:
        infos = (i for i in infos if all(f(i, now) for f in args.filter))
    if args.sort is None and not args.reverse:
        return itertools.islice(infos, args.limit)  # None: every one
    key = _sort_key(args.sort or "name")
    if args.limit is None:
        return sorted(infos, key=key, reverse=args.reverse)
    # Only the first rows are kept, never all of them.
    pick = heapq.nlargest if args.reverse else heapq.nsmallest
    return pick(args.limit, infos, key=key)


HEADERS = ("NAMESPACE", "KEY", "SIZE", "LAST ACCESS", "PARENTS ALIVE", "STATUS")


def _stream_table(
    depot: str, spaces: Callable[..., Iterator[tuple[str, str, str]]], now: datetime
) -> None:
    """Print each row as its space is measured: memory does not grow with the rows.

    A table's names are as wide as the widest listed (a listing first, names only), its
    sizes and times as wide as they can be written.
    """
    count = namespaces = keys = 0
    for _path, space_namespace, key in spaces(ordered=False):
        count += 1
        namespaces = max(namespaces, len(space_namespace))
        keys = max(keys, len(key))
    if not count:
        print(f"No scratch spaces in {depot}.")
        return
    cells: _Cells = {}
    print_table(
        HEADERS,
        (_as_row(i, now, cells) for i in _inventory.describe(depot, spaces())),
        right={2, 4},
        widths=[namespaces, keys, SIZE_WIDTH, RELATIVE_WIDTH, 0, 0],
    )


def _as_json(info: SpaceInfo) -> dict[str, Any]:
    return {
        "namespace": info.namespace,
        "key": info.key,
        "path": info.path,
        "bytes": info.size,
        "last_access": info.last_access.isoformat() if info.last_access else None,
        "parents": [{"path": p, "alive": alive} for p, alive in info.parents],
        "status": status_word(info),
        "orphaned_since": info.orphaned_since.isoformat() if info.orphaned_since else None,
    }


_Cells = dict[int, tuple[tuple[tuple[str, bool], ...], str, bool]]
"""id of a ``parents`` tuple -> it, its ``PARENTS ALIVE`` cell, whether any is alive."""


def _as_row(info: SpaceInfo, now: datetime, cells: _Cells) -> list[str]:
    """Return the cells of ``info``'s row; those of its parents made once per tuple of them.

    Spaces that share a list of parents share its tuple (see ``_inventory.describe``).
    """
    parents = info.parents
    known = cells.get(id(parents))
    if known is None or known[0] is not parents:  # held in ``cells``: an id names one tuple
        alive = sum(alive for _, alive in parents)
        known = (parents, f"{alive}/{len(parents)}", alive > 0)
        if len(cells) >= 4096:  # bounded, whatever the spaces
            cells.clear()
        cells[id(parents)] = known
    return [
        info.namespace,
        info.key,
        format_bytes(info.size),
        relative_time(info.last_access, now),
        known[1],
        "in use" if known[2] else info.status,
    ]


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``list``."""
    listing = commands.add_parser("list", help="one row per space")
    listing.add_argument("pkg", nargs="?", metavar="PKG", help="only this package's spaces")
    listing.add_argument(
        "--sort",
        choices=SORTS,
        help="order of the rows: name (the default), size (biggest first), accessed "
        "(latest first, never recorded last), status (in use, unused, orphaned)",
    )
    listing.add_argument("--reverse", action="store_true", help="the other way round")
    listing.add_argument(
        "--filter",
        action="append",
        type=parse_filter,
        metavar="EXPR",
        help=f"only spaces that match (repeatable, all must hold): {FILTER_FORMS}; a space "
        "never recorded counts as accessed longer ago than any DURATION",
    )
    listing.add_argument(
        "--limit", type=_limit, metavar="N", help="at most N rows (after sorting and filtering)"
    )
    shown = listing.add_mutually_exclusive_group()
    shown.add_argument("-q", "--quiet", action="store_true", help="only paths, one per line")
    shown.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_cmd_list)
