"""Platforms in Julia's names, and which entry of an ``Artifacts.toml`` is for this machine."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

_ARCHES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "i386": "i686",
    "i486": "i686",
    "i586": "i686",
    "i686": "i686",
    "x86": "i686",
    "armv7l": "armv7l",
    "armv7": "armv7l",
    "ppc64le": "powerpc64le",
    "powerpc64le": "powerpc64le",
}


@dataclass(frozen=True, slots=True)
class Platform:
    """A platform in Julia's names: ``Platform("linux", "x86_64", "glibc")``.

    ``os`` is one of ``linux``, ``macos``, ``windows``, ``freebsd``; ``arch`` one of
    ``x86_64``, ``aarch64``, ``i686``, ``armv7l``, ``powerpc64le``; ``libc`` (Linux only)
    ``glibc`` or ``musl``, or None to match either.
    """

    os: str
    arch: str
    libc: str | None = None

    @classmethod
    def host(cls) -> Platform:
        """Describe this machine."""
        import platform  # noqa: PLC0415 - only when a platform is asked for

        if sys.platform.startswith("linux"):
            os_name = "linux"
        elif sys.platform == "darwin":
            os_name = "macos"
        elif sys.platform in {"win32", "cygwin"}:
            os_name = "windows"
        elif sys.platform.startswith("freebsd"):
            os_name = "freebsd"
        else:
            os_name = sys.platform
        machine = platform.machine().lower()
        libc = None
        if os_name == "linux":
            libc = "glibc" if platform.libc_ver()[0] == "glibc" else "musl"
        return cls(os_name, _ARCHES.get(machine, machine), libc)

    def matches(self, entry: Mapping[str, object]) -> bool:
        """Return whether a platform-specific entry of ``Artifacts.toml`` is for this one."""
        if entry.get("os") != self.os or entry.get("arch") != self.arch:
            return False
        libc = entry.get("libc")
        return libc is None or self.libc is None or libc == self.libc

    def tags(self) -> dict[str, str]:
        """Return the keys an entry for this platform carries."""
        found = {"os": self.os, "arch": self.arch}
        if self.libc is not None:
            found["libc"] = self.libc
        return found

    def __str__(self) -> str:
        return "-".join(p for p in (self.arch, self.os, self.libc) if p)


_host: Platform | None = None


def host() -> Platform:
    """Return :meth:`Platform.host`, computed once."""
    global _host  # noqa: PLW0603 - a cache of a fact about this machine
    if _host is None:
        _host = Platform.host()
    return _host


def same_platform(entry: Mapping[str, object], platform: Platform) -> bool:
    """Return whether an entry of ``Artifacts.toml`` was bound for exactly ``platform``."""
    return all(entry.get(key) == value for key, value in platform.tags().items()) and (
        platform.libc is not None or "libc" not in entry
    )
