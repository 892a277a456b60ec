"""The tar stream inside a tarball, whatever its compression, told from its first bytes.

A tarball's compression is read from its magic number, never from its URL, as Pkg does:
``.tar.gz`` URLs holding xz are common, and JLL files now publish ``.tar.xz`` only.
gzip, xz, bzip2 and an uncompressed tar are read with the standard library; zstd with
``compression.zstd`` (Python 3.14) or the ``zstandard`` package
(``pip install 'scratchspaces[zstd]'``). ``lzma``, ``bz2`` and zstd are imported only
when an archive needs them: creating or binding a cache entry must not load them.

Whatever the decompressor raises on damaged data becomes :class:`ArchiveError`; an
error of our own disk (an ``OSError`` with an errno) is left as it is.
"""

from __future__ import annotations

import gzip
import importlib
import tarfile
import zlib
from typing import IO, TYPE_CHECKING, Any, Protocol

from ..errors import ArchiveError

if TYPE_CHECKING:
    from collections.abc import Callable

Errors = tuple[type[BaseException], ...]


class Reader(Protocol):
    """What the tar reader needs of a decompressed stream."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


BLOCK = 512
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_SKIP = 1 << 20  # bytes read at a time to seek past what is not extracted
# Compressed input fed to a zstd decompressor at a time: zstd expands at most 32768-fold
# (a 4-byte RLE block of 128 KiB), so one call yields at most 16 MiB.
_ZSTD_FEED = 512


def detect(head: bytes) -> str:
    """Name the format of a tarball from its first bytes (512 or all there are).

    ``"empty"`` for no bytes at all, ``"tar"`` for a first block that is a tar header
    (its checksum right) or zeros, else a compression; none of these: ``""``.
    """
    if not head:
        return "empty"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) == BLOCK and (not head.strip(b"\0") or _checksum_ok(head)):
        return "tar"
    return ""


def _checksum_ok(block: bytes) -> bool:
    """Whether ``block`` is a tar header: its checksum field the sum of its bytes."""
    field = block[148:156].split(b"\0", 1)[0].strip()
    if not field or field.strip(b"01234567"):
        return False
    total = sum(block[:148]) + 8 * 32 + sum(block[156:])
    return int(field, 8) == total


class _ZstdReader:
    """A zstd stream of one frame or more, read in bounded steps; a cut frame is an error."""

    def __init__(self, raw: IO[bytes], new: Callable[[], Any]) -> None:
        self._raw, self._new = raw, new
        self._dec = new()
        self._started = False  # input fed to the current frame
        self._out = b""

    def read(self, size: int = -1) -> bytes:
        want = size if size >= 0 else 1 << 62
        parts, have = [self._out], len(self._out)
        while have < want:
            data = self._raw.read(_ZSTD_FEED)
            if not data:
                if self._started and not self._dec.eof:
                    raise EOFError("the zstd stream ends inside a frame")
                break
            while data:
                if self._dec.eof:  # the next frame
                    self._dec, self._started = self._new(), False
                self._started = True
                chunk = self._dec.decompress(data)
                data = self._dec.unused_data if self._dec.eof else b""
                parts.append(chunk)
                have += len(chunk)
        out = b"".join(parts)
        self._out = out[want:]
        return out[:want]

    def close(self) -> None:
        self._out = b""


def _zstd(raw: IO[bytes], name: str) -> tuple[Reader, Errors]:
    zstd: Any
    try:
        zstd = importlib.import_module("compression.zstd")
        new = zstd.ZstdDecompressor
    except ImportError:
        try:
            zstd = importlib.import_module("zstandard")
        except ImportError:
            raise ArchiveError(
                name, "a zstd tarball needs Python 3.14, or pip install 'scratchspaces[zstd]'"
            ) from None

        def new() -> Any:
            return zstd.ZstdDecompressor().decompressobj()

    return _ZstdReader(raw, new), (zstd.ZstdError,)


def _open(raw: IO[bytes], kind: str, name: str) -> tuple[Reader, Errors]:
    """Return the decompressed stream of ``raw``, and what its decompressor raises on bad data."""
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb"), (zlib.error, EOFError)
    if kind == "xz":
        import lzma  # noqa: PLC0415 - loaded only for an xz tarball

        return lzma.LZMAFile(raw), (lzma.LZMAError, EOFError)
    if kind == "bzip2":
        import bz2  # noqa: PLC0415 - loaded only for a bzip2 tarball

        return bz2.BZ2File(raw), (EOFError, ValueError)
    if kind == "zstd":
        return _zstd(raw, name)
    if kind in {"tar", "empty"}:
        return raw, ()
    raise ArchiveError(name, "its first bytes are no gzip, xz, bzip2, zstd or tar header")


class TarStream:
    """The tar bytes of a tarball file, read like a file that seeks forward only.

    ``read(n)`` returns ``n`` bytes, fewer only at the end; ``tell`` and a forward
    ``seek`` let ``tarfile`` read it as it reads a file, with no buffer of its own to copy
    on every small read. The decompressor's errors are ours. ``head`` is the first block
    (or less, at the end of the stream), already read: the first reads return it again.
    """

    def __init__(self, path: str, name: str) -> None:
        self.archive = name
        self._pending = b""
        self._pos = 0
        self._raw = raw = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            self.kind = detect(raw.read(BLOCK))
            raw.seek(0)
            self._f, self._errors = _open(raw, self.kind, name)
            self.head = self._pending = self._read_full(BLOCK)
        except BaseException:
            raw.close()
            raise

    def _read(self, size: int) -> bytes:
        try:
            data = self._f.read(size)
        except OSError as exc:
            if exc.errno is not None:  # our disk, not the archive
                raise
            raise ArchiveError(self.archive, f"{type(exc).__name__}: {exc}") from exc
        except self._errors as exc:
            raise ArchiveError(self.archive, f"{type(exc).__name__}: {exc}") from exc
        return data

    def _read_full(self, size: int) -> bytes:
        parts, have = [], 0
        while have < size and (data := self._read(size - have)):
            parts.append(data)
            have += len(data)
        return b"".join(parts)  # one part, the common case, is returned as it is

    def read(self, size: int = -1) -> bytes:
        """Return the next ``size`` bytes (all the rest if ``size`` < 0), fewer at the end."""
        data, self._pending = self._pending, b""
        if size < 0:
            data += b"".join(iter(lambda: self._read(_SKIP), b""))
        elif len(data) >= size:
            data, self._pending = data[:size], data[size:]
        else:
            data += self._read_full(size - len(data))
        self._pos += len(data)
        return data

    def tell(self) -> int:
        """Return how many bytes of the tar stream were read."""
        return self._pos

    def seek(self, pos: int) -> int:
        """Skip forward to ``pos`` (short at the end of the stream); never back."""
        if pos < self._pos:
            raise tarfile.StreamError(f"seeking back from byte {self._pos} to {pos}")
        while self._pos < pos and self.read(min(pos - self._pos, _SKIP)):
            pass
        return self._pos

    def drain(self, chunk: int) -> None:
        """Read to the end: what follows the tar data (a checksum, a cut) is checked too."""
        self._pending = b""
        while self._read(chunk):
            pass

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            self._raw.close()
