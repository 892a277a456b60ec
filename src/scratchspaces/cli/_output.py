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
from datetime import timedelta
from json.encoder import encode_basestring_ascii as _json_string
from typing import TYPE_CHECKING

from .. import _units

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from .._collect import GCReport

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
            from rich.table import Table  # noqa: PLC0415 - optional, and only on a terminal
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


def print_report_json(report: GCReport, **extra: object) -> None:
    """Print a GCReport for scripts."""
    print_json(
        {
            **extra,
            "deleted": {str(p): n for p, n in report.deleted.items()},
            "orphaned": [str(p) for p in report.orphaned],
            "kept": [str(p) for p in report.kept],
            "freed_bytes": report.freed_bytes,
        }
    )


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
