"""``Artifacts.toml``: reading, validating and writing it in the shape Julia's Pkg writes.

A name holds either one table (the same artifact on every platform) or an array of
tables, each with platform keys (``os``, ``arch``, optionally ``libc``)::

    [dataset]
    git-tree-sha1 = "43563e7631a7eafae1f9f8d9d332e3de44ad7239"
    lazy = true

        [[dataset.download]]
        sha256 = "..."
        url = "https://example.org/dataset.tar.gz"

Files are written as Pkg writes them (keys sorted, sub-tables indented), so a file
written here reads in Julia and the other way round; keys this library does not know
(Julia's ``cxxstring_abi``, say) are kept. Every binding also records the file in
``<user depot>/logs/artifact_usage.toml``, which is how gc knows which artifacts are
still wanted.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import _depot, _fs, _usage
from ..errors import BindingExists, InvalidArtifactsToml
from ._store import check_hash

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

USAGE_NAME = "artifact_usage.toml"
USAGE_STAMPS = "artifact_usage.d"
_HEX = frozenset("0123456789abcdef")
_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_PLATFORM_KEYS = ("os", "arch", "libc")

_ARCHES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "i386": "i686",
    "i486": "i686",
    "i586": "i686",
    "i686": "i686",
    "x86": "i686",
    "armv7l": "armv7l",
    "armv7": "armv7l",
    "ppc64le": "powerpc64le",
    "powerpc64le": "powerpc64le",
}


@dataclass(frozen=True, slots=True)
class Platform:
    """A platform in Julia's names: ``Platform("linux", "x86_64", "glibc")``.

    ``os`` is one of ``linux``, ``macos``, ``windows``, ``freebsd``; ``arch`` one of
    ``x86_64``, ``aarch64``, ``i686``, ``armv7l``, ``powerpc64le``; ``libc`` (Linux only)
    ``glibc`` or ``musl``, or None to match either.
    """

    os: str
    arch: str
    libc: str | None = None

    @classmethod
    def host(cls) -> Platform:
        """Describe this machine."""
        import platform  # noqa: PLC0415 - only when a platform is asked for

        if sys.platform.startswith("linux"):
            os_name = "linux"
        elif sys.platform == "darwin":
            os_name = "macos"
        elif sys.platform in {"win32", "cygwin"}:
            os_name = "windows"
        elif sys.platform.startswith("freebsd"):
            os_name = "freebsd"
        else:
            os_name = sys.platform
        machine = platform.machine().lower()
        libc = None
        if os_name == "linux":
            libc = "glibc" if platform.libc_ver()[0] == "glibc" else "musl"
        return cls(os_name, _ARCHES.get(machine, machine), libc)

    def matches(self, entry: Mapping[str, object]) -> bool:
        """Return whether a platform-specific entry of ``Artifacts.toml`` is for this one."""
        if entry.get("os") != self.os or entry.get("arch") != self.arch:
            return False
        libc = entry.get("libc")
        return libc is None or self.libc is None or libc == self.libc

    def tags(self) -> dict[str, str]:
        """Return the keys an entry for this platform carries."""
        found = {"os": self.os, "arch": self.arch}
        if self.libc is not None:
            found["libc"] = self.libc
        return found

    def __str__(self) -> str:
        return "-".join(p for p in (self.arch, self.os, self.libc) if p)


_host: Platform | None = None


def host() -> Platform:
    """Return :meth:`Platform.host`, computed once."""
    global _host  # noqa: PLW0603 - a cache of a fact about this machine
    if _host is None:
        _host = Platform.host()
    return _host


# --- reading -------------------------------------------------------------------------------


def load(path: str) -> dict[str, Any]:
    """Return the parsed file, or ``{}`` if it does not exist.

    Raises:
        InvalidArtifactsToml: the file is not valid TOML.
        DepotError: it cannot be read.
    """
    from .. import _toml  # noqa: PLC0415

    return _toml.load_bindings(path)


def _check_hex(value: object, digits: int) -> bool:
    return isinstance(value, str) and len(value) == digits and _HEX.issuperset(value.lower())


def _check_entry(entry: object, name: str, path: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise InvalidArtifactsToml(path, name, "an entry must be a table")
    if "git-tree-sha1" not in entry:
        raise InvalidArtifactsToml(path, name, "no git-tree-sha1")
    if not _check_hex(entry["git-tree-sha1"], 40):
        raise InvalidArtifactsToml(
            path, name, f"git-tree-sha1 {entry['git-tree-sha1']!r} is not 40 hexadecimal digits"
        )
    downloads = entry.get("download", [])
    if not isinstance(downloads, list):
        raise InvalidArtifactsToml(path, name, "download must be an array of tables")
    for source in downloads:
        if not isinstance(source, dict) or not isinstance(source.get("url"), str):
            raise InvalidArtifactsToml(path, name, "each download needs a url")
        if not _check_hex(source.get("sha256"), 64):
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


def select(
    data: Mapping[str, Any], name: str, path: str, platform: Platform
) -> dict[str, Any] | None:
    """Return the entry of ``name`` for ``platform``, or None."""
    value = data.get(name)
    found = entries(data, name, path)
    if isinstance(value, dict):
        return found[0]
    return next((entry for entry in found if platform.matches(entry)), None)


def bound_hashes(path: str) -> set[str]:
    """Return every hash the file binds, on any platform.

    Raises:
        InvalidArtifactsToml: the file or one of its entries is malformed.
        OSError: it cannot be read.
    """
    data = load(path)
    return {entry["git-tree-sha1"].lower() for name in data for entry in entries(data, name, path)}


# --- writing -------------------------------------------------------------------------------


def _key(key: str) -> str:
    return key if key and _BARE_KEY.issuperset(key) else _usage.toml_string(key)


def _emit(lines: list[str], table: Mapping[str, Any], header: list[str], indent: str) -> None:
    """Append ``table`` as TOML, Pkg's way: scalars sorted first, then sub-tables indented."""
    import tomli_w  # noqa: PLC0415 - only when writing

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


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Hold the user depot's log lock: bindings and gc's reading of them never interleave.

    A depot that cannot hold a lock (read-only) costs a warning, not the binding.
    """
    depot = _depot.user_depot_string()
    lock = None
    try:
        os.makedirs(_usage.logs_dir(depot), exist_ok=True)
        lock = _usage.log_lock(depot)
        lock.acquire()
    except OSError as exc:
        lock = None
        from .._warn import warn_once  # noqa: PLC0415

        warn_once("bind-lock", f"cannot lock {_usage.logs_dir(depot)} ({exc}); binding anyway")
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


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
        entry.update(platform.tags())
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
    entry = _entry(path, name, check_hash(hash_), download_info, lazy=lazy, platform=platform)
    with _locked():
        data = load(path)
        current = data.get(name)
        if current is not None:
            entries(data, name, path)  # a malformed entry is reported, not overwritten
        if current is None or (force and (platform is None or isinstance(current, dict))):
            data[name] = [entry] if platform is not None else entry
        elif platform is None or isinstance(current, dict):
            raise BindingExists(path, name)
        else:
            same = [i for i, e in enumerate(current) if _same_platform(e, platform)]
            if same and not force:
                raise BindingExists(path, f"{name} ({platform})")
            for index in reversed(same):
                del current[index]
            current.append(entry)
        _fs.atomic_write(path, dumps(data).encode("utf-8"))
        record_usage(path, locked=True, force=True)


def _same_platform(entry: Mapping[str, object], platform: Platform) -> bool:
    return all(entry.get(key) == value for key, value in platform.tags().items()) and (
        platform.libc is not None or "libc" not in entry
    )


def unbind(path: str, name: str, *, platform: Platform | None) -> None:
    """Remove a binding; see :func:`scratchspaces.artifacts.unbind_artifact`."""
    with _locked():
        data = load(path)
        current = data.get(name)
        if current is None:
            return
        if platform is None or isinstance(current, dict):
            del data[name]
        else:
            kept = [e for e in current if not (isinstance(e, dict) and _same_platform(e, platform))]
            if len(kept) == len(current):
                return
            if kept:
                data[name] = kept
            else:
                del data[name]
        _fs.atomic_write(path, dumps(data).encode("utf-8"))


# --- the usage log -------------------------------------------------------------------------


def usage_path(depot: str) -> str:
    """Return ``<depot>/logs/artifact_usage.toml``."""
    return os.path.join(_usage.logs_dir(depot), USAGE_NAME)


def recorded(depot: str) -> dict[str, datetime]:
    """Return each recorded ``Artifacts.toml`` that still exists -> its latest record."""
    from .. import _records  # noqa: PLC0415 - the log's reader, only when reading it

    latest: dict[str, datetime] = {}
    for record in _records.read_records(usage_path(depot)):
        toml = os.path.normpath(record.space)
        if toml not in latest or record.time > latest[toml]:
            latest[toml] = record.time
    return {toml: when for toml, when in latest.items() if os.path.isfile(toml)}


def stamp_path(depot: str, toml: str) -> str:
    """Return the stamp whose mtime says when ``toml`` was last recorded."""
    return os.path.join(_usage.logs_dir(depot), USAGE_STAMPS, _usage.parent_hash(toml))


def record_usage(path: str, *, locked: bool = False, force: bool = False) -> None:
    """Record in the usage log that the ``Artifacts.toml`` at ``path`` is in use.

    At most once a day per file unless ``force``; never raises (one warning instead).
    ``SCRATCHSPACES_TRACK_ACCESS=0`` turns off the records of use, not those of
    bindings (``force``): without them gc would take every bound artifact for an orphan.
    """
    if not force and not _depot.tracking_enabled():
        return
    depot = _depot.user_depot_string()
    stamp = stamp_path(depot, path)
    now = time.time()
    if not force:
        with contextlib.suppress(OSError):
            if now - os.stat(stamp).st_mtime < _usage.DAY:
                return
    try:
        with contextlib.nullcontext() if locked else _locked():
            os.makedirs(os.path.dirname(stamp), exist_ok=True)
            _usage.append(usage_path(depot), _usage.format_record(path, now))
            with open(stamp, "wb"):
                pass
            os.utime(stamp, (now, now))
    except OSError as exc:
        from .._warn import warn_once  # noqa: PLC0415

        warn_once(
            "tracking-artifacts",
            f"could not record the use of {path} in {usage_path(depot)} ({exc}); "
            "gc may treat its artifacts as unused",
        )
