"""TOML reading: ``tomllib`` from 3.11, its backport ``tomli`` on 3.10.

Imported only where TOML is read (a project's ``pyproject.toml``, a hand-edited log):
never on the warm path of ``get_scratch``.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10 only
    import tomli as tomllib

loads = tomllib.loads
load = tomllib.load
TOMLDecodeError = tomllib.TOMLDecodeError

__all__ = ["TOMLDecodeError", "load", "loads"]
