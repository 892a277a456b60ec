"""``scratchspaces artifacts ...``: list, verify, archive, install, remove and publish artifacts."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from .. import _depot, _fs, _names, _progress, _toml
from .._depot import ARTIFACTS_DIR
from ..errors import ScratchspacesError
from ._output import command_group, format_bytes, json_option, print_json, print_table

if TYPE_CHECKING:
    import argparse


def bindings_by_hash() -> dict[str, list[dict[str, str]]]:
    """Return hash -> ``{"file": <Artifacts.toml>, "name": <name>}`` for every recorded file.

    A file that is gone or cannot be read binds nothing shown.
    """
    from ..artifacts import _bindings, _usage  # noqa: PLC0415 - the artifacts' code only here

    found: dict[str, list[dict[str, str]]] = {}
    for toml in sorted(_usage.recorded(_depot.user_depot_string()).usage):
        try:
            data = _toml.load_bindings(toml)
            for name in data:
                for entry in _bindings.entries(data, name, toml):
                    binding = {"file": toml, "name": name}
                    found.setdefault(entry["git-tree-sha1"].lower(), []).append(binding)
        except (ValueError, OSError):
            continue  # gone or broken: it binds nothing we can show
    return found


def installed_in(depot: str) -> list[tuple[str, str]]:
    """Return (hash, path) of every artifact in one depot."""
    from ..artifacts import _store  # noqa: PLC0415 - the artifacts' code only here

    root = os.path.join(depot, ARTIFACTS_DIR)
    return [(h, os.path.join(root, h)) for h in _store.installed_hashes(root)]


def installed() -> list[tuple[str, str]]:
    """Return (hash, path) of every artifact in every depot, the user depot's first."""
    from ..artifacts import _store  # noqa: PLC0415 - the artifacts' code only here

    seen: set[str] = set()
    found = []
    for root in _store.roots():
        for hash_ in _store.installed_hashes(root):
            if hash_ not in seen:
                seen.add(hash_)
                found.append((hash_, os.path.join(root, hash_)))
    return found


def cmd_list(args: argparse.Namespace) -> int:
    bound = bindings_by_hash()
    rows = [(h, p, _fs.tree_size(p), bound.get(h, [])) for h, p in installed()]
    if args.json:
        print_json([{"hash": h, "path": p, "bytes": n, "bound_by": b} for h, p, n, b in rows])
        return 0
    table = [
        [h, format_bytes(n), ", ".join(f"{b['file']}: {b['name']}" for b in bound) or "(unbound)"]
        for h, _p, n, bound in rows
    ]
    print_table(["HASH", "SIZE", "BOUND BY"], table, right={1})
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from ..artifacts import _install  # noqa: PLC0415 - the artifacts' code only here

    targets = [(args.hash.lower(), _install.locate(args.hash))] if args.hash else installed()
    bad = 0
    checked: list[dict[str, Any]] = []
    with _progress.task("Verifying artifacts", len(targets)) as advance:
        for hash_, path in targets:
            bad += _verify_one(args, hash_, path, checked)
            advance(1)
    if args.json:
        print_json({"checked": checked, "corrupt": bad})
    if bad:
        print(f"scratchspaces: error: {bad} of {len(targets)} corrupt", file=sys.stderr)
        return 1
    return 0


def _verify_one(args: argparse.Namespace, hash_: str, path: str, checked: list[Any]) -> bool:
    """Hash the artifact ``hash_`` at ``path``, note it in ``checked``; return if corrupt."""
    from .. import _treehash  # noqa: PLC0415 - hashing only here

    error = None
    try:
        actual: str | None = _treehash.tree_hash(path)
    except (ValueError, OSError) as exc:  # a FIFO, an unreadable file
        actual, error = None, str(exc)
    ok = actual == hash_
    checked.append(
        {
            "hash": hash_,
            "path": path,
            "status": "ok" if ok else "corrupt",
            "content_hash": actual,
            "error": error,
        }
    )
    if not args.json:
        if ok:
            print(f"ok       {hash_}")
        else:
            found = actual if error is None else f"nothing: {error}"
            print(f"CORRUPT  {hash_}  (content hashes to {found}): {path}")
    return not ok


def cmd_archive(args: argparse.Namespace) -> int:
    from ..artifacts import archive_artifact  # noqa: PLC0415 - the artifacts' code only here

    out = os.path.abspath(args.out)
    if not args.force:
        folder = os.path.dirname(out)
        if os.path.lexists(out):
            raise ScratchspacesError(f"{out} exists; --force overwrites it")
        if not os.path.isdir(folder):
            raise ScratchspacesError(f"no folder {folder}; --force creates it")
    sha256 = archive_artifact(args.hash, out)
    if args.json:
        print_json(
            {
                "hash": args.hash.lower(),
                "path": out,
                "bytes": os.path.getsize(out),
                "sha256": sha256,
            }
        )
    else:
        print(sha256)
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    """Install, or check the copy a depot has: a corrupt one is installed again or refused."""
    from ..artifacts import (  # noqa: PLC0415 - the artifacts' code only here
        _store,
        artifact_hash,
        ensure_artifact_installed,
        remove_artifact,
        verify_artifact,
    )

    hash_ = artifact_hash(args.name, args.toml)
    path = _store.find(hash_) if hash_ is not None else None
    repaired = False
    if hash_ is not None and path is not None and not verify_artifact(hash_):
        if os.path.dirname(path) != _store.user_root():
            raise ScratchspacesError(
                f"artifact {hash_} at {path} is corrupt, in a depot this library never "
                "writes (a later entry of SCRATCHSPACES_DEPOT_PATH): not installed"
            )
        remove_artifact(hash_)
        repaired = True
        print(f"scratchspaces: {hash_} was corrupt: installing it again", file=sys.stderr)
    installed_at = ensure_artifact_installed(args.name, args.toml)
    if args.json:
        print_json(
            {
                "name": args.name,
                "file": os.path.abspath(args.toml),
                "hash": installed_at.name,
                "path": str(installed_at),
                "bytes": _fs.tree_size(installed_at),
                "installed": path is None or repaired,
                "repaired": repaired,
            }
        )
    else:
        print(installed_at)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from ..artifacts import _store, remove_artifact  # noqa: PLC0415 - the artifacts' code only here

    hash_ = _names.check_hash(args.hash)  # before it names a path
    path = os.path.join(_store.user_root(), hash_)
    size = _fs.tree_size(path) if os.path.isdir(path) else None
    failed: list[dict[str, str]] = []
    if size is not None and not args.dry_run:
        try:
            remove_artifact(hash_)
        except (ScratchspacesError, OSError) as exc:
            if not args.json:
                raise
            failed.append({"path": path, "error": str(exc)})
    if args.json:
        deleted = (
            []
            if size is None or failed
            else [{"path": path, "bytes": size, "kind": "artifact", "hash": hash_}]
        )
        print_json(
            {
                "dry_run": args.dry_run,
                "deleted": deleted,
                "failed": failed,
                "freed_bytes": sum(d["bytes"] for d in deleted),
            }
        )
        if failed:
            print(f"scratchspaces: error: {failed[0]['error']}", file=sys.stderr)
        return 1 if failed else 0
    if size is None:
        print(f"nothing to remove: {hash_} is not in {_store.user_root()}")
    else:
        verb = "would remove" if args.dry_run else "removed"
        print(f"{verb} {hash_} ({format_bytes(size)})")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from ..artifacts import publish_artifact  # noqa: PLC0415 - the artifacts' code only here

    url, sha256 = publish_artifact(args.hash, args.url)
    if args.json:
        print_json({"hash": args.hash.lower(), "url": url, "sha256": sha256})
    else:
        print(f"{url} {sha256}")
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``artifacts`` and its subcommands."""
    sub = command_group(commands, "artifacts", "the artifact store")

    listing = sub.add_parser("list", help="hash, size, and which Artifacts.toml files bind it")
    json_option(listing)
    listing.set_defaults(func=cmd_list)

    verify = sub.add_parser("verify", help="re-hash installed artifacts (exit 1 if corrupt)")
    verify.add_argument("hash", nargs="?", metavar="HASH", help="only this one")
    json_option(verify)
    verify.set_defaults(func=cmd_verify)

    archive = sub.add_parser("archive", help="write a deterministic tarball; print its sha256")
    archive.add_argument("hash", metavar="HASH")
    archive.add_argument("out", metavar="OUT", help="the .tar.gz to write")
    archive.add_argument(
        "--force", action="store_true", help="overwrite OUT, create its folder if missing"
    )
    json_option(archive)
    archive.set_defaults(func=cmd_archive)

    install = sub.add_parser(
        "install",
        help="install an artifact bound in an Artifacts.toml (a corrupt copy: again)",
    )
    install.add_argument("name", metavar="NAME")
    install.add_argument("--toml", required=True, metavar="FILE", help="the Artifacts.toml")
    json_option(install)
    install.set_defaults(func=cmd_install)

    remove = sub.add_parser(
        "remove", help="remove an artifact from the user depot (a bound one installs again)"
    )
    remove.add_argument("hash", metavar="HASH")
    remove.add_argument("--dry-run", action="store_true", help="say what would be removed")
    json_option(remove)
    remove.set_defaults(func=cmd_remove)

    publish = sub.add_parser("publish", help="archive and upload to a folder URL")
    publish.add_argument("hash", metavar="HASH")
    publish.add_argument("url", metavar="URL", help="file:///dir, s3://bucket/prefix, ...")
    json_option(publish)
    publish.set_defaults(func=cmd_publish)
