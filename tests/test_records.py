"""The record-log format (``scratchspaces._records``): the spec's TOML, and reading around damage.

Records are written in the shape any TOML reader (and Julia's Pkg) reads; the reader
takes other writers' layouts, and skips what a crash or a stray write left, with one
warning.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchspaces
from _depots import access_log_file
from _strategies import toml_string
from scratchspaces import ScratchspacesWarning, _accesslog, _identity, _logformat, _records

if TYPE_CHECKING:
    from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib


def test_record_shape_is_the_specs_toml(depot: Path) -> None:
    before = datetime.now(timezone.utc)
    space = scratchspaces.get_scratch("datasets", "scikit-learn")
    data = tomllib.loads(access_log_file(depot).read_text())
    assert list(data) == [str(space)]
    [entry] = data[str(space)]
    assert set(entry) == {"time", "parent_projects"}
    assert before - timedelta(seconds=1) <= entry["time"] <= datetime.now(timezone.utc)
    assert entry["time"].utcoffset() == timedelta(0)
    # scikit-learn is not installed here: the caller's own parent is recorded instead.
    assert entry["parent_projects"] == [_identity.owner_of_file(__file__).parent]


paths = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\0"),
    min_size=1,
    max_size=40,
)


@given(space=paths, parents=st.lists(paths, min_size=1, max_size=3))
def test_written_records_read_back_exactly(space: str, parents: list[str]) -> None:
    """Any path (quotes, backslashes, control characters, non-ASCII) survives the log."""
    when = 1_790_000_000.123
    text = _accesslog.format_record(space, when, parents).decode()
    oracle = tomllib.loads(text)
    assert oracle[space][0]["parent_projects"] == parents
    [record] = _records.parse_log(text)
    assert record.key == space
    assert list(record.parents) == parents
    assert record.time == oracle[space][0]["time"]


def test_reader_accepts_other_writers_layout() -> None:
    """Julia's Pkg (and a human) may space and order things differently."""
    text = (
        '[["/d/scratchspaces/x/k"]]\n'
        'parent_projects = ["/p/one", "/p/two"]\n'
        "time = 2026-01-02T03:04:05.678Z\n\n"
        '[["/d/scratchspaces/x/k"]]\ntime = 2026-01-03T00:00:00Z\n'
        "parent_projects = ['/p/three']\n"
    )
    records = list(_records.parse_log(text))
    assert [r.parents for r in records] == [("/p/one", "/p/two"), ("/p/three",)]
    assert records[1].time == datetime(2026, 1, 3, tzinfo=timezone.utc)


def test_corrupt_records_are_skipped_with_one_warning() -> None:
    good = _accesslog.format_record("/d/scratchspaces/x/good", 1_790_000_000.0, ["/p"]).decode()
    other = _accesslog.format_record("/d/scratchspaces/x/other", 1_790_000_001.0, ["/q"]).decode()
    text = (
        '[["/d/scratchspaces/x/torn"]]\ntime = 2026-11-'  # cut mid-write
        + good
        + "\0" * 64  # a crash on a filesystem that zero-fills
        + '\n[["/d/scratchspaces/x/mangled"]]\ntime = yesterday\nparent_projects = "me"\n'
        + "garbage ]] [[ \n"
        + other
    )
    # The NULs count: a record was being written there, and its key is lost.
    with pytest.warns(ScratchspacesWarning, match="skipped 3 unreadable record") as caught:
        records = list(_records.parse_log(text))
    assert len(caught) == 1
    assert [r.key for r in records] == ["/d/scratchspaces/x/good", "/d/scratchspaces/x/other"]


@given(
    when=st.datetimes(
        min_value=datetime(1000, 1, 1),
        max_value=datetime(9999, 12, 30),
        timezones=st.just(timezone.utc),
    )
)
def test_a_time_read_back_is_written_as_it_was_read(when: datetime) -> None:
    """A collector that changed nothing writes the same log: no time moves by a millisecond.

    (Read as a float a hair below ``.123``, a time was written ``.122``: every other
    record of a condensed log changed at every gc.)
    """
    text = (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}"
        f":{when.second:02d}.{when.microsecond // 1000:03d}Z"
    )
    read = _records.parse_time(text)
    assert _logformat.format_datetime(read) == text
    if 1850 <= when.year < 2100:  # beyond, a float of seconds holds no microseconds
        assert _records.format_time(read.timestamp()) == text
    assert _logformat.format_datetime(read.astimezone(timezone(timedelta(hours=-7)))) == text


@given(value=st.text())
def test_strings_are_escaped_by_the_rule(value: str) -> None:
    assert _records.toml_string(value) == toml_string(value)
    assert tomllib.loads(f"v = {_records.toml_string(value)}")["v"] == value


@given(
    st.from_regex(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z", fullmatch=True
    )
)
def test_a_canonical_time_is_valid_as_parse_time_reads_it(text: str) -> None:
    """valid_time, which makes no datetime, says what parse_time says (month 13, hour 24...)."""
    try:
        _records.parse_time(text)
    except ValueError:
        expected = False
    else:
        expected = True
    assert _records.valid_time(text) is expected
    for shape in ("2026-02-29", "2024-02-29", "0000-01-01", "2026-13-01", "2026-12-31"):
        edge = shape + text[10:]
        try:
            _records.parse_time(edge)
        except ValueError:
            assert not _records.valid_time(edge)
        else:
            assert _records.valid_time(edge)
