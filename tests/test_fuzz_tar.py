"""Hypothesis fuzzing of tarballs: whatever the damage, nothing escapes and no foreign error.

Each example damages a valid deterministic tarball (bytes flipped, cut short, header
fields rewritten with or without a fresh checksum, PAX records injected, a member aimed
at the canary spliced in, the compressed stream itself flipped; gzip, xz, bzip2 or none,
the compression read from the bytes) and extracts it twice: with
``_tar.extract`` into a directory inside a temporary depot, and with
``ensure_artifact_installed`` through an ``Artifacts.toml`` naming its sha256 (so the
damaged archive is really extracted). Beside the depot is a canary folder, and a symlink
into it beside the depot, so that an escape anywhere would hit it. Every example must
end in success or a :class:`ScratchspacesError`, never any other exception; an install
that succeeds verifies; the canary stays byte-identical (names, modes, mtimes, inodes,
contents, link targets); the depot holds nothing but the artifact.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _artifacts import (
    COMPRESSIONS,
    UP_TO_TMP,
    compress,
    directory,
    hardlink,
    reg,
    sha256_of,
    symlink,
    tar_bytes,
)
from _depots import snapshot, use_depots
from scratchspaces import ScratchspacesError
from scratchspaces.artifacts import (
    _tar,
    bind_artifact,
    ensure_artifact_installed,
    tree_hash,
    verify_artifact,
)
from test_artifacts_tar import (
    BLOCK,
    base256,
    octal,
    padded,
    pax,
    pax_data,
    pax_record,
    ustar,
    with_checksum,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

RAN: Counter[str] = Counter()
"""Examples run per test (shrinking included), reported when the module ends."""
OUTCOMES: Counter[str] = Counter()
"""How each extraction ended: ``extract ok``, ``install ok``, or the error's class."""


@pytest.fixture(scope="module", autouse=True)
def _report_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not RAN:
        return
    # Written past the capture: a module's teardown output is shown only when it fails.
    with capture.global_and_fixture_disabled():
        cases = ", ".join(f"{kind} {n}" for kind, n in sorted(RAN.items()))
        reporter.write_line(f"\ntarball fuzz cases: {sum(RAN.values())} ({cases})")
        outcomes = ", ".join(f"{what} {n}" for what, n in sorted(OUTCOMES.items()))
        reporter.write_line(f"tarball fuzz outcomes: {outcomes}")


# --- the valid tarballs damaged ----------------------------------------------------------------


class Base:
    """A valid tarball: its uncompressed bytes, its tree hash, where its headers start.

    Not a dataclass: Hypothesis prints a failing example's fixtures field by field, and
    ten KiB of bytes would bury it.
    """

    def __init__(self, raw: bytes, hash_: str, headers: tuple[int, ...]) -> None:
        self.raw = raw
        self.hash = hash_
        self.headers = headers

    def __repr__(self) -> str:
        return f"Base({len(self.raw)} bytes, {self.hash})"


def _headers(raw: bytes) -> tuple[int, ...]:
    """The offset of every header block: each member's extended headers and its own."""
    offsets: set[int] = set()
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for member in tar:
            offsets.update({member.offset, member.offset_data - BLOCK})
    return tuple(sorted(offsets))


def _fill(top: Path) -> None:
    (top / "dir" / "sub").mkdir(parents=True)
    (top / "dir" / "a.txt").write_bytes(b"alpha\n")
    (top / "dir" / "sub" / "run").write_bytes(b"#!/bin/sh\n")
    (top / "dir" / "sub" / "run").chmod(0o755)
    (top / ("long-" + "n" * 120)).write_bytes(b"a name past ustar's 100 bytes\n")
    (top / "caf\u00e9").write_bytes(b"")
    (top / "link").symlink_to("dir/a.txt")
    (top / "dir" / "up").symlink_to("..")


def _base(raw: bytes, where: Path) -> Base:
    """Describe the valid tarball ``raw``, extracting it once to learn its tree hash."""
    where.mkdir()
    tarball = where / "base.tar.gz"
    tarball.write_bytes(gzip.compress(raw, mtime=0))
    (where / "tree").mkdir()
    _tar.extract(str(tarball), str(where / "tree"))
    return Base(raw, tree_hash(where / "tree"), _headers(raw))


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> list[Base]:
    """The library's own archive of a small tree, and a hand-made one with a hard link."""
    tmp = tmp_path_factory.mktemp("bases")
    (tmp / "tree").mkdir()
    _fill(tmp / "tree")
    _tar.archive(str(tmp / "tree"), str(tmp / "own.tar.gz"))
    own = gzip.decompress((tmp / "own.tar.gz").read_bytes())
    members = [
        directory("d"),
        reg("d/f", b"data\n" * 50),
        hardlink("d/h", "d/f"),
        symlink("s", "d/f"),
        reg("x" * 130, b"long\n", 0o755),
        symlink("long-link", "d/" + "./" * 60 + "f"),  # a target past 100 bytes: PAX
    ]
    made = gzip.decompress(tar_bytes(members))
    return [_base(own, tmp / "own"), _base(made, tmp / "made")]


# --- damage ------------------------------------------------------------------------------------

# Names and link targets a hostile archive would use; CANARY becomes the canary's absolute
# path in each example.
CANARY = b"<canary>"
NAMES = [
    b"../evil",
    UP_TO_TMP.encode() + b"canary/evil",
    UP_TO_TMP.encode() + b"to-canary/evil",
    CANARY + b"/evil",
    b"/tmp/evil",
    b"a\0b",
    b"",
    b".",
    b"..",
    b"./",
    b"a/../../evil",
    b"link/evil",
    b"dir/up/../../evil",
    b"s/evil",
    b"d/f/evil",
    b"d",
    b"dir/a.txt",
    b"x" * 300,
    b"\xff\xfe",
    b"GNUSparseFile.0/z",
]
TARGETS = [
    b"..",
    UP_TO_TMP.encode() + b"canary",
    UP_TO_TMP.encode() + b"canary/a.txt",
    CANARY,
    CANARY + b"/a.txt",
    b"/etc/passwd",
    b"dir/a.txt",
    b"d/f",
    b"dir",
    b"",
    b"x\0y",
    b"dir/up/..",
    b"link",
]
TYPES = list(b"0\x0012345678xgLKSVMNDAZ")
KEYWORDS = [
    b"path",
    b"linkpath",
    b"size",
    b"mtime",
    b"uid",
    b"uname",
    b"hdrcharset",
    b"comment",
    b"GNU.sparse.size",
    b"GNU.sparse.map",
    b"GNU.sparse.major",
    b"GNU.sparse.minor",
    b"GNU.sparse.realsize",
    b"GNU.sparse.name",
    b"GNU.sparse.offset",
    b"GNU.sparse.numbytes",
    b"SCHILY.xattr.user.x",
]
# (offset, width) of the ustar fields worth rewriting
FIELDS = {
    "name": (0, 100),
    "mode": (100, 8),
    "uid": (108, 8),
    "size": (124, 12),
    "mtime": (136, 12),
    "type": (156, 1),
    "linkname": (157, 100),
    "magic": (257, 8),
    "devmajor": (329, 8),
    "prefix": (345, 155),
}

numbers = st.one_of(
    st.integers(0, 8**11 - 1).map(lambda n: octal(n, 12)),
    st.integers(-(2**80), 2**80).map(base256),
    st.sampled_from([b"abc", b"-1", b" 12 ", b"\0" * 12, b"99999999999999", b"0,0,x"]),
    st.binary(max_size=12),
)
texts = st.one_of(st.sampled_from(NAMES + TARGETS), st.binary(max_size=40))


@dataclass(frozen=True)
class Field:
    """Rewrite one field of the ``header``-th header (then the checksum, if ``fix``)."""

    header: int
    field: str
    value: bytes
    fix: bool


@dataclass(frozen=True)
class Records:
    """Insert an extended header (``x`` or ``g``) of ``records`` before the ``header``-th."""

    header: int
    records: tuple[tuple[bytes, bytes], ...]
    kind: bytes
    junk: bytes


@dataclass(frozen=True)
class Splice:
    """Insert a member of ``kind`` named ``name`` (by PAX), linking to ``target``."""

    header: int
    kind: bytes
    name: bytes
    target: bytes


@dataclass(frozen=True)
class Flip:
    """XOR the byte at ``at`` with ``mask``: in the tar stream, or in the compressed file."""

    at: int
    mask: int
    gzip: bool


@dataclass(frozen=True)
class Cut:
    """Keep only the first ``at`` bytes of the tar stream."""

    at: int


Op: TypeAlias = Field | Records | Splice | Flip | Cut

fields = st.builds(
    Field,
    st.integers(0, 63),
    st.sampled_from(sorted(FIELDS)),
    st.one_of(numbers, texts, st.sampled_from(TYPES).map(lambda t: bytes([t]))),
    st.booleans(),
)
records = st.builds(
    Records,
    st.integers(0, 63),
    st.lists(
        st.tuples(
            st.one_of(st.sampled_from(KEYWORDS), st.binary(max_size=10)), st.one_of(numbers, texts)
        ),
        min_size=1,
        max_size=4,
    ).map(tuple),
    st.sampled_from([b"x", b"g"]),
    st.one_of(st.just(b""), st.binary(max_size=16)),
)
splices = st.builds(
    Splice,
    st.integers(0, 63),
    st.sampled_from([b"0", b"1", b"2", b"5", b"S"]),
    st.sampled_from(NAMES),
    st.sampled_from(TARGETS),
)
flips = st.builds(Flip, st.integers(0, 1 << 20), st.integers(1, 255), st.booleans())
cuts = st.builds(Cut, st.integers(0, 1 << 20))


def _inserted(op: Records | Splice, resolve: Callable[[bytes], bytes]) -> bytes:
    """The blocks ``op`` inserts: an extended header, or a whole member named by PAX."""
    if isinstance(op, Splice):
        data = b"evil\n" if op.kind == b"0" else b""
        names = ((b"path", resolve(op.name)), (b"linkpath", resolve(op.target)))
        return pax(*names) + ustar("x", op.kind, size=len(data)) + padded(data)
    # junk after the records: bytes that are not a record, counted in the header's size
    data = b"".join(pax_record(key, resolve(value)) for key, value in op.records) + op.junk
    return pax_data(data, op.kind)


def damage(base: Base, ops: list[Op], canary: Path, compression: str = "gzip") -> bytes:
    """The tarball of ``base`` after ``ops``: field edits, insertions, flips, a cut."""
    here = os.fsencode(canary)

    def resolve(value: bytes) -> bytes:
        return value.replace(CANARY, here)

    def header(op: Field | Records | Splice) -> int:
        return base.headers[op.header % len(base.headers)]

    raw = bytearray(base.raw)
    for op in ops:
        if isinstance(op, Field):
            offset, width = FIELDS[op.field]
            at = header(op) + offset
            raw[at : at + width] = resolve(op.value)[:width].ljust(width, b"\0")
            if op.fix:
                raw[header(op) : header(op) + BLOCK] = with_checksum(
                    raw[header(op) : header(op) + BLOCK]
                )
    inserts = [
        (header(op), _inserted(op, resolve)) for op in ops if isinstance(op, Records | Splice)
    ]
    for at, blocks in sorted(inserts, key=lambda item: item[0], reverse=True):
        raw[at:at] = blocks
    for op in ops:
        if isinstance(op, Flip) and not op.gzip and raw:
            raw[op.at % len(raw)] ^= op.mask
        elif isinstance(op, Cut):
            del raw[op.at % (len(raw) + 1) :]
    packed = bytearray(compress(bytes(raw), compression))
    for op in ops:
        if isinstance(op, Flip) and op.gzip and packed:  # a plain tar may be cut to nothing
            packed[op.at % len(packed)] ^= op.mask
    return bytes(packed)


# --- one example -------------------------------------------------------------------------------

# Each example binds an artifact and writes its logs, each write synced to disk: on a
# memory filesystem, where there is one, the whole file runs in a third of the time.
FAST = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _make_canary(root: Path) -> Path:
    """The canary beside the depot, and ``to-canary``, a link into it, beside both."""
    canary = root / "canary"
    (canary / "sub").mkdir(parents=True)
    (canary / "a.txt").write_bytes(b"the canary must not change\n")
    (canary / "sub" / "b.bin").write_bytes(bytes(range(256)))
    (canary / "sub" / "run.sh").write_bytes(b"#!/bin/sh\n")
    (canary / "sub" / "run.sh").chmod(0o755)
    (canary / "link").symlink_to("a.txt")
    (canary / "sub" / "up").symlink_to(canary)
    (root / "to-canary").symlink_to(canary)
    return canary


def _canary_state(root: Path) -> tuple[object, ...]:
    """The canary whole (with its own folder), the link into it, and what lies beside them."""
    link = (root / "to-canary").lstat()
    return (
        snapshot(root / "canary", itself=True),
        (os.readlink(root / "to-canary"), link.st_ino, link.st_mtime_ns),
        sorted(set(os.listdir(root)) - {"depot"}),
    )


def _inside(top: Path) -> None:
    """Every symlink under ``top`` resolves inside it."""
    real = os.path.realpath(top)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            resolved = os.path.realpath(os.path.join(dirpath, name))
            assert resolved == real or resolved.startswith(real + os.sep), (name, resolved)


def run_example(base: Base, ops: list[Op], kind: str, compression: str = "gzip") -> None:
    RAN[kind] += 1
    with (
        tempfile.TemporaryDirectory(prefix="fuzz-tar-", dir=FAST) as tmp,
        pytest.MonkeyPatch.context() as mp,
    ):
        root = Path(tmp)
        depot = root / "depot"
        use_depots(mp, depot)
        canary = _make_canary(root)
        tarball = root / "fuzzed.tar.gz"
        tarball.write_bytes(damage(base, ops, canary, compression))
        before = _canary_state(root)

        # extraction alone, at the depth an install extracts to
        work = depot / "artifacts" / ".tmp-fuzz"
        (work / "tree").mkdir(parents=True)
        try:
            _tar.extract(str(tarball), str(work / "tree"))
        except ScratchspacesError as exc:
            OUTCOMES[f"extract {type(exc).__name__}"] += 1
        else:
            OUTCOMES["extract ok"] += 1
            _inside(work / "tree")
            tree_hash(work / "tree")
        shutil.rmtree(work)

        # the whole install, its sha256 right so the damaged archive is extracted
        toml = root / "project" / "Artifacts.toml"
        toml.parent.mkdir()
        bind_artifact(
            toml, "data", base.hash, download_info=[(tarball.as_uri(), sha256_of(tarball))]
        )
        try:
            path = ensure_artifact_installed("data", toml)
        except ScratchspacesError as exc:
            OUTCOMES[f"install {type(exc).__name__}"] += 1
            assert os.listdir(depot / "artifacts") == []
        else:
            OUTCOMES["install ok"] += 1
            assert tree_hash(path) == base.hash
            assert verify_artifact(base.hash)
            assert os.listdir(depot / "artifacts") == [base.hash]
        assert set(os.listdir(depot)) <= {"artifacts", "logs"}
        shutil.rmtree(toml.parent)
        assert _canary_state(root) == before
        assert not os.path.lexists("/tmp/evil")


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    st.integers(0, 1),
    st.lists(st.one_of(fields, records, splices), min_size=1, max_size=4),
)
def test_crafted_headers_never_escape(bases: list[Base], which: int, ops: list[Op]) -> None:
    run_example(bases[which], ops, "headers")


@FUZZ
@given(
    st.integers(0, 1),
    st.lists(st.one_of(flips, cuts), min_size=1, max_size=4),
    st.sampled_from(COMPRESSIONS),
)
def test_damaged_bytes_never_escape(
    bases: list[Base], which: int, ops: list[Op], compression: str
) -> None:
    run_example(bases[which], ops, f"bytes {compression}", compression)
