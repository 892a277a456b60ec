"""TOML reading: ``tomllib`` from 3.11, its backport ``tomli`` on 3.10.

Imported only where TOML is read (a project's ``pyproject.toml``, a hand-edited log):
never on the warm path of ``get_scratch``.
"""

from __future__ import annotations

import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10 only
    import tomli as tomllib


def load_bindings(path: str) -> dict[str, Any]:
    """Return a parsed ``Artifacts.toml`` (of artifacts or the cache), ``{}`` if missing.

    Raises:
        InvalidArtifactsToml: not valid TOML.
        DepotError: it cannot be read.
    """
    from .errors import DepotError, InvalidArtifactsToml  # noqa: PLC0415 - keeps this module importable alone

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise InvalidArtifactsToml(path, None, f"not valid TOML ({exc})") from exc
    except OSError as exc:
        raise DepotError(path, f"cannot read it ({exc.strerror or exc})") from exc


loads = tomllib.loads
load = tomllib.load
TOMLDecodeError = tomllib.TOMLDecodeError

__all__ = ["TOMLDecodeError", "load", "load_bindings", "loads"]
