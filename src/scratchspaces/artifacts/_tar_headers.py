"""Reading tar headers with ``tarfile``, bounded, and as strict as Julia's Tar.jl.

``tarfile`` reads past what Tar.jl refuses: a header block here must have a version
field of zeros and spaces only (``"00"``, ``" "``, or none at all), a mode and a size
that are numbers (octal digits after optional spaces, or a size in base-256 with its
first byte 0x80) and a mode of at most 0o177777: anything else is not a tar header, and
the archive is an :class:`ArchiveError`. A header whose checksum is wrong, or a block cut
short, ends ``tarfile``'s reading silently past the first member; here it is an error
wherever it is, as in Tar.jl. Extended headers are bounded, PAX records checked before
``tarfile`` parses them, and sparse files refused before their map is read.
"""

from __future__ import annotations

import re
import tarfile
from typing import IO, TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from typing_extensions import Self

# A header's extended data (PAX records, a GNU long name) is read whole into memory: 16 KiB
# holds a path and a link target of 4 KiB each with room to spare.
_HEADER_MAX = 16 << 10
_MODE_MAX = 0o177777


class Refused(Exception):  # noqa: N818 - never raised past extract(), which names the error
    """A header refused while ``tarfile`` reads it: becomes :class:`UnsafeArchive`."""


def _check_records(data: bytes) -> None:
    """Refuse PAX records but ``<length> <keyword>=<value>`` and a newline, lengths true.

    Python before 3.10.15 / 3.11.10 / 3.12.6 parses records whose lengths lie, and runs of
    digits, in quadratic time (CVE-2024-6232); no file name has a run of 256 digits.
    """
    pos = 0
    while pos < len(data) and data[pos]:
        length, space, _ = data[pos : pos + 21].partition(b" ")
        end = pos + int(length) if length.isdigit() and space else pos
        keyword = pos + len(length) + 1
        framed = keyword + 3 <= end <= len(data) and data[end - 1] == ord("\n")
        if not framed or data.find(b"=", keyword, end) <= keyword:
            raise tarfile.ReadError(f"a malformed PAX record at byte {pos} of its header")
        pos = end
    if re.search(rb"[0-9]{256}", data):
        raise tarfile.ReadError("a PAX record holding a run of more than 255 digits")


# Tar.jl's reading of a numeric field: spaces, octal digits, then a NUL, a space or the end
# of the field (what follows is not read).
_OCTAL = re.compile(rb" *([0-7]+)(?:[\0 ]|\Z)")
_VERSION = re.compile(rb"0* *")


def _octal(field: bytes) -> int | None:
    """Tar.jl's reading of a numeric field; None when it holds no number."""
    match = _OCTAL.match(field)
    return int(match[1], 8) if match else None


def check_block(buf: bytes) -> None:
    """Refuse a header block whose version, mode or size field Tar.jl would not read."""
    version = buf[263:265].split(b"\0", 1)[0]
    if not _VERSION.fullmatch(version):
        raise tarfile.ReadError(f"a header with the version field {version!r}, not zeros")
    mode = _octal(buf[100:108])
    if mode is None or mode > _MODE_MAX:
        raise tarfile.ReadError(f"a header with the mode field {buf[100:108]!r}, not a mode")
    size = buf[124:136]
    if size[0] == 0x80:
        valid = int.from_bytes(size[1:], "big") < 1 << 63
    else:
        valid = not size[0] & 0x80 and _octal(size) is not None
    if not valid:
        raise tarfile.ReadError(f"a header with the size field {size!r}, not a size")


class _Replay:
    """The archive's stream, but its next read returns ``data``, already read from it."""

    def __init__(self, data: bytes, stream: IO[bytes]) -> None:
        self.data, self.stream, self.tell = data, stream, stream.tell

    def read(self, size: int = -1) -> bytes:
        data, self.data = self.data, b""
        return data or self.stream.read(size)


class TarInfo(tarfile.TarInfo):
    """``tarfile``'s header hooks (alike in 3.10 to 3.13), bounded and as strict as Tar.jl.

    ``flag`` is the type byte as the header has it: ``tarfile`` reads a type NUL whose
    name ends in ``/`` as a directory, where Tar.jl reads a file.
    """

    flag: bytes

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        try:
            info = super().frombuf(buf, encoding, errors)
        except tarfile.HeaderError as exc:
            # tarfile takes either for the end of the archive past its first member
            if type(exc).__name__ not in {"InvalidHeaderError", "TruncatedHeaderError"}:
                raise
            if len(buf) == tarfile.BLOCKSIZE:
                check_block(bytes(buf))  # the field at fault, when it is one of these
            raise tarfile.ReadError(f"a damaged header: {exc}") from None
        check_block(bytes(buf))
        info.flag = bytes(buf[156:157])
        return info

    def _bounded(self) -> None:
        if not 0 <= self.size <= _HEADER_MAX:
            raise tarfile.ReadError(f"an extended header of {self.size} bytes, over {_HEADER_MAX}")

    def _proc_pax(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        self._bounded()
        stream = tar.fileobj
        data = stream.read(-(-self.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE)
        _check_records(data)
        tar.fileobj = _Replay(data, stream)  # type: ignore[arg-type, assignment]  # reads alike
        try:
            return super()._proc_pax(tar)  # type: ignore[misc, no-any-return]  # an untyped hook
        finally:
            tar.fileobj = stream

    def _proc_gnulong(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        self._bounded()
        return super()._proc_gnulong(tar)  # type: ignore[misc, no-any-return]  # an untyped hook

    # Refused before tarfile reads a sparse map (a 1.0 map goes on as long as the archive).
    def _proc_sparse(self, tar: tarfile.TarFile) -> NoReturn:
        raise Refused(f"member {self.name!r}: a sparse file (old GNU format)")

    def _proc_gnusparse_00(self, member: tarfile.TarInfo, *args: object) -> NoReturn:
        raise Refused(f"member {member.name!r}: a sparse file (GNU PAX format)")

    _proc_gnusparse_01 = _proc_gnusparse_10 = _proc_gnusparse_00
