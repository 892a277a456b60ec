"""``scratchspaces cache ...``: list and recycle the content cache's entries."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .. import _collect, _depot
from ..cache import _store
from . import _reports
from ._output import (
    command_group,
    delay_option,
    format_bytes,
    json_option,
    plural,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    import argparse
    from pathlib import Path


def store() -> str:
    """Return the user depot's store (whether or not it exists)."""
    return _store.store_of_depot(_depot.user_depot_string())


def entries_root(depot: str) -> str:
    """Return ``<store>/artifacts`` of ``depot``: what tells a cache entry from a space."""
    return os.path.join(_store.store_of_depot(depot), _store.ENTRIES_DIR)


def is_entry(path: Path, depot: str) -> bool:
    """Return whether ``path`` (from a GCReport) is one of ``depot``'s cache entries."""
    return str(path.parent.parent) == entries_root(depot)


def orphans(depot: str) -> dict[str, datetime]:
    """Return entry path -> when recycling first saw it orphaned."""
    root = _store.store_of_depot(depot)
    orphans = _collect.read_orphanage(_store.orphanage_path(root))
    return {_store.entry_path(root, i): when for i, when in orphans.items()}


def _who(toml: str, binding_spaces: str) -> str:
    """Return the package a binding file belongs to, or the file's path."""
    if os.path.dirname(os.path.dirname(toml)) == binding_spaces:
        return os.path.basename(os.path.dirname(toml))
    return toml


def describe() -> list[dict[str, Any]]:
    """Return one description per entry: id, kind, path, bytes, bindings, orphaned since.

    Bindings are ``bound_by``: ``{"file", "name"}``, and ``"through"`` the directory
    entry a file entry is bound through.
    """
    from ..cache import _recycle  # noqa: PLC0415 - the readers only here

    root = store()
    standing, _damaged, _unknown = _recycle.survey(
        root, _recycle.Bindings(), datetime.now(timezone.utc)
    )
    via: dict[str, list[dict[str, str]]] = {}
    for id_, uses in standing.items():
        for use, (_when, files) in uses.items():
            for file in files:
                via.setdefault(file, []).append(
                    {"file": use.toml, "name": use.name, "through": id_}
                )
    orphans = _collect.read_orphanage(_store.orphanage_path(root))
    found = []
    for id_, path in sorted(_store.entries_on_disk(root).items()):
        bound: list[dict[str, str]] = [
            {"file": use.toml, "name": use.name} for use in sorted(standing.get(id_, {}))
        ]
        since = orphans.get(id_)
        found.append(
            {
                "id": id_,
                "kind": _store.kind_of(path),
                "path": path,
                "bytes": _store.entry_size(path),
                "bound_by": bound + via.get(id_, []),
                "orphaned_since": since.isoformat() if since else None,
            }
        )
    return found


def cmd_list(args: argparse.Namespace) -> int:
    found = describe()
    if args.json:
        print_json(found)
        return 0
    if not found:
        print(f"The content cache at {store()} is empty.")
        return 0
    spaces = os.path.dirname(store())
    rows = []
    for entry in found:
        names = [
            f"{b['name']} ({_who(b['file'], spaces)}"
            + (f", in {b['through'][:12]}…)" if "through" in b else ")")
            for b in entry["bound_by"]
        ]
        if not names:
            since = entry["orphaned_since"]
            names = [f"(orphaned since {since[:10]})" if since else "(unbound)"]
        rows.append([entry["id"], entry["kind"], format_bytes(entry["bytes"]), ", ".join(names)])
    print_table(["ENTRY", "KIND", "SIZE", "BOUND AS (PACKAGE OR FILE)"], rows, right={2})
    return 0


def cmd_recycle(args: argparse.Namespace) -> int:
    from ..cache import _recycle  # noqa: PLC0415 - the recycling only here

    root = store()
    report = _recycle.recycle(root, collect_delay=args.collect_delay, dry_run=args.dry_run)
    if args.json:
        trash = [os.path.join(root, _depot.TRASH_DIR)]
        places = _reports.Places(_depot.depot_strings())
        failed = _reports.failures_left(trash, dry_run=args.dry_run)
        print_json(_reports.report_json(report, places, dry_run=args.dry_run, failed=failed))
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    for path, size in sorted(report.deleted.items()):
        print(f"{verb} {path} ({format_bytes(size)})")
    summary = (
        f"{verb.capitalize()} {plural(len(report.deleted), 'entry', 'entries')} "
        f"({format_bytes(report.freed_bytes)})"
    )
    if report.orphaned:
        summary += f"; {len(report.orphaned)} orphaned, kept for now"
    print(f"{summary}; {len(report.kept)} bound.")
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cache`` and its subcommands."""
    sub = command_group(commands, "cache", "the content cache")

    listing = sub.add_parser("list", help="entry, kind, size, and the names that bind it")
    json_option(listing)
    listing.set_defaults(func=cmd_list)

    recycle = sub.add_parser("recycle", help="delete the entries nothing has bound for a while")
    delay_option(recycle, "how long an unbound entry is kept")
    recycle.add_argument("--dry-run", action="store_true", help="report, change nothing")
    json_option(recycle)
    recycle.set_defaults(func=cmd_recycle)
