"""Transfers (``scratchspaces._transfer``): file, HTTP and fsspec URLs, bad URLs, progress bars.

A malformed URL is a failed source like a dead one; a progress bar is drawn only when
stderr is a terminal. (S3, through fsspec, is in ``test_transfer_s3.py``.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from _artifacts import INSTALL_SCRIPT, install_in_subprocess
from _git import blob_sha256
from _http import Server
from _processes import stderr_on_a_terminal
from scratchspaces import artifacts, cache

if TYPE_CHECKING:
    from pathlib import Path


# --- sources -----------------------------------------------------------------------------


def test_file_and_fsspec_urls_download_without_a_downloader(tmp_path: Path) -> None:
    """``file://`` is built in, and fsspec URLs (here ``memory://``) work once it is installed."""
    fsspec = pytest.importorskip("fsspec")
    toml = tmp_path / "Artifacts.toml"
    local = tmp_path / "local.bin"
    local.write_bytes(b"local bytes\n")
    assert cache.download_my_artifact(local.as_uri(), "local", toml) == blob_sha256(
        b"local bytes\n"
    )

    memory = fsspec.filesystem("memory")
    memory.pipe("/scratchspaces-test/remote.bin", b"remote bytes\n")
    try:
        got = cache.download_my_artifact("memory://scratchspaces-test/remote.bin", "r", toml)
    finally:
        memory.rm("/scratchspaces-test", recursive=True)
    assert got == blob_sha256(b"remote bytes\n")
    assert cache.my_artifact_path(got).read_bytes() == b"remote bytes\n"


def test_a_malformed_url_is_a_failed_source_like_any_other(
    tmp_path: Path, published: tuple[str, str, Path]
) -> None:
    h, sha256, served = published
    toml = tmp_path / "Artifacts.toml"
    good = (served / "a.tar.gz").as_uri()
    bad = ["http://[::1/x", "http://127.0.0.1:abc/x", "nonsense", "file://host/x"]
    sources: list[artifacts.DownloadInfo] = [(url, sha256) for url in bad]
    artifacts.bind_artifact(toml, "data", h, download_info=[*sources, (good, sha256)])
    assert artifacts.tree_hash(artifacts.ensure_artifact_installed("data", toml)) == h


# --- progress ----------------------------------------------------------------------------


def test_a_progress_bar_only_when_stderr_is_a_terminal(
    tmp_path: Path, depot: Path, published: tuple[str, str, Path]
) -> None:

    h, sha256, served = published
    toml = tmp_path / "Artifacts.toml"
    with Server(served) as server:
        url = f"{server.url}/a.tar.gz"
        artifacts.bind_artifact(toml, "progress-demo", h, download_info=[(url, sha256)])
        piped = install_in_subprocess(
            toml, "progress-demo", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _out, err = piped.communicate(timeout=60)
        assert piped.returncode == 0
        assert err == ""  # not a terminal: silent
        artifacts.remove_artifact(h)

        status, shown = stderr_on_a_terminal(
            [sys.executable, "-c", INSTALL_SCRIPT, "progress-demo", str(toml)]
        )
        assert status == 0
    assert b"progress-demo" in shown
    assert artifacts.verify_artifact(h)


DOWNLOAD_SCRIPT = (
    "import sys; from scratchspaces import cache; "
    "print(cache.download_my_artifact(sys.argv[1], 'progress-demo', sys.argv[2]))"
)


def test_a_download_shows_progress_only_on_a_terminal(tmp_path: Path) -> None:
    """The built-in download draws a bar on a terminal's stderr and is silent on a pipe."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "big.bin").write_bytes(os.urandom(3 << 20))
    with Server(served) as server:
        url = f"{server.url}/big.bin"
        piped = subprocess.run(
            [sys.executable, "-c", DOWNLOAD_SCRIPT, url, str(tmp_path / "piped.toml")],
            capture_output=True,
            text=True,
            check=True,
        )
        assert piped.stderr == ""
        status, shown = stderr_on_a_terminal(
            [sys.executable, "-c", DOWNLOAD_SCRIPT, url, str(tmp_path / "tty.toml")]
        )
        assert status == 0
    assert b"progress-demo" in shown
    assert len(server.requests) == 2  # the second name was downloaded, not taken as bound
