"""What a depot holds, as ``list``, ``du`` and ``info`` show it (``scratchspaces._inventory``).

The spaces on disk (real folders only, sorted or as listed), the log condensed per space
(each list of parents held once, never changed in place), each parent judged once, the
stamps a summary need not open; and the command line's streamed output, which must
print what it printed when it held every row.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchspaces
from _cli import cli_output, run_cli
from _depots import cache_entries, cache_store, write_access_log
from _fills import DATASET, file_writer, fill_artifact, writer
from scratchspaces import _accesslog, _inventory, _summary, artifacts, cache
from scratchspaces.cache import _store
from scratchspaces.cli import _depot as _cli_depot
from scratchspaces.cli import _output

if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _space(depot: Path, namespace: str, key: str, data: bytes = b"") -> Path:
    path = depot / "scratchspaces" / namespace / key
    path.mkdir(parents=True)
    if data:
        (path / "data").write_bytes(data)
    return path


# --- the spaces on disk ----------------------------------------------------------------------


def test_iter_spaces_lists_real_folders_only_sorted_or_as_listed(
    depot: Path, tmp_path: Path
) -> None:
    """Links (to a namespace or a key), files and the content cache's store are not spaces."""
    outside = tmp_path / "outside"
    (outside / "k").mkdir(parents=True)
    expected = [_space(depot, ns, key) for ns in ("b", "a", "c") for key in ("y", "x")]
    root = depot / "scratchspaces"
    (root / "linked-ns").symlink_to(outside, target_is_directory=True)
    (root / "a" / "linked-key").symlink_to(outside / "k", target_is_directory=True)
    (root / "a" / "file-key").write_text("not a space")
    (root / "not-a-namespace").write_text("a file")
    cache_store(depot).mkdir(parents=True)  # scratchspaces/_cache: the store, not a space
    _space(depot, "scratchspaces", "some-pkg")  # a binding file's space is one

    ordered = list(_inventory.iter_spaces(str(depot)))
    want = sorted([*expected, root / "scratchspaces" / "some-pkg"])
    assert ordered == [(str(p), p.parent.name, p.name) for p in want]
    assert _inventory.spaces_on_disk(str(depot)) == ordered
    assert sorted(_inventory.iter_spaces(str(depot), ordered=False)) == ordered
    assert [p for p, _, _ in _inventory.iter_spaces(str(depot), "a")] == [
        str(root / "a" / "x"),
        str(root / "a" / "y"),
    ]
    assert list(_inventory.iter_spaces(str(depot), "linked-ns")) == []
    assert list(_inventory.iter_spaces(str(tmp_path / "no-depot"))) == []


# --- the log, condensed ----------------------------------------------------------------------


def test_spaces_share_a_list_of_parents_and_one_that_gains_a_parent_gets_its_own(
    depot: Path,
) -> None:
    """Parents in first-recorded order; the list the spaces of a package share is held once."""
    a, b, c = (_space(depot, "pkg", k) for k in "abc")
    p, q = "/site/pkg-1.0.dist-info", "/site/other-2.0.dist-info"
    write_access_log(
        depot,
        [
            (a, T0, [p]),
            (b, T0, [p]),
            (c, T0, [p]),
            (a, T0 + timedelta(hours=1), [q, p]),
            (b, T0 - timedelta(hours=1), [p]),
        ],
    )
    spaces = _summary.summarize(str(depot)).spaces
    assert list(spaces[str(a)].parents) == [p, q]
    assert list(spaces[str(b)].parents) == [p]  # not changed through a's
    assert spaces[str(b)].parents is spaces[str(c)].parents
    assert spaces[str(a)].latest == T0 + timedelta(hours=1)
    assert spaces[str(b)].latest == T0


def test_a_parent_is_judged_once_for_all_its_spaces(
    depot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alive, gone = tmp_path / "pkg-1.0.dist-info", tmp_path / "gone-1.0.dist-info"
    alive.mkdir()
    spaces = [_space(depot, "pkg", f"k{i}") for i in range(20)]
    write_access_log(depot, [(s, T0, [str(alive), str(gone)]) for s in spaces])
    looked: list[str] = []
    real = os.path.exists

    def exists(path: Any) -> bool:
        looked.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(os.path, "exists", exists)
    infos = _inventory.inventory(str(depot))
    assert [i.parents for i in infos] == [((str(alive), True), (str(gone), False))] * 20
    assert sorted(looked) == sorted([str(alive), str(gone)])


def test_spaces_sharing_a_list_of_parents_share_it_judged(
    depot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One tuple of judged parents per list the log shares; the table's cells as each says."""
    alive, gone = tmp_path / "pkg-1.0.dist-info", tmp_path / "gone-1.0.dist-info"
    alive.mkdir()
    lists = {"a": [str(alive)], "b": [str(gone)], "c": [str(gone), str(alive)]}
    recorded = [(_space(depot, "pkg", f"{n}{i}"), T0, lists[n]) for n in "abc" for i in range(3)]
    write_access_log(depot, recorded)
    _space(depot, "pkg", "never")
    infos = _inventory.inventory(str(depot))
    by_list = {n: [i.parents for i in infos if i.key.startswith(n)] for n in "abc"}
    for n, found in by_list.items():
        assert all(p is found[0] for p in found)  # one tuple, not an equal one each
        assert [p for p, _alive in found[0]] == lists[n]
    assert by_list["c"][0] == ((str(gone), False), (str(alive), True))
    rows = [line.split() for line in cli_output(capsys, "list").splitlines()[1:]]
    cells = {row[1]: row[-3:] if row[-1] == "use" else row[-2:] for row in rows}
    assert {k: " ".join(v) for k, v in cells.items()} == {
        **{f"a{i}": "1/1 in use" for i in range(3)},
        **{f"b{i}": "0/1 unused" for i in range(3)},
        **{f"c{i}": "1/2 in use" for i in range(3)},
        "never": "0/0 unused",
    }


def test_a_stamp_named_for_a_logged_parent_is_dated_not_opened(
    depot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its name is the digest of what it records: the log's parents name it already.

    A stamp of a parent the log lost is still read, and both still count as records.
    """
    parent, lost = str(tmp_path / "pkg-1.0.dist-info"), str(tmp_path / "lost-1.0.dist-info")
    space = _space(depot, "pkg", "k")
    write_access_log(depot, [(space, T0, [parent])])
    later = (T0 + timedelta(days=1)).timestamp()
    stamps = {}
    for recorded in (parent, lost):
        path = _accesslog.stamp_path(str(depot), "pkg", "k", recorded)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(recorded)
        os.utime(path, (later, later))
        stamps[os.path.basename(path)] = recorded
    opened: list[str] = []
    real = os.open

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        opened.append(os.path.basename(os.fspath(path)))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    summary = _summary.summarize(str(depot))
    monkeypatch.undo()
    logged = _accesslog.stamp_name(parent)
    assert logged not in opened
    assert _accesslog.stamp_name(lost) in opened
    assert list(summary.spaces[str(space)].parents) == [parent, lost]
    assert summary.spaces[str(space)].latest == T0 + timedelta(days=1)
    assert {name for name, _ in summary.stamps[str(space)]} == set(stamps)
    assert _summary.summarize(str(depot), keep_stamps=False).stamps == {}


# --- the command line: list ------------------------------------------------------------------


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats()
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.lists(inner, max_size=4).map(tuple)
            | st.dictionaries(st.text(), inner, max_size=4)
        ),
        max_leaves=20,
    )


@settings(max_examples=300)
@given(items=st.lists(_json_values(), max_size=5))
def test_a_json_list_printed_item_by_item_is_json_dumps(items: list[Any]) -> None:
    """Byte for byte what ``json.dump(items, indent=2)`` and a line end print."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _output.print_json_list(iter(items))
    assert out.getvalue() == json.dumps(items, indent=2) + "\n"


def test_list_json_is_what_json_dump_prints(depot: Path) -> None:
    """Streamed, ``list --json`` prints the document json.dump printed when it held it all."""
    assert run_cli("list", "--json").stdout == "[]\n"
    scratchspaces.get_scratch("k1", "pkg")
    (scratchspaces.get_scratch("k2", "pkg") / "f").write_bytes(b"x" * 3000)
    _space(depot, "manual", "never-recorded")
    out = run_cli("list", "--json").stdout
    rows = json.loads(out)
    assert out == json.dumps(rows, indent=2) + "\n"
    assert [(r["namespace"], r["key"], r["bytes"]) for r in rows] == [
        ("manual", "never-recorded", 0),
        ("pkg", "k1", 0),
        ("pkg", "k2", 3000),
    ]


def test_list_table_columns_line_up(depot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Names as wide as the widest listed; sizes right-aligned; rows sorted."""
    _space(depot, "a-rather-long-namespace", "k", b"x" * 5 * 2**20)
    _space(depot, "ns", "a-much-longer-key-than-the-others", b"x" * 2048)
    _space(depot, "ns", "k0")
    lines = cli_output(capsys, "list").splitlines()
    header, rows = lines[0], lines[1:]
    assert [r.split()[:3] for r in rows] == [
        ["a-rather-long-namespace", "k", "5.0"],
        ["ns", "a-much-longer-key-than-the-others", "2.0"],
        ["ns", "k0", "0"],
    ]
    key_at, size_end = header.index("KEY"), header.index("SIZE") + len("SIZE")
    assert key_at == len("a-rather-long-namespace  ")
    for row, size in zip(rows, ["5.0 MiB", "2.0 KiB", "0 B"], strict=True):
        assert row[key_at - 2 : key_at] == "  "
        assert row[key_at] != " "
        assert row[size_end - len(size) : size_end] == size
        assert row[size_end - len(size) - 1] == " "
    alive_end = header.index("PARENTS ALIVE") + len("PARENTS ALIVE")
    assert rows[-1][header.index("LAST ACCESS") :].startswith("never recorded ")
    assert rows[-1][alive_end - len("0/0") :] == "0/0  unused"


def test_a_streamed_table_pads_as_the_whole_table_would() -> None:
    """With widths known beforehand, a table prints the lines it printed holding every row."""
    rows = [["a", "12", "x"], ["bbb", "3", "yy"]]
    out, streamed = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out):
        _output.print_table(["N", "SIZE", "S"], rows, right={1})
    with contextlib.redirect_stdout(streamed):
        _output.print_table(["N", "SIZE", "S"], iter(rows), right={1}, widths=[3, 2, 0])
    assert streamed.getvalue() == out.getvalue() == "N    SIZE  S\na      12  x\nbbb     3  yy\n"


# --- the command line: du and info ---------------------------------------------------------


def test_du_counts_what_list_and_info_count(
    depot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``du`` reads no log, and counts as before: each space alone (a file linked into two
    counts in both), links not followed, the store's entries as the store lists them."""
    one = _space(depot, "pkg", "one", b"a" * 1000)
    two = _space(depot, "pkg", "two")
    os.link(one / "data", two / "shared")
    (two / "sub").mkdir()
    (two / "sub" / "b").write_bytes(b"b" * 10)
    _space(depot, "other", "k", b"c" * 7)
    outside = tmp_path / "outside"
    (outside / "k").mkdir(parents=True)
    (outside / "k" / "big").write_bytes(b"o" * 10**5)
    (depot / "scratchspaces" / "linked").symlink_to(outside, target_is_directory=True)
    (one / "to-outside").symlink_to(outside / "k" / "big")
    scratchspaces.get_scratch("recorded", "pkg")
    toml = cache.my_artifacts_toml("pkg")
    cache.bind_my_artifact(toml, "d", cache.create_my_artifact(writer(DATASET)))
    cache.bind_my_artifact(toml, "f", cache.create_my_artifact(file_writer(b"file\n")))
    artifacts.create_artifact(fill_artifact)
    entries = cache_store(depot) / "artifacts"
    (entries / "ab").mkdir(exist_ok=True)
    (entries / "ab" / "not-an-id").write_text("junk")
    (entries / "zz").symlink_to(outside, target_is_directory=True)

    du = json.loads(cli_output(capsys, "du", "--json"))
    by_namespace = {n["namespace"]: n for n in du["namespaces"]}
    listed = json.loads(cli_output(capsys, "list", "--json"))
    info = json.loads(cli_output(capsys, "info", "--json"))["sizes"]
    assert by_namespace["pkg"] == {"namespace": "pkg", "count": 3, "bytes": 1000 + 1000 + 10}
    assert by_namespace["other"] == {"namespace": "other", "count": 1, "bytes": 7}
    assert "linked" not in by_namespace
    for namespace in ("pkg", "other"):
        rows = [r for r in listed if r["namespace"] == namespace]
        assert by_namespace[namespace]["bytes"] == sum(r["bytes"] for r in rows)
    assert du["cache"]["count"] == len(_store.entries_on_disk(str(cache_store(depot)))) == 4
    # Not the junk file, nor what the link in place of a folder leads to.
    real = {p.name for p in cache_entries(depot).values() if not p.parent.is_symlink()}
    assert du["cache"]["count"] == len(real - {"not-an-id"})
    spaces = sum(n["count"] for n in du["namespaces"])
    assert info == {
        "spaces": {"count": spaces, "bytes": sum(n["bytes"] for n in du["namespaces"])},
        "artifacts": du["artifacts"],
        "cache": du["cache"],
        "trash": du["trash"],
        "total_bytes": du["total_bytes"],
    }
    tally = _cli_depot.tally(str(depot))
    assert tally.total == du["total_bytes"]
    described = _inventory.inventory(str(depot))
    assert sum(i.size for i in described) == sum(b for _, b in tally.namespaces.values())
