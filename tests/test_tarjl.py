"""Julia's Tar.jl and Pkg tests, ported where this library has the same function.

Each test names the upstream file and testset it ports (JuliaIO/Tar.jl
``test/runtests.jl``, JuliaLang/Pkg.jl ``test/platformengines.jl``) and says where it
differs. Tarballs are extracted with ``_tar.extract`` (Tar.jl's ``Tar.extract``) or
installed with ``ensure_artifact_installed`` (Pkg's ``download_verify_unpack``), from
``file://`` URLs or a real HTTP server on 127.0.0.1; the tree hash (``tree_hash``,
checked against git elsewhere) is the oracle, as Tar.jl's tests use ``GitTools``.

The behaviour these tests pin down, beyond the ports: the compression is read from the
bytes (gzip, xz, bzip2, zstd where installed, plain tar), whatever the URL says; a later
entry replaces an earlier one and is never written through a link; a hard link takes
the mode of its own header; an empty tarball is the empty tree.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import io
import os
import stat
import sys
import tarfile
from typing import TYPE_CHECKING, Any

import pytest

from _artifacts import (
    COMPRESSIONS,
    OK_DATA,
    UP_TO_TMP,
    Member,
    Site,
    compress,
    directory,
    hardlink,
    install_fails,
    reg,
    sha256_of,
    symlink,
    tar_bytes,
)
from _depots import snapshot
from _http import Server
from scratchspaces.artifacts import (
    ArchiveError,
    UnsafeArchive,
    _tar,
    archive_artifact,
    create_artifact,
    ensure_artifact_installed,
    remove_artifact,
    tree_hash,
)
from test_artifacts_tar import END_OF_ARCHIVE, padded, pax, ustar, with_checksum

if TYPE_CHECKING:
    from pathlib import Path

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def extract(tmp: Path, data: bytes, name: str = "t") -> Path:
    """``data`` written to a file and extracted into a fresh directory (returned)."""
    tarball = tmp / f"{name}.tarball"
    tarball.write_bytes(data)
    dest = tmp / f"{name}.tree"
    dest.mkdir()
    _tar.extract(str(tarball), str(dest))
    return dest


def hash_of(tmp: Path, data: bytes, name: str = "t") -> str:
    return tree_hash(extract(tmp, data, name))


def plain(members: list[Member]) -> bytes:
    return tar_bytes(members, "tar")


# --- empty tarballs ----------------------------------------------------------------------------


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_empty_file_as_tarball(site: Site, compression: str) -> None:
    """Tar.jl test/runtests.jl, testset "empty tarball" / "empty file as tarball".

    Tar.jl extracts ``devnull`` (no bytes at all) as an empty directory. Here the empty
    stream may also be compressed; installed, its tree hash is git's empty tree.
    """
    assert not os.listdir(extract(site.tmp, compress(b"", compression)))
    tarball = site.tmp / "empty.tar.gz"
    tarball.write_bytes(compress(b"", compression))
    site.bind(EMPTY_TREE, (tarball.as_uri(), sha256_of(tarball)))
    path = ensure_artifact_installed("data", site.toml)
    assert os.listdir(path) == []
    assert tree_hash(path) == EMPTY_TREE


def test_create_an_empty_tarball(tmp_path: Path, depot: Path) -> None:
    """Tar.jl test/runtests.jl, testset "empty tarball" / "create an empty tarball".

    The archive of an empty tree (``archive_artifact``, Tar.jl's ``Tar.create``) extracts
    to an empty tree, and so it does with 512 more zero bytes after its end.
    """
    h = create_artifact(lambda d: None)
    assert h == EMPTY_TREE
    archive_artifact(h, tmp_path / "empty.tar.gz")
    raw = gzip.decompress((tmp_path / "empty.tar.gz").read_bytes())
    assert hash_of(tmp_path, gzip.compress(raw), "a") == EMPTY_TREE
    assert hash_of(tmp_path, raw + b"\0" * 512, "b") == EMPTY_TREE


# --- the test tarball ----------------------------------------------------------------------------


def _gen_file(path: Path, size: int) -> None:
    path.write_bytes(bytes(i % 256 for i in range(1, size + 1)))


def make_test_tree(root: Path) -> None:
    """Tar.jl test/runtests.jl's ``make_test_tarball`` tree, a smaller sample of it.

    Names around ustar's limits (directories of 0, 154 to 156 and 255 bytes, files of 99
    to 101 and 255), files of 0, 511 to 513 and 1000 bytes, plain and executable, links,
    broken links, empty directories and hard links.
    """
    root.mkdir()
    paths: list[Path] = []
    i = 0
    for a in (0, 154, 155, 156, 255):
        folder = root / ("d" * a) if a else root
        folder.mkdir(exist_ok=True)
        for b in (10, 100, 101, 255):
            for s in (0, 511, 512, 513, 1000):
                file = folder / f"{s}-".ljust(b, "f")
                exe = folder / f"{s}-".ljust(b, "x")
                _gen_file(file, s)
                _gen_file(exe, s)
                exe.chmod(0o755)
                paths += [file, exe]
            (folder / ("s" * b)).mkdir()
            target = paths[i]
            i += 1
            link = folder / ("l" * b)
            relative = os.path.relpath(target, folder)
            link.symlink_to(relative)
            (folder / ("b" * b)).symlink_to(relative[:-1])
            os.link(target, folder / ("h" * b))


def _tar_of(root: Path, fmt: int) -> bytes:
    """``root`` as a tarball made by ``tarfile`` (GNU or PAX: hard links stay links)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name in sorted(os.listdir(root)):
            tar.add(root / name, arcname=name)
    return out.getvalue()


@pytest.fixture(scope="module")
def test_tarball(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("tarjl") / "root"
    make_test_tree(root)
    return root, tree_hash(root)


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("maker", ["archive_artifact", "gnu", "posix-global"])
def test_test_tarball(
    tmp_path: Path, test_tarball: tuple[Path, str], maker: str, compression: str
) -> None:
    """Tar.jl test/runtests.jl, testsets "test tarball" / "Tar.extract", "Tar.extract with
    trailing zeros", "POSIX extended headers" and "GNU extensions".

    The tree is made as Tar.jl's ``make_test_tarball`` makes it (a sample of its names);
    archived by this library, or by ``tarfile`` in GNU format (long names as ``L``/``K``
    records, hard links as links) or in PAX format after a global header (as Tar.jl
    makes with GNU tar); compressed each way; then with 512 zero bytes more.
    """
    root, expected = test_tarball
    if maker == "archive_artifact":
        _tar.archive(str(root), str(tmp_path / "own.tar.gz"))
        raw = gzip.decompress((tmp_path / "own.tar.gz").read_bytes())
    elif maker == "gnu":
        raw = _tar_of(root, tarfile.GNU_FORMAT)
    else:
        raw = pax((b"comment", b"Julia Rocks!"), kind=b"g") + _tar_of(root, tarfile.PAX_FORMAT)
    assert hash_of(tmp_path, compress(raw, compression), "a") == expected
    assert hash_of(tmp_path, compress(raw + b"\0" * 512, compression), "b") == expected


# --- truncated tarballs --------------------------------------------------------------------------

LEN = 1234
PAD = -LEN % 512
DATA = os.urandom(LEN)
FILE = ustar("file", size=LEN) + DATA + b"\0" * PAD


def test_truncated_tarballs_well_formed(tmp_path: Path) -> None:
    """Tar.jl test/runtests.jl, testset "truncated tarballs" / "tarball is well-formed".

    A header, its data and padding, and no end-of-archive blocks: one file.
    """
    tree = extract(tmp_path, FILE)
    assert os.listdir(tree) == ["file"]
    assert (tree / "file").read_bytes() == DATA


@pytest.mark.parametrize(
    "size",
    [
        *[pytest.param(512 + LEN + p, id=f"padding-cut-{p}") for p in (PAD - 1, PAD // 2, 1, 0)],
        *[pytest.param(512 + d, id=f"data-cut-{d}") for d in (LEN // 2, 512, 0)],
        *[pytest.param(h, id=f"header-cut-{h}") for h in (511, 256, 1)],
    ],
)
@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_truncated_tarballs(tmp_path: Path, size: int, compression: str) -> None:
    """Tar.jl test/runtests.jl, testset "truncated tarballs": "trailing padding
    truncated", "file data truncated", "header truncated".

    Tar.jl's ``EOFError`` is :class:`ArchiveError` here, compressed or not.
    """
    with pytest.raises(ArchiveError):
        extract(tmp_path, compress(FILE[:size], compression))


# --- entries ---------------------------------------------------------------------------------


def test_directory_after_contents(tmp_path: Path) -> None:
    """Tar.jl test/runtests.jl, testset "directory after contents"."""
    reference = hash_of(tmp_path, plain([reg("dir/file", b"", 0o755), reg("file", b"", 0o755)]))
    members = [
        reg("file", b"", 0o755),
        directory("."),
        reg("dir/file", b"", 0o755),
        directory("dir"),
    ]
    assert hash_of(tmp_path, plain(members), "later") == reference


ATTACKS: list[tuple[str, list[Member]]] = [
    ("relative-out", [reg("../file")]),
    ("relative-out-obfuscated", [reg("dir/../../file")]),
    ("absolute", [reg("/tmp/file")]),
    ("into-symlink-dir", [directory("dir"), symlink("link", "dir"), reg("link/target")]),
    ("through-relative-link", [symlink("link", "../target"), reg("link/attack")]),
    ("through-absolute-link", [symlink("link", "<tmp>"), reg("link/attack")]),
    ("through-absolute-link-dot", [symlink("link", "<tmp>"), reg("./link/attack")]),
    ("through-absolute-link-dotdot", [symlink("link", "<tmp>"), reg("dir/../link/attack")]),
]


@pytest.mark.parametrize("members", [pytest.param(m, id=i) for i, m in ATTACKS])
def test_extract_attacks(tmp_path: Path, members: list[Member]) -> None:
    """Tar.jl test/runtests.jl, testset "extract attacks" (the Windows variations aside).

    Each is refused (Tar.jl's ``ErrorException``) and nothing reaches ``tmp``.
    """
    outside = tmp_path / "outside"
    outside.mkdir()
    for info, _ in members:
        info.linkname = info.linkname.replace("<tmp>", str(outside))
    with pytest.raises(UnsafeArchive):
        extract(tmp_path, plain(members))
    assert os.listdir(outside) == []
    assert not (tmp_path / "file").exists()


# Tar.jl's list, but the symlink to an absolute path (refused here wherever it is).
FILE_HEADER = reg("file", b"", 0o755)
OVERWRITES: list[tuple[str, Member]] = [
    ("file-644", reg("path", b"", 0o644)),
    ("file-755", reg("path", b"", 0o755)),
    ("dir", directory("path")),
    ("symlink", symlink("path", "file")),
    ("symlink-dangling", symlink("path", "non-existent")),
    ("hardlink", hardlink("path", "file", 0o755)),
]


@pytest.mark.parametrize("second", [pytest.param(m, id=i) for i, m in OVERWRITES])
@pytest.mark.parametrize("first", [pytest.param(m, id=i) for i, m in OVERWRITES])
def test_allow_overwrites(tmp_path: Path, first: Member, second: Member) -> None:
    """Tar.jl test/runtests.jl, testset "overwrites" / "allow overwrites".

    ``file``, then two entries at ``path``: the tree is that of ``file`` and the second.
    Tar.jl's list also has a symlink to an absolute path, which this library refuses
    wherever it is: see :func:`test_absolute_symlink_refused_though_overwritten`.
    """
    both = hash_of(tmp_path, plain([FILE_HEADER, first, second]), "both")
    assert both == hash_of(tmp_path, plain([FILE_HEADER, second]), "second")


def test_absolute_symlink_refused_though_overwritten(tmp_path: Path) -> None:
    """Tar.jl test/runtests.jl, testset "overwrites": its absolute link, refused here.

    Tar.jl makes the link, then replaces it; this library refuses a link out of the
    tree as it meets it, whatever follows.
    """
    members = [FILE_HEADER, symlink("path", str(tmp_path)), reg("path")]
    with pytest.raises(UnsafeArchive, match="absolute"):
        extract(tmp_path, plain(members))


def test_allow_write_into_directory_overwriting_a_symlink(tmp_path: Path) -> None:
    """Tar.jl test/runtests.jl, testset "overwrites" / "allow write into directory
    overwriting a symlink".

    Tar.jl's link points at a temporary directory outside; here it points inside (a link
    out is refused). Once a directory replaced it, ``path`` is no link any more.
    """
    members = [directory("elsewhere"), symlink("path", "elsewhere"), directory("path")]
    members.append(reg("path/file", b""))
    reference = [directory("elsewhere"), reg("path/file", b"")]
    assert hash_of(tmp_path, plain(members)) == hash_of(tmp_path, plain(reference), "ref")
    assert not (tmp_path / "t.tree" / "path").is_symlink()


def test_self_hardlink(tmp_path: Path) -> None:
    """Tar.jl test/runtests.jl, testset "self hardlink".

    A file of mode 0644, then a hard link to itself of mode 0755: the tree of the file
    with mode 0755. And the other way round.
    """
    data = os.urandom(1234)
    for first, second in ((0o644, 0o755), (0o755, 0o644)):
        reference = hash_of(tmp_path, plain([reg("file", data, second)]), f"ref{second}")
        members = [reg("file", data, first), hardlink("file", "file", second)]
        assert hash_of(tmp_path, plain(members), f"self{second}") == reference


# --- headers -------------------------------------------------------------------------------------


def modified(field: str, value: bytes, *, size: int = 123) -> bytes:
    """Tar.jl's ``write_modified_header``: a header of ``file`` with one field replaced.

    The value is padded with NULs to the field's width; the checksum is fixed.
    """
    offset, width = {"version": (263, 2), "mode": (100, 8), "size": (124, 12)}[field]
    block = bytearray(ustar("file", size=size))
    block[offset : offset + width] = value.ljust(width, b"\0")
    return with_checksum(block)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", b"AB"),
        *[("size", v) for v in (b" ", b" " * 12, b"lVonG911HzaL", b"\1")],
        ("size", b"\x80\0\0\0\x80" + b"\0" * 7),  # the smallest binary size too large
        ("size", b"\xff" * 12),
        *[("mode", v) for v in (b" ", b" " * 8, b"CbiX4Rkb", b"\1")],
        *[("mode", v) for v in (b"200000", b"77777777")],  # too large
    ],
)
def test_header_errors(tmp_path: Path, field: str, value: bytes) -> None:
    """Tar.jl test/runtests.jl, testset "header parsing" / "header errors".

    A version field but zeros and spaces, a malformed or too large size or mode:
    :class:`ArchiveError` naming the field.
    """
    with pytest.raises(ArchiveError, match=f"the {field} field"):
        extract(tmp_path, modified(field, value) + END_OF_ARCHIVE)


@pytest.mark.parametrize("checksum", [b" ", b" " * 8, b"1HKPhaUq", b"\1", b"123456\0 "])
def test_header_checksum_errors(tmp_path: Path, checksum: bytes) -> None:
    """Tar.jl test/runtests.jl, testset "header errors": malformed and wrong checksums."""
    block = bytearray(ustar("file"))
    block[148:156] = checksum.ljust(8, b"\0")
    with pytest.raises(ArchiveError):
        extract(tmp_path, bytes(block) + END_OF_ARCHIVE)
    # and after a good member, where tarfile alone would take it for the end
    with pytest.raises(ArchiveError, match="damaged header"):
        extract(tmp_path, ustar("ok") + bytes(block) + END_OF_ARCHIVE, "second")


@pytest.mark.parametrize(
    "mode",
    [
        *(b"0", b" 0", b"  0", b"       0", b"123", b" 123", b"  00123", b"     123"),
        *(b"177777", b"  177777", b"00177777", b" 0177777"),
    ],
)
def test_header_valid_modes(tmp_path: Path, mode: bytes) -> None:
    """Tar.jl test/runtests.jl, testset "header errors": "various valid mode values"."""
    tree = extract(tmp_path, modified("mode", mode, size=0) + END_OF_ARCHIVE)
    executable = int(mode, 8) & 0o100
    assert stat.S_IMODE((tree / "file").stat().st_mode) == (0o755 if executable else 0o644)


def test_header_largest_binary_size(tmp_path: Path) -> None:
    """Tar.jl test/runtests.jl, testset "header errors": "largest valid binary size".

    The header is read; the data it declares is not there, which is the error.
    """
    size = b"\x80\0\0\0\x7f" + b"\xff" * 7
    with pytest.raises(ArchiveError, match="unexpected end of data"):
        extract(tmp_path, modified("size", size) + END_OF_ARCHIVE)


def test_leading_spaces_in_integer_fields(tmp_path: Path) -> None:
    """Tar.jl test/runtests.jl, testset "header parsing" / "leading spaces in integer fields".

    Tar.jl reads a fragment of an old archive whose numbers have leading spaces; here a
    header written the same way (mode `` 100600``, size ``    557``).
    """
    data = b"%%MatrixMarket matrix coordinate real symmetric\n" + b"1 1 1.0\n" * 40
    block = bytearray(ustar("LF10/LF10_B.mtx", size=len(data)))
    block[100:108] = b" 100600\0"
    block[124:136] = b"%11o " % len(data)
    tree = extract(tmp_path, with_checksum(block) + padded(data) + END_OF_ARCHIVE)
    assert (tree / "LF10" / "LF10_B.mtx").read_bytes() == data


@pytest.mark.skipif(os.name == "nt", reason="names Windows cannot hold")
def test_bad_windows_paths_are_fine_elsewhere(tmp_path: Path) -> None:
    """Tar.jl test/runtests.jl, testset "bad Windows paths": extracted on other systems.

    Tar.jl refuses them on Windows only; so does this library (a backslash, a drive).
    """
    names = [b"c:", b"\\", b"D:\\tmp", b"*.*", b"\1.txt", b"PRN", b"LPT1", b"lpt2", b"LpT3"]
    names += [b"Com9", b"CON.txt", "PRN.\u2200".encode(), b"file.", b"file ", b"dir/trailing."]
    if sys.platform != "darwin":  # macOS holds no name that is not UTF-8
        names.append(b"\xba\xdd")
    blocks = b"".join(ustar(name) for name in names)
    tree = extract(tmp_path, blocks + END_OF_ARCHIVE)
    assert len(snapshot(tree)) == len(names) + 1  # and the directory "dir"


def test_issue_pkg_2185(tmp_path: Path, depot: Path) -> None:
    """Tar.jl test/runtests.jl, testset "Issue Pkg#2185".

    A symlink to a directory does not change the modes of the files in it: archived, the
    file keeps 0644 and the link has 0755.
    """

    def fill(root: Path) -> None:
        (root / "lib/icu/67.1").mkdir(parents=True)
        (root / "lib/icu/67.1/file").touch()
        (root / "lib/icu/67.1/file").chmod(0o644)
        (root / "lib/icu/current").symlink_to("67.1")

    archive_artifact(create_artifact(fill), tmp_path / "t.tar.gz")
    with tarfile.open(tmp_path / "t.tar.gz") as tar:
        modes = {m.name: (m.type, m.mode) for m in tar.getmembers()}
    assert modes["lib/icu/67.1/file"] == (tarfile.REGTYPE, 0o644)
    assert modes["lib/icu/current"] == (tarfile.SYMTYPE, 0o755)


# --- Pkg: packaging and downloading ----------------------------------------------------------


def test_packaging(tmp_path: Path, depot: Path) -> None:
    """Pkg.jl test/platformengines.jl, testset "Packaging": ``archive_artifact`` (``package``)."""

    def fill(prefix: Path) -> None:
        for folder in ("bin", "lib", "etc"):
            (prefix / folder).mkdir()
        (prefix / "bin/bar.sh").write_text("#!/bin/sh\necho yolo\n")
        (prefix / "lib/baz.so").write_text("this is not an actual .so\n")
        (prefix / "etc/qux.conf").write_text("use_julia=true\n")

    tarball = tmp_path / "foo.tar.gz"
    archive_artifact(create_artifact(fill), tarball)
    with tarfile.open(tarball) as tar:
        contents = tar.getnames()
    assert {"bin/bar.sh", "lib/baz.so", "etc/qux.conf"} <= set(contents)


def _socrates(tmp_path: Path) -> tuple[bytes, str]:
    data = b"Education is the kindling of a flame, not the filling of a vessel.\n" * 20
    raw = plain([directory("bin"), reg("bin/socrates", data, 0o755)])
    (tmp_path / "ref" / "bin").mkdir(parents=True)
    (tmp_path / "ref/bin/socrates").write_bytes(data)
    (tmp_path / "ref/bin/socrates").chmod(0o755)
    return raw, tree_hash(tmp_path / "ref")


@pytest.mark.parametrize("compression", ["gzip", "bzip2", "xz"])
def test_downloading(site: Site, compression: str) -> None:
    """Pkg.jl test/platformengines.jl, testset "Downloading".

    Pkg installs one tree from ``socrates.tar.gz``, ``.tar.bz2`` and ``.tar.xz``; here
    from a server on 127.0.0.1. Then the "already exists" path (nothing downloaded), and
    the "redownloading" path: a corrupt copy first, the good one after it.
    """
    raw, h = _socrates(site.tmp)
    served = site.tmp / "served"
    served.mkdir()
    suffix = {"gzip": "gz", "bzip2": "bz2", "xz": "xz"}[compression]
    good = served / f"socrates.tar.{suffix}"
    good.write_bytes(compress(raw, compression))
    (served / "corrupt.tar.gz").write_bytes(b"corruptify\n")
    with Server(served) as server:
        site.bind(h, (f"{server.url}/{good.name}", sha256_of(good)))
        path = ensure_artifact_installed("data", site.toml)
        assert ensure_artifact_installed("data", site.toml) == path
        assert server.requests == [f"/{good.name}"]
        assert (path / "bin/socrates").read_bytes() == (site.tmp / "ref/bin/socrates").read_bytes()
        remove_artifact(path.name)
        corrupt = (f"{server.url}/corrupt.tar.gz", sha256_of(good))
        site.bind(h, corrupt, (f"{server.url}/{good.name}", sha256_of(good)))
        assert ensure_artifact_installed("data", site.toml) == path
    assert tree_hash(path) == h


# --- compression told from the bytes -------------------------------------------------------------

TREE: list[Member] = [
    directory("bin"),
    reg("bin/run", b"#!/bin/sh\necho hi\n" * 50, 0o755),
    reg("share/data.txt", b"some data\n" * 500),
    symlink("share/link", "data.txt"),
    hardlink("share/again", "share/data.txt"),
]


def _compressed(raw: bytes, compression: str) -> bytes:
    if compression == "zstd":
        zstandard: Any = importlib.import_module("zstandard")
        return bytes(zstandard.ZstdCompressor().compress(raw))
    return compress(raw, compression)


HAVE_ZSTANDARD = importlib.util.find_spec("zstandard") is not None
ALL_COMPRESSIONS = [
    *COMPRESSIONS,
    pytest.param(
        "zstd",
        marks=pytest.mark.skipif(not HAVE_ZSTANDARD, reason="zstandard is not installed"),
    ),
]


@pytest.mark.parametrize("transport", ["file", "http"])
@pytest.mark.parametrize("compression", ALL_COMPRESSIONS)
def test_same_tree_from_every_compression(site: Site, compression: str, transport: str) -> None:
    """The same tree as .tar.gz, .tar.xz, .tar.bz2, plain .tar (and .tar.zst where
    zstandard is installed) installs with one tree hash, from ``file://`` and HTTP.

    Each is named ``.tar.gz``: the compression is read from the bytes, not the URL.
    """
    raw = plain(TREE)
    expected = hash_of(site.tmp, gzip.compress(raw), "reference")
    served = site.tmp / "served"
    served.mkdir()
    tarball = served / "lying.tar.gz"
    tarball.write_bytes(_compressed(raw, compression))
    if transport == "file":
        site.bind(expected, (tarball.as_uri(), sha256_of(tarball)))
        path = ensure_artifact_installed("data", site.toml)
    else:
        with Server(served) as server:
            site.bind(expected, (f"{server.url}/lying.tar.gz", sha256_of(tarball)))
            path = ensure_artifact_installed("data", site.toml)
    assert tree_hash(path) == expected
    assert os.readlink(path / "share/link") == "data.txt"


def test_multiple_xz_and_gzip_streams_are_one_archive(tmp_path: Path) -> None:
    """A tarball compressed in two concatenated streams reads as one, like ``xz -d``."""
    raw = plain(TREE)
    expected = hash_of(tmp_path, raw, "reference")
    for compression in ("gzip", "xz", "bzip2"):
        two = compress(raw[:1024], compression) + compress(raw[1024:], compression)
        assert hash_of(tmp_path, two, compression) == expected


# --- later entries win, never through a link ---------------------------------------------------


def test_later_file_wins(site: Site) -> None:
    """A file given twice is the later one, as in Tar.jl (its mode too)."""
    members = [reg("f", b"first\n", 0o755), reg("d/g", b"one\n"), reg("f", b"second\n")]
    members += [reg("./d//g", b"two\n", 0o755)]
    expected = [reg("f", b"second\n"), reg("d/g", b"two\n", 0o755)]
    url, sha = site.tarball("twice.tar.gz", members)
    h = hash_of(site.tmp, plain(expected))
    site.bind(h, (url, sha))
    path = ensure_artifact_installed("data", site.toml)
    assert (path / "f").read_bytes() == b"second\n"
    assert tree_hash(path) == h


def _escape_then_replace(site: Site) -> list[Member]:
    """A link that resolves to the sentinel's secret only through a later link, replaced.

    ``esc`` reads, as written, as ``a/sentinel/secret``; once ``a/b/c/d/l`` is a link to
    the tree, it resolves four levels above the tree: to the sentinel. Then a file
    ``esc`` replaces it: written through the link, it would overwrite the secret.
    """
    del site
    levels = "../" * 4
    return [
        directory("a/b/c/d"),
        symlink("esc", f"a/b/c/d/l/{levels}sentinel/secret"),
        symlink("a/b/c/d/l", levels.rstrip("/")),
        reg("esc", b"evil\n"),
    ]


def test_file_over_symlink_replaces_the_link(site: Site) -> None:
    """A file after a symlink of its name replaces the link, never writing through it.

    The link, as the file comes, resolves to the sentinel's secret outside the tree; the
    secret stays as it was.
    """
    assert UP_TO_TMP.count("..") == 4
    members = _escape_then_replace(site)
    expected = [directory("a/b/c/d"), symlink("a/b/c/d/l", "../../../.."), reg("esc", b"evil\n")]
    url, sha = site.tarball("replace.tar.gz", members)
    h = hash_of(site.tmp, plain(expected))
    site.bind(h, (url, sha))
    path = ensure_artifact_installed("data", site.toml)
    site.assert_sentinel_untouched()
    assert not (path / "esc").is_symlink()
    assert (path / "esc").read_bytes() == b"evil\n"


def test_symlink_over_file_and_directory(site: Site) -> None:
    """A link replaces a file, and a directory with all it held; a directory a file."""
    members = [reg("ok.txt"), reg("x"), symlink("x", "ok.txt"), reg("d/e/f"), symlink("d", "x")]
    members += [reg("g/h"), reg("g", OK_DATA)]
    expected = [reg("ok.txt"), symlink("x", "ok.txt"), symlink("d", "x"), reg("g", OK_DATA)]
    assert hash_of(site.tmp, plain(members)) == hash_of(site.tmp, plain(expected), "e")


def test_file_in_the_way_of_a_directory_is_replaced(tmp_path: Path) -> None:
    """An entry beneath a file: the file is replaced by the directory, as Tar.jl does."""
    members = [reg("a"), reg("a/b/c", b"deep\n")]
    assert hash_of(tmp_path, plain(members)) == hash_of(
        tmp_path, plain([reg("a/b/c", b"deep\n")]), "e"
    )


def test_self_hardlink_install(site: Site) -> None:
    """A hard link to itself installs: the file, with the link's mode."""
    data = b"self\n" * 100
    url, sha = site.tarball("self.tar.gz", [reg("f", data), hardlink("f", "f", 0o755)])
    h = hash_of(site.tmp, plain([reg("f", data, 0o755)]))
    site.bind(h, (url, sha))
    path = ensure_artifact_installed("data", site.toml)
    assert os.access(path / "f", os.X_OK)


# --- hard links take their own header's mode -------------------------------------------------


def test_hard_link_takes_its_own_mode(site: Site) -> None:
    """A hard link is its target's content with its own header's mode, as Tar.jl's copy.

    Links of one mode share one inode: the target's when the modes agree, else one copy.
    """
    data = os.urandom(64 << 10)
    members = [reg("f", data, 0o644)]
    members += [hardlink(f"x{i}", "f", 0o755) for i in range(5)]
    members += [hardlink(f"p{i}", "f", 0o600) for i in range(5)]
    url, sha = site.tarball("modes.tar.gz", members)
    expected = [reg("f", data)] + [reg(f"x{i}", data, 0o755) for i in range(5)]
    expected += [reg(f"p{i}", data) for i in range(5)]
    h = hash_of(site.tmp, plain(expected))
    site.bind(h, (url, sha))
    path = ensure_artifact_installed("data", site.toml)
    assert tree_hash(path) == h
    assert (path / "x0").stat().st_nlink == 5
    assert (path / "f").stat().st_nlink == 6
    assert (path / "x4").stat().st_ino != (path / "f").stat().st_ino


def test_hard_link_copies_are_bounded(site: Site, ok_hash: str) -> None:
    """Copies for modes total at most the archive's file data: no disk bomb by relinking.

    Each round removes the copy (a file over it) and asks for a new one; the archive
    holds one 256 KiB file, so the second copy is refused.
    """
    data = os.urandom(256 << 10)
    members = [reg("big", data)]
    for _ in range(4):
        members += [hardlink("x", "big", 0o755), reg("x", b"", 0o644)]
    url, sha = site.tarball("bomb.tar.gz", members)
    site.bind(ok_hash, (url, sha))
    info = install_fails(UnsafeArchive, site)
    assert "copies past" in str(info.value)


# --- Tar.jl's header rules -------------------------------------------------------------------

HEADER_RULES: list[tuple[str, bytes, type[ArchiveError]]] = [
    ("file-name-ends-in-slash", ustar("f/"), UnsafeArchive),
    ("v7-directory", ustar("d/", b"\0"), UnsafeArchive),
    ("file-name-ends-in-dot", ustar("d/."), UnsafeArchive),
    (
        "symlink-with-size",
        ustar("l", b"2", size=5, linkname="ok.txt") + padded(b"x" * 5),
        UnsafeArchive,
    ),
    ("directory-with-size", ustar("d", b"5", size=5) + padded(b"x" * 5), UnsafeArchive),
    (
        "hardlink-with-size",
        ustar("h", b"1", size=5, linkname="ok.txt") + padded(b"x" * 5),
        UnsafeArchive,
    ),
    ("file-with-link", ustar("f", linkname="ok.txt"), UnsafeArchive),
    ("version-AB", ustar("f", magic=b"ustar\0AB"), ArchiveError),
    ("mode-blank", ustar("f", at={100: b"\0" * 8}), ArchiveError),
    ("mode-too-large", ustar("f", at={100: b"0200000\0"}), ArchiveError),
    ("size-blank", ustar("f", size=b" " * 12), ArchiveError),
]


@pytest.mark.parametrize(
    ("blocks", "expected"), [pytest.param(b, e, id=i) for i, b, e in HEADER_RULES]
)
def test_header_rules_refused(
    site: Site, ok_hash: str, blocks: bytes, expected: type[ArchiveError]
) -> None:
    """Tar.jl's ``check_header`` and ``read_standard_header`` rules, after ``ok.txt``.

    A non-directory whose path ends in ``/`` or ``.`` (a type NUL named ``d/`` included:
    Tar.jl reads it as a file), a link or directory with data, a non-link with a link
    target: :class:`UnsafeArchive`. A version but zeros and spaces, a blank or too large
    mode, a blank size: :class:`ArchiveError`, the header unreadable.
    """
    ok = ustar("ok.txt", size=len(OK_DATA)) + padded(OK_DATA)
    tarball = site.tmp / "rules.tar.gz"
    tarball.write_bytes(gzip.compress(ok + blocks + END_OF_ARCHIVE, mtime=0))
    site.bind(ok_hash, (tarball.as_uri(), sha256_of(tarball)))
    install_fails(expected, site)
