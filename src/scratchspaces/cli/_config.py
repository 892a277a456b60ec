"""``scratchspaces config | info``: the depot's policy, and the screen a bug report needs.

``info`` only reads: it creates no depot and writes no file, and what it cannot read
(a damaged policy or log, a missing or read-only depot) it shows instead of failing.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from typing import Any

from .. import _autogc, _background, _depot, _policy
from .._version import __version__
from ..errors import ScratchspacesError
from ._depot import tally
from ._output import UsageError, format_bytes, json_option, print_json, print_table

# A marker dated further ahead than this was dated by a policy that turns automatic gc off.
_OFF_AFTER = _autogc.OFF_FOR // 2


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")


# --- config ------------------------------------------------------------------------------


def _cmd_config(args: argparse.Namespace) -> int:
    found = _policy.settings(_depot.user_depot_string())
    if args.json:
        print_json([{"key": s.key, "value": s.value, "source": s.source} for s in found])
        return 0
    print_table(
        ["KEY", "VALUE", "SOURCE"], [[s.key, s.value, s.source] for s in found], right=set()
    )
    return 0


def _print_setting(depot: str, key: str) -> None:
    """Print ``{"key", "value", "source"}`` of ``key`` as the depot's policy now holds it."""
    setting = next(s for s in _policy.settings(depot, environment=False) if s.key == key)
    print_json({"key": setting.key, "value": setting.value, "source": setting.source})


def _json_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--json`` to a subcommand of ``config``: before the subcommand or after it."""
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )


def _note_environment(key: str, value: str) -> None:
    """Tell that ``SCRATCHSPACES_GC_AUTO`` keeps automatic gc off where the policy turns it on."""
    if key == "gc.auto" and value == "on" and not _autogc.enabled():
        print(
            f"scratchspaces: note: ${_autogc.AUTO_VAR} keeps automatic gc off in this environment",
            file=sys.stderr,
        )


def _cmd_set(args: argparse.Namespace) -> int:
    try:
        value = _policy.check(args.key, args.value)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    depot = _depot.user_depot_string()
    _policy.update(depot, args.key, value)
    if args.json:
        _print_setting(depot, args.key)
    else:
        print(f"{args.key} = {value}")
    _note_environment(args.key, value)
    return 0


def _cmd_unset(args: argparse.Namespace) -> int:
    depot = _depot.user_depot_string()
    try:
        _policy.update(depot, args.key, None)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    value = _policy.DEFAULTS[args.key]
    if args.json:
        _print_setting(depot, args.key)
    else:
        print(f"{args.key} = {value} (default)")
    _note_environment(args.key, value)
    return 0


# --- info --------------------------------------------------------------------------------


def _count(entry: dict[str, Any], key: str) -> int | None:
    """Return ``entry[key]`` if it is a count: a log line is read, not trusted."""
    value = entry.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _last_run(depot: str) -> dict[str, Any] | None:
    """Return the last automatic gc logged, or None."""
    found = _background.runs(depot)
    if not found:
        return None
    entry = found[-1]
    error = entry.get("error")
    warnings = entry.get("warnings")
    return {
        "started": entry["started"],
        "freed_bytes": _count(entry, "freed_bytes"),
        "deleted_count": _count(entry, "deleted"),
        "orphaned_count": _count(entry, "orphaned"),
        "error": error if isinstance(error, str) else None,
        "warning_count": len(warnings) if isinstance(warnings, list) else 0,
    }


def _auto_gc(depot: str, own: list[_policy.Setting] | None) -> dict[str, Any]:
    """Return whether automatic gc is on and why, its last run and when the next is due.

    ``own``: the depot's policy without the environment (None: it cannot be read).
    """
    if not _autogc.enabled():
        enabled, reason = False, f"${_autogc.AUTO_VAR}={os.environ.get(_autogc.AUTO_VAR)}"
    elif own is None:
        enabled, reason = True, "the policy cannot be read: each run logs an error"
    else:
        auto = next(s for s in own if s.key == "gc.auto")
        enabled, reason = auto.value == "on", f"gc.auto = {auto.value} ({auto.source})"
    due = _autogc.due_at(depot)
    return {
        "enabled": enabled,
        "reason": reason,
        "last": _last_run(depot),
        "next_due": None if due is None else _iso(due),
        "next": _next_due(due),
    }


def _next_due(due: float | None) -> str:
    """Return when the next automatic gc runs, for people."""
    if due is None:
        return "at the next use"
    if due <= time.time():
        return f"at the next use (due since {_iso(due)})"
    if due > time.time() + _OFF_AFTER:
        return "off"
    return _iso(due)


def _sizes(depot: str) -> dict[str, Any]:
    """Return what ``du`` counts: spaces, artifacts, cache entries, the trash and the total.

    Counted as ``du`` counts, without reading the log; a depot that is a file says so.
    """
    _depot.check_depot(depot)
    found = tally(depot)
    spaces, trash = found.spaces, found.trash
    return {
        "spaces": {"count": spaces[0], "bytes": spaces[1]},
        "artifacts": {"count": len(found.artifacts), "bytes": sum(found.artifacts)},
        "cache": {"count": found.entries, "bytes": found.cached},
        "trash": {"count": trash[0], "bytes": trash[1]},
        "total_bytes": found.total,
    }


def gather() -> dict[str, Any]:
    """Return everything ``info`` shows; read only, and never raises for a depot's state.

    What cannot be read is ``policy_error`` in place of ``policy``, ``sizes_error`` in
    place of ``sizes``. ``auto_gc["next_due"]`` is the marker's time (None: never ran),
    ``auto_gc["next"]`` what it means for people.
    """
    depot = _depot.user_depot_string()
    data: dict[str, Any] = {
        "version": __version__,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": platform.platform(),
        "depots": [
            {
                "path": path,
                "user": i == 0,
                "exists": os.path.exists(path),
                "writable": os.access(path, os.W_OK),
            }
            for i, path in enumerate(_depot.depot_strings())
        ],
    }
    own = None
    try:
        shown = _policy.settings(depot)
        own = _policy.settings(depot, environment=False)
    except (ScratchspacesError, OSError) as exc:
        data["policy_error"] = str(exc)
    else:
        data["policy"] = [{"key": s.key, "value": s.value, "source": s.source} for s in shown]
    data["auto_gc"] = _auto_gc(depot, own)
    try:
        data["sizes"] = _sizes(depot)
    except (ScratchspacesError, OSError) as exc:
        data["sizes_error"] = str(exc)
    return data


def _show(data: dict[str, Any]) -> None:
    python = data["python"]
    print(f"scratchspaces  {data['version']}")
    print(f"python         {python['version']} {python['implementation']} ({python['executable']})")
    print(f"platform       {data['platform']}")
    print()
    rows = [
        [
            d["path"],
            "user" if d["user"] else "read-only",
            ("yes" if os.path.isdir(d["path"]) else "not a directory") if d["exists"] else "no",
            "yes" if d["writable"] else "no",
        ]
        for d in data["depots"]
    ]
    print_table(["DEPOT", "ROLE", "EXISTS", "WRITABLE"], rows, right=set())
    print()
    if "policy" in data:
        rows = [[s["key"], s["value"], s["source"]] for s in data["policy"]]
        print_table(["KEY", "VALUE", "SOURCE"], rows, right=set())
    else:
        print(f"policy         error: {data['policy_error']}")
    print()
    auto = data["auto_gc"]
    print(f"automatic gc   {'on' if auto['enabled'] else 'off'}: {auto['reason']}")
    print(f"last run       {_describe_run(auto['last'])}")
    print(f"next run       {auto['next']}")
    print()
    if "sizes" not in data:
        print(f"sizes          error: {data['sizes_error']}")
        return
    sizes = data["sizes"]
    rows = [
        [name, str(sizes[name]["count"]), format_bytes(sizes[name]["bytes"])]
        for name in ("spaces", "artifacts", "cache", "trash")
    ]
    total = sum(sizes[name]["count"] for name in ("spaces", "artifacts", "cache", "trash"))
    rows.append(["total", str(total), format_bytes(sizes["total_bytes"])])
    print_table(["USER DEPOT", "ENTRIES", "SIZE"], rows, right={1, 2})


def _describe_run(run: dict[str, Any] | None) -> str:
    if run is None:
        return "never"
    parts = []
    if run["error"] is not None:
        parts.append(f"error: {run['error']}")
    else:
        if run["deleted_count"] is not None:
            parts.append(f"deleted {run['deleted_count']}")
        if run["freed_bytes"] is not None:
            parts.append(f"freed {format_bytes(run['freed_bytes'])}")
        if run["orphaned_count"] is not None:
            parts.append(f"{run['orphaned_count']} orphaned")
    warned = run["warning_count"]
    parts.append(f"{warned} warning{'' if warned == 1 else 's'}")
    return f"{run['started']} ({', '.join(parts)})"


def _cmd_info(args: argparse.Namespace) -> int:
    data = gather()
    if args.json:
        print_json(data)
    else:
        _show(data)
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``config`` (with ``set`` and ``unset``) and ``info``."""
    config = commands.add_parser(
        "config", help="the user depot's gc policy: show it, or set and unset a key"
    )
    json_option(config)
    config.set_defaults(func=_cmd_config)
    keys = ", ".join(_policy.KEYS)
    actions = config.add_subparsers(dest="config_command", metavar="COMMAND")
    setter = actions.add_parser("set", help="set a key of the policy")
    setter.add_argument("key", metavar="KEY", help=keys)
    setter.add_argument("value", metavar="VALUE", help="on/off, a duration (7d), a size (2G)")
    _json_flag(setter)
    setter.set_defaults(func=_cmd_set)
    unsetter = actions.add_parser("unset", help="set a key of the policy back to its default")
    unsetter.add_argument("key", metavar="KEY", help=keys)
    _json_flag(unsetter)
    unsetter.set_defaults(func=_cmd_unset)

    info = commands.add_parser(
        "info", help="versions, depots, policy, automatic gc and sizes: for a bug report"
    )
    json_option(info)
    info.set_defaults(func=_cmd_info)
