"""Which distribution a module belongs to, and what keeps its spaces alive.

Resolution runs inside other packages' imports, so it must be cheap and must not scan
every installed distribution (``importlib.metadata`` alone costs as much as
platformdirs). The approach:

1. Find the ``sys.path`` entry holding the module's file and list it once per process.
2. Guess the distribution from the module path (``yaml`` -> ``pyyaml``? no; ``a`` ->
   ``a-1.0.dist-info``: yes) and confirm the guess against that distribution's
   ``RECORD``; only when no guess is confirmed are the other ``RECORD`` files read, each
   at most once per process. ``RECORD`` is authoritative, ``top_level.txt`` is not
   needed (hatchling and flit wheels have none) and namespace packages (``google.*``)
   resolve per file, not per top-level name.
3. A file outside every ``sys.path`` entry with distributions: an editable install
   (``direct_url.json`` says ``editable``), else the nearest ``pyproject.toml`` above it,
   else the global namespace.

Every answer is cached per file for the life of the process.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, NewType

from .errors import AmbiguousModule, InvalidName

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

NormalizedName = NewType("NormalizedName", str)

GLOBAL_NAMESPACE = "_global"

# PEP 508 names, compiled on first use: detection from a frame never needs it.
# Explicit classes rather than re.IGNORECASE, which costs a millisecond to compile.
_NAME_PATTERN = r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]"


def _valid_name(name: str) -> bool:
    return re.fullmatch(_NAME_PATTERN, name) is not None


class _Global:
    """The type of :data:`GLOBAL`: the namespace shared by every package."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "scratchspaces.GLOBAL"

    def __reduce__(self) -> str:
        return "GLOBAL"


GLOBAL = _Global()

if TYPE_CHECKING:
    PkgSpec = str | ModuleType | _Global | None


class Owner:
    """Who a space belongs to and what keeps it alive (a value; a NamedTuple costs more)."""

    __slots__ = ("namespace", "parent")

    def __init__(self, namespace: str, parent: str) -> None:
        self.namespace = namespace
        """A normalized distribution name, or ``_global``."""
        self.parent = parent
        """Absolute path whose existence keeps the space alive: a ``.dist-info``
        directory, a ``pyproject.toml``, or the running environment's marker."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Owner):
            return NotImplemented
        return (self.namespace, self.parent) == (other.namespace, other.parent)

    def __hash__(self) -> int:
        return hash((self.namespace, self.parent))

    def __repr__(self) -> str:
        return f"Owner({self.namespace!r}, {self.parent!r})"


def canonicalize_name(name: str) -> NormalizedName:
    """Return the PEP 503 normalized form of a valid PEP 508 distribution name.

    Raises:
        InvalidName: ``name`` is not a valid distribution name.

    >>> canonicalize_name("Scikit_Learn")
    'scikit-learn'
    """
    if not isinstance(name, str) or not _valid_name(name):
        raise InvalidName(name)
    return NormalizedName(_normalize_loose(name))


def _normalize_loose(name: str) -> str:
    """PEP 503 normalization (runs of ``-_.`` become ``-``), without validating."""
    name = name.lower().replace("_", "-").replace(".", "-")
    while "--" in name:
        name = name.replace("--", "-")
    return name


def environment_marker() -> str:
    """Return the path whose disappearance means the running environment is gone.

    ``<sys.prefix>/pyvenv.cfg`` for a virtual environment, ``<sys.prefix>/conda-meta``
    for a conda environment, else the resolved interpreter.
    """
    found = _env_marker_cache.get(sys.prefix)
    if found is None:
        prefix = os.path.abspath(sys.prefix)
        cfg = os.path.join(prefix, "pyvenv.cfg")
        conda = os.path.join(prefix, "conda-meta")
        if os.path.isfile(cfg):
            found = cfg
        elif os.path.isdir(conda):
            found = conda
        else:
            found = os.path.realpath(sys.executable or prefix)
        _env_marker_cache[sys.prefix] = found
    return found


_env_marker_cache: dict[str, str] = {}


# --- one sys.path entry ---------------------------------------------------------------


class _SiteDir:
    """The distributions installed in one ``sys.path`` entry, read lazily."""

    __slots__ = ("_dirs", "_files", "_records_read", "by_name", "path")

    def __init__(self, path: str, dist_infos: list[str]) -> None:
        self.path = path
        # normalized name -> dist-info directory names (more than one only when broken)
        self.by_name: dict[str, list[str]] = {}
        for entry in dist_infos:
            name = entry[: -len(".dist-info")].rsplit("-", 1)[0]
            self.by_name.setdefault(_normalize_loose(name), []).append(entry)
        self._files: dict[str, str] = {}  # RECORD path -> dist-info
        self._dirs: dict[str, set[str]] = {}  # directory in a RECORD -> dist-infos
        self._records_read: set[str] = set()

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
            entry = _record_path(line)
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

    def _candidates(self, rel: str) -> list[str]:
        """Dist-infos in the order most likely to own ``rel``, best guesses first."""
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
            for dist_info in self.by_name.get(_normalize_loose(guess), ()):
                if dist_info not in ordered:
                    ordered.append(dist_info)
        if names:
            top = _normalize_loose(names[0]).replace("-", "")
            # PyYAML/yaml, python-dateutil/dateutil: the import name inside the dist name
            loose = [d for n, ds in self.by_name.items() if top in n.replace("-", "") for d in ds]
            ordered.extend(d for d in loose if d not in ordered)
        return ordered

    def owner_of(self, rel: str) -> str | None:
        """Return the dist-info whose RECORD lists ``rel`` (a ``/``-separated path)."""
        found = self._files.get(rel)
        if found is not None:
            return found
        # Best guesses first, then what top_level.txt names (setuptools wheels have it),
        # then every other RECORD, stopping at the owner. Each is read once per process.
        lazily = (self._candidates, self._top_level, lambda _rel: self.all())
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
        return [d for names in self.by_name.values() for d in names]

    def _top_level(self, rel: str) -> Iterator[str]:
        """Dist-infos whose ``top_level.txt`` lists the first component of ``rel``."""
        top = rel.split("/", 1)[0].split(".", 1)[0]
        for dist_info in self.all():
            try:
                with open(os.path.join(self.path, dist_info, "top_level.txt")) as f:
                    listed = f.read().split()
            except (OSError, UnicodeDecodeError):
                continue
            if top in listed:
                yield dist_info

    def owners_of_dir(self, rel_dir: str) -> set[str]:
        """Return every dist-info with a file under ``rel_dir``."""
        for dist_info in self.all():
            self._read_record(dist_info)
        return set(self._dirs.get(rel_dir, ()))


def _record_path(line: str) -> str:
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


_sites: dict[str, _SiteDir | None] = {}


def _site(path: str) -> _SiteDir | None:
    """Return the distributions of one ``sys.path`` entry, or None if it has none."""
    if path in _sites:
        return _sites[path]
    try:
        entries = os.listdir(path)
    except OSError:
        entries = []
    dist_infos = [e for e in entries if e.endswith(".dist-info")]
    site = _SiteDir(path, dist_infos) if dist_infos else None
    _sites[path] = site
    return site


def _cwd() -> str | None:
    """Return the current directory, or None if it was deleted under us."""
    try:
        return os.getcwd()
    except OSError:
        return None


def _sys_path() -> list[str]:
    """Return the ``sys.path`` entries as absolute paths (``""`` is the current directory)."""
    cwd = _cwd()
    found: list[str] = []
    for entry in sys.path:
        if isinstance(entry, str) and entry:
            found.append(os.path.abspath(entry))
        elif entry == "" and cwd is not None:
            found.append(cwd)
    return found


def invalidate_caches() -> None:
    """Forget every resolution (after installing or removing distributions in-process)."""
    _sites.clear()
    _by_file.clear()
    _by_dir.clear()
    _by_name.clear()
    _env_marker_cache.clear()
    global _editables  # noqa: PLW0603
    _editables = None


# --- what a file, a name or a module belongs to ----------------------------------------


_by_file: dict[str, Owner] = {}
_by_dir: dict[str, Owner] = {}
_by_name: dict[str, str | None] = {}
# (project directory, dist-info path) of every editable install; None until first needed.
_editables: list[tuple[str, str]] | None = None


def installed_dist_info(name: str) -> str | None:
    """Return the ``.dist-info`` of distribution ``name`` in the running environment.

    The first ``sys.path`` entry holding it wins, as for ``importlib.metadata``.
    """
    key = _normalize_loose(name)
    if key in _by_name:
        return _by_name[key]
    found = None
    for entry in _sys_path():
        site = _site(entry)
        if site is not None and key in site.by_name:
            found = os.path.join(site.path, site.by_name[key][0])
            break
    _by_name[key] = found
    return found


def _namespace_of_dist_info(dist_info: str) -> str:
    base = os.path.basename(dist_info)
    return _normalize_loose(base[: -len(".dist-info")].rsplit("-", 1)[0])


def _installed_owner(file: str) -> Owner | None:
    """Return the distribution whose RECORD, in the ``sys.path`` entry of ``file``, lists it."""
    best = ""
    for entry in _sys_path():
        if len(entry) > len(best) and file.startswith(entry + os.sep) and _site(entry):
            best = entry
    if not best:
        return None
    site = _site(best)
    assert site is not None  # noqa: S101 - checked in the loop above
    rel = file[len(best) + 1 :]
    if os.sep != "/":
        rel = rel.replace(os.sep, "/")
    dist_info = site.owner_of(rel)
    if dist_info is None:
        return None
    return Owner(_namespace_of_dist_info(dist_info), os.path.join(best, dist_info))


def _editable_project(dist_info: str) -> str | None:
    """Return the project directory of an editable install (PEP 610), else None."""
    import json  # noqa: PLC0415 - only for files outside site-packages
    from urllib.parse import unquote, urlsplit  # noqa: PLC0415

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


def _editable_owner(file: str) -> Owner | None:
    """Return the editable install whose project directory holds ``file``.

    Reads every ``direct_url.json`` once per process: only for a file with no
    ``pyproject.toml`` above it (a ``setup.py`` project installed with ``pip -e``).
    """
    global _editables  # noqa: PLW0603 - a per-process cache, filled once
    if _editables is None:
        _editables = []
        for entry in _sys_path():
            site = _site(entry)
            for dist_info in site.all() if site is not None else ():
                path = os.path.join(site.path, dist_info)  # type: ignore[union-attr]
                project = _editable_project(path)
                if project is not None:
                    _editables.append((project, path))
    best: tuple[str, str] | None = None
    for project, dist_info in _editables:
        if file.startswith(project + os.sep) and (best is None or len(project) > len(best[0])):
            best = (project, dist_info)
    if best is None:
        return None
    return Owner(_namespace_of_dist_info(best[1]), best[1])


def _project_name(pyproject: str) -> str | None:
    from . import _toml  # noqa: PLC0415 - only for projects that are not installed

    try:
        with open(pyproject, "rb") as f:
            data = _toml.load(f)
    except (OSError, ValueError) as exc:
        from ._warn import warn_once  # noqa: PLC0415

        warn_once("tracking", f"cannot read {pyproject} ({exc}); using the global namespace")
        return None
    project = data.get("project")
    name = project.get("name") if isinstance(project, dict) else None
    return name if isinstance(name, str) and _valid_name(name) else None


def _nearest_pyproject(directory: str) -> str | None:
    return nearest_file(directory, "pyproject.toml")


def nearest_file(directory: str, name: str) -> str | None:
    """Return the file ``name`` in ``directory`` or the nearest directory above it."""
    current = directory
    while True:
        candidate = os.path.join(current, name)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _local_owner(path: str, directory: str) -> Owner | None:
    """Return the owner of code outside site-packages at ``path`` (in ``directory``).

    The nearest ``pyproject.toml`` decides: its project, installed editable (the
    ``.dist-info`` is the parent) or not (the ``pyproject.toml`` is). One without a
    project name means global. With none above, an editable install of a ``setup.py``
    project may still hold the file.
    """
    pyproject = _nearest_pyproject(directory)
    if pyproject is None:
        return _editable_owner(path)
    name = _project_name(pyproject)
    if name is None:
        return None
    dist_info = installed_dist_info(name)
    if dist_info is not None and _editable_project(dist_info) == os.path.dirname(pyproject):
        return Owner(_namespace_of_dist_info(dist_info), dist_info)
    return Owner(_normalize_loose(name), pyproject)


def _global_owner() -> Owner:
    return Owner(GLOBAL_NAMESPACE, environment_marker())


def owner_of_file(file: str) -> Owner:
    """Return the owner of a module file: installed, editable, project, or global."""
    found = _by_file.get(file)
    if found is None:
        path = os.path.abspath(file)
        try:
            found = (
                _installed_owner(path)
                or _local_owner(path, os.path.dirname(path))
                or _global_owner()
            )
        except OSError as exc:  # an unreadable directory on the way: never fail the caller
            from ._warn import warn_once  # noqa: PLC0415

            warn_once("tracking", f"cannot resolve the package of {file} ({exc}); using global")
            found = _global_owner()
        _by_file[file] = found
    return found


def owner_of_directory(directory: str) -> Owner:
    """Return the owner of code run from ``directory`` with no file (a REPL, ``-c``)."""
    found = _by_dir.get(directory)
    if found is None:
        path = os.path.abspath(directory)
        found = _local_owner(os.path.join(path, ""), path) or _global_owner()
        _by_dir[directory] = found
    return found


def owner_of_globals(module_globals: dict[str, object]) -> Owner:
    """Return the owner of the code whose module globals these are (the caller's frame)."""
    file = module_globals.get("__file__")
    if isinstance(file, str):
        return owner_of_file(file)
    name = module_globals.get("__name__")
    if name != "__main__" and isinstance(name, str):
        module = sys.modules.get(name)
        if module is not None:
            return owner_of_module(module)
    cwd = _cwd()
    return owner_of_directory(cwd) if cwd is not None else _global_owner()


def owner_of_module(module: ModuleType) -> Owner:
    """Return the owner of a module object.

    Raises:
        ScratchspacesError: a namespace package whose portions belong to several
            distributions (pass the distribution name instead).
    """
    file = getattr(module, "__file__", None)
    if isinstance(file, str):
        return owner_of_file(file)
    portions = [p for p in getattr(module, "__path__", ()) if isinstance(p, str)]
    owners: set[Owner] = set()
    for portion in portions:
        owners.update(_owners_of_directory(os.path.abspath(portion)))
    if len(owners) > 1:
        names = ", ".join(sorted(o.namespace for o in owners))
        raise AmbiguousModule(module.__name__, names)
    if owners:
        return owners.pop()
    return _global_owner()


def _owners_of_directory(path: str) -> set[Owner]:
    for entry in _sys_path():
        site = _site(entry)
        if site is not None and path.startswith(entry + os.sep):
            rel = path[len(entry) + 1 :].replace(os.sep, "/")
            return {
                Owner(_namespace_of_dist_info(d), os.path.join(entry, d))
                for d in site.owners_of_dir(rel)
            }
    found = _local_owner(os.path.join(path, ""), path)
    return {found} if found else set()


# --- the pkg argument --------------------------------------------------------------------


def _pkg_owner(pkg: PkgSpec, caller_globals: dict[str, object]) -> tuple[str, str | None]:
    """Return the namespace of ``pkg``, and its parent when resolving it gave one."""
    if pkg is None:
        owner = owner_of_globals(caller_globals)
        return owner.namespace, owner.parent
    if pkg is GLOBAL or isinstance(pkg, _Global):
        return GLOBAL_NAMESPACE, None
    if isinstance(pkg, str):
        return canonicalize_name(pkg), None
    if hasattr(pkg, "__name__") and hasattr(pkg, "__dict__"):
        owner = owner_of_module(pkg)
        return owner.namespace, owner.parent
    raise TypeError(
        "pkg must be a distribution name, a module, scratchspaces.GLOBAL or None, "
        f"not {type(pkg).__name__}"
    )


def namespace_of(pkg: PkgSpec, caller_globals: dict[str, object]) -> str:
    """Return the namespace directory name for a ``pkg`` argument."""
    return _pkg_owner(pkg, caller_globals)[0]


def resolve(
    pkg: PkgSpec, calling_pkg: PkgSpec, caller_globals: dict[str, object]
) -> tuple[str, str]:
    """Return ``(namespace, parent)`` for the ``pkg`` / ``calling_pkg`` arguments.

    ``pkg`` names the namespace; ``calling_pkg`` (default: ``pkg``) names whose lifecycle
    keeps the space alive. A distribution name that is not installed in the running
    environment falls back to the caller's own parent.
    """
    namespace, parent = _pkg_owner(pkg, caller_globals)
    if calling_pkg is None:
        if parent is not None:
            return namespace, parent
        calling_pkg = pkg
    return namespace, parent_of(calling_pkg, caller_globals)


def parent_of(calling_pkg: PkgSpec, caller_globals: dict[str, object]) -> str:
    """Return the parent path for a ``calling_pkg`` argument."""
    if calling_pkg is None:
        return owner_of_globals(caller_globals).parent
    if calling_pkg is GLOBAL or isinstance(calling_pkg, _Global):
        return environment_marker()
    if isinstance(calling_pkg, str):
        canonicalize_name(calling_pkg)
        found = installed_dist_info(calling_pkg)
        return found if found is not None else owner_of_globals(caller_globals).parent
    if hasattr(calling_pkg, "__name__") and hasattr(calling_pkg, "__dict__"):
        return owner_of_module(calling_pkg).parent
    raise TypeError(
        "calling_pkg must be a distribution name, a module, scratchspaces.GLOBAL or None, "
        f"not {type(calling_pkg).__name__}"
    )
