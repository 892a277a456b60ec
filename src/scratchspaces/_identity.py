"""Which distribution a module belongs to, and what keeps its spaces alive.

Resolution runs inside other packages' imports, so it must be cheap and must not scan
every installed distribution (``importlib.metadata`` alone costs as much as
platformdirs). The approach:

1. Find the ``sys.path`` entry holding the module's file; take its names from the
   import system's listing of it (it imported the module from there), else list it once
   per process.
2. Guess the distribution from the module path (``yaml`` -> ``pyyaml``? no; ``a`` ->
   ``a-1.0.dist-info``: yes, found with one pattern search over the names) and confirm
   the guess against that distribution's ``RECORD``; only when no guess is confirmed are
   the other ``RECORD`` files read, those installed nearest to the module first, each at
   most once per process. ``RECORD`` is authoritative, ``top_level.txt`` is not needed
   (hatchling and flit wheels have none) and namespace packages (``google.*``) resolve
   per file, not per top-level name.
3. A file outside every ``sys.path`` entry with distributions: the nearest
   ``pyproject.toml`` above it (its project, installed editable or not), else an
   editable install of a ``setup.py`` project above it (``direct_url.json`` says
   ``editable``), else the global namespace.

Every answer is cached per file for the life of the process.
"""

from __future__ import annotations

import os
import re
import sys

from . import _sitedir
from ._sitedir import normalize as _normalize_loose
from .errors import AmbiguousModule, InvalidName

TYPE_CHECKING = False  # not typing's: importing typing costs more than resolving a name
if TYPE_CHECKING:
    from types import ModuleType
    from typing import NewType

    NormalizedName = NewType("NormalizedName", str)
else:
    NormalizedName = str  # what NewType gives at run time, without importing typing

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


def invalidate_caches() -> None:
    """Forget every resolution (after installing or removing distributions in-process)."""
    _sitedir.forget()
    _by_file.clear()
    _by_dir.clear()
    _env_marker_cache.clear()


# --- what a file, a name or a module belongs to ----------------------------------------


_by_file: dict[str, Owner] = {}
_by_dir: dict[str, Owner] = {}


def _installed_owner(file: str) -> Owner | None:
    """Return the distribution whose RECORD, in the ``sys.path`` entry of ``file``, lists it."""
    best = ""
    for entry in _sitedir.sys_path():
        if len(entry) > len(best) and file.startswith(entry + os.sep) and _sitedir.site(entry):
            best = entry
    if not best:
        return None
    site = _sitedir.site(best)
    assert site is not None  # noqa: S101 - checked in the loop above
    rel = file[len(best) + 1 :]
    if os.sep != "/":
        rel = rel.replace(os.sep, "/")
    dist_info = site.owner_of(rel)
    if dist_info is None:
        return None
    return Owner(_sitedir.namespace_of_dist_info(dist_info), os.path.join(best, dist_info))


def _editable_owner(file: str) -> Owner | None:
    """Return the editable install whose project directory holds ``file``.

    Reads every ``direct_url.json`` once per process: only for a file with no
    ``pyproject.toml`` above it (a ``setup.py`` project installed with ``pip -e``).
    """
    best: tuple[str, str] | None = None
    for project, dist_info in _sitedir.editables():
        if file.startswith(project + os.sep) and (best is None or len(project) > len(best[0])):
            best = (project, dist_info)
    if best is None:
        return None
    return Owner(_sitedir.namespace_of_dist_info(best[1]), best[1])


def _project_name(pyproject: str) -> str | None:
    from . import _toml  # noqa: PLC0415 - only for projects that are not installed

    try:
        with open(pyproject, "rb") as f:
            data = _toml.load(f)
    except (OSError, ValueError) as exc:
        from ._warn import warn_once  # noqa: PLC0415 - failures only

        warn_once("tracking", f"cannot read {pyproject} ({exc}); using the global namespace")
        return None
    project = data.get("project")
    name = project.get("name") if isinstance(project, dict) else None
    return name if isinstance(name, str) and _valid_name(name) else None


def _local_owner(path: str, directory: str) -> Owner | None:
    """Return the owner of code outside site-packages at ``path`` (in ``directory``).

    The nearest ``pyproject.toml`` decides: its project, installed editable (the
    ``.dist-info`` is the parent) or not (the ``pyproject.toml`` is). One without a
    project name means global. With none above, an editable install of a ``setup.py``
    project may still hold the file.
    """
    from . import _fs  # noqa: PLC0415 - only for code outside site-packages

    pyproject = _fs.nearest_file(directory, "pyproject.toml")
    if pyproject is None:
        # An installer builds a project from its pyproject.toml or its setup.py: with
        # neither above, no editable install holds ``path`` and none need be read.
        if _fs.nearest_file(directory, "setup.py") is None:
            return None
        return _editable_owner(path)
    name = _project_name(pyproject)
    if name is None:
        return None
    dist_info = _sitedir.installed_dist_info(name)
    if dist_info is not None and _sitedir.editable_project(dist_info) == os.path.dirname(pyproject):
        return Owner(_sitedir.namespace_of_dist_info(dist_info), dist_info)
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
            from ._warn import warn_once  # noqa: PLC0415 - failures only

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
    cwd = _sitedir.cwd()
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
    spec = getattr(module, "__spec__", None)
    if not portions and getattr(spec, "origin", None) not in {"built-in", "frozen"}:
        # No file and no folder (``__main__`` of a REPL or of ``-c``): the fallback a
        # caller without a file gets, the project of the current directory.
        cwd = _sitedir.cwd()
        return owner_of_directory(cwd) if cwd is not None else _global_owner()
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
    for entry in _sitedir.sys_path():
        site = _sitedir.site(entry)
        if site is not None and path.startswith(entry + os.sep):
            rel = path[len(entry) + 1 :].replace(os.sep, "/")
            return {
                Owner(_sitedir.namespace_of_dist_info(d), os.path.join(entry, d))
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
        found = _sitedir.installed_dist_info(calling_pkg)
        return found if found is not None else owner_of_globals(caller_globals).parent
    if hasattr(calling_pkg, "__name__") and hasattr(calling_pkg, "__dict__"):
        return owner_of_module(calling_pkg).parent
    raise TypeError(
        "calling_pkg must be a distribution name, a module, scratchspaces.GLOBAL or None, "
        f"not {type(calling_pkg).__name__}"
    )
