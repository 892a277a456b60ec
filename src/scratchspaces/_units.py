"""Durations and sizes as people write them.

Durations: ``30s``, ``15m``, ``12h``, ``7d``, ``2w``, ``0``. Sizes: ``500M``, ``2G``,
``1.5GiB``, ``1048576`` (binary multiples).

The command line and the persistent policy read them the same way.
"""

from __future__ import annotations

import math
from datetime import timedelta

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Longer spellings of the same units, read the same way.
_DURATION_WORDS = {
    **dict.fromkeys(("sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("day", "days"), "d"),
    **dict.fromkeys(("wk", "wks", "week", "weeks"), "w"),
}
# Months and years vary in length, and "M" reads as months to some and minutes to others:
# a wrong guess deletes data in use, so these are refused.
_REFUSED_UNITS = {"mo", "mon", "month", "months", "y", "yr", "yrs", "year", "years"}
SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_duration(text: str) -> timedelta:
    """Return ``30s``, ``15m``, ``12h``, ``7d``, ``2w`` or ``0`` as a timedelta.

    Units may be spelled out (``15min``, ``7 days``). ``M`` (minutes or months?), months
    and years are refused: write days (``180d``).

    >>> parse_duration("12h")
    datetime.timedelta(seconds=43200)

    Raises:
        ValueError: anything else, a negative number, or more than a timedelta holds.
    """
    value = text.strip()
    if value == "0":
        return timedelta(0)
    number = value.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    written = value[len(number) :]
    unit = _DURATION_WORDS.get(written.lower(), written.lower())
    if written == "M" or unit in _REFUSED_UNITS:
        raise ValueError(
            f"ambiguous duration {text!r}: minutes are m or min; months and years vary in "
            "length, write days (180d, 365d)"
        )
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if unit not in DURATION_UNITS or not 0 <= amount < math.inf:
        raise ValueError(
            f"invalid duration {text!r}: use a number and one of s, m, h, d, w (30s, 7d) or 0"
        )
    try:
        return timedelta(seconds=amount * DURATION_UNITS[unit])
    except OverflowError:
        raise ValueError(f"invalid duration {text!r}: too long") from None


def parse_size(text: str) -> int:
    """Return ``500M``, ``2G``, ``1.5GiB`` or ``1048576`` as bytes (binary multiples).

    >>> parse_size("2G")
    2147483648

    Raises:
        ValueError: anything else, or a negative number.
    """
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = value[-1:] if value[-1:] in SIZE_UNITS else ""
    try:
        amount = float(value[: len(value) - len(unit)])
    except ValueError:
        amount = -1.0
    if not 0 <= amount < math.inf:
        raise ValueError(
            f"invalid size {text!r}: use bytes or a number with K, M, G or T (500M, 2G)"
        )
    return int(amount * SIZE_UNITS[unit])


def format_duration(delta: timedelta) -> str:
    """Return ``delta`` in the largest unit that writes it whole: ``7d``, ``90m``, ``0``.

    >>> format_duration(timedelta(hours=36))
    '36h'
    """
    seconds = delta.total_seconds()
    if seconds == 0:
        return "0"
    for unit in ("w", "d", "h", "m"):
        if seconds % DURATION_UNITS[unit] == 0:
            return f"{int(seconds // DURATION_UNITS[unit])}{unit}"
    return f"{seconds:g}s"
