"""The ``scratchspaces`` command line (also ``python -m scratchspaces``).

Tables for people, ``--json`` for scripts. Errors print one line on stderr and exit 1;
usage errors exit 2; warnings print one line each. Output cut short by its reader
(``scratchspaces list --json | head``) ends the command quietly with status 141, as a
Unix tool killed by ``SIGPIPE`` does. One module per group of commands, each adding its
own parsers.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import TYPE_CHECKING, TextIO

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


# What a shell reports for a command killed by SIGPIPE (128 + 13).
BROKEN_PIPE_STATUS = 141


def _show_warning(  # noqa: PLR0917 - the signature of warnings.showwarning
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Print a warning as one line, ``scratchspaces: warning: ...``, not as a source line."""
    del category, filename, lineno, line  # where in our code it arose means nothing here
    print(f"scratchspaces: warning: {message}", file=file or sys.stderr)


def _silence_stdout() -> None:
    """Point stdout at the null device, so the interpreter's last flush finds no closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file behind sys.stdout (captured, replaced)
        pass
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "global_", False) and getattr(args, "pkg", None):
        parser.error("give a package or --global, not both")
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        status: int = args.func(args)
        sys.stdout.flush()  # a reader gone shows here, not in the interpreter's last flush
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE_STATUS
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
