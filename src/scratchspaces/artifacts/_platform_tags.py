"""Platform tags as Julia's ``Base.BinaryPlatforms`` reads them: names, versions, comparators.

A platform is a set of string tags (``os``, ``arch``, ``libc``, ``libgfortran_version``,
``julia_version``, any custom ``cuda`` ...). Two platforms match when every tag both carry
compares equal under the strategy either side asks for; a tag only one side carries never
prevents a match. The strategies are Julia's: plain equality by default, a version cap for
a host's ``os_version`` and ``libstdcxx_version``, and major.minor equality for
``julia_version``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

Comparator = Callable[[str, str, bool, bool], bool]
"""``(a, b, a_requested, b_requested) -> bool``: how one tag of two platforms compares."""

# Tags whose values are versions, normalised to ``major.minor.patch`` when they parse.
VERSION_TAGS = frozenset({"libgfortran_version", "libstdcxx_version", "os_version"})

# Characters Julia refuses in a tag's name or value: the triplet syntax and what a file
# name cannot hold.
_FORBIDDEN = frozenset("+- /<>:\"'\\|?*")

_ARCH_ALIASES = {
    "amd64": "x86_64",
    "i386": "i686",
    "i486": "i686",
    "i586": "i686",
    "armv6": "armv6l",
    "arm": "armv7l",
    "armv7": "armv7l",
    "armv8": "armv7l",
    "armv8l": "armv7l",
    "arm64": "aarch64",
    "ppc64le": "powerpc64le",
}

_VERSION = re.compile(
    r"v?(\d+)(?:\.(\d+)(?:\.(\d+))?)?"
    r"(?:-([0-9a-z-]+(?:\.[0-9a-z-]+)*))?"
    r"(?:\+([0-9a-z-]+(?:\.[0-9a-z-]+)*))?",
    re.IGNORECASE,
)


def normalize_arch(arch: str) -> str:
    """Return ``arch`` in Julia's spelling (``amd64`` -> ``x86_64``, ``arm64`` -> ``aarch64``)."""
    lowered = arch.lower()
    return _ARCH_ALIASES.get(lowered, lowered)


def check_tag(name: str, value: str) -> None:
    """Raise ``ValueError`` if a tag's name or value holds a character Julia refuses."""
    for what, text in (("name", name), ("value", value)):
        bad = sorted(_FORBIDDEN.intersection(text))
        if bad:
            raise ValueError(
                f"platform tag {what} {text!r} holds {''.join(bad)!r}; "
                f"tags cannot hold any of {''.join(sorted(_FORBIDDEN))!r}"
            )


class Version(NamedTuple):
    """A version number ordered as Julia's ``VersionNumber``."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...]
    build: tuple[int | str, ...]

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(map(str, self.prerelease))
        if self.build:
            text += "+" + ".".join(map(str, self.build))
        return text

    def order(self) -> tuple[object, ...]:
        """Return a key that sorts as Julia's ``isless`` on version numbers.

        A pre-release sorts before its release, a build after it; identifiers compare
        numbers before words, numbers by value, words by their characters.
        """

        def idents(parts: tuple[int | str, ...]) -> tuple[tuple[int, int, str], ...]:
            return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in parts)

        pre = (1,) if not self.prerelease else (0, idents(self.prerelease))
        build = (0,) if not self.build else (1, idents(self.build))
        return (self.major, self.minor, self.patch, pre, build)


def _idents(text: str | None) -> tuple[int | str, ...]:
    if not text:
        return ()
    return tuple(int(p) if p.isdigit() else p.lower() for p in text.split("."))


def parse_version(text: str) -> Version | None:
    """Return ``text`` as a version (``"5"`` is 5.0.0), or None if it is not one."""
    found = _VERSION.fullmatch(text.strip())
    if found is None:
        return None
    major, minor, patch, pre, build = found.groups()
    return Version(int(major), int(minor or 0), int(patch or 0), _idents(pre), _idents(build))


def version(text: str) -> Version:
    """Return ``text`` as a version; raise ``ValueError`` if it is not one."""
    parsed = parse_version(text)
    if parsed is None:
        raise ValueError(f"{text!r} is not a version number")
    return parsed


def compare_default(a: str, b: str, a_requested: bool, b_requested: bool) -> bool:
    """Compare by equality, Julia's default strategy."""
    del a_requested, b_requested
    return a == b


def compare_version_cap(a: str, b: str, a_requested: bool, b_requested: bool) -> bool:
    """Compare as a version cap: the side that asked supports every version up to its own.

    Two caps match only when equal; a cap and a plain version match when the version is
    at most the cap.
    """
    cap_a, cap_b = version(a).order(), version(b).order()
    if a_requested and b_requested:
        return cap_a == cap_b
    if a_requested:
        return cap_b <= cap_a
    return cap_a <= cap_b


def compare_julia_version(a: str, b: str, a_requested: bool, b_requested: bool) -> bool:
    """Compare Julia versions on major and minor: a 1.10.0 build serves every Julia 1.10."""
    del a_requested, b_requested
    va, vb = version(a), version(b)
    return (va.major, va.minor) == (vb.major, vb.minor)


def normalize_value(name: str, value: str) -> str:
    """Return a tag's value as Julia stores it: versions spelt out, then lowercased."""
    if name in VERSION_TAGS:
        parsed = parse_version(value)
        if parsed is not None:
            value = str(parsed)
    return value.lower()
