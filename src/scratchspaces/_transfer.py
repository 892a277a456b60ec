"""Where tarballs come from and go to: ``file://``, ``http(s)://``, and any fsspec URL.

The standard library covers ``file://`` and HTTP(S) (urllib), so the common case costs no
dependency; any other scheme (``s3://``, ``gs://``, ``az://``, ...) goes through
``fsspec`` when it is installed (``pip install 'scratchspaces[remote]'``). Every failure of
a source, whatever the transport raised, becomes one :class:`DownloadError` naming the
URL, so that trying the next source is one ``except``. Errors writing to our own disk
(a full depot) are not the source's fault and are not turned into source failures.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from . import _fs
from ._version import __version__
from .errors import DownloadError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_CHUNK = 1 << 20
TIMEOUT = 60.0
# fsspec protocols whose folders are only key prefixes: nothing to create before a put.
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})


def scheme(url: str) -> str:
    """Return the URL's scheme, lower-cased, or ``""`` for a plain path."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


def local_path(url: str) -> str | None:
    """Return the local path of a ``file://`` URL, else None."""
    if scheme(url) != "file":
        return None
    from urllib.parse import unquote, urlsplit  # noqa: PLC0415 - only for file:// URLs
    from urllib.request import url2pathname  # noqa: PLC0415 - only for file:// URLs

    parts = urlsplit(url)
    if parts.netloc not in {"", "localhost"}:
        raise DownloadError(url, "a file:// URL must name a local path (file:///...)")
    return url2pathname(unquote(parts.path)) if os.name == "nt" else unquote(parts.path)


def file_url(path: str | os.PathLike[str]) -> str:
    """Return the ``file://`` URL of a local path."""
    from pathlib import Path  # noqa: PLC0415 - pathlib only when asked for a URL

    return Path(os.path.abspath(os.fspath(path))).as_uri()


def _fsspec(url: str) -> tuple[Any, str]:
    try:
        import fsspec  # noqa: PLC0415 - optional, and heavy
    except ImportError as exc:
        raise DownloadError(
            url, "this URL needs fsspec: pip install 'scratchspaces[remote]'"
        ) from exc
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except Exception as exc:  # no backend for the scheme (s3fs...), a refused connection
        raise DownloadError(url, f"fsspec cannot open it: {type(exc).__name__}: {exc}") from exc
    return fs, path


# --- progress ------------------------------------------------------------------------------


@contextlib.contextmanager
def progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``: a progress bar on stderr when it is a terminal, else nothing."""
    stream = sys.stderr
    if stream is None or not stream.isatty():
        yield lambda n: None
        return
    try:
        from rich.console import Console  # noqa: PLC0415 - only on a terminal
        from rich.progress import (  # noqa: PLC0415 - only on a terminal
            BarColumn,
            DownloadColumn,
            Progress,
            TransferSpeedColumn,
        )
    except ImportError:
        yield from _plain_progress(label, total)
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(file=stream),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _plain_progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    done = 0
    shown = 0.0

    def advance(n: int) -> None:
        nonlocal done, shown
        done += n
        now = time.monotonic()
        if now - shown >= 0.2:
            shown = now
            of = f" of {total / 1e6:.1f}" if total else ""
            sys.stderr.write(f"\r{label}: {done / 1e6:.1f}{of} MB")
            sys.stderr.flush()

    try:
        yield advance
    finally:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


# --- downloading ---------------------------------------------------------------------------


def _open(url: str) -> tuple[IO[bytes], int | None]:
    """Open ``url`` for reading; return the stream and its size if known."""
    kind = scheme(url)
    if kind == "file":
        path = local_path(url)
        assert path is not None  # noqa: S101 - a file URL has a path
        try:
            f = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
        except OSError as exc:
            raise DownloadError(url, f"{type(exc).__name__}: {exc.strerror or exc}") from exc
        return f, os.fstat(f.fileno()).st_size
    if kind in {"http", "https"}:
        import urllib.error  # noqa: PLC0415 - the HTTP client only for HTTP
        import urllib.request  # noqa: PLC0415 - the HTTP client only for HTTP

        try:
            request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
                url, headers={"User-Agent": f"scratchspaces/{__version__}"}
            )
            response = urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310 - the scheme is checked above
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the response's socket
            raise DownloadError(url, f"HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            raise DownloadError(url, f"cannot connect ({exc.reason})") from exc
        except Exception as exc:  # a malformed URL, a bad port, a reset: the source's fault
            raise DownloadError(url, f"{type(exc).__name__}: {exc}") from exc
        length = response.headers.get("Content-Length")
        return response, int(length) if length and length.isdigit() else None
    if not kind:
        raise DownloadError(url, "not a URL (file://, http://, https:// or an fsspec URL)")
    fs, path = _fsspec(url)
    try:
        f = fs.open(path, "rb")
        size = getattr(f, "size", None)
    except Exception as exc:  # fsspec backends raise anything (botocore...)
        raise DownloadError(url, f"{type(exc).__name__}: {exc}") from exc
    return f, size if isinstance(size, int) else None


def download(url: str, dest: str, *, label: str, expected_size: int | None = None) -> str:
    """Copy ``url`` into the new file ``dest``; return the sha256 of what was written.

    Stops as soon as more than ``expected_size`` bytes arrive: a source cannot fill the
    disk. ``dest`` may hold a partial file when this raises; the caller removes it.
    """
    digest = hashlib.sha256()
    source, size = _open(url)
    total = expected_size if expected_size is not None else size
    received = 0
    with source, open(dest, "xb") as out, progress(label, total) as advance:
        while True:
            try:
                chunk = source.read(_CHUNK)
            except Exception as exc:  # any transport failure is the source's
                raise DownloadError(url, f"download interrupted: {exc}") from exc
            if not chunk:
                break
            received += len(chunk)
            if expected_size is not None and received > expected_size:
                raise DownloadError(url, f"more than the expected {expected_size} bytes")
            digest.update(chunk)
            out.write(chunk)
            advance(len(chunk))
    if expected_size is not None and received != expected_size:
        raise DownloadError(url, f"{received} bytes, expected {expected_size}")
    return digest.hexdigest()


def sha256_of_file(path: str) -> str:
    """Return the sha256 of a local file."""
    with open(path, "rb") as f:
        return (
            hashlib.file_digest(f, "sha256").hexdigest()
            if hasattr(hashlib, "file_digest")
            else _sha256_chunks(f)
        )


def _sha256_chunks(f: IO[bytes]) -> str:  # pragma: no cover - Python 3.10
    digest = hashlib.sha256()
    while chunk := f.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


# --- uploading -----------------------------------------------------------------------------


def upload(local: str, folder_url: str, filename: str) -> str:
    """Copy the file ``local`` to ``<folder_url>/<filename>``; return that URL.

    ``file://`` folders are created if missing and written atomically; HTTP cannot be
    written to; anything else goes through fsspec.
    """
    url = folder_url.rstrip("/") + "/" + filename
    kind = scheme(folder_url)
    if kind == "file":
        folder = local_path(folder_url)
        assert folder is not None  # noqa: S101 - a file URL has a path
        import shutil  # noqa: PLC0415 - only to copy into a folder

        try:
            os.makedirs(folder, exist_ok=True)
            with open(local, "rb") as source, _fs.atomic_file(os.path.join(folder, filename)) as f:
                shutil.copyfileobj(source, f, _CHUNK)
        except OSError as exc:  # the destination's fault: a file in the way, no permission
            raise DownloadError(url, f"upload failed: {exc}") from exc
        return url
    if kind in {"http", "https"}:
        raise DownloadError(
            url, "cannot upload over HTTP: publish to a file:// folder or an fsspec URL (s3://...)"
        )
    if not kind:
        raise DownloadError(folder_url, "not a URL: use file:///path or an fsspec URL")
    fs, path = _fsspec(url)
    try:
        if kind not in _OBJECT_STORES:
            # Folders exist on sftp, memory, local... but on an object store making the
            # "folder" would create the bucket: a typo would publish to a new bucket.
            with contextlib.suppress(Exception):
                fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(local, path)
    except Exception as exc:  # fsspec backends raise anything
        raise DownloadError(url, f"upload failed: {type(exc).__name__}: {exc}") from exc
    return url
