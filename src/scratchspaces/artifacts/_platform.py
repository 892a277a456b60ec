"""Platforms in Julia's names, read from and written to the entries of an ``Artifacts.toml``.

A :class:`Platform` is Julia's ``Base.BinaryPlatforms.Platform``: ``os`` and ``arch`` plus
any other tags, normalised as Julia normalises them (lowercase, ``amd64`` spelt
``x86_64``, versions spelt ``major.minor.patch``), with ``libc = "glibc"`` implied on Linux
and ``call_abi = "eabihf"`` on 32-bit ARM Linux. Which entry of a file serves a platform
is :mod:`._platform_match`'s business.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._platform_tags import (
    check_tag,
    compare_julia_version,
    normalize_arch,
    normalize_value,
    parse_version,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._platform_tags import Comparator

# Keys of an entry that are not platform tags even when they hold a string.
_NOT_TAGS = frozenset({"os", "arch", "git-tree-sha1"})

# Tags the triplet spells in its own way, before the ``-name+value`` extras.
_TRIPLET_TAGS = frozenset(
    {
        "os",
        "arch",
        "libc",
        "call_abi",
        "libgfortran_version",
        "libstdcxx_version",
        "cxxstring_abi",
        "os_version",
    }
)


@dataclass(frozen=True, slots=True, init=False)
class Platform:
    r"""A platform in Julia's names: ``Platform("linux", "x86_64", "glibc")``.

    ``os`` is ``linux``, ``macos``, ``windows``, ``freebsd`` or ``openbsd``; ``arch`` one of
    ``x86_64``, ``aarch64``, ``i686``, ``armv7l``, ``armv6l``, ``powerpc64le``,
    ``riscv64`` (other names are kept as given, lowercased). ``libc`` is ``glibc`` (the
    default on Linux) or ``musl``. Any other tag goes in ``tags``::

        Platform("linux", "x86_64", tags={"libgfortran_version": "5", "cxxstring_abi": "cxx11"})

    ``compare_strategies`` maps a tag to a comparator other than equality (see
    :func:`~._platform_tags.compare_version_cap`); ``julia_version`` compares on major and
    minor unless told otherwise. Equal platforms have equal tags and strategies, as in
    Julia; use :func:`platforms_match` to ask whether an entry serves a platform.

    Raises:
        ValueError: a tag named ``os`` or ``arch`` in ``tags``, ``libc`` given twice, or
            a tag whose name or value holds one of ``+- /<>:"'\\|?*``.
    """

    os: str
    arch: str
    libc: str | None
    tag_items: tuple[tuple[str, str], ...]
    strategy_items: tuple[tuple[str, Comparator], ...]

    def __init__(
        self,
        os: str,
        arch: str,
        libc: str | None = None,
        *,
        tags: Mapping[str, str | None] | None = None,
        compare_strategies: Mapping[str, Comparator] | None = None,
    ) -> None:
        os_name = os.lower()
        arch_name = normalize_arch(arch)
        found: dict[str, str] = {}
        given = dict(tags or {})
        if libc is not None:
            if given.get("libc", libc) != libc:
                raise ValueError(f"libc given twice: {libc!r} and {given['libc']!r}")
            given["libc"] = libc
        for name, value in given.items():
            key = name.lower()
            if key in {"os", "arch"}:
                raise ValueError(f"{key} is a Platform argument, not one of its tags")
            if value is None:  # no value: the feature is absent, as Julia reads `nothing`
                continue
            check_tag(key, value)
            found[key] = normalize_value(key, value)
            check_tag(key, found[key])
        check_tag("os", os_name)
        check_tag("arch", arch_name)
        if os_name == "linux":
            found.setdefault("libc", "glibc")
            if arch_name in {"armv7l", "armv6l"}:
                found.setdefault("call_abi", "eabihf")
        strategies = dict(compare_strategies or {})
        for name in strategies:
            if name not in found and name not in {"os", "arch"}:
                raise ValueError(f"a compare strategy for {name!r}, a tag the platform lacks")
        if "julia_version" in found:
            strategies.setdefault("julia_version", compare_julia_version)
        object.__setattr__(self, "os", os_name)
        object.__setattr__(self, "arch", arch_name)
        object.__setattr__(self, "libc", found.pop("libc", None))
        object.__setattr__(self, "tag_items", tuple(sorted(found.items())))
        object.__setattr__(self, "strategy_items", tuple(sorted(strategies.items())))

    @property
    def tags(self) -> dict[str, str]:
        """Every tag, ``os`` and ``arch`` included: the keys an entry for it carries."""
        found = {"os": self.os, "arch": self.arch}
        if self.libc is not None:
            found["libc"] = self.libc
        found.update(self.tag_items)
        return found

    @property
    def compare_strategies(self) -> dict[str, Comparator]:
        """The tags compared other than by equality, and how."""
        return dict(self.strategy_items)

    def get(self, tag: str) -> str | None:
        """Return the value of ``tag``, or None if the platform does not carry it."""
        return self.tags.get(tag)

    @classmethod
    def host(cls) -> Platform:
        """Describe this machine, as far as Python can see it.

        Julia's ``HostPlatform()`` also carries ``libgfortran_version``, ``cxxstring_abi``
        and ``libstdcxx_version`` (read from the libraries loaded in the Julia process),
        ``julia_version`` (the running Julia) and, on macOS and FreeBSD, the ``os_version``
        Julia was built for. None of these exists in a Python process, so they are left
        unset, and an entry carrying them matches whatever their value; pass a platform
        with them set (``Platform.host().with_tags(libgfortran_version="5")``) to choose
        as a given Julia would.
        """
        import platform  # noqa: PLC0415 - only when a platform is asked for

        if sys.platform.startswith("linux"):
            os_name = "linux"
        elif sys.platform == "darwin":
            os_name = "macos"
        elif sys.platform in {"win32", "cygwin"}:
            os_name = "windows"
        elif sys.platform.startswith("freebsd"):
            os_name = "freebsd"
        elif sys.platform.startswith("openbsd"):
            os_name = "openbsd"
        else:
            os_name = sys.platform
        machine = platform.machine().lower()
        arch = {"x86": "i686", "i86pc": "x86_64"}.get(machine, machine)
        libc = None
        if os_name == "linux":
            libc = "glibc" if platform.libc_ver()[0] == "glibc" else "musl"
        return cls(os_name, arch, libc)

    def with_tags(self, **tags: str | None) -> Platform:
        """Return this platform with ``tags`` set (a None value removes a tag)."""
        merged: dict[str, str | None] = dict(self.tags)
        del merged["os"], merged["arch"]
        merged.update(tags)
        strategies = {k: v for k, v in self.strategy_items if merged.get(k) is not None}
        return Platform(self.os, self.arch, tags=merged, compare_strategies=strategies)

    def triplet(self) -> str:
        """Return Julia's triplet: ``x86_64-linux-gnu-libgfortran5-cxx11-cuda+12.1``.

        The extra tags follow in the order of their names (Julia's own order since it
        sorts them; older Julias follow their ``Dict``'s order).
        """
        tags = self.tags
        os_version = parse_version(tags.get("os_version", ""))
        if self.os == "linux":
            text = f"{self.arch}-linux"
        elif self.os == "macos":
            text = f"{self.arch}-apple-darwin" + (str(os_version.major) if os_version else "")
        elif self.os == "windows":
            text = f"{self.arch}-w64-mingw32"
        elif self.os == "freebsd":
            suffix = f"{os_version.major}.{os_version.minor}" if os_version else ""
            text = f"{self.arch}-unknown-freebsd{suffix}"
        elif self.os == "openbsd":
            text = f"{self.arch}-unknown-openbsd"
        else:
            text = f"{self.arch}-unknown"
        if self.libc is not None:
            text += "-gnu" if self.libc == "glibc" else f"-{self.libc}"
        text += tags.get("call_abi", "")
        gfortran = parse_version(tags.get("libgfortran_version", ""))
        if gfortran is not None:
            text += f"-libgfortran{gfortran.major}"
        if "cxxstring_abi" in tags:
            text += f"-{tags['cxxstring_abi']}"
        stdcxx = parse_version(tags.get("libstdcxx_version", ""))
        if stdcxx is not None:
            text += f"-libstdcxx{stdcxx.patch}"
        for name, value in self.tag_items:
            if name not in _TRIPLET_TAGS:
                text += f"-{name}+{value}"
        return text

    def __str__(self) -> str:
        return self.triplet()

    def __repr__(self) -> str:
        extra = dict(self.tag_items)
        if self.os == "linux" and self.libc == "glibc":
            libc = ""
        else:
            libc = f", {self.libc!r}" if self.libc is not None else ""
        shown = f", tags={extra!r}" if extra else ""
        return f"Platform({self.os!r}, {self.arch!r}{libc}{shown})"


def from_entry(entry: Mapping[str, object]) -> Platform:
    """Return the platform an entry of ``Artifacts.toml`` was bound for.

    Every string-valued key is a tag, as Julia's ``unpack_platform`` reads it
    (``lazy`` and ``download`` are not strings; ``git-tree-sha1`` is skipped by name).

    Raises:
        ValueError: no ``os`` or ``arch``, or a tag Julia would refuse.
    """
    os_name, arch = entry.get("os"), entry.get("arch")
    if not isinstance(os_name, str) or not isinstance(arch, str):
        raise ValueError("a platform-specific entry needs os and arch keys")  # noqa: TRY004 - a malformed file, reported as InvalidArtifactsToml, a ValueError
    tags = {k: v for k, v in entry.items() if isinstance(v, str) and k not in _NOT_TAGS}
    return Platform(os_name, arch, tags=tags)


_host: Platform | None = None


def host() -> Platform:
    """Return :meth:`Platform.host`, computed once."""
    global _host  # noqa: PLW0603 - a cache of a fact about this machine
    if _host is None:
        _host = Platform.host()
    return _host
