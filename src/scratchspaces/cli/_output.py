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

from .. import _units

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._collect import GCReport

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


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
