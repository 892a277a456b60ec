"""What every command prints and reads: tables, JSON, sizes, durations, errors.

Tables for people, ``--json`` for scripts. ``rich`` draws the tables when it is
installed (the ``cli`` extra) and stdout is a terminal; nothing but the command line
imports it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from datetime import datetime, timedelta, timezone
from json.encoder import encode_basestring_ascii as _json_string
from typing import TYPE_CHECKING

from .. import _units

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
SIZE_WIDTH = len("1023.9 KiB")
"""The widest :func:`format_bytes` writes below 1024 PiB: a column for sizes not yet known."""


class UsageError(Exception):
    """A command line that cannot be carried out as written (exit 2)."""


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


def plural(n: int, one: str, many: str | None = None) -> str:
    """Return ``1 artifact``, ``2 artifacts``, ``2 entries``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    right: set[int],
    widths: Sequence[int] | None = None,
) -> None:
    """Print rows under headers: rich on a terminal when installed, else plain columns.

    Plain columns are as wide as their widest cell. Given ``widths`` (each column's, as
    far as it is known beforehand; the header's counts too), rows are printed as they
    come and memory does not grow with them; a longer cell pushes the rest of its row.
    """
    if sys.stdout.isatty():
        try:
            from rich.console import Console  # noqa: PLC0415 - optional, and only on a terminal
            from rich.measure import Measurement  # noqa: PLC0415 - optional, and only on a terminal
            from rich.table import Table  # noqa: PLC0415 - optional, and only on a terminal
        except ImportError:
            pass
        else:
            table = Table(box=None, header_style="bold")
            for i, header in enumerate(headers):
                table.add_column(header, justify="right" if i in right else "left")
            for row in rows:
                table.add_row(*row)
            # Never cut a cell short to fit a narrow terminal (a key, a path): a line
            # longer than the terminal wraps there, whole.
            console = Console()
            wide = Measurement.get(console, console.options.update_width(2**31), table)
            Console(width=max(console.width, wide.maximum)).print(table)
            return
    if widths is None:
        rows = list(rows)
        widths = [max([0, *(len(r[i]) for r in rows)]) for i in range(len(headers))]
    widths = [max(len(h), w) for h, w in zip(headers, widths, strict=True)]
    justify = [str.rjust if i in right else str.ljust for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [pad(c, w) for pad, c, w in zip(justify, cells, widths, strict=True)]
        return "  ".join(padded).rstrip() + "\n"

    write_lines(itertools.chain([line(headers)], map(line, rows)))


_BLOCK = 256  # lines per write


def write_lines(lines: Iterable[str]) -> None:
    """Write ``lines`` (each with its line end) to stdout, a block of them per write.

    One write per line, as ``print`` makes when Python runs unbuffered
    (``PYTHONUNBUFFERED``), costs more than making the line on a long listing.
    """
    block: list[str] = []
    for text in lines:
        block.append(text)
        if len(block) >= _BLOCK:
            sys.stdout.write("".join(block))
            block.clear()
    sys.stdout.write("".join(block))


def print_json(data: object) -> None:
    """Print ``data`` as indented JSON, for scripts."""
    json.dump(data, sys.stdout, indent=2)
    print()


def print_json_list(items: Iterable[object]) -> None:
    """Print ``items`` as :func:`print_json` prints the list of them, item by item.

    For long listings: memory does not grow with the items, and each is written as it
    comes. Items are JSON's own types (dicts with string keys, lists or tuples, strings,
    numbers, booleans, None).
    """
    first = True

    def lines() -> Iterator[str]:
        nonlocal first
        for item in items:
            yield ("[\n  " if first else ",\n  ") + _indented(item, "  ")
            first = False
        yield "[]\n" if first else "\n]\n"

    write_lines(lines())


_LITERALS = {True: "true", False: "false", None: "null"}


def _indented(value: object, indent: str) -> str:  # noqa: PLR0911 - one exit per JSON type
    """Return ``value`` as ``json.dumps(value, indent=2)`` writes it ``indent`` deep.

    The ``json`` module writes indented JSON in pure Python, through generators; this
    does the same work three times faster, the escaping being json's own (in C).
    """
    if type(value) is str:
        return _json_string(value)
    if type(value) is dict:
        if not value:
            return "{}"
        inner = indent + "  "
        fields = [f"{inner}{_json_string(k)}: {_indented(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(fields) + f"\n{indent}}}"
    if type(value) is list or type(value) is tuple:
        if not value:
            return "[]"
        inner = indent + "  "
        return "[\n" + ",\n".join([inner + _indented(v, inner) for v in value]) + f"\n{indent}]"
    if type(value) is int:
        return int.__repr__(value)
    if value is True or value is False or value is None:
        return _LITERALS[value]
    return json.dumps(value)


# (from how long, in which unit, its length): whole units, rounded down.
_AGO_UNITS = (
    (timedelta(days=365), "year", timedelta(days=365)),
    (timedelta(days=60), "month", timedelta(days=30)),  # under 60 days, weeks say it better
    (timedelta(days=14), "week", timedelta(weeks=1)),
    (timedelta(days=1), "day", timedelta(days=1)),
    (timedelta(hours=1), "hour", timedelta(hours=1)),
    (timedelta(minutes=1), "minute", timedelta(minutes=1)),
)
RELATIVE_WIDTH = len("never recorded")
"""As wide as :func:`relative_time` writes up to 9999 years: a column of times to come."""


def relative_time(when: datetime | None, now: datetime | None = None) -> str:
    """Return ``when`` as people say it: ``just now``, ``3 days ago``, ``in 2 hours``.

    ``None`` is ``never recorded``. ``now`` defaults to the current time; both are aware
    datetimes. Whole units, rounded down: days up to 14 days, weeks up to 60 days, months
    (of 30 days) up to a year, then years. Under a minute either way is ``just now``.

    >>> from datetime import timezone
    >>> relative_time(datetime(2026, 1, 1, tzinfo=timezone.utc),
    ...               datetime(2026, 1, 4, 5, tzinfo=timezone.utc))
    '3 days ago'
    """
    if when is None:
        return "never recorded"
    if now is None:
        now = datetime.now(timezone.utc)
    ahead = when > now  # a clock set differently where it was recorded
    delta = when - now if ahead else now - when
    for threshold, unit, length in _AGO_UNITS:
        if delta >= threshold:
            amount = plural(delta // length, unit)
            return f"in {amount}" if ahead else f"{amount} ago"
    return "just now"


def parse_duration(text: str) -> timedelta:
    """Return ``30s``, ``15m``, ``12h``, ``7d``, ``2w`` or ``0`` as a timedelta (for argparse)."""
    try:
        return _units.parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_size(text: str) -> int:
    """Return ``500M``, ``2G``, ``1.5GiB`` or ``1048576`` as bytes (for argparse)."""
    try:
        return _units.parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def delay_option(parser: argparse.ArgumentParser, help: str, *, policy: bool = False) -> None:
    """Add ``--collect-delay DURATION``: default 7d, or None for the policy's (``policy``)."""
    parser.add_argument(
        "--collect-delay",
        type=parse_duration,
        default=None if policy else timedelta(days=7),
        metavar="DURATION",
        help=f"{help} (default: {'the policy, 7d unless set' if policy else '7d'})",
    )


def command_group(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Add the command ``name`` and return its subcommands (``artifacts list``...)."""
    group = commands.add_parser(name, help=help)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def json_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")
