"""Writing record logs: the TOML of one record, appending it, rewriting a log only if changed.

The shape is described in :mod:`._records`, which reads it. A time is written to the
millisecond, in UTC, and reads back as the same text: a log condensed from what was read
is byte for byte the log that was read when nothing changed, so a collector can tell
that it has nothing to write (see :func:`rewrite`).

Nothing here is on the warm path of ``get_scratch``.
"""

from __future__ import annotations

import os
import stat
import time
from typing import TYPE_CHECKING

from . import _fs

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

_ESCAPES: dict[int, str] = {
    **{code: f"\\u{code:04x}" for code in [*range(0x20), 0x7F]},
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}


def toml_string(value: str) -> str:
    """Return ``value`` as a TOML basic string.

    Quotes, backslashes and control characters are escaped; anything else is written
    as it is (a path rarely holds any of those: it is copied in one step).
    """
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # nothing to escape: printable excludes every control character
    return '"' + value.translate(_ESCAPES) + '"'


def toml_strings(values: Iterable[str]) -> str:
    """Return ``values`` as a TOML array of basic strings, on one line."""
    return "[" + ", ".join(toml_string(v) for v in values) + "]"


def format_time(seconds: float) -> str:
    """Return ``seconds`` since the epoch as a TOML offset date-time in UTC, to the ms.

    Rounded to the microsecond first: a time read back from the log (a float a hair
    below ``.123``) is written as it was read, not a millisecond earlier.
    """
    whole, micros = divmod(round(seconds * 1_000_000), 1_000_000)
    day, rest = divmod(whole, 86_400)
    date = _dates.get(day)
    if date is None:  # once a day of records: a log's records span few days
        if len(_dates) > 4096:
            _dates.clear()
        t = time.gmtime(whole)
        date = _dates[day] = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{date}{hour:02d}:{minute:02d}:{second:02d}.{micros // 1000:03d}Z"


_dates: dict[int, str] = {}
"""Days since the epoch -> their date, as :func:`format_time` writes it."""


def format_datetime(when: datetime) -> str:
    """Return the aware ``when`` as :func:`format_time` writes ``when.timestamp()``."""
    if when.utcoffset():  # a time read with another offset is written in UTC
        from datetime import timezone  # noqa: PLC0415 - rare: our own times are in UTC

        when = when.astimezone(timezone.utc)
    text = when.isoformat()  # YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00, the fastest way there
    return text[:23] + "Z" if when.microsecond else text[:19] + ".000Z"


def format_record(key: str, fields: Iterable[tuple[str, str]]) -> bytes:
    """Return one record: ``[["<key>"]]`` and a ``name = value`` line per field.

    ``fields`` are (name, TOML value) pairs, in the order they are written.
    """
    lines = [f"\n[[{toml_string(key)}]]\n", *(f"{name} = {value}\n" for name, value in fields)]
    return "".join(lines).encode("utf-8")


def append(path: str, data: bytes) -> None:
    """Append ``data`` to ``path`` in one ``write`` on an ``O_APPEND`` descriptor."""
    # Never through a link: a log is the depot's own file, in a folder others may write.
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags | getattr(os, "O_BINARY", 0), 0o644)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes (disk full?)")
    finally:
        os.close(fd)


def append_stamped(
    log: str,
    stamp: str,
    data: bytes,
    now: float,
    *,
    content: str,
    always: bool = False,
    journal: tuple[str, str] | None = None,
) -> None:
    """Append the record ``data`` to ``log``, leaving ``stamp`` (recording ``content``) at ``now``.

    See :mod:`._stamps`. ``always``: append even if the stamp cannot be made;
    ``journal``: where to note the stamp, and its folders.
    """
    from . import _stamps  # noqa: PLC0415 - writing is not on the warm path

    _stamps.write(lambda: append(log, data), stamp, content, now, always=always, journal=journal)


def holds(path: str, data: bytes) -> bool:
    """Whether ``path`` is a regular file (not a link) holding exactly ``data``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        view = memoryview(data)
        done = 0
        while done < len(data):
            block = os.read(fd, min(1 << 20, len(data) - done))
            if not block or view[done : done + len(block)] != block:
                return False
            done += len(block)
        return not os.read(fd, 1)
    except OSError:
        return False
    finally:
        os.close(fd)


def rewrite(path: str, data: bytes) -> bool:
    """Atomically replace ``path`` with ``data``, unless it holds exactly that; return if written.

    A log condensed with nothing to drop is what it was: not rewriting it spares a
    daily gc a write and a sync, and the log's readers a new file.

    Raises:
        DepotError: it cannot be written (a full or read-only disk).
    """
    if holds(path, data):
        return False
    _fs.atomic_write(path, data)
    return True
