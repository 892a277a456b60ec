"""The names scratchspaces checks before anything touches the disk.

A space key becomes a directory name, an artifact hash and a cache entry's id become
paths in a store: each is checked against its rule here, and a name that breaks it is
refused with an error naming the value and the rule.
"""

from __future__ import annotations

import os
import re

from .errors import InvalidHash, InvalidKey, InvalidName

HEX = frozenset("0123456789abcdef")
NAME_MAX = 255
"""The longest name of a file or folder, in bytes, on the filesystems depots live on."""
EXEC_SUFFIX = ".x"
"""Appended to a cache entry's id when its file is executable."""

# fullmatch, not match(r"...$"): "$" also matches before a trailing newline.
_KEY_RE = re.compile(r"[A-Za-z0-9._-]{1,255}")
_ID_FORM = "64 hexadecimal digits, optionally followed by .x (an executable file)"


def is_hex(value: object, digits: int) -> bool:
    """Return whether ``value`` is a string of ``digits`` hexadecimal digits (any case)."""
    return isinstance(value, str) and len(value) == digits and HEX.issuperset(value.lower())


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid space key, else raise :class:`InvalidKey`.

    A key is 1 to 255 characters of ``A-Z a-z 0-9 . _ -`` and is not ``.`` or ``..``:
    ASCII, so never more bytes than a folder's name may have (``NAME_MAX``).
    """
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key) or key in {".", ".."}:
        raise InvalidKey(key)
    return key


def check_namespace(namespace: str) -> str:
    """Return ``namespace`` if it can be a folder's name, else raise :class:`InvalidName`.

    A distribution name has no length limit (PEP 508), but a namespace is a folder, whose
    name is at most ``NAME_MAX`` bytes in UTF-8. Costs one comparison for any name of up
    to 63 characters (4 bytes a character at most).
    """
    if len(namespace) > NAME_MAX // 4 and len(os.fsencode(namespace)) > NAME_MAX:
        raise InvalidName(
            namespace,
            f"a namespace is a folder, whose name is at most {NAME_MAX} bytes; this one "
            f"takes {len(os.fsencode(namespace))}",
        )
    return namespace


def check_hash(value: object) -> str:
    """Return ``value`` if it is a git-tree-sha1 (40 lower-case hex digits), else raise.

    Upper-case digits are accepted and lowered: they name the same tree.

    Raises:
        InvalidHash: anything else.
    """
    if is_hex(value, 40):
        return str(value).lower()
    raise InvalidHash(value)


def is_id(name: str) -> bool:
    """Return whether ``name`` is a cache entry's id exactly as the store names entries."""
    digits = name.removesuffix(EXEC_SUFFIX)
    return len(digits) == 64 and HEX.issuperset(digits)


def check_id(value: object) -> str:
    """Return ``value`` lower-cased if it is a cache entry's id, else raise :class:`InvalidHash`."""
    if isinstance(value, str) and is_id(lowered := value.lower()):
        return lowered
    raise InvalidHash(value, _ID_FORM)
