"""Damage to the files a depot is read from, as Hypothesis strategies (see ``test_fuzz.py``).

A damage is a short sequence of operations on a file's bytes: flipped bytes, a
truncation, NULs where a crash left them, nested ``[[[[`` runs, bad characters in a
value, invalid UTF-8, huge lines, duplicated lines, values of the wrong type, whole
records of the right shape with random keys, and a whole file replaced.

Operations are symbolic, resolved against the file when applied: they aim at a record,
a line of it, a field of it, and an offset, each taken modulo what is there, so the same
damage applies to any file and shrinks well. Every operation becomes *splices* (bytes
``[start, end)`` replaced), and each record's span is followed through the splices: a
record's span in the damaged file is what the oracle reads to decide whether that record
survived, became unreadable, or was cut off cleanly.

Records are found the way the formats lay them out: a record log's records and a binding
file's tables start on a line beginning with ``[``; an orphanage has one record per line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from hypothesis import strategies as st

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

Style = Literal["records", "lines"]
"""How records are laid out: ``records`` start on a ``[`` line; ``lines``: one per line."""

Span: TypeAlias = tuple[int, int]

# --- splices and the spans they move ---------------------------------------------------------


@dataclass(frozen=True)
class Splice:
    """Replace ``text[start:end]`` with ``data``."""

    start: int
    end: int
    data: bytes


def _move(span: Span, cut: Splice) -> Span:
    """Return where ``span`` is after ``cut``; an empty span is a record removed.

    Bytes inserted exactly at a span's edge belong to no record: they are junk between
    records, and both neighbours are untouched.
    """
    a, b = span
    delta = len(cut.data) - (cut.end - cut.start)
    if a == b:  # removed already: stays removed, between its neighbours
        pos = a + delta if a > cut.start and a >= cut.end else min(a, cut.start)
        return (pos, pos)
    if b <= cut.start:
        return span
    if a >= cut.end:
        return (a + delta, b + delta)
    start = min(a, cut.start)
    end = b + delta if b > cut.end else cut.start + len(cut.data)
    return (start, end) if end > start else (start, start)


def apply_splices(
    text: bytes, spans: list[Span], cuts: Sequence[Splice]
) -> tuple[bytes, list[Span]]:
    """Apply non-overlapping ``cuts`` (positions in ``text``), moving ``spans`` along."""
    for cut in sorted(cuts, key=lambda c: (c.start, c.end), reverse=True):
        text = text[: cut.start] + cut.data + text[cut.end :]
        spans = [_move(span, cut) for span in spans]
    return text, spans


# --- the layout of a file --------------------------------------------------------------------


def record_spans(text: bytes, style: Style) -> list[Span]:
    """Return the span of every record of ``text``.

    ``records``: each starts at the newline before a line beginning with ``[`` (or at
    the file's start), so a record written as ``\\n[["key"]]\\n...`` owns its blank line.
    ``lines``: each non-blank line, with its newline.
    """
    if style == "lines":
        spans: list[Span] = []
        start = 0
        for line in text.split(b"\n"):
            end = min(start + len(line) + 1, len(text))
            if line.strip():
                spans.append((start, end))
            start += len(line) + 1
        return spans
    starts = [0] if text.startswith(b"[") else []
    starts += [m.start() for m in re.finditer(rb"\n\[", text)]
    if not starts:
        return []
    return [(s, e) for s, e in zip(starts, [*starts[1:], len(text)], strict=True)]


def _lines(text: bytes, span: Span) -> list[Span]:
    """Return the spans of the lines of ``text[span]`` (without their newlines)."""
    found: list[Span] = []
    pos = span[0]
    for line in text[span[0] : span[1]].split(b"\n"):
        found.append((pos, pos + len(line)))
        pos += len(line) + 1
    return found


def _fields(text: bytes, span: Span) -> list[tuple[bytes, Span]]:
    """Return each ``name = value`` line of a record: its name and its value's span."""
    found: list[tuple[bytes, Span]] = []
    for a, b in _lines(text, span):
        line = text[a:b]
        cut = line.rfind(b" = ")
        if cut > 0 and not line.startswith(b"["):
            found.append((line[:cut].strip(b'"'), (a + cut + 3, b)))
    return found


# --- where an operation aims -----------------------------------------------------------------


@dataclass(frozen=True)
class At:
    """A position: record ``record``, its line ``line``, ``offset`` bytes in (all modulo).

    In a file with no records, ``offset`` is taken modulo the file's length.
    """

    record: int = 0
    line: int = 0
    offset: int = 0

    def resolve(self, text: bytes, style: Style) -> int:
        """Return the absolute position this names in ``text``."""
        records = record_spans(text, style)
        if not records:
            return self.offset % (len(text) + 1)
        lines = _lines(text, records[self.record % len(records)])
        a, b = lines[self.line % len(lines)]
        return a + self.offset % (b - a + 1)


Field: TypeAlias = int | str
"""A field by name (``time``), or by index among the record's ``name = value`` lines."""


def _value_span(text: bytes, style: Style, record: int, field: Field) -> Span | None:
    """Return the span of a field's value, or None if the file has no records."""
    records = record_spans(text, style)
    if not records:
        return None
    span = records[record % len(records)]
    fields = _fields(text, span)
    if not fields:  # no field: the record's first non-blank line stands for it
        lines = [line for line in _lines(text, span) if line[1] > line[0]]
        return lines[0] if lines else span
    if isinstance(field, str):
        named = [s for name, s in fields if name == field.encode()]
        if named:
            return named[0]
    return fields[(field if isinstance(field, int) else 0) % len(fields)][1]


# --- what a random record holds (rendered per file kind) -------------------------------------

Ref: TypeAlias = int | str
"""A value of a generated record: an index into the file kind's pool of real values
(spaces, parents, binding files, hashes, ids), or a random string."""


@dataclass(frozen=True)
class NewRecord:
    """A record of the right shape for its file, with random or real keys and values."""

    key: Ref
    when: str
    """A TOML date-time literal."""
    refs: tuple[Ref, ...] = ()
    """Parents (the access log), or files (the cache's usage records)."""
    toml: Ref = 0
    name: Ref = 0


Render: TypeAlias = "Callable[[NewRecord], bytes]"


# --- the operations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Flip:
    """XOR one byte with ``mask``."""

    at: At
    mask: int

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        if not text:
            return []
        pos = min(self.at.resolve(text, style), len(text) - 1)
        return [Splice(pos, pos + 1, bytes([text[pos] ^ self.mask]))]


@dataclass(frozen=True)
class Truncate:
    """Cut the file at a position (a crash mid-append; a full disk)."""

    at: At

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        return [Splice(self.at.resolve(text, style), len(text), b"")]


@dataclass(frozen=True)
class NulFill:
    """Overwrite ``length`` bytes from a position with NULs (None: to the end)."""

    at: At
    length: int | None = None

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        start = self.at.resolve(text, style)
        end = len(text) if self.length is None else min(len(text), start + self.length)
        return [Splice(start, end, b"\0" * (end - start))]


@dataclass(frozen=True)
class NulRecord:
    """Overwrite a record with NULs from ``skip`` bytes in: what a crash leaves of the
    last append on filesystems that extend a file before its data is written."""

    record: int = -1
    skip: int = 1

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        records = record_spans(text, style)
        if not records:
            return []
        a, b = records[self.record % len(records)]
        start = a + self.skip % (b - a)
        return [Splice(start, b, b"\0" * (b - start))]


@dataclass(frozen=True)
class NulExtend:
    """Append NULs: a file extended by a crash, with no data written."""

    count: int

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        return [Splice(len(text), len(text), b"\0" * self.count)]


@dataclass(frozen=True)
class Insert:
    """Insert ``data`` at a position."""

    at: At
    data: bytes

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        pos = self.at.resolve(text, style)
        return [Splice(pos, pos, self.data)]


@dataclass(frozen=True)
class ReplaceValue:
    """Replace a field's whole value (a value of the wrong type, a deep nest)."""

    record: int
    field: Field
    data: bytes

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        span = _value_span(text, style, self.record, self.field)
        return [] if span is None else [Splice(span[0], span[1], self.data)]


@dataclass(frozen=True)
class ReplaceChar:
    """Replace one byte of a field's value with ``data`` (a bad character in a time)."""

    record: int
    field: Field
    offset: int
    data: bytes

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        span = _value_span(text, style, self.record, self.field)
        if span is None or span[1] == span[0]:
            return []
        pos = span[0] + self.offset % (span[1] - span[0])
        return [Splice(pos, pos + 1, self.data)]


@dataclass(frozen=True)
class DuplicateLine:
    """Repeat a line of a record right after it (a duplicate key)."""

    record: int
    line: int

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        records = record_spans(text, style)
        if not records:
            return []
        lines = [s for s in _lines(text, records[self.record % len(records)]) if s[1] > s[0]]
        if not lines:
            return []
        a, b = lines[self.line % len(lines)]
        return [Splice(b, b, b"\n" + text[a:b])]


@dataclass(frozen=True)
class DuplicateRecord:
    """Repeat a whole record right after it."""

    record: int

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        records = record_spans(text, style)
        if not records:
            return []
        a, b = records[self.record % len(records)]
        copy = text[a:b] if text[a:b].endswith(b"\n") else text[a:b] + b"\n"
        return [Splice(b, b, copy)]


@dataclass(frozen=True)
class AddRecords:
    """Insert records of the right shape, with random keys, before record ``before``
    (modulo one more than there are: the end of the file)."""

    before: int
    records: tuple[NewRecord, ...]

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        starts = [a for a, _b in record_spans(text, style)] + [len(text)]
        pos = starts[self.before % len(starts)]
        data = b"".join(render(r) for r in self.records)
        if pos == len(text) and text and not text.endswith(b"\n"):
            data = b"\n" + data
        return [Splice(pos, pos, data)]


@dataclass(frozen=True)
class ReplaceAll:
    """Replace the whole file."""

    data: bytes

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        # Cut, then insert: the new content is no record's. Bytes alone cannot tell a
        # replaced file from an emptied one written anew.
        return [Splice(0, len(text), b""), Splice(0, 0, self.data)]


@dataclass(frozen=True)
class CrLf:
    """Turn every line ending into CRLF (a file edited on Windows)."""

    def splices(self, text: bytes, style: Style, render: Render) -> list[Splice]:
        return [Splice(m.start(), m.end(), b"\r\n") for m in re.finditer(rb"(?<!\r)\n", text)]


Op: TypeAlias = (
    Flip
    | Truncate
    | NulFill
    | NulRecord
    | NulExtend
    | Insert
    | ReplaceValue
    | ReplaceChar
    | DuplicateLine
    | DuplicateRecord
    | AddRecords
    | ReplaceAll
    | CrLf
)


@dataclass(frozen=True)
class Damaged:
    """A file before and after damage, with each original record's span in both."""

    before: bytes
    after: bytes
    spans: list[tuple[Span, Span]]
    """(span in ``before``, span in ``after``; empty if the record was cut off)."""

    def region(self, index: int) -> bytes | None:
        """Return what became of record ``index``: its bytes, None if it was cut off."""
        a, b = self.spans[index][1]
        return self.after[a:b] if b > a else None


def damage(text: bytes, ops: Sequence[Op], style: Style, render: Render) -> Damaged:
    """Apply ``ops`` to ``text`` in turn, following each original record."""
    originals = record_spans(text, style)
    current, spans = text, list(originals)
    for op in ops:
        current, spans = apply_splices(current, spans, op.splices(current, style, render))
    return Damaged(text, current, list(zip(originals, spans, strict=True)))


# --- strategies ------------------------------------------------------------------------------


class Run(bytes):
    """``head + unit * times + tail``, shown that way: a falsifying example stays readable."""

    head: bytes
    unit: bytes
    times: int
    tail: bytes

    def __new__(cls, head: bytes, unit: bytes, times: int, tail: bytes) -> Run:
        self = super().__new__(cls, head + unit * times + tail)
        self.head, self.unit, self.times, self.tail = head, unit, times, tail
        return self

    def __repr__(self) -> str:
        return f"Run({self.head!r}, {self.unit!r}, {self.times}, {self.tail!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


small = st.integers(0, 40)
positions = st.builds(At, record=small, line=small, offset=st.integers(0, 400))
line_starts = st.builds(At, record=small, line=small)

INVALID_UTF8 = [
    b"\xff",
    b"\xfe\xfe",
    b"\x80",
    b"\xc3",  # a lead byte with nothing after
    b"\xc0\xaf",  # overlong "/"
    b"\xe2\x82",  # truncated euro sign
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\xf4\x90\x80\x80",  # past U+10FFFF
]
invalid_utf8 = st.lists(st.sampled_from(INVALID_UTF8), min_size=1, max_size=3).map(b"".join)

# Characters that look like they might belong in a date-time, and some that do not.
TIME_CHARS = [
    b"\0",
    b" ",
    b"\t",
    b"\x7f",
    b"x",
    b"Z",
    b"z",
    b"T",
    b"t",
    b"+",
    b"-",
    b":",
    b".",
    b"_",
    b'"',
    b"\\",
    b"[",
    b"]",
    b"\n",
    b"\r",
    "\u0663".encode(),  # ARABIC-INDIC DIGIT THREE: str.isdigit() says yes
    "\uff11".encode(),  # FULLWIDTH DIGIT ONE
    "\u00b2".encode(),  # SUPERSCRIPT TWO
    "\u00a0".encode(),  # NO-BREAK SPACE
    "\u2028".encode(),  # LINE SEPARATOR
]
bad_chars = st.one_of(
    st.sampled_from(TIME_CHARS),
    st.characters(codec="utf-8").map(str.encode),
    invalid_utf8,
)

WRONG_VALUES = [
    b'"2026-11-21T10:00:00.123Z"',  # a time as a string
    b"42",
    b"-1",
    b"3.5",
    b"nan",
    b"inf",
    b"true",
    b"[]",
    b"[1, 2]",
    b'[["nested"]]',
    b"{}",
    b"{ a = 1 }",
    b"1979-05-27",  # a date without a time
    b"07:32:00",  # a time without a date
    b"1979-05-27T07:32:00",  # no offset
    b"0000-01-01T00:00:00Z",
    b"9999-12-31T23:59:59.999999Z",
    b"2026-13-01T00:00:00.000Z",  # month 13
    b"2026-02-30T00:00:00.000Z",  # no such day
    b"2026-11-21T24:00:00.000Z",
    b'"""\nmulti\nline"""',
    b"'literal'",
    b"",
]
wrong_values = st.sampled_from(WRONG_VALUES)

OPENERS = [b"[", b"[[", b"{a=", b"[{a=", b"{a=[", b"{a.b=["]


def nested(heads: list[bytes], depths: st.SearchStrategy[int]) -> st.SearchStrategy[bytes]:
    """``[[[[...`` and the like, after one of ``heads``."""
    return st.builds(
        Run,
        st.sampled_from(heads),
        st.sampled_from(OPENERS),
        depths,
        st.sampled_from([b"", b"]", b"]]\n", b"}"]),
    )


THOUSANDS = st.integers(1_000, 20_000)  # past any recursion limit
nests = nested([b"", b"x = ", b"\nx = ", b'\n[["k"]]\nx = ', b"\n"], st.integers(1, 64))
deep_values = nested([b""], THOUSANDS)  # in place of a value
deep_lines = nested([b"x = ", b'[["k"]]\nx = ', b"[x]\ny = ", b""], THOUSANDS)  # at a line's start

BLOCK = 1 << 22  # the record reader's block: lines across it are the interesting ones
huge_lines = st.builds(
    Run,
    st.sampled_from([b"", b"\n", b'\nx = "', b'\n[["']),
    st.just(b"x"),
    # 4 MiB and more costs seconds per example: test_fuzz runs that size once per reader.
    st.one_of(st.integers(1, 5_000), st.integers(60_000, 70_000)),
    st.sampled_from([b"", b"\n", b'"\n', b'"]]\n']),
)

junk = st.one_of(
    st.binary(max_size=64),
    invalid_utf8,
    nests,
    huge_lines,
    st.sampled_from(
        [b"\n", b"\n[[", b"\n[", b"]]", b'"', b"\\", b"\r", b"=", b" = ", b"#", b"\n#", b"\t"]
    ),
)

# A TOML date-time literal: UTC, offsets, local, with and without fractions.
times = st.builds(
    lambda when, spec, sep, z: when.isoformat(sep=sep, timespec=spec).replace(
        "+00:00", "Z" if z else "+00:00"
    ),
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31),
        timezones=st.one_of(
            st.none(),
            st.just(timezone.utc),
            st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m))),
        ),
    ),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
    st.sampled_from(["T", " "]),
    st.booleans(),
)

refs: st.SearchStrategy[Ref] = st.one_of(
    st.integers(0, 20), st.text(st.characters(codec="utf-8"), max_size=60)
)
new_records = st.builds(
    NewRecord,
    key=refs,
    when=times,
    refs=st.lists(refs, max_size=3).map(tuple),
    toml=refs,
    name=refs,
)
fields: st.SearchStrategy[Field] = st.one_of(st.just("time"), st.integers(0, 6))

# One branch per kind of damage, so each is drawn about as often as the others.
ops: st.SearchStrategy[Op] = st.one_of(
    st.builds(Flip, positions, st.integers(1, 255)),
    st.builds(Truncate, positions),
    st.builds(NulFill, positions, st.one_of(st.none(), st.integers(1, 200))),
    st.builds(NulRecord, st.integers(-3, 10), st.integers(0, 200)),
    st.builds(NulExtend, st.integers(1, 8192)),
    st.builds(ReplaceValue, small, fields, deep_values),
    st.builds(Insert, line_starts, deep_lines),
    st.builds(ReplaceChar, small, st.just("time"), st.integers(0, 40), bad_chars),
    st.builds(ReplaceChar, small, fields, st.integers(0, 400), invalid_utf8),
    st.builds(Insert, positions, invalid_utf8),
    st.builds(Insert, positions, huge_lines),
    st.builds(DuplicateLine, small, small),
    st.builds(ReplaceValue, small, fields, wrong_values),
    st.builds(AddRecords, small, st.lists(new_records, min_size=1, max_size=3).map(tuple)),
    st.builds(DuplicateRecord, small),
    st.builds(Insert, positions, junk),
    st.builds(ReplaceValue, small, fields, junk),
    st.builds(ReplaceAll, st.one_of(st.binary(max_size=200), junk)),
    st.just(CrLf()),
)
damages = st.lists(ops, min_size=1, max_size=3).map(tuple)
"""One to three operations, applied in turn."""


def toml_string(value: str) -> str:
    """Return ``value`` as a TOML basic string (written here, not by the library)."""
    escaped = []
    for char in value:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'
