"""Extraction at the cost of the archive, its checks kept: the tar stream and the second opinion.

The tar stream is read as a file that seeks forward only (``_unpack.TarStream``), not
through ``tarfile``'s ``r|`` stream, whose buffer is copied on every small read. The
second check of every member resolves its path, a hard link's source and a symlink's
target through the links the extraction made, in memory: no ``realpath`` on disk per
member (``tarfile.data_filter`` makes about 20 ``lstat`` calls a member). These tests
disable a first-line rule and show the second opinion still refuses what it let pass,
and count the calls on disk, never the time.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from typing import TYPE_CHECKING

import pytest

from _artifacts import Member, directory, reg, symlink, tar_bytes
from scratchspaces import _fs
from scratchspaces.artifacts import ArchiveError, UnsafeArchive, _tar, _tar_extract, _unpack

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def _extract(tmp_path: Path, members: list[Member], name: str = "t") -> Path:
    """Extract ``members`` (gzip) into a fresh ``<tmp>/<name>/tree``; return the tree."""
    tarball = tmp_path / f"{name}.tar.gz"
    tarball.write_bytes(tar_bytes(members))
    tree = tmp_path / name / "tree"
    tree.mkdir(parents=True)
    _tar.extract(str(tarball), str(tree))
    return tree


def _refused(tmp_path: Path, members: list[Member], reason: str) -> None:
    """Extraction raises UnsafeArchive for ``reason``; nothing appears beside the tree."""
    before = sorted(tmp_path.iterdir())
    with pytest.raises(UnsafeArchive, match=reason):
        _extract(tmp_path, members)
    assert sorted(tmp_path.iterdir()) == sorted([*before, tmp_path / "t", tmp_path / "t.tar.gz"])


# --- the tar stream ---------------------------------------------------------------------------


def test_tar_stream_reads_exact_sizes_and_seeks_forward_only(tmp_path: Path) -> None:
    """``read(n)`` gives ``n`` bytes across the pre-read first block; ``tell`` counts them."""
    raw = os.urandom(5000)
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(raw))
    stream = _unpack.TarStream(str(path), "x")
    try:
        assert stream.head == raw[:512]
        assert stream.read(100) == raw[:100]
        assert stream.read(1000) == raw[100:1100]  # the rest of the head, then the stream
        assert stream.tell() == 1100
        assert stream.seek(3000) == 3000
        assert stream.read(10) == raw[3000:3010]
        with pytest.raises(tarfile.StreamError):
            stream.seek(5)
        assert stream.read(-1) == raw[3010:]
        assert stream.seek(9999) == 5000  # short at the end, like a read
        assert stream.read(1) == b""
    finally:
        stream.close()


def test_tar_stream_is_not_tarfiles_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Extraction never builds ``tarfile``'s ``_Stream``, whose buffer each read copies."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tarfile's stream reader was used")

    monkeypatch.setattr(tarfile, "_Stream", refuse)
    members = [reg(f"d{i % 3}/f{i}", os.urandom(i * 97)) for i in range(40)]
    tree = _extract(tmp_path, members)
    for info, data in members:
        assert (tree / info.name).read_bytes() == data


def test_extraction_makes_no_realpath_per_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checks cost O(1) per member: ``realpath`` once for the tree and once per symlink."""
    calls: dict[str, int] = {"realpath": 0, "lstat": 0}

    def counting(name: str, real: Callable[..., object]) -> Callable[..., object]:
        def counted(*args: object, **kwargs: object) -> object:
            calls[name] += 1
            return real(*args, **kwargs)

        return counted

    monkeypatch.setattr(os.path, "realpath", counting("realpath", os.path.realpath))
    monkeypatch.setattr(os, "lstat", counting("lstat", os.lstat))
    members = [directory(f"d{i}") for i in range(10)]
    members += [reg(f"d{i % 10}/f{i}", b"x" * i) for i in range(300)]
    members += [symlink("link", "d1/f1")]
    tree = _extract(tmp_path, members)
    assert (tree / "link").read_bytes() == b"x"
    assert calls["realpath"] <= 2, calls  # the tree, the link: not 2 per member
    depth = len(tree.parts)
    assert calls["lstat"] <= 3 * depth, calls  # what the two realpath calls cost


# --- the second opinion -----------------------------------------------------------------------


def test_second_opinion_refuses_a_link_out_when_the_first_check_misses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the target check read as written disabled, a link out is still refused."""
    monkeypatch.setattr(_fs, "climbs_out", lambda rel, target: False)
    _refused(tmp_path, [directory("d"), symlink("d/l", "../../x")], "resolves outside")


def test_second_opinion_refuses_writing_beneath_a_link_when_the_first_check_misses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With parents made beneath links (the first rule disabled), nothing is written there."""

    def lax_parents(self: _tar_extract._Extraction, member: tarfile.TarInfo, rel: str) -> None:
        parts = rel.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if prefix not in self.dirs and prefix not in self.links:
                self.mkdir(prefix)

    monkeypatch.setattr(_tar_extract._Extraction, "make_parents", lax_parents)
    members = [directory("sub"), symlink("s", "sub"), reg("s/evil")]
    _refused(tmp_path, members, "written through a symlink")
    assert not list((tmp_path / "t/tree/sub").iterdir())


def test_second_opinion_refuses_a_chain_of_links_as_it_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link leaving the tree through an earlier link is refused when made.

    The check of every link on disk after the last member is disabled: the second
    opinion alone refuses it, as ``data_filter``'s ``realpath`` did.
    """
    monkeypatch.setattr(_tar_extract, "_check_links", lambda state: None)
    members = [directory("a/b"), symlink("a/b/up", ".."), symlink("a/up2", "b/up/..")]
    members += [symlink("esc", "a/up2/..")]  # a/up2 is the top: esc is its parent
    _refused(tmp_path, members, "'esc'.*resolves outside")


def test_a_chain_longer_than_any_system_follows_is_refused_on_disk(tmp_path: Path) -> None:
    """Past 40 links the second opinion stops resolving; the check on disk still refuses."""
    hops = 45
    members = [directory("d")]
    members += [symlink(f"d/l{i}", f"l{i + 1}") for i in range(hops - 1)]
    members += [symlink(f"d/l{hops - 1}", ".."), symlink("esc", "d/l0/..")]
    _refused(tmp_path, members, "'esc' resolves outside the tree")


def test_links_inside_the_tree_resolve_in_memory_as_on_disk(tmp_path: Path) -> None:
    """The in-memory resolution agrees with the disk for links that stay inside."""
    members = [directory("a/b"), reg("a/b/f", b"deep\n"), symlink("a/b/up", "..")]
    members += [symlink("top", "a/b/up/b/f"), symlink("self", "."), symlink("loop", "loop")]
    members += [symlink("dangling", "not/there"), symlink("a/b/up2", "up/..")]
    tree = _extract(tmp_path, members)
    assert (tree / "top").read_bytes() == b"deep\n"
    assert (tree / "a/b/up2").resolve() == tree.resolve()


def test_in_memory_resolution(tmp_path: Path) -> None:
    """``resolve`` follows links as the OS does, the last part named but not followed."""
    state = _tar_extract._Extraction("x", str(tmp_path))
    state.links = {"a/up": "..", "l": "a/up/..", "m": "a/up/up", "loop": "loop", "abs": "/etc"}
    assert state.resolve("a/up/x") == "x"
    assert state.resolve("a/up") == "a/up"  # named, not followed
    assert state.resolve("a/up/") == ""
    assert state.resolve("l/") is None  # a/up/..: the parent of the top
    assert state.resolve("m/x") == "up/x"  # a/up/up: "up" at the top
    assert state.resolve("abs/x") is None
    assert state.resolve("loop/x") == "loop/x"  # past 40 links: left as it is
    assert state.resolve("../x") is None


def test_file_data_and_padding_are_read_in_place(tmp_path: Path) -> None:
    """Files of every size around a block read right, one after another."""
    sizes = [0, 1, 511, 512, 513, 1023, 1024, 4096 + 7, (1 << 20) + 3]
    members = [reg(f"f{size}", os.urandom(size)) for size in sizes]
    tree = _extract(tmp_path, members)
    for info, data in members:
        assert (tree / info.name).read_bytes() == data


def test_a_cut_in_the_padding_is_an_archive_error(tmp_path: Path) -> None:
    """A tarball cut inside a member's padding is damaged, not a shorter archive."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in ("a", "b"):
            info = tarfile.TarInfo(name)
            info.size = 100
            tar.addfile(info, io.BytesIO(b"x" * 100))
    tarball = tmp_path / "cut.tar.gz"
    tarball.write_bytes(gzip.compress(raw.getvalue()[: 512 + 200]))
    tree = tmp_path / "tree"
    tree.mkdir()
    with pytest.raises(ArchiveError, match="unexpected end of data"):
        _tar.extract(str(tarball), str(tree))
