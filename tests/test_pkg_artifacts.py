"""Julia's own artifact tests, ported: Pkg's ``test/artifacts.jl`` and the Artifacts stdlib's.

Each test names the upstream repository, file, testset and commit it ports:

- ``PKG``: JuliaLang/Pkg.jl ``test/artifacts.jl`` at commit
  e52498951d1169fca898632ba14741c3883b1b4e, with its fixtures ``test/artifacts/bad/*.toml``
  and ``test/test_packages/ArtifactInstallation/Artifacts.toml``;
- ``STDLIB``: JuliaLang/julia ``stdlib/Artifacts/test/runtests.jl``, the version that goes
  with its fixture ``stdlib/Artifacts/test/Artifacts.toml`` at commit
  17d85abb5d8e5f3921dd32d3ececee105519a741 (HelloWorldC v1.4.0; the armv7l build is
  ``0a8e7b52...``).

Fixtures are transcribed, not copied whole: the platform keys and hashes of each entry
(its ``download`` tables only where a test reads them). Downloads come from a server on
127.0.0.1 serving tarballs made here, never from the network; where Julia downloads
``socrates.tar.gz`` from GitHub, a tarball of our own stands in, bound by its own hashes.

Left out, with no counterpart in this library:

- PKG "Artifact Usage": ``Pkg.add``, ``Pkg.test``, ``Pkg.instantiate`` and the package
  hooks of ``AugmentedPlatform`` (the platform selection they end in is ported: the
  ``flooblecrank`` tag and the bogus platform);
- PKG "Artifact GC collect delay": ``Pkg.gc()`` of a whole depot (``tests/test_artifacts.py``
  covers this library's gc of artifacts);
- PKG "Override.toml", STDLIB "Load Overrides": there are no ``Overrides.toml`` files here;
- PKG "artifacts for non package project", "installing artifacts when symlinks are
  copied": ``Pkg.instantiate``, ``BINARYPROVIDER_COPYDEREF`` and ``JULIA_PKG_IGNORE_HASHES``
  (the same loop in "Artifacts.toml Utilities" is ported without the ignore-hashes pass);
- PKG "count_artifacts and artifact_suffix": Pkg's status printing (the selection it
  counts is ported: a bogus platform gets no entry);
- PKG "Artifacts.toml Utilities", the parts about ``JuliaArtifacts.toml`` (not read here)
  and stopping the search at a project's root (the search here goes up to ``/``);
- PKG "filemode(dir) non-executable on windows": a libuv detail;
- STDLIB "Artifact Slash-indexing", "@artifact_str Platform passing" (its install part),
  "@artifact_str install errors", "``Artifacts.artifact_names`` and friends",
  "Docstrings": the ``@artifact_str`` macro, ``LazyArtifacts`` and Julia's loader;
- STDLIB "select_downloadable_artifacts()": no such function (the choice it makes per name
  is ported through ``artifact_meta``).

Where this library differs from Julia, the test says so and asserts this library's
behaviour: a malformed file or entry raises :class:`InvalidArtifactsToml` (Julia logs an
error and returns ``nothing``), and unbinding a name's last platform entry removes the
name (Julia leaves ``name = []``).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import os
import random
import shutil
import stat
import string
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from _http import Server
from scratchspaces import _toml, artifacts
from scratchspaces.artifacts import (
    ArtifactNotFound,
    BindingExists,
    HashMismatch,
    InvalidArtifactsToml,
    Platform,
)
from scratchspaces.artifacts._install import find_artifacts_toml
from scratchspaces.artifacts._platform import from_entry
from scratchspaces.artifacts._platform_tags import compare_version_cap

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# --- fixtures ------------------------------------------------------------------------------

# STDLIB's Artifacts.toml: HelloWorldC's entries as (arch, os, libc, call_abi, git-tree-sha1).
HELLO_WORLD_C = [
    ("aarch64", "macos", None, None, "0835a23111b12d2aa5e1f7a852ed71e0b92e3425"),
    ("aarch64", "linux", "glibc", None, "c82465bd6d0aa1369ff2fd961b73884d1f5de49a"),
    ("aarch64", "linux", "musl", None, "cb4b8c88778c6cd93b6df38ec5b95a2678434f5d"),
    ("aarch64", "freebsd", None, None, "7db155cf8485fbeb23d30a305f76ece191db9dc4"),
    ("armv6l", "linux", "glibc", "eabihf", "20a32b71145b67e708f63fb5880a7243727aec0f"),
    ("armv6l", "linux", "musl", "eabihf", "c1179604ea37fa66ee6d5d592c7bbfd1f20292c3"),
    ("armv7l", "linux", "glibc", "eabihf", "0a8e7b523ef6be31311aefe9983a488616e58201"),
    ("armv7l", "linux", "musl", "eabihf", "ca94b4d87f1a276066a2994733142e35046c41dd"),
    ("i686", "linux", "glibc", None, "91376c8b0bc90c47076cab4e55bf77e86bb59076"),
    ("i686", "linux", "musl", None, "b50220be02e9c839749f91a70694ae68c2712c8e"),
    ("i686", "windows", None, None, "cc9cfa3272d4d3844d6fcf8b6b971bd68dbc792f"),
    ("powerpc64le", "linux", "glibc", None, "5e9c87fc4e3372c27a77061a49d97fa5002df0e4"),
    ("riscv64", "linux", "glibc", None, "3c9b23e46b82ab59141bbbc042158af4037d846d"),
    ("x86_64", "macos", None, None, "2e1742c9c0addd693b0b025f7a1e7aa4c50a0e6c"),
    ("x86_64", "linux", "glibc", None, "8c8251b0c21615bce0701995eded26ac7697b5cc"),
    ("x86_64", "linux", "musl", None, "cfaaf0517421585561e3b30dd6f53f6c14b2835f"),
    ("x86_64", "freebsd", None, None, "8e8a17876a9c1147bae6a53a175344b805ee72d4"),
    ("x86_64", "windows", None, None, "6e1eb164b0651aa44621eac4dfa340d6e60295ef"),
]

SOCRATES_HASH = "43563e7631a7eafae1f9f8d9d332e3de44ad7239"
SOCRATES = f"""\
[socrates]
git-tree-sha1 = "{SOCRATES_HASH}"
lazy = true

    [[socrates.download]]
    url = "https://github.com/staticfloat/small_bin/raw/master/socrates.tar.gz"
    sha256 = "e65d2f13f2085f2c279830e863292312a72930fee5ba3c792b14c33ce5c5cc58"

    [[socrates.download]]
    url = "https://github.com/staticfloat/small_bin/raw/master/socrates.tar.bz2"
    sha256 = "13fc17b97be41763b02cbb80e9d048302cec3bd3d446c2ed6e8210bddcd3ac76"
"""

# PKG's ArtifactInstallation/Artifacts.toml binds this beside HelloWorldC and socrates.
COLLAPSE_THE_SYMLINK_HASH = "69a468bd51751f4ed7eda31c240e775df06d6ee6"


def hello_world_c_toml() -> str:
    """STDLIB's fixture in Pkg's shape: HelloWorldC per platform, then socrates."""
    lines = []
    for arch, os_name, libc, call_abi, tree in HELLO_WORLD_C:
        lines += ["[[HelloWorldC]]", f'arch = "{arch}"']
        if call_abi is not None:
            lines.append(f'call_abi = "{call_abi}"')
        lines.append(f'git-tree-sha1 = "{tree}"')
        if libc is not None:
            lines.append(f'libc = "{libc}"')
        lines += [f'os = "{os_name}"', ""]
    return "\n".join(lines) + SOCRATES


@pytest.fixture
def stdlib_toml(tmp_path: Path) -> Path:
    """STDLIB's ``Artifacts.toml`` (HelloWorldC per platform, socrates lazy)."""
    path = tmp_path / "stdlib" / "Artifacts.toml"
    path.parent.mkdir()
    path.write_text(hello_world_c_toml())
    return path


def chmod_files_644(fn: Callable[[Path], object]) -> Callable[[Path], None]:
    """PKG's ``create_artifact_chmod``: run ``fn``, then make every file (not link) 0o644.

    Modes count in a tree hash; fixing them keeps the known hashes whatever the umask.
    """

    def fill(path: Path) -> None:
        fn(path)
        for root, _dirs, files in os.walk(path):
            for name in files:
                file = Path(root, name)
                if not file.is_symlink():
                    file.chmod(0o644)

    return fill


def tarball_names(path: Path) -> set[str]:
    with tarfile.open(path) as tar:
        return {name.removeprefix("./") for name in tar.getnames()}


# --- PKG "Artifact Creation" ---------------------------------------------------------------


def nothing(path: Path) -> None:
    del path


def single_file(path: Path) -> None:
    (path / "foo").write_text("Hello, world!")


def two_files(path: Path) -> None:
    (path / "foo1").write_text("Hello")
    (path / "foo2").write_text("world!")


def nested(path: Path) -> None:
    (path / "bar" / "bar").mkdir(parents=True)
    (path / "bar" / "bar" / "foo1").write_text("Hello")
    (path / "bar" / "foo2").write_text("world!")
    (path / "foo3").write_text("baz!")
    # Empty directories, nested ones too, do not count: a random name proves it.
    letters = random.choices(string.ascii_letters, k=8)  # noqa: S311 - a name, not a secret
    (path / "".join(letters) / "inner").mkdir(parents=True)
    # Symlinks are hashed as links, never followed, even to a directory above them.
    (path / "foo3_link").symlink_to("foo3")
    (path / "bar" / "infinite_link").symlink_to("../bar")


@pytest.mark.parametrize(
    ("creator", "known_hash"),
    [
        (nothing, "4b825dc642cb6eb9a060e54bf8d69288fbee4904"),
        (single_file, "339aad93c0f854604248ea3b7c5b7edea20625a9"),
        (two_files, "98cda294312216b19e2a973e9c291c0f5181c98c"),
        (nested, "86a1ce580587d5851fdfa841aeb3c8d55663f6f9"),
    ],
)
def test_created_artifacts_have_the_known_git_tree_hashes(
    creator: Callable[[Path], None], known_hash: str
) -> None:
    """Port of PKG "Artifact Creation" (commit e52498951d11): the four fixed trees.

    Each hashes to the git-tree-sha1 Pkg knows, sits at ``artifacts/<hash>``, exists and
    verifies; ``tree_hash`` of the stored tree agrees.
    """
    h = artifacts.create_artifact(chmod_files_644(creator))
    assert h == known_hash
    path = artifacts.artifact_path(h)
    assert path.parent.name == "artifacts"
    assert path.name == known_hash
    assert artifacts.artifact_exists(h)
    assert artifacts.verify_artifact(h)
    assert artifacts.tree_hash(path) == known_hash


def test_created_artifacts_have_read_only_files_and_removable_folders(tmp_path: Path) -> None:
    """Port of PKG "Artifact Creation" / "File permissions" (commit e52498951d11).

    Files (and links to them) lose every write bit; folders (and links to them) keep
    theirs, so the artifact is removed with a plain recursive delete. Pkg checks the
    files at the artifact's top, where they are not, so its check passes on modes of
    missing paths; here they are checked where they are, in ``subdir``.
    """
    with artifacts.with_artifacts_directory(tmp_path / "store"):

        def fill(work: Path) -> None:
            (work / "subdir").mkdir()
            (work / "subdir" / "file1").touch()
            (work / "subdir" / "file2").touch()
            (work / "dir_link").symlink_to("subdir")
            (work / "subdir" / "file_link").symlink_to("file1")

        path = artifacts.artifact_path(artifacts.create_artifact(fill))
        write = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        for file in ("subdir/file1", "subdir/file2", "subdir/file_link"):
            assert (path / file).stat().st_mode & write == 0, file
        for folder in ("subdir", "dir_link"):
            assert (path / folder).stat().st_mode & write != 0, folder
        shutil.rmtree(path)
        assert not path.exists()


# --- PKG "with_artifacts_directory()", STDLIB "Artifact Paths" ------------------------------


def test_with_artifacts_directory_puts_new_artifacts_there(tmp_path: Path) -> None:
    """Port of PKG "with_artifacts_directory()" (commit e52498951d11)."""
    store = tmp_path / "art_dir"
    with artifacts.with_artifacts_directory(store):
        h = artifacts.create_artifact(lambda p: (p / "foo").touch())
        assert artifacts.artifact_path(h).is_relative_to(store)
    assert not artifacts.artifact_exists(h)  # the depot's own store is not that one


def test_artifact_path_exists_once_its_folder_does(tmp_path: Path) -> None:
    """Port of STDLIB "Artifact Paths": a folder named by the hash is the artifact.

    ``artifact_paths`` (every candidate) has no counterpart; within
    ``with_artifacts_directory`` there is one candidate, which ``artifact_path`` returns.
    """
    with artifacts.with_artifacts_directory(tmp_path):
        h = "0" * 40
        path = artifacts.artifact_path(h)
        assert path == tmp_path / h
        assert not artifacts.artifact_exists(h)
        path.mkdir()
        assert artifacts.artifact_exists(h)
        assert artifacts.artifact_path(h) == path
        assert not artifacts.verify_artifact(h)  # an empty tree's hash is 4b825dc6...


# --- PKG "Artifact archival" ---------------------------------------------------------------


def test_archive_artifact_holds_its_files_and_refuses_a_missing_one(tmp_path: Path) -> None:
    """Port of PKG "Artifact archival" (commit e52498951d11)."""
    with artifacts.with_artifacts_directory(tmp_path / "art_dir"):
        h = artifacts.create_artifact(lambda p: (p / "foo").touch())
        tarball = tmp_path / "foo.tar.gz"
        sha256 = artifacts.archive_artifact(h, tarball)
        assert "foo" in tarball_names(tarball)
        assert sha256 == hashlib.sha256(tarball.read_bytes()).hexdigest()
        artifacts.remove_artifact(h)
        with pytest.raises(ArtifactNotFound):
            artifacts.archive_artifact(h, tarball)


# --- PKG "Artifacts.toml Utilities": bind, unbind, platforms, download_info -----------------


def usage_keys(depot: Path) -> list[str]:
    return list(_toml.loads((depot / "logs" / "artifact_usage.toml").read_text()))


def test_bind_overwrite_and_unbind(tmp_path: Path, depot: Path) -> None:
    """Port of PKG "Artifacts.toml Utilities", binding and unbinding (commit e52498951d11).

    A binding is read back and installed, recorded in the usage log, refused over an
    existing one unless forced, and removed by ``unbind_artifact``.
    """
    h = artifacts.create_artifact(lambda p: (p / "foo.txt").write_text("hello, world!"))
    toml = tmp_path / "Artifacts.toml"
    assert artifacts.artifact_hash("foo_txt", toml) is None
    artifacts.bind_artifact(toml, "foo_txt", h)
    assert artifacts.artifact_hash("foo_txt", toml) == h
    assert artifacts.ensure_artifact_installed("foo_txt", toml) == artifacts.artifact_path(h)
    assert any(key.startswith(str(toml)) for key in usage_keys(depot))

    h2 = artifacts.create_artifact(lambda p: (p / "foo.txt").write_text("goodbye, world!"))
    with pytest.raises(BindingExists):
        artifacts.bind_artifact(toml, "foo_txt", h2)
    assert artifacts.artifact_hash("foo_txt", toml) == h
    artifacts.bind_artifact(toml, "foo_txt", h2, force=True)
    assert artifacts.artifact_hash("foo_txt", toml) == h2
    artifacts.unbind_artifact(toml, "foo_txt")
    assert artifacts.artifact_hash("foo_txt", toml) is None


LINUX64 = Platform("linux", "x86_64")
WIN32 = Platform("windows", "i686")
# Pkg's download_info: one without a size, one with; never fetched (both installed).
DOWNLOAD_INFO: list[artifacts.DownloadInfo] = [
    ("http://127.0.0.1:9/hello_world", "0" * 64),
    ("http://127.0.0.1:9/hello_world_sized", "a" * 64, 1),
]


def test_platform_specific_bindings_force_and_download_info(tmp_path: Path) -> None:
    """Port of PKG "Artifacts.toml Utilities", platform-specific binding (commit e52498951d11).

    Bindings for linux64 and win32 live side by side; rebinding linux64 needs ``force``
    and replaces only its entry; a platform carrying a ``libstdcxx_version`` cap matches
    the linux64 entry (a tag one side lacks is no obstacle), so binding it is refused;
    ``download`` keeps each source's shape, ``size`` only where given.
    """
    h = artifacts.create_artifact(lambda p: (p / "foo.txt").write_text("hello, world!"))
    h2 = artifacts.create_artifact(lambda p: (p / "foo.txt").write_text("goodbye, world!"))
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "foo_txt", h, download_info=DOWNLOAD_INFO, platform=LINUX64)
    assert artifacts.artifact_hash("foo_txt", toml, platform=LINUX64) == h
    assert artifacts.artifact_hash("foo_txt", toml, platform=Platform("macos", "x86_64")) is None
    with pytest.raises(BindingExists):
        artifacts.bind_artifact(toml, "foo_txt", h2, download_info=DOWNLOAD_INFO, platform=LINUX64)
    artifacts.bind_artifact(toml, "foo_txt", h, download_info=DOWNLOAD_INFO, platform=WIN32)
    artifacts.bind_artifact(
        toml, "foo_txt", h2, download_info=DOWNLOAD_INFO, platform=LINUX64, force=True
    )
    assert artifacts.artifact_hash("foo_txt", toml, platform=LINUX64) == h2
    assert artifacts.artifact_hash("foo_txt", toml, platform=WIN32) == h
    assert len(_toml.loads(toml.read_text())["foo_txt"]) == 2
    installed = artifacts.ensure_artifact_installed("foo_txt", toml, platform=LINUX64)
    assert installed == artifacts.artifact_path(h2)
    installed = artifacts.ensure_artifact_installed("foo_txt", toml, platform=WIN32)
    assert installed == artifacts.artifact_path(h)

    testhost = Platform(
        "linux",
        "x86_64",
        tags={"libstdcxx_version": "1.2.3"},
        compare_strategies={"libstdcxx_version": compare_version_cap},
    )
    with pytest.raises(BindingExists):
        artifacts.bind_artifact(toml, "foo_txt", h, download_info=DOWNLOAD_INFO, platform=testhost)

    meta = artifacts.artifact_meta("foo_txt", toml, platform=WIN32)
    assert meta is not None
    assert meta["download"][0]["url"] == "http://127.0.0.1:9/hello_world"
    assert "size" not in meta["download"][0]
    assert meta["download"][1]["sha256"] == "a" * 64
    assert meta["download"][1]["size"] == 1


def test_unbinding_the_last_platform_entry_removes_the_name(tmp_path: Path) -> None:
    """PKG "Artifacts.toml Utilities" (commit e52498951d11), unbinding per platform.

    Differs from Julia: Pkg's ``unbind_artifact!`` keeps ``foo_txt = []`` once the last
    entry goes; this library removes the name. Both read back as unbound.
    """
    toml = tmp_path / "Artifacts.toml"
    artifacts.bind_artifact(toml, "foo_txt", "1" * 40, platform=LINUX64)
    artifacts.bind_artifact(toml, "foo_txt", "2" * 40, platform=WIN32)
    artifacts.unbind_artifact(toml, "foo_txt", platform=LINUX64)
    assert artifacts.artifact_hash("foo_txt", toml, platform=LINUX64) is None
    assert artifacts.artifact_hash("foo_txt", toml, platform=WIN32) == "2" * 40
    artifacts.unbind_artifact(toml, "foo_txt", platform=WIN32)
    assert "foo_txt" not in _toml.loads(toml.read_text())
    assert artifacts.artifact_meta("foo_txt", toml, platform=WIN32) is None


def test_force_and_unbind_replace_only_the_entry_equal_on_every_tag(tmp_path: Path) -> None:
    """PKG "Artifacts.toml Utilities" (commit e52498951d11), with Pkg's ``bind_artifact!``.

    Pkg drops the entries whose ``unpack_platform`` equals the platform: an entry written
    without ``libc`` reads as glibc and is replaced by a forced glibc binding, while a
    ``libgfortran_version`` variant of it stays, through the bind and the unbind.
    """
    toml = tmp_path / "Artifacts.toml"
    toml.write_text(f'[[foo]]\narch = "x86_64"\ngit-tree-sha1 = "{"1" * 40}"\nos = "linux"\n')
    assert artifacts.artifact_hash("foo", toml, platform=Platform("linux", "x86_64", "glibc")) == (
        "1" * 40
    )
    assert (
        artifacts.artifact_hash("foo", toml, platform=Platform("linux", "x86_64", "musl")) is None
    )
    gfortran5 = Platform("linux", "x86_64", tags={"libgfortran_version": "5"})
    artifacts.bind_artifact(toml, "foo", "2" * 40, platform=gfortran5, force=True)
    artifacts.bind_artifact(toml, "foo", "3" * 40, platform=LINUX64, force=True)
    hashes = sorted(e["git-tree-sha1"] for e in _toml.loads(toml.read_text())["foo"])
    assert hashes == ["2" * 40, "3" * 40]
    artifacts.unbind_artifact(toml, "foo", platform=LINUX64)
    (kept,) = _toml.loads(toml.read_text())["foo"]
    assert kept["git-tree-sha1"] == "2" * 40
    assert kept["libc"] == "glibc"


def test_a_relative_artifacts_toml_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Port of PKG "Artifacts.toml Utilities", relative paths (commit e52498951d11).

    A bare ``"Artifacts.toml"`` names the file in the working directory, for binding,
    reading and installing alike.
    """
    monkeypatch.chdir(tmp_path)
    h3 = artifacts.create_artifact(lambda p: (p / "foo.txt").write_text("bla bla"))
    assert artifacts.artifact_hash("foo_txt", "Artifacts.toml") is None
    artifacts.bind_artifact("Artifacts.toml", "foo_txt", h3)
    assert artifacts.artifact_hash("foo_txt", "Artifacts.toml") == h3
    installed = artifacts.ensure_artifact_installed("foo_txt", "Artifacts.toml")
    assert installed == artifacts.artifact_path(h3)
    assert (tmp_path / "Artifacts.toml").is_file()


def test_finding_the_nearest_artifacts_toml(tmp_path: Path) -> None:
    """Port of PKG "Artifacts.toml Utilities", the search (commit e52498951d11).

    The layout of ``test_packages/ArtifactTOMLSearch``: a module beside an
    ``Artifacts.toml`` or in a folder below it finds that file, a package folder with its
    own finds its own. (Its ``JuliaArtifacts.toml`` case and the search stopping at a
    project's root have no counterpart.)
    """
    ats = tmp_path / "ArtifactTOMLSearch"
    (ats / "sub_module").mkdir(parents=True)
    (ats / "sub_package").mkdir()
    for toml in (ats / "Artifacts.toml", ats / "sub_package" / "Artifacts.toml"):
        artifacts.bind_artifact(toml, "arty", SOCRATES_HASH)
    for module_dir, expected in [
        (ats, ats / "Artifacts.toml"),
        (ats / "sub_module", ats / "Artifacts.toml"),
        (ats / "sub_package", ats / "sub_package" / "Artifacts.toml"),
    ]:
        found = find_artifacts_toml(str(module_dir))
        assert found == str(expected)
        assert artifacts.artifact_hash("arty", found) == SOCRATES_HASH


# --- PKG "Artifacts.toml Utilities": installs from download sources -------------------------


def socrates(path: Path) -> None:
    """What stands in for ``socrates.tar.gz``: a small tree with a file and a link."""
    (path / "bin").mkdir()
    (path / "bin" / "socrates").write_text("The unexamined life is not worth living.\n")
    (path / "bin" / "socrates").chmod(0o755)
    (path / "README").symlink_to("bin/socrates")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], str]]:
    """Serve ``socrates.tar.gz`` and ``socrates.tar.bz2`` on 127.0.0.1.

    Yields ``(tree hash, {file name: sha256}, base URL)``; the artifact is not installed.
    """
    root = tmp_path / "served"
    root.mkdir()
    h = artifacts.create_artifact(socrates)
    gz = root / "socrates.tar.gz"
    artifacts.archive_artifact(h, gz)
    artifacts.remove_artifact(h)
    (root / "socrates.tar.bz2").write_bytes(bz2.compress(gzip.decompress(gz.read_bytes())))
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}
    with Server(root) as server:
        yield h, sha, server.url


def toml_with(path: Path, name: str, tree: str, sources: list[tuple[str, str]]) -> Path:
    """Write an ``Artifacts.toml`` binding ``name`` to ``tree`` with ``sources``, as Pkg's."""
    lines = [f"[{name}]", f'git-tree-sha1 = "{tree}"', ""]
    for url, sha256 in sources:
        lines += [f"[[{name}.download]]", f'url = "{url}"', f'sha256 = "{sha256}"', ""]
    path.write_text("\n".join(lines))
    return path


def test_install_from_its_sources_verify_reinstall_remove(
    tmp_path: Path, served: tuple[str, dict[str, str], str]
) -> None:
    """Port of PKG "Artifacts.toml Utilities", installing ``arty`` (commit e52498951d11).

    ``ArtifactTOMLSearch/Artifacts.toml`` binds ``arty`` with a ``.tar.gz`` and a
    ``.tar.bz2`` source: it is listed among the file's hashes, not installed at first,
    installed and verified, installed again for nothing, removed and no longer verified.
    """
    from scratchspaces.artifacts._bindings import bound_hashes

    h, sha, url = served
    sources = [(f"{url}/{n}", sha[n]) for n in ("socrates.tar.gz", "socrates.tar.bz2")]
    toml = toml_with(tmp_path / "Artifacts.toml", "arty", h, sources)
    assert artifacts.artifact_hash("arty", toml) == h
    assert h in bound_hashes(str(toml))
    assert not artifacts.artifact_exists(h)
    assert artifacts.ensure_artifact_installed("arty", toml) == artifacts.artifact_path(h)
    assert artifacts.verify_artifact(h)
    assert artifacts.ensure_artifact_installed("arty", toml) == artifacts.artifact_path(h)
    artifacts.remove_artifact(h)
    assert not artifacts.verify_artifact(h)


def test_install_from_the_second_source_when_the_first_is_gone(
    tmp_path: Path, served: tuple[str, dict[str, str], str]
) -> None:
    """PKG "Artifacts.toml Utilities" (commit e52498951d11): each source in order.

    Its ``.tar.bz2`` source installs the same tree as the ``.tar.gz`` one.
    """
    h, sha, url = served
    sources = [
        (f"{url}/gone.tar.gz", "0" * 64),
        (f"{url}/socrates.tar.bz2", sha["socrates.tar.bz2"]),
    ]
    toml = toml_with(tmp_path / "Artifacts.toml", "arty", h, sources)
    assert artifacts.ensure_artifact_installed("arty", toml) == artifacts.artifact_path(h)
    assert artifacts.verify_artifact(h)


def test_bad_artifacts_toml_files_fail_to_install(
    tmp_path: Path, served: tuple[str, dict[str, str], str]
) -> None:
    """Port of PKG "Artifacts.toml Utilities", the known-bad files (commit e52498951d11).

    ``incorrect_gitsha.toml`` (a right tarball bound to ``0``*40) fails on the tree hash,
    ``incorrect_sha256.toml`` on the sha256, ``doesnotexist.toml`` on both of its sources
    (one missing, one with a wrong sha256): each has an entry, none installs anything.
    Pkg also reruns the first with ``JULIA_PKG_IGNORE_HASHES``; no counterpart here.
    """
    h, sha, url = served
    gz = f"{url}/socrates.tar.gz"
    bad = tmp_path / "bad"
    bad.mkdir()
    store = tmp_path / "store"
    with artifacts.with_artifacts_directory(store):
        gitsha = toml_with(
            bad / "incorrect_gitsha.toml",
            "broken_artifact",
            "0" * 40,
            [(gz, sha["socrates.tar.gz"])],
        )
        assert artifacts.artifact_meta("broken_artifact", gitsha) is not None
        with pytest.raises(HashMismatch, match="git tree hash"):
            artifacts.ensure_artifact_installed("broken_artifact", gitsha)

        sha256 = toml_with(
            bad / "incorrect_sha256.toml", "broken_artifact", "0" * 40, [(gz, "0" * 64)]
        )
        assert artifacts.artifact_meta("broken_artifact", sha256) is not None
        with pytest.raises(HashMismatch, match="sha256"):
            artifacts.ensure_artifact_installed("broken_artifact", sha256)

        missing = toml_with(
            bad / "doesnotexist.toml",
            "does_not_exist",
            "0" * 40,
            [
                (f"{url}/doesnotexist.tar.gz", "0" * 64),
                (gz, "0" * 64),
            ],
        )
        # The last source's error, its message naming each source.
        with pytest.raises(HashMismatch, match=r"doesnotexist\.tar\.gz.*socrates\.tar\.gz"):
            artifacts.ensure_artifact_installed("does_not_exist", missing)
        with pytest.raises(ArtifactNotFound):
            artifacts.ensure_artifact_installed("broken_artifact", missing)
        assert not artifacts.artifact_exists("0" * 40)
        assert not artifacts.artifact_exists(h)
        assert [p for p in store.iterdir() if not p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("file_name", "text", "message"),
    [
        (
            "no_gitsha.toml",
            f'[arty]\ngit-tree-sha1 = "{SOCRATES_HASH}"\n\n[broken_artifact]\nos = "linux"\n',
            "no git-tree-sha1",
        ),
        (
            "not_a_table.toml",
            f'broken_artifact = "this should not exist"\n\n[arty]\n'
            f'git-tree-sha1 = "{SOCRATES_HASH}"\n',
            "neither a table nor an array of tables",
        ),
    ],
)
def test_malformed_entries_raise_where_julia_logs(
    tmp_path: Path, file_name: str, text: str, message: str
) -> None:
    """PKG "Artifacts.toml Utilities", parsing errors (commit e52498951d11).

    Differs from Julia: Pkg logs an error (``contains no `git-tree-sha1```, ``malformed,
    must be array or dict!``) and ``artifact_meta`` returns ``nothing``; this library
    raises :class:`InvalidArtifactsToml` naming the file and the entry. The well-formed
    ``arty`` beside it reads in both.
    """
    toml = tmp_path / file_name
    toml.write_text(text)
    with pytest.raises(InvalidArtifactsToml, match=message):
        artifacts.artifact_meta("broken_artifact", toml)
    assert artifacts.artifact_hash("arty", toml) == SOCRATES_HASH


# --- PKG "Artifact Usage": selection among platform entries ---------------------------------


def test_a_bogus_platform_gets_no_platform_specific_entry(stdlib_toml: Path) -> None:
    """Port of PKG "Artifact Usage" (porous platform coverage) and "count_artifacts and
    artifact_suffix" (commit e52498951d11).

    For ``Platform("bogus", "linux")`` no HelloWorldC entry matches, while the names bound
    for every platform (the lazy ``socrates``, ``collapse_the_symlink``) still resolve.
    HelloWorldC's entries here are STDLIB's, the same platforms as ArtifactInstallation's.
    """
    bogus = Platform("linux", "bogus")
    with stdlib_toml.open("a") as file:
        file.write(f'\n[collapse_the_symlink]\ngit-tree-sha1 = "{COLLAPSE_THE_SYMLINK_HASH}"\n')
    assert artifacts.artifact_hash("HelloWorldC", stdlib_toml, platform=bogus) is None
    assert artifacts.artifact_hash("socrates", stdlib_toml, platform=bogus) == SOCRATES_HASH
    meta = artifacts.artifact_meta("socrates", stdlib_toml, platform=bogus)
    assert meta is not None
    assert meta["lazy"] is True
    assert not artifacts.artifact_exists(SOCRATES_HASH)
    cts = artifacts.artifact_hash("collapse_the_symlink", stdlib_toml, platform=bogus)
    assert cts == COLLAPSE_THE_SYMLINK_HASH


def test_an_extra_tag_picks_its_entry(tmp_path: Path) -> None:
    """Port of PKG "Artifact Usage", the ``flooblecrank`` platform (commit e52498951d11).

    Two entries for the host, told apart by an extra tag Julia knows nothing about, bind
    side by side (their ``flooblecrank`` differs, so neither matches the other); the host
    with ``flooblecrank`` set gets its own.
    """
    engaged_hash = "a5f8161ca1ab2e94fedd3578586fe06d7906177c"
    disengaged_hash = "ea8ea92ecd57aa602d254ca6c637309642202768"
    toml = tmp_path / "AugmentedPlatform" / "Artifacts.toml"
    toml.parent.mkdir()
    host = Platform.host()
    engaged = host.with_tags(flooblecrank="engaged")
    disengaged = host.with_tags(flooblecrank="disengaged")
    info: list[artifacts.DownloadInfo] = [("http://127.0.0.1:9/HelloWorldGo.tar.gz", "9" * 64)]
    artifacts.bind_artifact(toml, "gooblebox", engaged_hash, download_info=info, platform=engaged)
    artifacts.bind_artifact(
        toml, "gooblebox", disengaged_hash, download_info=info, platform=disengaged
    )
    written = _toml.loads(toml.read_text())["gooblebox"]
    assert sorted(e["flooblecrank"] for e in written) == ["disengaged", "engaged"]
    for status, right in (("engaged", engaged_hash), ("disengaged", disengaged_hash)):
        wanted = Platform.host().with_tags(flooblecrank=status)
        assert artifacts.artifact_hash("gooblebox", toml, platform=wanted) == right


# --- STDLIB "artifact_hash()", "@artifact_str Platform passing", "select_downloadable..." ---


def test_artifact_hash_selects_the_platform_entry(stdlib_toml: Path) -> None:
    """Port of STDLIB "artifact_hash()" and the choices of "@artifact_str Platform passing".

    ``Platform("armv7l", "linux")`` is glibc and ``eabihf`` without being told, so it gets
    the ``armv7l-linux-gnueabihf`` build, not the musl one; socrates is bound for every
    platform. Windows and macOS x86_64 get theirs.
    """
    armv7l_linux = Platform("linux", "armv7l")
    assert artifacts.artifact_hash("HelloWorldC", stdlib_toml, platform=armv7l_linux) == (
        "0a8e7b523ef6be31311aefe9983a488616e58201"
    )
    assert artifacts.artifact_hash("socrates", stdlib_toml, platform=armv7l_linux) == (
        SOCRATES_HASH
    )
    win64, mac64 = Platform("windows", "x86_64"), Platform("macos", "x86_64")
    assert artifacts.artifact_hash("HelloWorldC", stdlib_toml, platform=win64) == (
        "6e1eb164b0651aa44621eac4dfa340d6e60295ef"
    )
    assert artifacts.artifact_hash("HelloWorldC", stdlib_toml, platform=mac64) == (
        "2e1742c9c0addd693b0b025f7a1e7aa4c50a0e6c"
    )


def test_the_entries_chosen_for_armv7l_and_which_are_lazy(stdlib_toml: Path) -> None:
    """Port of STDLIB "select_downloadable_artifacts()", through ``artifact_meta``.

    For armv7l Linux, HelloWorldC's entry is the glibc build and eager; socrates is
    lazy, so Julia lists it only with ``include_lazy=true``.
    """
    armv7l_linux = Platform("linux", "armv7l")
    chosen: dict[str, dict[str, Any]] = {}
    for name in ("HelloWorldC", "socrates"):
        meta = artifacts.artifact_meta(name, stdlib_toml, platform=armv7l_linux)
        assert meta is not None
        chosen[name] = meta
    assert chosen["HelloWorldC"]["git-tree-sha1"] == "0a8e7b523ef6be31311aefe9983a488616e58201"
    assert not chosen["HelloWorldC"].get("lazy", False)
    assert chosen["socrates"]["git-tree-sha1"] == SOCRATES_HASH
    assert chosen["socrates"]["lazy"] is True


@pytest.mark.parametrize("entry", HELLO_WORLD_C, ids=lambda e: f"{e[0]}-{e[1]}-{e[2]}")
def test_each_entry_is_chosen_for_its_own_platform(
    stdlib_toml: Path, entry: tuple[str, str, str | None, str | None, str]
) -> None:
    """STDLIB's fixture read back (``unpack_platform``, then selection): every entry of
    HelloWorldC is the one chosen for the platform it was bound for."""
    arch, os_name, libc, call_abi, tree = entry
    tags = {"call_abi": call_abi} if call_abi else {}
    platform = Platform(os_name, arch, libc, tags=tags)
    assert artifacts.artifact_hash("HelloWorldC", stdlib_toml, platform=platform) == tree


# --- STDLIB "Serialization Tools": pack_platform! and unpack_platform ------------------------


def packed(platform: Platform, tmp_path: Path) -> dict[str, Any]:
    """``pack_platform!``: the platform keys ``bind_artifact`` writes for ``platform``."""
    toml = tmp_path / "packed.toml"
    artifacts.bind_artifact(toml, "foo", "0" * 40, platform=platform, force=True)
    entries: list[dict[str, Any]] = _toml.loads(toml.read_text())["foo"]
    (entry,) = entries
    toml.unlink()
    del entry["git-tree-sha1"]
    return entry


def test_pack_platform_writes_julias_keys(tmp_path: Path) -> None:
    """Port of STDLIB "Serialization Tools", the basic cases.

    Linux gets ``libc = "glibc"`` when none is given, versions are spelt
    ``major.minor.patch`` and names lowercased (``macOS`` is ``macos``), and a macOS
    platform writes nothing but ``os`` and ``arch``. armv7l Linux also carries
    ``call_abi = "eabihf"``, which Julia's own test does not look at.
    """
    meta = packed(Platform("linux", "i686"), tmp_path)
    assert (meta["os"], meta["arch"], meta["libc"]) == ("linux", "i686", "glibc")
    meta = packed(Platform("linux", "armv7l", "musl"), tmp_path)
    assert (meta["os"], meta["arch"], meta["libc"]) == ("linux", "armv7l", "musl")
    meta = packed(Platform("windows", "x86_64", tags={"libgfortran_version": "3"}), tmp_path)
    assert (meta["os"], meta["arch"]) == ("windows", "x86_64")
    assert meta["libgfortran_version"] == "3.0.0"
    assert packed(Platform("macOS", "aarch64"), tmp_path) == {"os": "macos", "arch": "aarch64"}


def fuzz_platforms() -> list[Platform]:
    """STDLIB's fuzz set: every libgfortran, libstdcxx and cxxstring_abi on 13 platforms."""
    found = []
    for gfortran in ("3", "4", "5", None):
        for stdcxx in ("3.4.11", "3.4.19", None):
            for abi in ("cxx03", "cxx11", None):
                tags = {
                    "libgfortran_version": gfortran,
                    "libstdcxx_version": stdcxx,
                    "cxxstring_abi": abi,
                }
                for arch in ("x86_64", "i686", "aarch64", "armv7l"):
                    for libc in ("glibc", "musl"):
                        found.append(Platform("linux", arch, libc, tags=tags))
                found += [
                    Platform("windows", "x86_64", tags=tags),
                    Platform("windows", "i686", tags=tags),
                    Platform("macOS", "x86_64", tags=tags),
                    Platform("macOS", "aarch64", tags=tags),
                    Platform("FreeBSD", "x86_64", tags=tags),
                ]
    return found


def test_pack_then_unpack_rebuilds_every_platform(tmp_path: Path) -> None:
    """Port of STDLIB "Serialization Tools", the fuzz loop: pack, then unpack, is identity.

    Every platform of the set is written by ``bind_artifact`` (as Julia's
    ``pack_platform!``), read back by the reader of entries (as ``unpack_platform``) and
    compares equal; the written file selects the same entry for it.
    """
    platforms = fuzz_platforms()
    assert len(platforms) == 36 * 13
    toml = tmp_path / "Artifacts.toml"
    for i, platform in enumerate(platforms):
        entry = {"git-tree-sha1": f"{i:040x}", **platform.tags}
        assert from_entry(entry) == platform
    for i, platform in enumerate(platforms[:: len(platforms) // 24]):
        artifacts.bind_artifact(toml, "foo", f"{i:040x}", platform=platform, force=True)
        (entry,) = (
            e for e in _toml.loads(toml.read_text())["foo"] if e["git-tree-sha1"] == f"{i:040x}"
        )
        assert from_entry(entry) == platform
        assert artifacts.artifact_hash("foo", toml, platform=platform) == f"{i:040x}"


@pytest.mark.parametrize("missing", ["os", "arch"])
def test_unpacking_an_entry_without_os_or_arch_raises(tmp_path: Path, missing: str) -> None:
    """STDLIB "Serialization Tools", the bad entries.

    Differs from Julia: ``unpack_platform`` of an entry without ``os`` or ``arch`` logs
    ``Invalid artifacts file`` and returns ``nothing``; here the reader raises
    ``ValueError``, and ``artifact_meta`` on such a file :class:`InvalidArtifactsToml`.
    """
    meta = dict(Platform("linux", "x86_64", tags={"libgfortran_version": "5"}).tags)
    del meta[missing]
    with pytest.raises(ValueError, match="needs os and arch"):
        from_entry(meta)
    toml = tmp_path / "Artifacts.toml"
    lines = ["[[foo]]", f'git-tree-sha1 = "{"0" * 40}"', *(f'{k} = "{v}"' for k, v in meta.items())]
    toml.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidArtifactsToml, match="needs os and arch"):
        artifacts.artifact_meta("foo", toml, platform=LINUX64)
