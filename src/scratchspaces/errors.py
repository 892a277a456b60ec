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


_PEP508 = (
    "a distribution name is letters, digits, '.', '_' and '-', starting and ending with a "
    "letter or digit (PEP 508)"
)


class InvalidName(ScratchspacesError, ValueError):  # noqa: N818 - named like packaging's InvalidName
    """A package name that is not a valid PEP 508 distribution name, or cannot be a folder.

    ``rule`` is the rule it breaks; by default the PEP 508 one.
    """

    def __init__(self, name: object, rule: str | None = None) -> None:
        self.name = name
        self.rule = rule
        super().__init__(f"invalid package name {name!r}: {rule or _PEP508}")

    def __reduce__(self) -> tuple[type[InvalidName], tuple[object, str | None]]:
        return (type(self), (self.name, self.rule))


class DepotError(ScratchspacesError, OSError):
    """A depot, a space or a store cannot be used or written.

    A file or a link where a folder should be, a full or read-only disk, a permission
    refused. ``errno`` is the operating system's error number when one caused it (so
    ``exc.errno == errno.ENOSPC`` tells a full disk), else None; the ``OSError`` it came
    from is its ``__cause__``.
    """

    def __init__(self, path: str, reason: str, errno: int | None = None) -> None:
        if errno is None:
            super().__init__(f"cannot use {path!r}: {reason}")
        else:
            super().__init__(errno, reason, path)
        self.path = path
        self.reason = reason

    @classmethod
    def of(cls, path: str, what: str, exc: OSError) -> DepotError:
        """Return the error for the OS refusing ``what`` at ``path``, with ``exc``'s errno.

        ``exc`` itself when it is one already. Raise it ``from exc``.
        """
        if isinstance(exc, DepotError):
            return exc
        return cls(path, f"{what}: {exc.strerror or exc}", exc.errno)

    def __str__(self) -> str:
        # OSError.__str__ would print the args tuple; keep the sentence.
        return f"cannot use {self.path!r}: {self.reason}"

    def __reduce__(self) -> tuple[type[DepotError], tuple[str, str, int | None]]:
        return (type(self), (self.path, self.reason, self.errno))


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


# --- artifacts (section 5) -----------------------------------------------------------------


class InvalidHash(ScratchspacesError, ValueError):  # noqa: N818 - reads as a state, like InvalidKey
    """A string that is not an artifact's git-tree-sha1: 40 hexadecimal digits."""

    def __init__(self, value: object, expected: str = "40 hexadecimal digits") -> None:
        self.value = value
        self.expected = expected
        super().__init__(f"invalid artifact hash {value!r}: expected {expected}")

    def __reduce__(self) -> tuple[type[InvalidHash], tuple[object, str]]:
        return (type(self), (self.value, self.expected))


class UnsupportedFile(ScratchspacesError, ValueError):  # noqa: N818 - reads as a state
    """Something a tree cannot hold: a FIFO, socket or device; in the cache, an outward link."""

    def __init__(self, path: str, reason: str | None = None) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"cannot store {path!r}: {reason}"
            if reason
            else f"cannot hash {path!r}: only regular files, directories and symlinks can be "
            "part of an artifact"
        )

    def __reduce__(self) -> tuple[type[UnsupportedFile], tuple[str, str | None]]:
        return (type(self), (self.path, self.reason))


class HashMismatch(ScratchspacesError, ValueError):  # noqa: N818 - named like pip's HashMismatch
    """A tarball's sha256 or an extracted tree's git tree hash is not the expected one."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        self.what = what
        self.expected = expected
        self.actual = actual
        super().__init__(f"{what}: expected {expected}, got {actual}")

    def __reduce__(self) -> tuple[type[HashMismatch], tuple[str, str, str]]:
        return (type(self), (self.what, self.expected, self.actual))


class ArchiveError(ScratchspacesError, ValueError):
    """A tarball that cannot be read: truncated, not gzip, not tar."""

    def __init__(self, archive: str, reason: str) -> None:
        self.archive = archive
        self.reason = reason
        super().__init__(f"cannot extract {archive}: {reason}")

    def __reduce__(self) -> tuple[type[ArchiveError], tuple[str, str]]:
        return (type(self), (self.archive, self.reason))


class UnsafeArchive(ArchiveError):  # noqa: N818 - named after what it refuses
    """A tarball member that would land outside the tree or is not a file, directory or link.

    Refused outright, as Julia's Tar.jl does, rather than rewritten: nothing is extracted.
    """

    def __init__(self, archive: str, reason: str) -> None:
        super().__init__(archive, reason)
        self.args = (f"refusing to extract {archive}: {reason}",)


class InvalidArtifactsToml(ScratchspacesError, ValueError):  # noqa: N818 - reads as a state
    """An ``Artifacts.toml`` that is not in the shape Pkg writes."""

    def __init__(self, path: str, entry: str | None, reason: str) -> None:
        self.path = path
        self.entry = entry
        self.reason = reason
        where = f"entry {entry!r} of {path}" if entry is not None else path
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[type[InvalidArtifactsToml], tuple[str, str | None, str]]:
        return (type(self), (self.path, self.entry, self.reason))


class BindingExists(ScratchspacesError, ValueError):  # noqa: N818 - reads as a state
    """A name already bound in a binding file, and ``force`` was not given."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name
        super().__init__(f"{path} already binds {name!r}; pass force=True to replace it")

    def __reduce__(self) -> tuple[type[BindingExists], tuple[str, str]]:
        return (type(self), (self.path, self.name))


class ArtifactNotFound(ScratchspacesError, LookupError):  # noqa: N818 - like LookupError's KeyError
    """No artifact by that name or hash: not bound (for this platform), or not installed."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"no artifact {name!r}: {reason}")

    def __reduce__(self) -> tuple[type[ArtifactNotFound], tuple[str, str]]:
        return (type(self), (self.name, self.reason))


class DownloadError(ScratchspacesError, OSError):
    """No source of an artifact could be fetched, or an upload failed."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")

    def __reduce__(self) -> tuple[type[DownloadError], tuple[str, str]]:
        return (type(self), (self.url, self.reason))
