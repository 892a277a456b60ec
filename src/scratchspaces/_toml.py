"""TOML reading: ``tomllib`` from 3.11, its backport ``tomli`` on 3.10.

Imported only where TOML is read (a project's ``pyproject.toml``, a hand-edited log):
never on the warm path of ``get_scratch``.
"""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

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
            return load(f)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise InvalidArtifactsToml(path, None, f"not valid TOML ({exc})") from exc
    except OSError as exc:
        raise DepotError(path, f"cannot read it ({exc.strerror or exc})") from exc


TOMLDecodeError = tomllib.TOMLDecodeError


def loads(text: str) -> dict[str, Any]:
    """Parse TOML text; raises ``ValueError`` (never ``RecursionError``) if it is not valid.

    The parser recurses once per nested ``[``: a few kilobytes of brackets in a damaged
    or hostile file would otherwise exhaust the stack.
    """
    try:
        return tomllib.loads(text)
    except RecursionError as exc:
        raise ValueError("nested too deeply to be read") from exc


def load(f: BinaryIO) -> dict[str, Any]:
    """Parse a TOML file opened in binary mode; raises ``ValueError`` if it is not valid."""
    return loads(f.read().decode("utf-8"))


__all__ = ["TOMLDecodeError", "load", "load_bindings", "loads"]
