"""What every command prints and reads: tables, JSON, sizes, durations, errors.

Tables for people, ``--json`` for scripts. ``rich`` draws the tables when it is
installed (the ``cli`` extra) and stdout is a terminal; nothing but the command line
imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._collect import GCReport

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


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


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: set[int]) -> None:
    """Print rows under headers: rich on a terminal when installed, else plain columns."""
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
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    for row in [list(headers), *rows]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def print_json(data: object) -> None:
    """Print ``data`` as indented JSON, for scripts."""
    json.dump(data, sys.stdout, indent=2)
    print()


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


def command_group(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Add the command ``name`` and return its subcommands (``artifacts list``...)."""
    group = commands.add_parser(name, help=help)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def json_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")
