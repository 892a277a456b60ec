"""Real ``Artifacts.toml`` files of JLL packages: the entry Julia picks, and writes that keep it.

The fixtures in ``tests/fixtures/jll/`` are copied whole; each names its repository and
commit on its first line. In every case the comment works the answer out by Julia's
rules (``select_platform`` in ``base/binaryplatforms.jl``): keep the entries whose tags
all compare equal where both sides carry them, prefer the fewest tag names carried by
one side only (the *loss*), then the greatest triplet as a string.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scratchspaces import artifacts
from scratchspaces._toml import loads
from scratchspaces.artifacts import BindingExists, Platform

FIXTURES = Path(__file__).parent / "fixtures" / "jll"


def p(os_name: str, arch: str, libc: str | None = None, **tags: str) -> Platform:
    return Platform(os_name, arch, libc, tags=tags)


def chosen(fixture: str, name: str, platform: Platform) -> int | None:
    """Return the index, in file order, of the entry chosen for ``platform``."""
    path = FIXTURES / fixture
    meta = artifacts.artifact_meta(name, path, platform=platform)
    return None if meta is None else loads(path.read_text())[name].index(meta)


CASES = [
    # OpenBLAS: entries 36-38 are x86_64-linux-gnu with libgfortran 3, 4, 5; 39 is
    # x86_64-linux-gnu with sanitize=memory and no libgfortran_version; 40-42 musl.
    # No libgfortran_version on the host: 36-39 all match with loss 1; the greatest
    # triplet is "x86_64-linux-gnu-sanitize+memory" ('s' > 'l' of "-libgfortran5").
    ("OpenBLAS", p("linux", "x86_64"), 39),
    # libgfortran 5 on the host: 38 has loss 0, 39 loss 2 (libgfortran, sanitize).
    ("OpenBLAS", p("linux", "x86_64", libgfortran_version="5"), 38),
    ("OpenBLAS", p("linux", "x86_64", libgfortran_version="4"), 37),
    # What a real Julia host carries (julia_version, cxxstring_abi too): 38 loses 2,
    # 39 loses 4.
    (
        "OpenBLAS",
        p(
            "linux",
            "x86_64",
            libgfortran_version="5",
            julia_version="1.11.3",
            cxxstring_abi="cxx11",
        ),
        38,
    ),
    # julia_version alone: 36-38 and 39 all lose 2; the triplet again prefers 39.
    ("OpenBLAS", p("linux", "x86_64", julia_version="1.11.3"), 39),
    # musl: 40-42 lose 1 each; "...-musl-libgfortran5" is the greatest.
    ("OpenBLAS", p("linux", "x86_64", "musl"), 42),
    ("OpenBLAS", p("linux", "x86_64", "musl", libgfortran_version="3"), 40),
    # aarch64 macOS has only the libgfortran5 build (entry 0).
    ("OpenBLAS", p("macos", "aarch64"), 0),
    ("OpenBLAS", p("macos", "aarch64", libgfortran_version="3"), None),
    # x86_64 macOS: 33-35 (libgfortran 3, 4, 5) lose 1; 35 has the greatest triplet.
    ("OpenBLAS", p("macos", "x86_64"), 35),
    # Windows: 46-48 lose 1, 48 ("x86_64-w64-mingw32-libgfortran5") wins.
    ("OpenBLAS", p("windows", "x86_64"), 48),
    ("OpenBLAS", p("windows", "x86_64", libgfortran_version="4"), 47),
    # libjulia: for x86_64-linux-gnu, 7/18/30/43/56 hold julia_version 1.10.0, 1.11.1,
    # 1.12.0, 1.13.0, 1.14.0. Without julia_version all lose 1, and the greatest
    # triplet ends "julia_version+1.14.0" (56).
    ("libjulia", p("linux", "x86_64"), 56),
    # Julia 1.11.3 matches 1.11.1 only (major.minor): 18.
    ("libjulia", p("linux", "x86_64", julia_version="1.11.3"), 18),
    ("libjulia", p("linux", "x86_64", julia_version="1.9.4"), None),
    ("libjulia", p("linux", "x86_64", "musl"), 57),
    # aarch64 macOS: 0/11/22/34/47 hold 1.10.0 ... 1.14.0; without julia_version the
    # newest (47); with Julia 1.10.5 the 1.10.0 build (0).
    ("libjulia", p("macos", "aarch64"), 47),
    ("libjulia", p("macos", "aarch64", julia_version="1.10.5"), 0),
    ("libjulia", p("windows", "x86_64"), 59),
    ("libjulia", p("windows", "x86_64", julia_version="1.12.4"), 33),
    # LLVM: 11 (llvm_version 15), 12 (15 + sanitize), 27 (15.asserts), 28 (15.asserts +
    # sanitize) serve x86_64-linux-gnu, all with cxxstring_abi cxx11. With nothing set,
    # 11 and 27 lose 2; "...llvm_version+15.asserts" is greater than "...+15".
    ("LLVM", p("linux", "x86_64"), 27),
    ("LLVM", p("linux", "x86_64", llvm_version="15"), 11),
    ("LLVM", p("linux", "x86_64", cxxstring_abi="cxx03"), None),
    ("LLVM", p("windows", "x86_64", llvm_version="15"), 15),
    ("LLVM", p("macos", "aarch64"), 16),
    # CUDA_Runtime (every entry lazy): for x86_64 glibc, one entry per cuda version,
    # each losing 1; "cuda+13.2" is the greatest (entry 0).
    ("CUDA_Runtime", p("linux", "x86_64"), 0),
    ("CUDA_Runtime", p("linux", "x86_64", cuda="12.6"), 17),
    # aarch64 cuda 12.9: 10 (cuda_platform=jetson) and 11 (sbsa) both lose 1;
    # "...-cuda_platform+sbsa" > "...-cuda_platform+jetson".
    ("CUDA_Runtime", p("linux", "aarch64", cuda="12.9"), 11),
    ("CUDA_Runtime", p("linux", "aarch64", cuda="12.9", cuda_platform="jetson"), 10),
    ("CUDA_Runtime", p("linux", "x86_64", "musl"), None),
    # Pkg's own test file: one entry per platform, nothing to choose between.
    ("PkgArtifactInstallation", p("linux", "x86_64"), 12),
    ("PkgArtifactInstallation", p("linux", "x86_64", "musl"), 13),
    ("PkgArtifactInstallation", p("macos", "aarch64"), 0),
    ("PkgArtifactInstallation", p("windows", "x86_64"), 15),
]


@pytest.mark.parametrize(("package", "platform", "index"), CASES, ids=str)
def test_the_entry_julia_would_choose(package: str, platform: Platform, index: int | None) -> None:
    name = "HelloWorldC" if package == "PkgArtifactInstallation" else package
    assert chosen(f"{package}_Artifacts.toml", name, platform) == index


def test_lazy_entries_and_several_sources_are_returned_whole() -> None:
    meta = artifacts.artifact_meta(
        "CUDA_Runtime", FIXTURES / "CUDA_Runtime_Artifacts.toml", platform=p("linux", "x86_64")
    )
    assert meta is not None
    assert meta["lazy"] is True
    assert meta["download"][0]["url"].endswith(".tar.gz")
    socrates = artifacts.artifact_meta(
        "socrates", FIXTURES / "PkgArtifactInstallation_Artifacts.toml"
    )
    assert socrates is not None
    assert socrates["lazy"] is True
    assert [s["url"].rsplit(".", 1)[-1] for s in socrates["download"]] == ["gz", "bz2"]


def _openblas(tmp_path: Path) -> Path:
    toml = tmp_path / "Artifacts.toml"
    shutil.copyfile(FIXTURES / "OpenBLAS_Artifacts.toml", toml)
    return toml


def _entries(toml: Path) -> list[dict[str, object]]:
    found: list[dict[str, object]] = loads(toml.read_text())["OpenBLAS"]
    return found


def test_bind_with_force_keeps_every_other_variant(tmp_path: Path) -> None:
    toml = _openblas(tmp_path)
    before = _entries(toml)
    assert len(before) == 49
    gnu = Platform("linux", "x86_64", "glibc")
    # As Pkg's bind_artifact!: without force, any entry that matches is a conflict.
    with pytest.raises(BindingExists):
        artifacts.bind_artifact(toml, "OpenBLAS", "a" * 40, platform=gnu)
    artifacts.bind_artifact(toml, "OpenBLAS", "a" * 40, platform=gnu, force=True)
    after = _entries(toml)
    assert len(after) == 50  # nothing was bound for exactly x86_64-linux-gnu
    assert all(entry in after for entry in before)
    assert {"arch": "x86_64", "os": "linux", "libc": "glibc", "git-tree-sha1": "a" * 40} in after
    # Exactly this platform now: the binding is replaced, the variants stay.
    artifacts.bind_artifact(toml, "OpenBLAS", "b" * 40, platform=gnu, force=True)
    assert len(_entries(toml)) == 50
    gfortran5 = gnu.with_tags(libgfortran_version="5")
    artifacts.bind_artifact(toml, "OpenBLAS", "c" * 40, platform=gfortran5, force=True)
    again = _entries(toml)
    assert len(again) == 50  # entry 38 replaced, nothing else
    assert artifacts.artifact_hash("OpenBLAS", toml, platform=gfortran5) == "c" * 40
    assert (
        artifacts.artifact_hash("OpenBLAS", toml, platform=gnu.with_tags(sanitize="memory"))
        == (before[39]["git-tree-sha1"])
    )


def test_unbind_removes_only_the_exact_platform(tmp_path: Path) -> None:
    toml = _openblas(tmp_path)
    gnu = Platform("linux", "x86_64")
    artifacts.unbind_artifact(toml, "OpenBLAS", platform=gnu)
    assert len(_entries(toml)) == 49  # no entry is bound for exactly x86_64-linux-gnu
    artifacts.unbind_artifact(toml, "OpenBLAS", platform=gnu.with_tags(sanitize="memory"))
    remaining = _entries(toml)
    assert len(remaining) == 48
    assert not any(entry.get("sanitize") for entry in remaining)
    artifacts.unbind_artifact(toml, "OpenBLAS", platform=gnu.with_tags(libgfortran_version="3"))
    assert len(_entries(toml)) == 47


def test_an_entry_without_libc_is_glibc(tmp_path: Path) -> None:
    toml = tmp_path / "Artifacts.toml"
    toml.write_text('[[lib]]\narch = "x86_64"\ngit-tree-sha1 = "' + "a" * 40 + '"\nos = "linux"\n')
    assert (
        artifacts.artifact_hash("lib", toml, platform=Platform("linux", "x86_64", "musl")) is None
    )
    assert artifacts.artifact_hash("lib", toml, platform=Platform("linux", "x86_64")) == "a" * 40
    artifacts.bind_artifact(toml, "lib", "b" * 40, platform=Platform("linux", "i686"))
    assert 'arch = "i686"\ngit-tree-sha1 = "' + "b" * 40 + '"\nlibc = "glibc"\n' in toml.read_text()


def test_this_machine_never_prefers_a_sanitizer_build() -> None:
    """Julia's own host carries ``libgfortran_version`` (and more), so it picks a plain
    OpenBLAS build; Python's host cannot know it, and would pick the ``sanitize=memory``
    build on its triplet: for this machine, sanitizer builds come last."""
    host = Platform.host()
    if (host.os, host.arch, host.libc) != ("linux", "x86_64", "glibc"):
        pytest.skip("the fixture's case is x86_64 glibc Linux")
    path = FIXTURES / "OpenBLAS_Artifacts.toml"
    meta = artifacts.artifact_meta("OpenBLAS", path)  # no platform: this machine
    assert meta is not None
    assert loads(path.read_text())["OpenBLAS"].index(meta) == 38  # the greatest plain one
    assert chosen("OpenBLAS_Artifacts.toml", "OpenBLAS", host) == 39  # asked for: Julia's
