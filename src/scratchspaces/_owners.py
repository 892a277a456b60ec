"""Who wrote a temporary file, so that a collector can tell a crash's leftover from work in flight.

A writer that is killed between creating ``<name>.tmp-...`` and renaming it into place
leaves the temporary behind. Locks would say whether the writer is still at work, but
where locks hold on one machine only (NFS mounted ``nolock``, Lustre ``localflock``),
removing another machine's temporary in flight makes its rename fail and can lose a
record. So a temporary's name says which process on which machine writes it,
``<name>.tmp-<pid>-<random>@<host>.<pid namespace>``: on the same machine (and in the
same pid namespace) a collector removes it as soon as that process is gone; from
another machine (or named by an older version), once it is a day old.
"""

from __future__ import annotations

import contextlib
import os

TMP_MARK = ".tmp-"
STALE_AFTER = 24 * 60 * 60
"""A temporary this old is abandoned, whoever wrote it."""

_NAME = r"\.tmp-(\d+)-[0-9a-f]+@([^/\\]*)\Z"  # compiled by re on first use
_host: str | None = None


def host() -> str:
    """Return this machine's name, and the pid namespace, as temporaries spell them.

    Containers may share a host name, never a pid namespace: a pid is looked up only
    where it means the same process.
    """
    global _host  # noqa: PLW0603 - computed once per process, on the write path only
    if _host is None:
        name = os.uname().nodename if hasattr(os, "uname") else os.environ.get("COMPUTERNAME", "")
        import re  # noqa: PLC0415 - once per process, on the write path only

        name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64]
        with contextlib.suppress(OSError):  # not Linux: the host name alone
            name += f".{os.stat('/proc/self/ns/pid').st_ino}"
        _host = name
    return _host


def temporary_name(path: str) -> str:
    """Return a new name for a temporary beside ``path``, saying who writes it."""
    return f"{path}{TMP_MARK}{os.getpid()}-{os.urandom(4).hex()}@{host()}"


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file of an atomic write (ours or an older version's)."""
    return TMP_MARK in name


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, and belongs to someone else; or we cannot tell
        return True
    return True


def abandoned(name: str, changed: float, now: float) -> bool:
    """Whether the temporary ``name``, last changed at ``changed`` (its ctime), is a leftover.

    Its writer is gone if it ran on this machine and no longer runs; any temporary is
    abandoned once ``STALE_AFTER`` old.
    """
    if now - changed > STALE_AFTER:
        return True
    import re  # noqa: PLC0415 - only when a collector finds a temporary

    match = re.search(_NAME, name)
    if match is None or match.group(2) != host() or os.name == "nt":
        return False
    return not _running(int(match.group(1)))
