"""The whole exception hierarchy of scratchspaces.

Every error the library raises derives from :class:`ScratchspacesError` and from the
matching built-in, so ``except ValueError`` keeps working for callers who do not know
this library. Each error keeps its data in attributes and pickles across processes.
"""

from __future__ import annotations


class ScratchspacesError(Exception):
    """Base of every error this library raises."""


class ScratchspacesWarning(UserWarning):
    """Something went wrong that costs bookkeeping, never the caller's data or result."""


class InvalidKey(ScratchspacesError, ValueError):  # noqa: N818 - named like packaging's InvalidVersion
    """A space key outside ``[A-Za-z0-9._-]{1,255}``, or ``.`` / ``..``."""

    def __init__(self, key: object) -> None:
        self.key = key
        super().__init__(
            f"invalid scratch space key {key!r}: a key is 1 to 255 characters of "
            "A-Z a-z 0-9 . _ - and is not '.' or '..'"
        )

    def __reduce__(self) -> tuple[type[InvalidKey], tuple[object]]:
        return (type(self), (self.key,))


class InvalidName(ScratchspacesError, ValueError):  # noqa: N818 - named like packaging's InvalidName
    """A package name that is not a valid PEP 508 distribution name."""

    def __init__(self, name: object) -> None:
        self.name = name
        super().__init__(
            f"invalid package name {name!r}: a distribution name is letters, digits, "
            "'.', '_' and '-', starting and ending with a letter or digit (PEP 508)"
        )

    def __reduce__(self) -> tuple[type[InvalidName], tuple[object]]:
        return (type(self), (self.name,))


class DepotError(ScratchspacesError, OSError):
    """A depot or the directory for a space cannot be used (for example it is a file)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot use {path!r}: {reason}")

    def __str__(self) -> str:
        # OSError.__str__ would print the args tuple; keep the sentence.
        return f"cannot use {self.path!r}: {self.reason}"

    def __reduce__(self) -> tuple[type[DepotError], tuple[str, str]]:
        return (type(self), (self.path, self.reason))


class AmbiguousModule(ScratchspacesError, ValueError):  # noqa: N818 - reads as a state, like InvalidKey
    """A namespace package whose portions belong to several distributions."""

    def __init__(self, module: str, names: str) -> None:
        self.module = module
        self.names = names
        super().__init__(
            f"module {module!r} is a namespace package shared by the distributions "
            f"{names}; pass the distribution name as pkg"
        )

    def __reduce__(self) -> tuple[type[AmbiguousModule], tuple[str, str]]:
        return (type(self), (self.module, self.names))
