"""The distributions the running environment sees, per ``sys.path`` entry.

Each entry's names are taken once per process from the import system, which listed the
entry to import from it (else listed here). A distribution is found by name with one
pattern search over those names, without indexing every ``.dist-info``: this runs
inside other packages' imports, in environments of thousands of distributions. A
distribution's ``RECORD`` is read only when a file in that entry must be attributed,
best guesses first (see :mod:`._identity`), and each at most once per process: ``RECORD``
is authoritative. Editable installs are found from their ``direct_url.json`` (PEP 610),
read once per process and only when needed.
"""

from __future__ import annotations

import os
import re
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs more than this module
if TYPE_CHECKING:
    from collections.abc import Collection


def normalize(name: str) -> str:
    """PEP 503 normalization (runs of ``-_.`` become ``-``), without validating."""
    name = name.lower().replace("_", "-").replace(".", "-")
    while "--" in name:
        name = name.replace("--", "-")
    return name


def _name_pattern(name: str) -> re.Pattern[str]:
    """Match the ``.dist-info`` entries of normalized ``name``, NUL-separated, any case.

    Explicit ``[aA]`` classes rather than ``re.IGNORECASE``, which costs a millisecond to
    compile; a version never holds ``-`` (installers escape it), a name may (old wheels).
    """
    parts = []
    for char in name:
        if char == "-":
            parts.append("[-_.]+")
        elif char.isalpha():
            parts.append(f"[{char}{char.upper()}]")
        else:
            parts.append(re.escape(char))
    return re.compile("\\0(" + "".join(parts) + "-[^\\0-]*\\.dist-info)(?=\\0)")


class SiteDir:
    """The distributions installed in one ``sys.path`` entry, read lazily."""

    __slots__ = ("_dirs", "_files", "_joined", "_names", "_records_read", "path")

    def __init__(self, path: str, names: Collection[str]) -> None:
        self.path = path
        self._names = names  # every entry of the directory, not only distributions
        self._joined = "\0" + "\0".join(names) + "\0"  # searched by name in one pass
        self._files: dict[str, str] = {}  # RECORD path -> dist-info
        self._dirs: dict[str, set[str]] = {}  # directory in a RECORD -> dist-infos
        self._records_read: set[str] = set()

    def has_distributions(self) -> bool:
        """Whether any ``.dist-info`` is among the names."""
        return ".dist-info\0" in self._joined

    def dist_infos(self, name: str) -> list[str]:
        """Return the ``.dist-info`` names of normalized ``name`` (more than one if broken)."""
        return _name_pattern(name).findall(self._joined)

    def _read_record(self, dist_info: str) -> None:
        # Marked read only once indexed: a thread that finds it marked must also find its
        # files. Two threads may both read it; indexing is idempotent.
        if dist_info in self._records_read:
            return
        try:
            with open(os.path.join(self.path, dist_info, "RECORD"), encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            self._records_read.add(dist_info)
            return
        for line in text.splitlines():
            entry = record_path(line)
            if not entry or entry.startswith(("../", "/")):
                continue
            self._files.setdefault(entry, dist_info)
            head = entry.rpartition("/")[0]
            while head:
                owners = self._dirs.setdefault(head, set())
                if dist_info in owners:
                    break
                owners.add(dist_info)
                head = head.rpartition("/")[0]
        self._records_read.add(dist_info)

    def _guesses(self, rel: str) -> list[str]:
        """Dist-infos whose name the path ``rel`` suggests, best guesses first."""
        parts = rel.split("/")
        dirs = parts[:-1]
        stem = parts[-1].split(".", 1)[0]
        names = [*dirs, stem] if stem != "__init__" else dirs
        guesses: list[str] = []
        if names:
            guesses.append(names[0])
            # namespace packages: google/cloud/storage -> google-cloud-storage, protobuf
            guesses.extend("-".join(names[:k]) for k in range(len(names), 1, -1))
            guesses.extend(names[1:])
        ordered: list[str] = []
        for guess in guesses:
            for dist_info in self.dist_infos(normalize(guess)):
                if dist_info not in ordered:
                    ordered.append(dist_info)
        return ordered

    def _nearest(self, rel: str) -> list[str]:
        """Every dist-info, those created nearest to ``rel``'s top-level entry first.

        An installer writes a wheel's files and then its ``.dist-info``, so their inode
        numbers are close on common filesystems (PyYAML's ``yaml``, beautifulsoup4's
        ``bs4``). Only an order: the ``RECORD`` decides. The numbers come with the
        listing on POSIX; elsewhere the listing's order is kept.
        """
        top = rel.split("/", 1)[0]
        inodes: dict[str, int] = {}
        try:
            with os.scandir(self.path) as listing:
                for entry in listing:
                    if entry.name == top or entry.name.endswith(".dist-info"):
                        inodes[entry.name] = entry.inode() if os.name == "posix" else 0
        except OSError:
            pass
        here = inodes.pop(top, 0)
        return sorted(inodes, key=lambda d: abs(inodes[d] - here))

    def owner_of(self, rel: str) -> str | None:
        """Return the dist-info whose RECORD lists ``rel`` (a ``/``-separated path)."""
        found = self._files.get(rel)
        if found is not None:
            return found
        # Best guesses first, then every other RECORD, nearest first, stopping at the
        # owner. Each is read once per process.
        lazily = (self._guesses, self._nearest)
        for dist_info in (d for source in lazily for d in source(rel)):
            self._read_record(dist_info)
            found = self._files.get(rel)
            if found is not None:
                return found
        # A file no RECORD lists (written at run time): the innermost directory that
        # exactly one distribution owns. A shared namespace directory decides nothing.
        head = rel.rpartition("/")[0]
        while head:
            owners = self._dirs.get(head)
            if owners and len(owners) == 1:
                return next(iter(owners))
            head = head.rpartition("/")[0]
        return None

    def all(self) -> list[str]:
        """Every dist-info directory name of this entry."""
        return [name for name in self._names if name.endswith(".dist-info")]

    def owners_of_dir(self, rel_dir: str) -> set[str]:
        """Return every dist-info with a file under ``rel_dir``."""
        for dist_info in self.all():
            self._read_record(dist_info)
        return set(self._dirs.get(rel_dir, ()))


def record_path(line: str) -> str:
    """Return the path column of a RECORD line (CSV: path,hash,size)."""
    if line.startswith('"'):
        # CSV-quoted path (it holds a comma or a quote): "a,""b"".py",sha256=...,12
        end = 1
        while True:
            end = line.find('"', end)
            if end < 0:
                return ""
            if line.startswith('""', end):
                end += 2
                continue
            return line[1:end].replace('""', '"')
    return line.rsplit(",", 2)[0] if line.count(",") >= 2 else line.partition(",")[0]


sites: dict[str, SiteDir | None] = {}


def _names_of(path: str) -> Collection[str]:
    """Return the entries of directory ``path``, as the import system last listed them.

    Importing from an entry lists it (``FileFinder``); a package resolving its own file
    was imported from there, so its listing is at hand. It is used only while the
    directory's mtime is the one it was listed at, as the finder itself checks before
    trusting it. Anything else: a listing of our own.
    """
    finder = sys.path_importer_cache.get(path)
    # FileFinder's listing and the mtime it was made at, since Python 3.3.
    names = getattr(finder, "_path_cache", None)
    listed_at = getattr(finder, "_path_mtime", None)
    try:
        if isinstance(names, set) and names and os.stat(path).st_mtime == listed_at:
            return names
        return os.listdir(path)
    except OSError:
        return []


def site(path: str) -> SiteDir | None:
    """Return the distributions of one ``sys.path`` entry, or None if it has none."""
    if path in sites:
        return sites[path]
    found = SiteDir(path, _names_of(path))
    sites[path] = found if found.has_distributions() else None
    return sites[path]


def cwd() -> str | None:
    """Return the current directory, or None if it was deleted under us."""
    try:
        return os.getcwd()
    except OSError:
        return None


def sys_path() -> list[str]:
    """Return the ``sys.path`` entries as absolute paths (``""`` is the current directory)."""
    here = cwd()
    found: list[str] = []
    for entry in sys.path:
        if isinstance(entry, str) and entry:
            found.append(os.path.abspath(entry))
        elif entry == "" and here is not None:
            found.append(here)
    return found


_by_name: dict[str, str | None] = {}


def installed_dist_info(name: str) -> str | None:
    """Return the ``.dist-info`` of distribution ``name`` in the running environment.

    The first ``sys.path`` entry holding it wins, as for ``importlib.metadata``.
    """
    key = normalize(name)
    if key in _by_name:
        return _by_name[key]
    found = None
    for entry in sys_path():
        listed = site(entry)
        found_here = listed.dist_infos(key) if listed is not None else []
        if found_here:
            found = os.path.join(entry, found_here[0])
            break
    _by_name[key] = found
    return found


def namespace_of_dist_info(dist_info: str) -> str:
    """Return the normalized name of the distribution a ``.dist-info`` path is of."""
    base = os.path.basename(dist_info)
    return normalize(base[: -len(".dist-info")].rsplit("-", 1)[0])


def editable_project(dist_info: str) -> str | None:
    """Return the project directory of an editable install (PEP 610), else None."""
    import json  # noqa: PLC0415 - only for files outside site-packages
    from urllib.parse import unquote, urlsplit  # noqa: PLC0415 - only for editable installs

    try:
        with open(os.path.join(dist_info, "direct_url.json"), "rb") as f:
            data = json.load(f)
        info, url = data["dir_info"], data["url"]
        if not (info.get("editable") is True and url.startswith("file:")):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    project = unquote(urlsplit(url).path)
    if os.name == "nt" and project.startswith("/") and project[2:3] == ":":
        project = project[1:]  # file:///C:/x -> C:/x
    return os.path.abspath(project)


# (project directory, dist-info path) of every editable install; None until first needed.
_editables: list[tuple[str, str]] | None = None


def editables() -> list[tuple[str, str]]:
    """Return (project directory, dist-info path) of every editable install (PEP 610).

    Reads every ``direct_url.json`` once per process: only for a file with no
    ``pyproject.toml`` above it (a ``setup.py`` project installed with ``pip -e``).
    """
    global _editables  # noqa: PLW0603 - a per-process cache, filled once
    if _editables is None:
        found = []
        for entry in sys_path():
            entry_site = site(entry)
            for dist_info in entry_site.all() if entry_site is not None else ():
                path = os.path.join(entry, dist_info)
                project = editable_project(path)
                if project is not None:
                    found.append((project, path))
        _editables = found
    return _editables


def forget() -> None:
    """Forget every listing and resolution (after installing or removing distributions)."""
    global _editables  # noqa: PLW0603 - resets the per-process cache above
    sites.clear()
    _by_name.clear()
    _editables = None
