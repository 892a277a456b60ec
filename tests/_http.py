"""A real HTTP server on 127.0.0.1 serving a directory, for download tests."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]
    delay: float

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def do_GET(self) -> None:
        self.requests.append(self.path)
        time.sleep(self.delay)
        super().do_GET()


class Server:
    """Serves ``root`` at ``url``; ``requests`` lists the paths asked for.

    ``delay``: seconds each GET waits before it is answered, so downloads overlap.
    """

    def __init__(self, root: Path, *, delay: float = 0.0) -> None:
        self.requests: list[str] = []
        attrs = {"requests": self.requests, "delay": delay}
        handler = type("Handler", (_QuietHandler,), attrs)
        self._httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
        )
        self._httpd.daemon_threads = True
        port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def dead_url() -> str:
    """Return an http URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.tar.gz"


def serve(root: Path) -> Iterator[Server]:
    """Yield a running server for ``root`` (use from a fixture)."""
    with Server(root) as server:
        yield server
