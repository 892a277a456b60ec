"""Managed, garbage-collected data directories for Python packages.

Scratch spaces are mutable per-package directories whose lifecycle follows the package:
when every version and every environment that used a space is gone, garbage collection
frees it.

>>> import scratchspaces
>>> cache = scratchspaces.get_scratch("downloads")  # doctest: +SKIP

<!-- PYTEST_DONT_REWRITE: the package ships a pytest plugin; a process that imported it
before pytest started must not get "already imported, cannot be rewritten" -->
"""

from __future__ import annotations

from ._depot import depots, user_depot
from ._identity import GLOBAL, canonicalize_name
from ._spaces import (
    clear_scratchspaces,
    delete_scratch,
    get_scratch,
    scratch_dir,
    scratch_path,
    with_scratch_directory,
)
from ._version import __version__
from .errors import (
    AmbiguousModule,
    DepotError,
    InvalidKey,
    InvalidName,
    ScratchspacesError,
    ScratchspacesWarning,
)

TYPE_CHECKING = False  # not typing's: importing typing costs more than this package
if TYPE_CHECKING:
    from typing import Any

    from ._collect import GCReport
    from ._gc import gc


def __getattr__(name: str) -> Any:
    # gc and GCReport load dataclasses (and inspect): 10 ms that get_scratch must not pay.
    if name == "GCReport":
        from ._collect import GCReport  # noqa: PLC0415 - loaded on first use, see above

        return GCReport
    if name == "gc":
        from ._gc import gc  # noqa: PLC0415 - loaded on first use, see above

        return gc
    raise AttributeError(f"module 'scratchspaces' has no attribute {name!r}")


__all__ = [
    "GLOBAL",
    "AmbiguousModule",
    "DepotError",
    "GCReport",
    "InvalidKey",
    "InvalidName",
    "ScratchspacesError",
    "ScratchspacesWarning",
    "__version__",
    "canonicalize_name",
    "clear_scratchspaces",
    "delete_scratch",
    "depots",
    "gc",
    "get_scratch",
    "scratch_dir",
    "scratch_path",
    "user_depot",
    "with_scratch_directory",
]
