"""``Artifacts.toml`` (``scratchspaces.artifacts._bindings``): read, written, and recorded.

Files Julia's Pkg wrote are read and keep every key through our writes; platform
entries are bound and unbound one by one; a malformed file is named with its entry and
never overwritten; and every binding is recorded in the usage log, for gc.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

import scratchspaces
from _artifacts import LINUX, MAC
from _fills import fill_artifact
from scratchspaces import artifacts
from scratchspaces.artifacts import BindingExists, InvalidArtifactsToml, Platform

if TYPE_CHECKING:
    from pathlib import Path


# --- reading and writing -----------------------------------------------------------------

# As Julia's Pkg writes it (from a real JLL package), with keys this library ignores.
JULIA_TOML = """\
[[libfoo]]
arch = "x86_64"
git-tree-sha1 = "1b8ac71e0e9a1c3e4b3c0a2d1e6f9b8c7d6e5f40"
libc = "glibc"
os = "linux"
cxxstring_abi = "cxx11"

    [[libfoo.download]]
    sha256 = "5d8d4c6b3e2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f60"
    url = "https://example.org/libfoo.v1.0.0.x86_64-linux-gnu-cxx11.tar.gz"
[[libfoo]]
arch = "aarch64"
git-tree-sha1 = "2b8ac71e0e9a1c3e4b3c0a2d1e6f9b8c7d6e5f40"
os = "macos"

    [[libfoo.download]]
    sha256 = "6d8d4c6b3e2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f60"
    url = "https://example.org/libfoo.v1.0.0.aarch64-apple-darwin.tar.gz"

[dataset]
git-tree-sha1 = "43563e7631a7eafae1f9f8d9d332e3de44ad7239"
lazy = true

    [[dataset.download]]
    sha256 = "7d8d4c6b3e2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f60"
    url = "https://example.org/dataset.tar.gz"
    size = 1234
"""


def test_a_file_written_by_julia_reads_and_survives_our_writes(tmp_path: Path) -> None:
    from scratchspaces._toml import loads

    toml = tmp_path / "Artifacts.toml"
    toml.write_text(JULIA_TOML)
    assert artifacts.artifact_hash("libfoo", toml, platform=LINUX) == "1b8ac71e" + (
        "0e9a1c3e4b3c0a2d1e6f9b8c7d6e5f40"
    )
    assert artifacts.artifact_hash("libfoo", toml, platform=MAC) == "2b8ac71e" + (
        "0e9a1c3e4b3c0a2d1e6f9b8c7d6e5f40"
    )
    assert artifacts.artifact_hash("libfoo", toml, platform=Platform("windows", "x86_64")) is None
    meta = artifacts.artifact_meta("dataset", toml)
    assert meta is not None
    assert meta["lazy"] is True
    assert meta["download"][0]["size"] == 1234
    before = loads(toml.read_text())
    artifacts.bind_artifact(toml, "extra", "3" * 40, lazy=True)
    after = loads(toml.read_text())
    assert after.pop("extra") == {"git-tree-sha1": "3" * 40, "lazy": True}
    assert after == before  # every key kept, cxxstring_abi included
    text = toml.read_text()
    assert "    [[libfoo.download]]\n    sha256 = " in text  # Pkg's shape, not inline tables


def test_platform_entries_force_and_unbind(tmp_path: Path) -> None:
    toml = tmp_path / "Artifacts.toml"
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    artifacts.bind_artifact(
        toml, "lib", a, platform=LINUX, download_info=[("file:///x", "0" * 64, 3)]
    )
    artifacts.bind_artifact(toml, "lib", b, platform=MAC)
    assert artifacts.artifact_hash("lib", toml, platform=LINUX) == a
    assert artifacts.artifact_hash("lib", toml, platform=MAC) == b
    assert artifacts.artifact_hash("lib", toml, platform=Platform("linux", "x86_64")) == a
    assert (
        artifacts.artifact_hash("lib", toml, platform=Platform("linux", "x86_64", "musl")) is None
    )
    with pytest.raises(BindingExists, match="force=True"):
        artifacts.bind_artifact(toml, "lib", c, platform=LINUX)
    with pytest.raises(BindingExists):
        artifacts.bind_artifact(toml, "lib", c)  # a platform-independent binding over them
    artifacts.bind_artifact(toml, "lib", c, platform=LINUX, force=True)
    assert artifacts.artifact_hash("lib", toml, platform=LINUX) == c
    assert artifacts.artifact_hash("lib", toml, platform=MAC) == b
    artifacts.unbind_artifact(toml, "lib", platform=LINUX)
    assert artifacts.artifact_hash("lib", toml, platform=LINUX) is None
    assert artifacts.artifact_hash("lib", toml, platform=MAC) == b
    artifacts.bind_artifact(toml, "lib", a, force=True)
    assert artifacts.artifact_hash("lib", toml, platform=MAC) == a
    artifacts.unbind_artifact(toml, "lib")
    artifacts.unbind_artifact(toml, "lib")  # twice: no error
    assert artifacts.artifact_meta("lib", toml) is None


def test_host_platform_uses_julias_names() -> None:
    host = Platform.host()
    assert host.os in {"linux", "macos", "windows", "freebsd"}
    assert host.arch in {"x86_64", "aarch64", "i686", "armv7l", "powerpc64le"}
    if host.os == "linux":
        assert host.libc in {"glibc", "musl"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('data = "oops"\n', "entry 'data' of .*: neither a table nor an array of tables"),
        ("[data]\nlazy = true\n", "entry 'data' of .*: no git-tree-sha1"),
        ('[data]\ngit-tree-sha1 = "abc"\n', "entry 'data' of .*: git-tree-sha1 'abc' is not 40"),
        (
            f'[data]\ngit-tree-sha1 = "{"a" * 40}"\n[[data.download]]\nurl = "u"\nsha256 = "x"\n',
            "entry 'data' of .*: download 'u': sha256 is not 64",
        ),
        (f'[[data]]\ngit-tree-sha1 = "{"a" * 40}"\n', "entry 'data' .*needs os and arch"),
        ("[data\n", "Artifacts.toml: not valid TOML"),
    ],
)
def test_malformed_files_name_the_file_and_the_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    toml = tmp_path / "Artifacts.toml"
    toml.write_text(text)
    with pytest.raises(InvalidArtifactsToml, match=message) as info:
        artifacts.artifact_hash("data", toml)
    assert str(toml) in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidArtifactsToml):  # not overwritten either
        artifacts.bind_artifact(toml, "data", "a" * 40, force=True)
    assert toml.read_text() == text


@pytest.mark.parametrize(
    "info",
    [("u", "0" * 64, -5), ("u", "0" * 64, True), ("u", "0" * 64, "12"), ("u",), ("u", "x")],
)
def test_bind_refuses_download_info_it_could_not_read_back(tmp_path: Path, info: object) -> None:
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", "a" * 40)
    before = toml.read_text()
    with pytest.raises(InvalidArtifactsToml, match="entry 'data'"):
        artifacts.bind_artifact(toml, "data", "a" * 40, download_info=[info], force=True)  # type: ignore[list-item] # a wrong shape on purpose
    assert toml.read_text() == before
    with pytest.raises(scratchspaces.DepotError):
        artifacts.artifact_hash("data", tmp_path)  # a directory, not a file


# --- the usage log -----------------------------------------------------------------------


def test_binding_is_recorded_in_the_usage_log(tmp_path: Path, depot: Path) -> None:
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "data", "a" * 40)
    log = (depot / "logs" / "artifact_usage.toml").read_text()
    assert f'[["{toml}"]]\ntime = ' in log


def test_bindings_are_recorded_even_with_tracking_off(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRATCHSPACES_TRACK_ACCESS", "0")
    h = artifacts.create_artifact(fill_artifact)
    artifacts.bind_artifact(tmp_path / "Artifacts.toml", "data", h)
    scratchspaces.gc(collect_delay=timedelta(0))
    assert artifacts.artifact_exists(h)
