"""The ``scratchspaces`` command line (also ``python -m scratchspaces``).

Tables for people, ``--json`` for scripts. Errors print one line on stderr and exit 1;
usage errors exit 2; warnings print one line each. Output cut short by its reader
(``scratchspaces list --json | head``) ends the command quietly with status 141, as a
Unix tool killed by ``SIGPIPE`` does. ``--depot DIR``, before the command, makes DIR
the user depot and the only one. One module per group of commands, each adding its own
parsers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from typing import TYPE_CHECKING, TextIO

from .._depot import DEPOT_PATH_VAR
from .._version import __version__
from ..errors import ScratchspacesError
from . import _artifacts, _cache, _config, _depot, _spaces
from ._output import UsageError, format_bytes, parse_duration, parse_size
from ._progress import bars

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scratchspaces",
        description="Managed, garbage-collected data directories for Python packages.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--depot",
        metavar="DIR",
        help=f"use DIR as the user depot, as ${DEPOT_PATH_VAR}=DIR does (default: that variable)",
    )
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
    if args.depot is not None and (not args.depot or os.pathsep in args.depot):
        parser.error(
            f"--depot: {args.depot!r} cannot be a depot's path "
            f"(empty, or holding {os.pathsep!r}, which separates depots in ${DEPOT_PATH_VAR})"
        )
    with _depot_option(args.depot), warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(args)


@contextlib.contextmanager
def _depot_option(depot: str | None) -> Iterator[None]:
    """Make ``depot`` (``--depot``) the only depot for the command, if given.

    The library reads its depots from ``$SCRATCHSPACES_DEPOT_PATH`` at each call, and so
    does every process it starts (a gc in the background): set there, the option is seen
    everywhere as the variable is. Restored afterwards, for a caller of :func:`main`.
    """
    if depot is None:
        yield
        return
    before = os.environ.get(DEPOT_PATH_VAR)
    os.environ[DEPOT_PATH_VAR] = os.path.abspath(os.path.expanduser(depot))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(DEPOT_PATH_VAR, None)
        else:
            os.environ[DEPOT_PATH_VAR] = before


def _run(args: argparse.Namespace) -> int:
    try:
        with bars():  # long work drawn on a terminal, erased before the report or error
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
