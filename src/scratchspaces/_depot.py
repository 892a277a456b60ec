"""Where depots are: ``SCRATCHSPACES_DEPOT_PATH``, else platformdirs' user cache dir.

The environment is read at call time, not import time, so applications and tests can
change it while running. The platformdirs answer is cached per value of the variables
platformdirs itself reads, because computing it costs more than a whole warm
``get_scratch`` call (see ``benchmarks/bench_warm_call.py``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from .errors import DepotError

TYPE_CHECKING = False  # not typing's: importing typing costs more than this module
if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextvars import ContextVar

DEPOT_PATH_VAR = "SCRATCHSPACES_DEPOT_PATH"
TRACK_ACCESS_VAR = "SCRATCHSPACES_TRACK_ACCESS"

# The layout of a depot: <depot>/scratchspaces/<namespace>/<key> holds the spaces,
# <depot>/artifacts/<hash> the artifacts, <depot>/logs the logs and the orphanage.
SPACES_DIR = "scratchspaces"
ARTIFACTS_DIR = "artifacts"
LOGS_DIR = "logs"
ORPHANAGE_NAME = "orphaned.toml"
# Trees being deleted are renamed here first (same filesystem), then removed.
TRASH_DIR = ".trash"
# The content cache's store: a space of the library's own namespace whose key
# cannot be a distribution's namespace (those are [a-z0-9-]), so no package's binding
# space can take its place. gc collects its entries, never the space itself.
CACHE_NAMESPACE = "scratchspaces"
CACHE_KEY = "_cache"

# The variables platformdirs reads for the user cache dir on this platform.
if sys.platform == "win32":  # pragma: no cover - not run on the CI machine
    _PLATFORMDIRS_VARS: tuple[str, ...] = ("LOCALAPPDATA", "USERPROFILE")
elif sys.platform == "darwin":  # pragma: no cover
    _PLATFORMDIRS_VARS = ("HOME",)
else:
    _PLATFORMDIRS_VARS = ("XDG_CACHE_HOME", "HOME")
_default_cache: dict[tuple[str | None, ...], str] = {}


def _default_depot() -> str:
    env = os.environ
    key = tuple(env.get(name) for name in _PLATFORMDIRS_VARS)
    found = _default_cache.get(key)
    if found is None:
        import platformdirs  # noqa: PLC0415 - only when no depot path is configured

        found = os.path.abspath(platformdirs.user_cache_dir("scratchspaces"))
        _default_cache[key] = found
    return found


def depot_strings() -> list[str]:
    """Return the depots as absolute path strings, without checking the disk."""
    value = os.environ.get(DEPOT_PATH_VAR)
    if value:
        found = [
            os.path.abspath(os.path.expanduser(part)) for part in value.split(os.pathsep) if part
        ]
        if found:
            return found
    return [_default_depot()]


def user_depot_string() -> str:
    """Return the user depot (the first one) as an absolute path string."""
    value = os.environ.get(DEPOT_PATH_VAR)
    if value:
        for part in value.split(os.pathsep):
            if part:
                return os.path.abspath(os.path.expanduser(part))
    return _default_depot()


def check_depot(path: str) -> None:
    """Raise :class:`DepotError` if ``path`` exists but is not a directory."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise DepotError(
            path, f"the depot path exists and is not a directory (check ${DEPOT_PATH_VAR})"
        )


def depots() -> list[Path]:
    """Return every depot, the user depot first.

    ``SCRATCHSPACES_DEPOT_PATH`` is an ``os.pathsep``-separated list; empty entries are
    ignored. Unset or empty: one depot, ``platformdirs.user_cache_dir("scratchspaces")``.
    Later depots are only read by the library, never written.

    Raises:
        DepotError: a depot path exists and is not a directory.
    """
    found = depot_strings()
    for path in found:
        check_depot(path)
    return [Path(path) for path in found]


def user_depot() -> Path:
    """Return the user depot, where every write goes.

    Raises:
        DepotError: the user depot path exists and is not a directory.
    """
    path = user_depot_string()
    check_depot(path)
    return Path(path)


def tracking_enabled() -> bool:
    """Return whether the access log is on (``SCRATCHSPACES_TRACK_ACCESS`` is not ``0``)."""
    return os.environ.get(TRACK_ACCESS_VAR, "1").strip().lower() not in {"0", "false", "no", "off"}


def logs_dir(depot: str) -> str:
    """Return ``<depot>/logs``."""
    return os.path.join(depot, LOGS_DIR)


def orphanage_path(depot: str) -> str:
    """Return ``<depot>/logs/orphaned.toml``: when gc first saw each orphan of the depot."""
    return os.path.join(depot, LOGS_DIR, ORPHANAGE_NAME)


@contextlib.contextmanager
def overriding(var: ContextVar[str | None], path: str | os.PathLike[str]) -> Iterator[Path]:
    """Set the directory override ``var`` to ``path`` (made absolute) for the ``with`` block.

    A context variable, so an override in one thread or asyncio task never leaks into
    another.
    """
    directory = os.path.abspath(os.fspath(path))
    token = var.set(directory)
    try:
        yield Path(directory)
    finally:
        var.reset(token)
