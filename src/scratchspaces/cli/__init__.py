"""The ``scratchspaces`` command line (also ``python -m scratchspaces``).

Tables for people, ``--json`` for scripts. Errors print one line on stderr and exit 1;
usage errors exit 2. One module per group of commands, each adding its own parsers.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .._version import __version__
from ..errors import ScratchspacesError
from . import _artifacts, _cache, _config, _depot, _spaces
from ._output import UsageError, format_bytes, parse_duration, parse_size

if TYPE_CHECKING:
    from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scratchspaces",
        description="Managed, garbage-collected data directories for Python packages.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _spaces.add_commands(commands)
    _depot.add_commands(commands)
    _artifacts.add_commands(commands)
    _cache.add_commands(commands)
    _config.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "global_", False) and getattr(args, "pkg", None):
        parser.error("give a package or --global, not both")
    try:
        status: int = args.func(args)
    except UsageError as exc:
        print(f"scratchspaces: error: {exc}", file=sys.stderr)
        return 2
    except (ScratchspacesError, OSError, ValueError) as exc:
        print(f"scratchspaces: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scratchspaces: interrupted", file=sys.stderr)
        return 130
    return status


__all__ = ["format_bytes", "main", "parse_duration", "parse_size"]
