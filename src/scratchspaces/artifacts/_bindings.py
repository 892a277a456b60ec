"""``Artifacts.toml``: reading, validating and writing it in the shape Julia's Pkg writes.

A name holds either one table (the same artifact on every platform) or an array of
tables, each with platform keys (``os``, ``arch``, and any other string-valued tag such
as ``libc``, ``libgfortran_version`` or ``julia_version``)::

    [dataset]
    git-tree-sha1 = "43563e7631a7eafae1f9f8d9d332e3de44ad7239"
    lazy = true

        [[dataset.download]]
        sha256 = "..."
        url = "https://example.org/dataset.tar.gz"

Files are written as Pkg writes them (keys sorted, sub-tables indented), so a file
written here reads in Julia and the other way round; keys this library does not know
are kept. Which entry serves a platform is decided as Julia decides it
(:mod:`._platform_match`); binding or unbinding for a platform replaces or removes only
the entries bound for exactly that platform, every tag compared. Every binding also
records the file in the artifacts' usage log (:mod:`._usage`), which is how gc knows
which artifacts are still wanted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import _fs, _names, _records, _toml
from ..errors import BindingExists, InvalidArtifactsToml
from . import _usage
from ._platform import Platform, from_entry
from ._platform_match import platforms_match, rank

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


# --- reading -------------------------------------------------------------------------------


def _check_entry(entry: object, name: str, path: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise InvalidArtifactsToml(path, name, "an entry must be a table")
    if "git-tree-sha1" not in entry:
        raise InvalidArtifactsToml(path, name, "no git-tree-sha1")
    if not _names.is_hex(entry["git-tree-sha1"], 40):
        raise InvalidArtifactsToml(
            path, name, f"git-tree-sha1 {entry['git-tree-sha1']!r} is not 40 hexadecimal digits"
        )
    downloads = entry.get("download", [])
    if not isinstance(downloads, list):
        raise InvalidArtifactsToml(path, name, "download must be an array of tables")
    for source in downloads:
        if not isinstance(source, dict) or not isinstance(source.get("url"), str):
            raise InvalidArtifactsToml(path, name, "each download needs a url")
        if not _names.is_hex(source.get("sha256"), 64):
            raise InvalidArtifactsToml(
                path, name, f"download {source['url']!r}: sha256 is not 64 hexadecimal digits"
            )
        size = source.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise InvalidArtifactsToml(path, name, f"download {source['url']!r}: bad size")
    return entry


def entries(data: Mapping[str, Any], name: str, path: str) -> list[dict[str, Any]]:
    """Return the entries bound to ``name`` (one per platform), validated.

    Raises:
        InvalidArtifactsToml: the name holds neither a table nor an array of tables, an
            entry has no ``git-tree-sha1``, or a hash is not hex of the right length.
    """
    value = data.get(name)
    if value is None:
        return []
    if isinstance(value, dict):
        return [_check_entry(value, name, path)]
    if isinstance(value, list):
        checked = [_check_entry(entry, name, path) for entry in value]
        for entry in checked:
            if not isinstance(entry.get("os"), str) or not isinstance(entry.get("arch"), str):
                raise InvalidArtifactsToml(
                    path, name, "each entry of an array needs os and arch keys"
                )
        return checked
    raise InvalidArtifactsToml(path, name, "neither a table nor an array of tables")


def _platforms(found: list[dict[str, Any]], name: str, path: str) -> list[Platform]:
    try:
        return [from_entry(entry) for entry in found]
    except ValueError as exc:
        raise InvalidArtifactsToml(path, name, str(exc)) from exc


def select(
    data: Mapping[str, Any], name: str, path: str, platform: Platform
) -> dict[str, Any] | None:
    """Return the entry of ``name`` that best serves ``platform``, or None.

    Raises:
        InvalidArtifactsToml: an entry is malformed, or has a tag Julia would refuse.
    """
    value = data.get(name)
    found = entries(data, name, path)
    if isinstance(value, dict):
        return found[0]
    # Entries bound for one platform: the last one wins, as in Julia's Dict of them.
    by_platform = dict(zip(_platforms(found, name, path), found, strict=True))
    try:
        ranked = rank(list(by_platform), platform)
    except ValueError as exc:
        raise InvalidArtifactsToml(path, name, str(exc)) from exc
    return by_platform[ranked[0]] if ranked else None


def bound_hashes(path: str) -> set[str]:
    """Return every hash the file binds, on any platform.

    Raises:
        InvalidArtifactsToml: the file or one of its entries is malformed.
        OSError: it cannot be read.
    """
    data = _toml.load_bindings(path)
    return {entry["git-tree-sha1"].lower() for name in data for entry in entries(data, name, path)}


# --- writing -------------------------------------------------------------------------------


def _key(key: str) -> str:
    return key if key and _BARE_KEY.issuperset(key) else _records.toml_string(key)


def _emit(lines: list[str], table: Mapping[str, Any], header: list[str], indent: str) -> None:
    """Append ``table`` as TOML, Pkg's way: scalars sorted first, then sub-tables indented."""
    import tomli_w  # noqa: PLC0415 - a TOML writer only when a file is written

    tables = []
    for key in sorted(table):
        value = table[key]
        if isinstance(value, dict) or (
            isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        ):
            tables.append(key)
        else:
            lines.append(indent + tomli_w.dumps({key: value}).rstrip("\n"))
    for key in tables:
        value = table[key]
        path = [*header, _key(key)]
        for sub in value if isinstance(value, list) else [value]:
            if lines and lines[-1] != "":
                lines.append("")
            sub_indent = indent + "    " if header else indent
            brackets = ("[[", "]]") if isinstance(value, list) else ("[", "]")
            lines.append(sub_indent + brackets[0] + ".".join(path) + brackets[1])
            _emit(lines, sub, path, sub_indent)


def dumps(data: Mapping[str, Any]) -> str:
    """Return ``data`` as the text of an ``Artifacts.toml``."""
    lines: list[str] = []
    for name in sorted(data):
        value = data[name]
        for entry in value if isinstance(value, list) else [value]:
            if lines:
                lines.append("")
            lines.append(f"[[{_key(name)}]]" if isinstance(value, list) else f"[{_key(name)}]")
            _emit(lines, entry, [_key(name)], "")
    return "\n".join(lines) + "\n" if lines else ""


def _entry(
    path: str,
    name: str,
    hash_: str,
    download_info: Sequence[tuple[str, str] | tuple[str, str, int]] | None,
    *,
    lazy: bool,
    platform: Platform | None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"git-tree-sha1": hash_}
    if platform is not None:
        entry.update(platform.tags)
    if lazy:
        entry["lazy"] = True
    if download_info:
        sources = []
        for info in download_info:
            if not isinstance(info, tuple | list) or len(info) not in {2, 3}:
                reason = f"download_info entries are (url, sha256[, size]), not {info!r}"
                raise InvalidArtifactsToml(path, name, reason)
            source: dict[str, Any] = {"url": info[0], "sha256": info[1]}
            if len(info) == 3:
                source["size"] = info[2]
            sources.append(source)
        entry["download"] = sources
    # What is written must read back: the same checks as for a file read from disk.
    _check_entry(entry, name, path)
    for source in entry.get("download", []):
        source["sha256"] = source["sha256"].lower()
    return entry


def bind(
    path: str,
    name: str,
    hash_: str,
    *,
    download_info: Sequence[tuple[str, str] | tuple[str, str, int]] | None,
    lazy: bool,
    force: bool,
    platform: Platform | None,
) -> None:
    """Write a binding; see :func:`scratchspaces.artifacts.bind_artifact`."""
    if not isinstance(name, str) or not name:
        raise InvalidArtifactsToml(path, repr(name), "an artifact name is a non-empty string")
    entry = _entry(
        path, name, _names.check_hash(hash_), download_info, lazy=lazy, platform=platform
    )
    with _usage.locked():
        data = _toml.load_bindings(path)
        current = data.get(name)
        if current is not None:
            entries(data, name, path)  # a malformed entry is reported, not overwritten
        if current is None or (force and (platform is None or isinstance(current, dict))):
            data[name] = [entry] if platform is not None else entry
        elif platform is None or isinstance(current, dict):
            raise BindingExists(path, name)
        else:
            bound = _platforms(current, name, path)
            if not force and any(platforms_match(platform, p) for p in bound):
                raise BindingExists(path, f"{name} ({platform})")
            # Only entries bound for exactly this platform go: a libgfortran_version or
            # sanitize variant of it stays.
            data[name] = [e for e, p in zip(current, bound, strict=True) if p != platform]
            data[name].append(entry)
        _fs.atomic_write(path, dumps(data).encode("utf-8"))
        _usage.record_usage(path, locked_already=True, binding=True)


def unbind(path: str, name: str, *, platform: Platform | None) -> None:
    """Remove a binding; see :func:`scratchspaces.artifacts.unbind_artifact`."""
    with _usage.locked():
        data = _toml.load_bindings(path)
        current = data.get(name)
        if current is None:
            return
        if platform is None or isinstance(current, dict):
            del data[name]
        else:
            bound = _platforms(entries(data, name, path), name, path)
            kept = [e for e, p in zip(current, bound, strict=True) if p != platform]
            if len(kept) == len(current):
                return
            if kept:
                data[name] = kept
            else:
                del data[name]
        _fs.atomic_write(path, dumps(data).encode("utf-8"))
