"""Archives of artifacts (``scratchspaces.artifacts._tar``): safe extraction, determinism.

Every tarball here is real: hand-made with ``tarfile`` (malicious members included), or
byte by byte where ``tarfile`` will not write the headers (NULs, sparse files, malformed
PAX records), gzipped, named by a ``file://`` URL in an ``Artifacts.toml`` and installed
with ``ensure_artifact_installed``; those that would fill a disk, on a small real tmpfs.
A refusal must raise the right error and leave nothing behind: the depot's
``artifacts/`` stays empty and nothing outside the depot changes. An archive is the
same bytes whatever the modes, times, owners and order on disk.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TypeAlias, cast

import pytest

from _artifacts import (
    OK_DATA,
    UP_TO_TMP,
    Member,
    Site,
    assert_nothing_left,
    compress,
    directory,
    hardlink,
    hash_of_files,
    install_fails,
    make_site,
    reg,
    sha256_of,
    special,
    symlink,
    tar_bytes,
)
from _depots import snapshot, use_depots
from _tmpfs import Tmpfs, mounted
from scratchspaces.artifacts import (
    ArchiveError,
    ArtifactNotFound,
    InvalidHash,
    UnsafeArchive,
    _tar,
    archive_artifact,
    create_artifact,
    ensure_artifact_installed,
    tree_hash,
    verify_artifact,
    with_artifacts_directory,
)

# --- unreadable archives -----------------------------------------------------------------


@pytest.fixture(scope="module")
def three_parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """(gzip tarball, tree hash) of three members of 512 KiB of incompressible bytes each."""
    files = {f"part{i}": (os.urandom(512 << 10), False) for i in range(3)}
    tarball = tar_bytes([reg(name, data) for name, (data, _) in files.items()])
    return tarball, hash_of_files(tmp_path_factory.mktemp("parts") / "tree", files)


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda n: n // 2, id="half"),
        pytest.param(lambda n: n * 3 // 4, id="three-quarters"),
        pytest.param(lambda n: n - 8, id="no-trailer"),
        pytest.param(lambda n: n - 1, id="last-byte"),
        pytest.param(lambda n: 10, id="header-only"),
    ],
)
def test_truncated_gzip_refused(
    site: Site, three_parts: tuple[bytes, str], cut: Callable[[int], int]
) -> None:
    # 1.5 MiB of incompressible members: a cut in the middle lets the first member be
    # extracted before the stream ends, so the cleanup of a partial tree is exercised.
    full, h = three_parts
    tarball = site.tmp / "truncated.tar.gz"
    tarball.write_bytes(full[: cut(len(full))])
    site.bind(h, (tarball.as_uri(), sha256_of(tarball)))
    info = install_fails(ArchiveError, site)
    assert tarball.as_uri() in str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        # An empty file and a plain tar are read (an empty tree, a tree): see test_tarjl.py.
        pytest.param(b"not a gzip file at all\n", id="not-gzip"),
        pytest.param(b"x" * 600, id="no-known-magic"),
        pytest.param(b"\x1f", id="gzip-magic-cut"),
        pytest.param(gzip.compress(b"gzip, but not a tar\n" * 40, mtime=0), id="not-tar"),
        pytest.param(compress(b"xz, but not a tar\n" * 40, "xz"), id="xz-not-tar"),
        pytest.param(compress(b"bzip2, but not a tar\n" * 40, "bzip2"), id="bzip2-not-tar"),
        pytest.param(b"\xfd7zXZ\x00" + b"\0" * 100, id="xz-magic-then-junk"),
        pytest.param(b"BZh9" + b"\1" * 100, id="bzip2-magic-then-junk"),
        pytest.param(compress(tar_bytes([reg("ok.txt")], "tar"), "xz")[:-20], id="xz-cut"),
        pytest.param(compress(tar_bytes([reg("ok.txt")], "tar"), "bzip2")[:-5], id="bzip2-cut"),
        pytest.param(tar_bytes([reg("ok.txt")], "tar")[:700], id="tar-cut-in-data"),
        pytest.param(tar_bytes([reg("ok.txt")], "tar")[:300], id="tar-cut-in-header"),
    ],
)
def test_unreadable_archive_refused(site: Site, ok_hash: str, content: bytes) -> None:
    tarball = site.tmp / "junk.tar.gz"
    tarball.write_bytes(content)
    site.bind(ok_hash, (tarball.as_uri(), sha256_of(tarball)))
    install_fails(ArchiveError, site)


def test_truncated_tail_of_large_gzip_refused(site: Site) -> None:
    # header 512 + data 1047040 + end marker 1024 = exactly 1 MiB; padded to 1054720
    data = bytes(range(256)) * (1047040 // 256)
    full = tar_bytes([reg("big", data)])
    tarball = site.tmp / "big.tar.gz"
    tarball.write_bytes(full[:-8])  # the gzip trailer is gone
    h = hash_of_files(site.tmp / "expected", {"big": (data, False)})
    site.bind(h, (tarball.as_uri(), sha256_of(tarball)))
    install_fails(ArchiveError, site)


def test_overlong_member_name_leaves_nothing(site: Site, ok_hash: str) -> None:
    site.bind(ok_hash, site.tarball("overlong.tar.gz", [reg("ok.txt"), reg("x" * 300)]))
    with pytest.raises(ArchiveError, match="too long"):
        ensure_artifact_installed("data", site.toml)
    assert_nothing_left(site.depot)


# --- unsafe members ----------------------------------------------------------------------


def altered(member: Member, **fields: object) -> Member:
    """``member`` with header ``fields`` set (``linkname``, ``type``...) as given."""
    info, data = member
    copy = info.replace()
    for name, value in fields.items():
        setattr(copy, name, value)
    return copy, data


# Each case: the members after a harmless ``ok.txt``, given the sentinel directory.
Case: TypeAlias = Callable[[Path], list[Member]]

UNSAFE: list[tuple[str, Case]] = [
    # absolute paths
    ("absolute-file", lambda s: [reg(f"{s}/evil")]),
    ("absolute-dir", lambda s: [directory(f"{s}/evildir")]),
    ("absolute-symlink-name", lambda s: [symlink(f"{s}/evillink", "ok.txt")]),
    ("double-slash-absolute", lambda s: [reg(f"/{s}/evil")]),
    # '..' components
    ("dotdot", lambda s: [reg("../evil")]),
    ("dotdot-inner", lambda s: [reg("a/../../evil")]),
    ("dotdot-harmless-looking", lambda s: [reg("a/../ok2.txt")]),
    ("dotdot-to-sentinel", lambda s: [reg(f"{UP_TO_TMP}sentinel/evil")]),
    ("dotdot-dir", lambda s: [directory(f"{UP_TO_TMP}sentinel/evildir")]),
    ("dotdot-symlink-name", lambda s: [symlink(f"{UP_TO_TMP}sentinel/l", "/etc/passwd")]),
    ("dotdot-after-dot", lambda s: [reg("./../evil")]),
    # symlinks leaving the tree
    ("symlink-absolute", lambda s: [symlink("link", str(s))]),
    ("symlink-absolute-then-write", lambda s: [symlink("link", str(s)), reg("link/evil")]),
    ("symlink-absolute-etc", lambda s: [symlink("link", "/etc/passwd")]),
    ("symlink-relative-out", lambda s: [symlink("out", "../../outside")]),
    ("symlink-dotdot-from-top", lambda s: [symlink("out", "..")]),
    (
        "symlink-relative-out-deep",
        lambda s: [directory("a/b"), symlink("a/b/l", "x/../../../../y")],
    ),
    (
        "symlink-relative-to-sentinel-then-write",
        lambda s: [symlink("out", f"{UP_TO_TMP}sentinel"), reg("out/evil")],
    ),
    # chains of links, each harmless-looking, that together leave the tree
    (
        "symlink-chain",
        lambda s: [directory("d"), symlink("d/l1", ".."), symlink("l2", "d/l1/..")],
    ),
    (
        "symlink-chain-reversed",
        lambda s: [directory("d"), symlink("l2", "d/l1/.."), symlink("d/l1", "..")],
    ),
    (
        "symlink-chain-three",
        lambda s: [
            directory("a/b"),
            symlink("a/b/up", ".."),
            symlink("a/up2", "b/up/.."),
            symlink("esc", "a/up2/.."),
        ],
    ),
    # entries beneath a symlink
    ("beneath-symlink-file", lambda s: [directory("sub"), symlink("s", "sub"), reg("s/file")]),
    ("beneath-symlink-dir", lambda s: [directory("sub"), symlink("s", "sub"), directory("s/d")]),
    (
        "beneath-symlink-symlink",
        lambda s: [directory("sub"), symlink("s", "sub"), symlink("s/l", "../ok.txt")],
    ),
    (
        "beneath-symlink-hardlink",
        lambda s: [directory("sub"), symlink("s", "sub"), hardlink("s/h", "ok.txt")],
    ),
    ("beneath-symlink-to-dot", lambda s: [symlink("s", "."), reg("s/file")]),
    ("beneath-symlink-absolute", lambda s: [symlink("s", str(s)), reg("s/evil")]),
    ("beneath-symlink-deep", lambda s: [directory("sub"), symlink("s", "sub"), reg("s/x/y/z")]),
    # a symlink that replaced a directory is a symlink still
    (
        "beneath-symlink-over-dir",
        lambda s: [directory("sub"), directory("d"), symlink("d", "sub"), reg("d/f")],
    ),
    # hard links
    ("hardlink-dotdot", lambda s: [hardlink("h", "../outside")]),
    ("hardlink-to-sentinel", lambda s: [hardlink("h", f"{UP_TO_TMP}sentinel/secret")]),
    ("hardlink-absolute", lambda s: [hardlink("h", f"{s}/secret")]),
    ("hardlink-inner-dotdot", lambda s: [hardlink("h", "a/../../evil")]),
    ("hardlink-to-later-name", lambda s: [hardlink("h", "later"), reg("later")]),
    ("hardlink-to-missing", lambda s: [hardlink("h", "nowhere")]),
    ("hardlink-to-itself", lambda s: [hardlink("h", "h")]),
    ("hardlink-to-itself-exec", lambda s: [hardlink("h", "h", 0o755)]),
    # hard links to a file that a later entry replaced, or removed with its directory
    (
        "hardlink-to-file-now-symlink",
        lambda s: [reg("f"), symlink("f", "ok.txt"), hardlink("h", "f")],
    ),
    ("hardlink-to-file-now-dir", lambda s: [reg("f"), directory("f"), hardlink("h", "f")]),
    (
        "hardlink-to-file-in-replaced-dir",
        lambda s: [directory("sub"), reg("d/f"), symlink("d", "sub"), hardlink("h", "d/f")],
    ),
    ("hardlink-replacing-its-target-dir", lambda s: [reg("d/f"), hardlink("d", "d/f")]),
    ("hardlink-to-directory", lambda s: [directory("d"), hardlink("h", "d")]),
    ("hardlink-to-symlink", lambda s: [symlink("l", "ok.txt"), hardlink("h", "l")]),
    (
        "hardlink-through-symlink",
        lambda s: [reg("sub/f"), symlink("s", "sub"), hardlink("h", "s/f")],
    ),
    # not plain data
    ("char-device", lambda s: [special("null", tarfile.CHRTYPE, 1, 3)]),
    ("block-device", lambda s: [special("loop", tarfile.BLKTYPE, 7, 0)]),
    ("fifo", lambda s: [special("pipe", tarfile.FIFOTYPE)]),
    ("unknown-type", lambda s: [special("odd", b"Z")]),
    ("file-at-top", lambda s: [reg(".")]),
    # header rules of Tar.jl's check_header
    ("file-name-ends-in-slash", lambda s: [reg("f/")]),
    ("file-name-ends-in-dot", lambda s: [reg("d/.")]),
    ("symlink-name-ends-in-slash", lambda s: [symlink("l/", "ok.txt")]),
    ("hardlink-name-ends-in-slash", lambda s: [hardlink("h/", "ok.txt")]),
    ("file-with-link-target", lambda s: [altered(reg("f"), linkname="ok.txt")]),
    ("directory-with-link-target", lambda s: [altered(directory("d"), linkname="ok.txt")]),
    ("contiguous-file", lambda s: [altered(reg("c"), type=tarfile.CONTTYPE)]),
]


def assert_refused(site: Site, ok_hash: str, case: Case, tarball: str = "evil.tar.gz") -> None:
    # Bound to the hash of ok.txt alone: an extractor that silently dropped the bad
    # member would install, and one that rewrote it would give a HashMismatch.
    url, sha = site.tarball(tarball, [reg("ok.txt"), *case(site.sentinel)])
    site.bind(ok_hash, (url, sha))
    info = install_fails(UnsafeArchive, site)
    assert url in str(info.value)
    assert not (site.tmp / "evil").exists()
    assert not (site.tmp / "outside").exists()


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for i, c in UNSAFE])
def test_unsafe_member_refused(site: Site, ok_hash: str, case: Case) -> None:
    assert_refused(site, ok_hash, case)


# --- what is extracted -------------------------------------------------------------------


def test_links_inside_the_tree_are_kept(site: Site) -> None:
    """The refusals are not blanket: links that stay inside the tree install as links."""
    url, sha = site.tarball(
        "fine.tar.gz",
        [
            directory("a/b"),
            reg("a/b/f", b"deep\n"),
            symlink("a/b/up", ".."),
            symlink("top", "a/b/up/b/f"),
            symlink("self", "."),
            symlink("dangling", "not/there"),
            reg("x", b"x\n", 0o755),
            hardlink("a/copy", "x", 0o755),
            directory("a"),  # a directory may repeat
        ],
    )
    expected = site.tmp / "expected"
    (expected / "a/b").mkdir(parents=True)
    (expected / "a/b/f").write_bytes(b"deep\n")
    (expected / "a/b/up").symlink_to("..")
    (expected / "top").symlink_to("a/b/up/b/f")
    (expected / "self").symlink_to(".")
    (expected / "dangling").symlink_to("not/there")
    for name in ("x", "a/copy"):
        (expected / name).write_bytes(b"x\n")
        (expected / name).chmod(0o755)
    h = tree_hash(expected)
    site.bind(h, (url, sha))
    path = ensure_artifact_installed("data", site.toml)
    assert path == site.depot / "artifacts" / h
    assert sorted(os.listdir(site.depot / "artifacts")) == [h]
    assert snapshot(path, metadata=False) == snapshot(expected, metadata=False)
    # linked, not copied: a hard link with its file's mode declares no data and writes none
    assert (path / "a/copy").stat().st_ino == (path / "x").stat().st_ino


def test_modes_normalised(site: Site) -> None:
    modes = {
        "setuid": 0o4755,
        "setgid": 0o2755,
        "sticky": 0o1644,
        "all-bits": 0o7777,
        "zero": 0o000,
        "owner-x-only": 0o100,
        "group-other-x": 0o011,
        "setuid-no-x": 0o4644,
        "d/f": 0o6644,
        "z/f": 0o000,
    }
    members = [directory("d", 0o7777), directory("z", 0o000)]
    members += [reg(name, name.encode(), mode) for name, mode in modes.items()]
    # a hard link takes the mode of its own header, as in Tar.jl: 0644 here
    members.append(hardlink("copy-of-setuid", "setuid"))
    members.append(hardlink("x-copy-of-zero", "zero", 0o6755))
    url, sha = site.tarball("modes.tar.gz", members)
    executable = {name: bool(mode & 0o100) for name, mode in modes.items()}
    executable["copy-of-setuid"] = False
    executable["x-copy-of-zero"] = True
    files = {name: (name.encode(), x) for name, x in executable.items()}
    files["copy-of-setuid"] = (b"setuid", False)
    files["x-copy-of-zero"] = (b"zero", True)
    h = hash_of_files(site.tmp / "expected", files)
    site.bind(h, (url, sha))

    path = ensure_artifact_installed("data", site.toml)
    assert tree_hash(path) == h
    special_bits = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
    for name, x in executable.items():
        mode = stat.S_IMODE((path / name).lstat().st_mode)
        assert mode & stat.S_IRUSR, (name, oct(mode))
        assert not mode & special_bits, (name, oct(mode))
        assert bool(mode & stat.S_IXUSR) == x, (name, oct(mode))
        # read-only for everyone, readable and (if executable) runnable by everyone
        assert mode == (0o555 if x else 0o444), (name, oct(mode))
    for name in ("d", "z"):
        mode = stat.S_IMODE((path / name).lstat().st_mode)
        assert mode & 0o700 == 0o700, (name, oct(mode))
        assert not mode & special_bits, (name, oct(mode))


# --- archive determinism and round trips -------------------------------------------------

FILES: dict[str, tuple[bytes, bool]] = {
    "a/x": (b"in a\n", False),
    "a-b": (b"dash\n", False),
    "a.txt": (b"alpha\n", False),
    "bin/run": (b"#!/bin/sh\necho hi\n", True),
    "empty": (b"", False),
    "empty-exec": (b"", True),
    "dir/sub/deep.txt": (b"deep\n" * 1000, False),
    "caf\u00e9.txt": (b"non-ascii name\n", False),
    "long/" + "n" * 120: (b"a name past ustar's 100 bytes\n", False),
    "copy": (b"alpha\n", False),
}
LINKS = {"link": "a.txt", "dir/up": "../a.txt", "dangling": "nowhere", "dirlink": "dir/sub"}
EMPTY_DIRS = ["emptydir", "dir/emptysub/deeper"]


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the umask for the test; the original comes back afterwards."""
    original = os.umask(0o022)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(original)


def populate(root: Path, *, reverse: bool, mtime: float, owner: int | None) -> None:
    """Write FILES, LINKS and EMPTY_DIRS under ``root`` (which exists).

    ``reverse`` creates the names in the reverse order and makes ``copy`` a hard link to
    ``a.txt`` (the same content); ``owner`` chowns everything (as root).
    """
    names = sorted([*FILES, *LINKS, *EMPTY_DIRS], reverse=reverse)
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name in LINKS:
            path.symlink_to(LINKS[name])
        elif name in EMPTY_DIRS:
            path.mkdir()
        elif not (reverse and name == "copy"):
            data, executable = FILES[name]
            path.write_bytes(data)
            if executable:
                path.chmod(path.stat().st_mode | stat.S_IXUSR)
    if reverse:
        os.link(root / "a.txt", root / "copy")
    for path in [*root.rglob("*"), root]:
        if owner is not None:
            os.chown(path, owner, owner, follow_symlinks=False)
        os.utime(path, (mtime, mtime), follow_symlinks=False)


def depth_first(root: Path, prefix: str = "") -> list[str]:
    """Names in the order the archive must list them: each directory's entries sorted."""
    names: list[str] = []
    for name in sorted(os.listdir(root), key=os.fsencode):
        names.append(prefix + name)
        path = root / name
        if path.is_dir() and not path.is_symlink():
            names += depth_first(path, prefix + name + "/")
    return names


def test_archive_is_deterministic(tmp_path: Path, umask: Callable[[int], None]) -> None:
    made: list[tuple[str, Path, str]] = []
    variants = [
        (0o022, False, 1_000_000_000.0, None),
        (0o077, True, 2_000_000_000.5, 4242 if os.geteuid() == 0 else None),
    ]
    for i, (mask, reverse, mtime, owner) in enumerate(variants):
        umask(mask)
        with with_artifacts_directory(tmp_path / f"store{i}"):
            h = create_artifact(partial(populate, reverse=reverse, mtime=mtime, owner=owner))
            umask(0o022)
            tarball = tmp_path / f"archive{i}.tar.gz"
            sha = archive_artifact(h, tarball)
            assert sha == sha256_of(tarball)
            # archiving again, and by the upper-case hash, gives the same bytes
            again = tmp_path / f"again{i}.tar.gz"
            assert archive_artifact(h.upper(), again) == sha
            assert again.read_bytes() == tarball.read_bytes()
            made.append((h, tarball, sha))
    (h0, tar0, sha0), (h1, tar1, sha1) = made
    assert h0 == h1
    # the two stored copies really differ in what must not matter
    first, second = tmp_path / "store0" / h0, tmp_path / "store1" / h1
    assert (first / "a.txt").lstat().st_mtime != (second / "a.txt").lstat().st_mtime
    assert stat.S_IMODE((first / "dir").stat().st_mode) == 0o755
    assert stat.S_IMODE((second / "dir").stat().st_mode) == 0o700
    assert stat.S_IMODE((first / "bin/run").stat().st_mode) != (
        stat.S_IMODE((second / "bin/run").stat().st_mode)
    )
    assert (first / "copy").stat().st_nlink == 1
    assert (second / "copy").stat().st_nlink == 2
    if os.geteuid() == 0:
        assert (second / "a.txt").lstat().st_uid == 4242
    assert sha0 == sha1
    assert tar0.read_bytes() == tar1.read_bytes()
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]

    data = tar0.read_bytes()
    assert data[:2] == b"\x1f\x8b"
    assert data[3] & 0x08 == 0  # no file name in the gzip header
    assert data[4:8] == b"\0\0\0\0"  # gzip mtime 0
    with tarfile.open(tar0, "r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == depth_first(first)
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", ""), m.name
        if m.isdir():
            assert m.mode == 0o755, m.name
        elif m.issym():
            assert m.linkname == LINKS[m.name]
        else:
            assert m.isreg(), m.name
            assert m.mode == (0o755 if FILES[m.name][1] else 0o644), m.name
    assert {m.name for m in members if m.isdir()} >= {"emptydir", "dir/emptysub/deeper"}


def test_archive_round_trips_through_install(site: Site) -> None:
    h = create_artifact(partial(populate, reverse=False, mtime=1e9, owner=None))
    source = site.depot / "artifacts" / h
    tarball = site.tmp / "round.tar.gz"
    sha = archive_artifact(h, tarball)
    site.bind(h, (tarball.as_uri(), sha))
    fresh = site.tmp / "fresh-store"
    with with_artifacts_directory(fresh):
        path = ensure_artifact_installed("data", site.toml)
        assert path == fresh / h
        assert verify_artifact(h)
    assert tree_hash(path) == h
    assert sorted(os.listdir(fresh)) == [h]
    got = snapshot(path, metadata=False)
    assert got == snapshot(source, metadata=False)
    # the parts a tree hash cannot see come through too
    assert got["emptydir"] == ("dir", "")
    assert got["dir/emptysub/deeper"] == ("dir", "")
    assert got["bin/run"][0] == "exec"
    assert got["empty-exec"][0] == "exec"
    assert got["empty"] == ("file", hashlib.sha256(b"").hexdigest())
    assert got["dangling"] == ("link", "nowhere")
    assert got["dirlink"] == ("link", "dir/sub")
    # and archiving the installed copy gives the same bytes again
    with with_artifacts_directory(fresh):
        assert archive_artifact(h, site.tmp / "again.tar.gz") == sha


# --- archive_artifact's errors -----------------------------------------------------------


def test_archive_of_missing_artifact(tmp_path: Path, depot: Path) -> None:
    tarball = tmp_path / "out" / "missing.tar.gz"
    tarball.parent.mkdir()
    with pytest.raises(ArtifactNotFound) as info:
        archive_artifact("0" * 40, tarball)
    assert isinstance(info.value, LookupError)
    assert "0" * 40 in str(info.value)
    assert os.listdir(tarball.parent) == []


@pytest.mark.parametrize(
    "bad",
    ["", "xyz", "0" * 39, "0" * 41, "g" * 40, "0" * 64, " " + "0" * 39, "../" + "0" * 37, 42],
)
def test_archive_of_invalid_hash(tmp_path: Path, bad: object) -> None:
    tarball = tmp_path / "out" / "bad.tar.gz"
    tarball.parent.mkdir()
    with pytest.raises(InvalidHash) as info:
        archive_artifact(cast(str, bad), tarball)
    assert isinstance(info.value, ValueError)
    assert os.listdir(tarball.parent) == []


# --- crafted headers, written byte by byte -----------------------------------------------
# ``tarfile`` will not write most of these, so the 512-byte headers are built here:
# ustar fields at their POSIX offsets, the checksum computed over the header with its own
# field as spaces, PAX records as "<length> <keyword>=<value>\n".

BLOCK = 512
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)
GNU_MAGIC = b"ustar  \0"  # old GNU tar's magic and version, which its 'S' type needs
# Offsets in an old GNU sparse header: whether more sparse headers follow, the real size.
GNU_EXTENDED, GNU_REALSIZE = 482, 483


def octal(value: int, width: int) -> bytes:
    """A numeric field: octal digits and a NUL, as wide as the field."""
    return b"%0*o\0" % (width - 1, value)


def base256(value: int, width: int = 12) -> bytes:
    """A numeric field too large for octal: GNU's base-256 (first byte 0x80, or 0xff if < 0)."""
    digits = (value % (1 << 8 * (width - 1))).to_bytes(width - 1, "big")
    return (b"\xff" if value < 0 else b"\x80") + digits


def with_checksum(header: bytes | bytearray) -> bytes:
    """``header`` with its checksum: the sum of its bytes, the field itself read as spaces."""
    block = bytearray(header)
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def ustar(
    name: str | bytes,
    kind: bytes = b"0",
    *,
    size: int | bytes = 0,
    linkname: str | bytes = b"",
    mode: int = 0o644,
    magic: bytes = b"ustar\x0000",
    at: dict[int, bytes] | None = None,
) -> bytes:
    """One 512-byte header; ``size`` may be a raw field, ``at`` overwrites bytes at offsets."""

    def raw(value: str | bytes) -> bytes:
        return value.encode() if isinstance(value, str) else value

    block = bytearray(BLOCK)
    block[0:100] = raw(name)[:100].ljust(100, b"\0")
    block[100:108] = octal(mode, 8)
    block[108:116] = block[116:124] = octal(0, 8)
    block[124:136] = size if isinstance(size, bytes) else octal(size, 12)
    block[136:148] = octal(0, 12)
    block[156:157] = kind
    block[157:257] = raw(linkname)[:100].ljust(100, b"\0")
    block[257:265] = magic
    for offset, value in (at or {}).items():
        block[offset : offset + len(value)] = value
    return with_checksum(block)


def padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def member_bytes(name: str, data: bytes = OK_DATA, kind: bytes = b"0") -> bytes:
    """A member with its data: header, then the data padded to whole blocks."""
    return ustar(name, kind, size=len(data)) + padded(data)


def pax_record(keyword: bytes, value: bytes) -> bytes:
    """``"<length> <keyword>=<value>\\n"``, the length counting its own digits."""
    body = b" %s=%s\n" % (keyword, value)
    length = len(body) + 1
    while len(b"%d" % length) + len(body) != length:
        length = len(b"%d" % length) + len(body)
    return b"%d%s" % (length, body)


def pax_data(data: bytes, kind: bytes = b"x") -> bytes:
    """An extended header holding ``data`` as it is, records or not.

    ``kind`` ``x`` is for the next member, ``g`` for all that follow.
    """
    return ustar(b"PaxHeaders/x", kind, size=len(data)) + padded(data)


def pax(*records: tuple[bytes, bytes], kind: bytes = b"x") -> bytes:
    """An extended header of well-formed ``records``."""
    return pax_data(b"".join(pax_record(keyword, value) for keyword, value in records), kind)


def raw_tarball(*blocks: bytes) -> bytes:
    """The gzip tarball of ``blocks`` and an end-of-archive marker."""
    return gzip.compress(b"".join(blocks) + END_OF_ARCHIVE, mtime=0)


SPARSE_1_0 = ((b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"))

# Each: the blocks before a harmless ``ok.txt``, and the error they must give: the library's
# own, whatever ``tarfile`` raises on them or makes of them.
CRAFTED: list[tuple[str, bytes, type[ArchiveError]]] = [
    # names holding a NUL
    ("linkpath-nul", pax((b"linkpath", b"ok.txt\0evil")) + ustar("l", b"2"), UnsafeArchive),
    ("linkpath-nul-hardlink", pax((b"linkpath", b"ok.txt\0x")) + ustar("h", b"1"), UnsafeArchive),
    ("path-nul", pax((b"path", b"a\0b")) + member_bytes("p"), UnsafeArchive),
    # sparse files whose fields are not numbers, or whose map is missing
    ("sparse-0.0-size-nan", pax((b"GNU.sparse.size", b"abc")) + member_bytes("s"), UnsafeArchive),
    (
        "sparse-0.0-offset-nan",
        pax(
            (b"GNU.sparse.size", b"9"), (b"GNU.sparse.offset", b"x"), (b"GNU.sparse.numbytes", b"9")
        )
        + member_bytes("s"),
        UnsafeArchive,
    ),
    ("sparse-0.1-map-nan", pax((b"GNU.sparse.map", b"0,x")) + member_bytes("s"), UnsafeArchive),
    ("sparse-0.1-map-empty", pax((b"GNU.sparse.map", b"")) + member_bytes("s"), UnsafeArchive),
    ("sparse-0.1-map-odd", pax((b"GNU.sparse.map", b"0,9,4")) + member_bytes("s"), UnsafeArchive),
    (
        "sparse-1.0-no-map",
        pax(*SPARSE_1_0, (b"GNU.sparse.realsize", b"10")) + ustar("s"),
        UnsafeArchive,
    ),
    (
        "sparse-1.0-map-nan",
        pax(*SPARSE_1_0, (b"GNU.sparse.realsize", b"10")) + member_bytes("s", b"x\n0\n"),
        UnsafeArchive,
    ),
    (
        "sparse-1.0-map-endless",
        pax(*SPARSE_1_0) + member_bytes("s", b"99999999999\n" + b"0\n" * 2000),
        UnsafeArchive,
    ),
    (
        "sparse-realsize-nan",
        pax((b"GNU.sparse.realsize", b"abc")) + member_bytes("s"),
        ArchiveError,
    ),
    ("sparse-name-only", pax((b"GNU.sparse.name", b"t")) + member_bytes("s"), UnsafeArchive),
    (
        "sparse-2.0",
        pax((b"GNU.sparse.major", b"2"), (b"GNU.sparse.realsize", b"10")) + member_bytes("s"),
        UnsafeArchive,
    ),
    (
        "sparse-global",
        pax((b"GNU.sparse.map", b"0,x"), kind=b"g") + member_bytes("s"),
        UnsafeArchive,
    ),
    (
        "sparse-old-gnu",
        ustar("s", b"S", magic=GNU_MAGIC, at={GNU_REALSIZE: octal(10, 12)}),
        UnsafeArchive,
    ),
    (
        "sparse-old-gnu-extended",
        ustar("s", b"S", magic=GNU_MAGIC, at={GNU_EXTENDED: b"\1"}) + b"\1" * BLOCK * 3,
        UnsafeArchive,
    ),
    # extended headers that are too big, too many, or malformed
    ("pax-header-1gib", ustar("PaxHeaders/x", b"x", size=1 << 30), ArchiveError),
    ("gnu-longname-1gib", ustar("././@LongLink", b"L", size=1 << 30), ArchiveError),
    ("pax-header-negative", ustar("PaxHeaders/x", b"x", size=base256(-1)), ArchiveError),
    ("pax-chain-2000", pax((b"comment", b"x")) * 2000 + member_bytes("c"), ArchiveError),
    ("gnu-longname-chain-2000", member_bytes("././@LongLink", b"n", b"L") * 2000, ArchiveError),
    ("pax-record-length-zero", pax_data(b"0 a=b\n"), ArchiveError),
    ("pax-record-length-lies", pax_data(b"2 " * 4000 + b"=\n"), ArchiveError),
    ("pax-record-no-newline", pax_data(b"8 a=bcd "), ArchiveError),
    ("pax-record-no-keyword", pax_data(b"8 =a=bc\n"), ArchiveError),
    ("pax-record-digits-16k", pax((b"comment", b"1" * 16000)), ArchiveError),
    ("pax-header-over-16k", pax((b"comment", b"x" * (16 << 10))), ArchiveError),
    # PAX names go through the same checks as ustar ones
    ("pax-path-dotdot", pax((b"path", b"../evil")) + member_bytes("p"), UnsafeArchive),
    ("pax-path-absolute", pax((b"path", b"/tmp/evil")) + member_bytes("p"), UnsafeArchive),
    ("pax-linkpath-absolute", pax((b"linkpath", b"/etc/passwd")) + ustar("l", b"2"), UnsafeArchive),
    ("pax-linkpath-out", pax((b"linkpath", b"../../..")) + ustar("l", b"2"), UnsafeArchive),
    (
        "gnu-longlink-out",
        member_bytes("././@LongLink", b"../x", b"K") + ustar("l", b"2"),
        UnsafeArchive,
    ),
    (
        "gnu-longname-nul",
        member_bytes("././@LongLink", b"\0", b"L") + member_bytes("n"),
        UnsafeArchive,
    ),
]


@pytest.mark.parametrize(("blocks", "expected"), [pytest.param(b, e, id=i) for i, b, e in CRAFTED])
def test_crafted_header_refused(
    site: Site, ok_hash: str, blocks: bytes, expected: type[ArchiveError]
) -> None:
    """Whatever ``tarfile`` makes of the header, the caller gets the library's own error."""
    tarball = site.tmp / "crafted.tar.gz"
    tarball.write_bytes(raw_tarball(blocks, member_bytes("ok.txt")))
    site.bind(ok_hash, (tarball.as_uri(), sha256_of(tarball)))
    info = install_fails(expected, site)
    assert tarball.as_uri() in str(info.value)
    # Extracting directly raises the same, having written nothing: the crafted header
    # comes first, and is refused before anything of it reaches the disk.
    dest = site.tmp / "direct"
    dest.mkdir()
    with pytest.raises(expected) as direct:
        _tar.extract(str(tarball), str(dest))
    assert type(direct.value) is expected, repr(direct.value)
    assert os.listdir(dest) == []


HARMLESS: list[tuple[str, bytes]] = [
    ("pax-mtime-nan", pax((b"mtime", b"abc"))),
    ("pax-uid-nan", pax((b"uid", b"x"), (b"gid", b"-"))),
    ("pax-unknown-keywords", pax((b"LIBARCHIVE.xattr.user.x", b"eA=="), (b"SCHILY.fflags", b""))),
    ("pax-binary-owner", pax((b"hdrcharset", b"BINARY"), (b"uname", b"\xff\xfe"))),
    (  # what ``git archive`` writes first: its commit, in a global header
        "pax-global-comment",
        pax((b"comment", b"4b825dc642cb6eb9a060e54bf8d69288fbee4904"), kind=b"g"),
    ),
    ("pax-path-of-the-member", pax((b"path", b"ok.txt"))),
    ("gnu-longname", member_bytes("././@LongLink", b"ok.txt\0", b"L")),
    ("pax-long-keyword", pax((b"SCHILY.xattr.security.selinux", b"system_u:object_r:usr_t:s0"))),
    ("pax-255-digits", pax((b"comment", b"1" * 255 + b"x" + b"2" * 255))),
    ("pax-15k-comment", pax((b"comment", b"x" * (15 << 10)))),
]


@pytest.mark.parametrize("blocks", [pytest.param(b, id=i) for i, b in HARMLESS])
def test_odd_but_harmless_headers_install(site: Site, ok_hash: str, blocks: bytes) -> None:
    """The refusals are not blanket: headers ``tarfile`` reads around still install."""
    tarball = site.tmp / "odd.tar.gz"
    tarball.write_bytes(raw_tarball(blocks, member_bytes("ok.txt")))
    site.bind(ok_hash, (tarball.as_uri(), sha256_of(tarball)))
    path = ensure_artifact_installed("data", site.toml)
    assert path == site.depot / "artifacts" / ok_hash
    assert verify_artifact(ok_hash)


# --- what extraction writes, on a small real disk ------------------------------------------

TB_100 = b"99999999999999"  # bytes of zeros a 600-byte sparse archive declares

# Each declares 100 TB of a file whose data the archive does not hold: tarfile would make
# the holes up as zeros, written until the disk is full.
SPARSE_BOMBS: list[tuple[str, bytes]] = [
    ("pax-0.0", pax((b"GNU.sparse.size", TB_100), (b"GNU.sparse.offset", b"0")) + ustar("z")),
    ("pax-0.1", pax((b"GNU.sparse.size", TB_100), (b"GNU.sparse.map", b"0,0")) + ustar("z")),
    (
        "pax-1.0",
        pax(*SPARSE_1_0, (b"GNU.sparse.realsize", TB_100), (b"GNU.sparse.name", b"z"))
        + member_bytes("GNUSparseFile.0/z", b"1\n0\n0\n"),
    ),
    ("old-gnu", ustar("z", b"S", magic=GNU_MAGIC, at={GNU_REALSIZE: base256(int(TB_100))})),
]


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Tmpfs, Site]]:
    """An 8 MiB tmpfs holding the depot, and a site beside it (skipped where mount is refused)."""
    with mounted(tmp_path / "mnt", size=8 << 20) as fs:
        use_depots(monkeypatch, fs.path / "depot")
        yield fs, make_site(tmp_path, fs.path / "depot")


@pytest.mark.parametrize("bomb", [pytest.param(b, id=i) for i, b in SPARSE_BOMBS])
def test_sparse_bomb_refused_before_writing(
    small_disk: tuple[Tmpfs, Site], ok_hash: str, bomb: bytes
) -> None:
    fs, site = small_disk
    tarball = site.tmp / "bomb.tar.gz"
    tarball.write_bytes(raw_tarball(bomb))
    assert tarball.stat().st_size < 700
    site.bind(ok_hash, (tarball.as_uri(), sha256_of(tarball)))
    free = fs.free_bytes()
    started = time.monotonic()
    info = install_fails(UnsafeArchive, site)
    assert time.monotonic() - started < 2
    assert "a sparse file" in str(info.value)
    # the depot's logs took a page or two; no zeros were written
    assert fs.free_bytes() > free - (64 << 10)
    dest = fs.path / "direct"
    dest.mkdir()
    with pytest.raises(UnsafeArchive, match="a sparse file"):
        _tar.extract(str(tarball), str(dest))
    assert os.listdir(dest) == []
    assert fs.free_bytes() > free - (64 << 10)


def test_member_writes_no_more_than_the_archive_holds(
    small_disk: tuple[Tmpfs, Site], ok_hash: str
) -> None:
    """A file declaring 100 TB with 1 MiB of data writes that MiB, then the archive ends."""
    fs, site = small_disk
    data = os.urandom(1 << 20)
    tarball = site.tmp / "short.tar.gz"
    tarball.write_bytes(gzip.compress(ustar("big", size=base256(int(TB_100))) + data, mtime=0))
    site.bind(ok_hash, (tarball.as_uri(), sha256_of(tarball)))
    install_fails(ArchiveError, site)
    dest = fs.path / "direct"
    dest.mkdir()
    with pytest.raises(ArchiveError, match="unexpected end of data"):
        _tar.extract(str(tarball), str(dest))
    assert (dest / "big").stat().st_size == len(data)


def test_hard_links_write_nothing(small_disk: tuple[Tmpfs, Site]) -> None:
    """64 hard links to a 256 KiB file: 16 MiB as copies, on an 8 MiB disk; 256 KiB as links."""
    fs, site = small_disk
    data = os.urandom(256 << 10)
    links = [f"link{i:02}" for i in range(64)]
    blocks = [member_bytes("file", data)] + [ustar(name, b"1", linkname="file") for name in links]
    tarball = site.tmp / "links.tar.gz"
    tarball.write_bytes(raw_tarball(*blocks))
    files = dict.fromkeys(["file", *links], (data, False))
    h = hash_of_files(site.tmp / "expected", files)
    site.bind(h, (tarball.as_uri(), sha256_of(tarball)))
    free = fs.free_bytes()
    path = ensure_artifact_installed("data", site.toml)
    assert verify_artifact(h)
    assert (path / "link63").stat().st_nlink == 65
    assert (path / "link63").read_bytes() == data
    assert fs.free_bytes() > free - (1 << 20)


def test_pax_records_parsed_in_linear_time(site: Site, ok_hash: str) -> None:
    """487 bytes of gzip cost 5 to 8 s of CPU on Python before 3.10.15 / 3.11.10 / 3.12.6.

    Ten members, each after a 16 KiB PAX header of digits: ``tarfile``'s parser there
    takes time quadratic in a run of digits (CVE-2024-6232). Refused before it parses.
    """
    headers = [pax((b"comment", b"1" * 16000)) + member_bytes(f"f{i}") for i in range(10)]
    tarball = site.tmp / "digits.tar.gz"
    tarball.write_bytes(raw_tarball(*headers, member_bytes("ok.txt")))
    assert tarball.stat().st_size < 600
    site.bind(ok_hash, (tarball.as_uri(), sha256_of(tarball)))
    started = time.monotonic()
    info = install_fails(ArchiveError, site)
    assert time.monotonic() - started < 1
    assert "more than 255 digits" in str(info.value)
