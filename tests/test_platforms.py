"""Platforms, ``platforms_match`` and ``select_platform``, ported from Julia's own tests.

Each test names the testset of ``test/binaryplatforms.jl`` in JuliaLang/julia (read at
commit 0653037bc31d2f393c4035b6ba415d2f7f1abf15) it ports. Julia's strict validation
(``validate_strict``), triplet parsing and the ``cxxlib`` tags of its development branch
have no counterpart here and are left out; ``libstdcxx_version`` stands where that branch
writes ``cxxlib_version``, as released Julias do.
"""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchspaces.artifacts import Platform, platforms_match, select_platform
from scratchspaces.artifacts._platform_tags import compare_version_cap

if TYPE_CHECKING:
    from scratchspaces.artifacts._platform_tags import Comparator


def host_platform(platform: Platform) -> Platform:
    """Julia's ``HostPlatform(p)``: ``os_version`` and ``libstdcxx_version`` become caps."""
    caps = {t: compare_version_cap for t in ("os_version", "libstdcxx_version") if platform.get(t)}
    extra = {k: v for k, v in platform.tags.items() if k not in {"os", "arch"}}
    return Platform(platform.os, platform.arch, tags=extra, compare_strategies=caps)


def test_platform_validation_normalises_names() -> None:
    """Port of "Platform validation" (the part without ``validate_strict``)."""
    for os_name in ("Linux", "linux", "FREEBSD", "wiNDows", "MacOS"):
        assert Platform(os_name, "x86_64").os == os_name.lower()
    for arch in ("x86_64", "ARMv7l", "armv6l", "I686", "pOWerpc64le"):
        assert Platform("linux", arch).arch == arch.lower()
    assert Platform("freebsd", "amd64").arch == "x86_64"
    assert Platform("linux", "ARM").arch == "armv7l"
    assert Platform("linux", "ppc64le").arch == "powerpc64le"
    for tag in ("arch", "ARCH", "os"):
        with pytest.raises(ValueError, match="not one of its tags"):
            Platform("linux", "x86_64", tags={tag: "i686"})


def test_platform_properties() -> None:
    """Port of "Platform properties": defaults, triplets, tags."""
    for os_name in ("linux", "macos", "windows", "freebsd"):
        assert Platform(os_name, "x86_64").get("call_abi") is None
    assert Platform("linux", "armv7l").get("call_abi") == "eabihf"
    assert Platform("linux", "armv7l", tags={"call_abi": "eabi"}).get("call_abi") == "eabi"
    assert Platform("linux", "armv6l").get("call_abi") == "eabihf"

    triplets = {
        Platform("Windows", "i686"): "i686-w64-mingw32",
        Platform("linux", "x86_64", "musl"): "x86_64-linux-musl",
        Platform("linux", "armv7l", "musl"): "armv7l-linux-musleabihf",
        Platform("linux", "armv6l", "musl", tags={"call_abi": "eabihf"}): (
            "armv6l-linux-musleabihf"
        ),
        Platform("linux", "armv6l", tags={"call_abi": "eabi"}): "armv6l-linux-gnueabi",
        Platform("linux", "x86_64"): "x86_64-linux-gnu",
        Platform("linux", "armv6l"): "armv6l-linux-gnueabihf",
        Platform("macos", "x86_64"): "x86_64-apple-darwin",
        Platform("macos", "x86_64", tags={"os_version": "16"}): "x86_64-apple-darwin16",
        Platform("freebsd", "x86_64"): "x86_64-unknown-freebsd",
        Platform("freebsd", "i686"): "i686-unknown-freebsd",
        Platform("linux", "x86_64", tags={"libgfortran_version": "3", "cxxstring_abi": "cxx11"}): (
            "x86_64-linux-gnu-libgfortran3-cxx11"
        ),
        Platform("linux", "armv7l", "musl", tags={"cxxstring_abi": "cxx03"}): (
            "armv7l-linux-musleabihf-cxx03"
        ),
        Platform("linux", "x86_64", tags={"libstdcxx_version": "3.4.26"}): (
            "x86_64-linux-gnu-libstdcxx26"
        ),
    }
    for platform, triplet in triplets.items():
        assert platform.triplet() == triplet
        assert str(platform) == triplet

    tags = Platform("linux", "x86_64").tags
    assert {"arch", "os", "libc"} <= tags.keys()
    assert "customtag" in Platform("linux", "x86_64", tags={"customtag": "foo"}).tags
    assert Platform("linux", "x86_64").with_tags(foo="bar").get("foo") == "bar"
    with pytest.raises(ValueError, match="holds"):
        Platform("linux", "x86_64").with_tags(os_flavour="a+b")
    assert hash(Platform.host()) == hash(Platform.host())


def test_deterministic_serialization() -> None:
    """Port of "Deterministic serialization": tag order does not change a platform."""
    base = [("libgfortran_version", "5.0.0"), ("cxxstring_abi", "cxx11"), ("os_version", "20")]
    extra = [("tag1", "a"), ("tag2", "b"), ("tag8", "c"), ("tag9", "d"), ("cuda", "10.1")]
    reference = Platform("macos", "aarch64", tags=dict(base + extra))
    assert reference.triplet() == (
        "aarch64-apple-darwin20-libgfortran5-cxx11-cuda+10.1-tag1+a-tag2+b-tag8+c-tag9+d"
    )
    for order in itertools.permutations(extra):
        platform = Platform("macos", "aarch64", tags=dict(base + list(order)))
        assert platform == reference
        assert hash(platform) == hash(reference)
        assert platform.triplet() == reference.triplet()
        assert repr(platform) == repr(reference)


def test_platforms_match() -> None:
    """Port of "platforms_match()"."""
    linux = Platform("linux", "x86_64")
    for gfortran, stdcxx, abi in itertools.product(
        (None, "3", "5"), (None, "3.4.18", "3.4.26"), (None, "cxx03", "cxx11")
    ):
        tags = {"libgfortran_version": gfortran, "libstdcxx_version": stdcxx, "cxxstring_abi": abi}
        p = Platform("linux", "x86_64", tags=tags)
        assert platforms_match(linux, p)
        assert platforms_match(p, linux)

    # julia_version matches on major and minor only.
    assert platforms_match(
        Platform("linux", "x86_64", tags={"julia_version": "1.5.0"}),
        Platform("linux", "x86_64", tags={"julia_version": "1.5.1"}),
    )
    assert not platforms_match(
        Platform("linux", "x86_64", tags={"julia_version": "1.5.0"}),
        Platform("linux", "x86_64", tags={"julia_version": "1.6.0"}),
    )

    assert not platforms_match(linux, Platform("linux", "i686"))
    assert not platforms_match(linux, Platform("windows", "x86_64"))
    assert not platforms_match(linux, Platform("macos", "x86_64"))

    for arch in ("x86_64", "i686", "aarch64", "armv6l", "armv7l", "powerpc64le"):
        a = Platform("linux", arch, tags={"libgfortran_version": "5", "cxxstring_abi": "cxx11"})
        for other in (
            {"libgfortran_version": "3"},
            {"cxxstring_abi": "cxx03"},
            {"libgfortran_version": "4", "cxxstring_abi": "cxx11"},
            {"libgfortran_version": "3", "cxxstring_abi": "cxx03"},
        ):
            assert not platforms_match(a, Platform("linux", arch, tags=other))

    # A host's os_version and libstdcxx_version are caps.
    host = host_platform(
        Platform("macos", "x86_64", tags={"os_version": "14", "libstdcxx_version": "3.4.26"})
    )

    def mac(**tags: str) -> Platform:
        return Platform("macos", "x86_64", tags=tags)

    assert platforms_match(host, mac())
    assert platforms_match(host, mac(os_version="14"))
    assert platforms_match(host, mac(os_version="13"))
    assert not platforms_match(host, mac(os_version="15"))
    assert platforms_match(host, mac(libstdcxx_version="3.4.18"))
    assert platforms_match(host, mac(os_version="10", libstdcxx_version="3.4.18"))
    assert not platforms_match(host, mac(os_version="10", libstdcxx_version="3.4.27"))
    assert not platforms_match(host, mac(os_version="14", libstdcxx_version="4"))


def test_select_platform() -> None:
    """Port of "select_platform"."""

    def p(os_name: str, arch: str, **tags: str) -> Platform:
        return Platform(os_name, arch, tags=tags)

    platforms = {
        # Typical binning test
        p("linux", "x86_64", libgfortran_version="3"): "linux4",
        p("linux", "x86_64", libgfortran_version="4"): "linux7",
        p("linux", "x86_64", libgfortran_version="5"): "linux8",
        # Ambiguity test
        p("linux", "aarch64", libgfortran_version="3"): "linux3",
        p("linux", "aarch64", libgfortran_version="3", libstdcxx_version="3.4.18"): "linux5",
        p("linux", "aarch64", libgfortran_version="3", libstdcxx_version="3.4.18", foo="bar"): (
            "linux9"
        ),
        # OS test
        p("macos", "x86_64", libgfortran_version="3"): "mac4",
        p("windows", "x86_64", cxxstring_abi="cxx11"): "win",
    }
    assert select_platform(platforms, p("linux", "x86_64")) == "linux8"
    assert select_platform(platforms, p("linux", "x86_64", libgfortran_version="4")) == "linux7"

    assert select_platform(platforms, p("linux", "aarch64")) == "linux3"
    assert select_platform(platforms, p("linux", "aarch64", libgfortran_version="3")) == "linux3"
    wanted = p("linux", "aarch64", libgfortran_version="3", libstdcxx_version="3.4.18")
    assert select_platform(platforms, wanted) == "linux5"
    assert select_platform(platforms, p("linux", "aarch64", libgfortran_version="4")) is None

    assert select_platform(platforms, p("macos", "x86_64")) == "mac4"
    assert select_platform(platforms, p("macos", "x86_64", libgfortran_version="4")) is None

    assert select_platform(platforms, p("windows", "x86_64", cxxstring_abi="cxx11")) == "win"
    assert select_platform(platforms, p("windows", "x86_64", cxxstring_abi="cxx03")) is None

    assert select_platform(platforms, p("freebsd", "x86_64")) is None

    # The most complete match wins.
    sanitized = {p("linux", "x86_64"): "normal", p("linux", "x86_64", sanitize="memory"): "san"}
    assert select_platform(sanitized, p("linux", "x86_64")) == "normal"
    assert select_platform(sanitized, p("linux", "x86_64", sanitize="memory")) == "san"

    # Ties are broken by reverse-sorting by triplet.
    gfortran = {
        p("linux", "x86_64", libgfortran_version="3"): "libgfortran3",
        p("linux", "x86_64", libgfortran_version="4"): "libgfortran4",
    }
    assert select_platform(gfortran, p("linux", "x86_64")) == "libgfortran4"
    assert select_platform(gfortran, p("linux", "x86_64", libgfortran_version="3")) == (
        "libgfortran3"
    )


def test_custom_comparators() -> None:
    """Port of "Custom comparators": symmetric and one-sided strategies."""

    def matches_oddness(a: str, b: str, a_requested: bool, b_requested: bool) -> bool:
        del a_requested, b_requested
        return int(a) % 2 == int(b) % 2

    def vally(value: str, strategy: Comparator | None = None) -> Platform:
        strategies = {"vally": strategy} if strategy is not None else None
        return Platform("linux", "x86_64", tags={"vally": value}, compare_strategies=strategies)

    a, b = vally("2"), vally("4")
    assert not platforms_match(a, b)
    ac, bc = vally("2", matches_oddness), vally("4", matches_oddness)
    assert platforms_match(ac, b)
    assert platforms_match(a, bc)
    assert platforms_match(ac, bc)
    assert not platforms_match(ac, vally("3", matches_oddness))

    def less_than(a: str, b: str, a_requested: bool, b_requested: bool) -> bool:
        if a_requested and not b_requested:
            return int(b) < int(a)
        if b_requested and not a_requested:
            return int(a) < int(b)
        return a == b

    ac, bc = vally("2", less_than), vally("4", less_than)
    assert not platforms_match(a, b)
    assert platforms_match(a, bc)
    assert platforms_match(bc, a)
    assert not platforms_match(ac, b)
    assert not platforms_match(b, ac)
    assert not platforms_match(ac, bc)
    assert platforms_match(ac, ac)
    assert platforms_match(bc, bc)
    with pytest.raises(ValueError, match="different strategies"):
        platforms_match(vally("2", less_than), vally("2", matches_oddness))


def test_versions_are_normalised_and_linux_means_glibc() -> None:
    """Julia's ``Platform`` constructor: version tags spelt out, libc implied on Linux."""
    p = Platform("linux", "x86_64", tags={"libgfortran_version": "5", "os_version": "v1.2"})
    assert p.get("libgfortran_version") == "5.0.0"
    assert p.get("os_version") == "1.2.0"
    assert p == Platform(
        "linux", "x86_64", "glibc", tags={"libgfortran_version": "5.0.0"}
    ).with_tags(os_version="1.2.0")
    assert Platform("linux", "i686").libc == "glibc"
    assert Platform("macos", "aarch64").libc is None
    assert Platform("linux", "x86_64", tags={"julia_version": None}) == Platform("linux", "x86_64")
    with pytest.raises(ValueError, match="libc given twice"):
        Platform("linux", "x86_64", "musl", tags={"libc": "glibc"})


_GFORTRAN = st.sampled_from(["3", "4", "5"])


@given(st.lists(_GFORTRAN, min_size=1, unique=True), st.randoms())
def test_selection_does_not_depend_on_the_order_of_the_choices(
    versions: list[str], rng: random.Random
) -> None:
    """Distinct triplets leave no tie: any order of the entries gives the same choice."""
    choices = [Platform("linux", "x86_64", tags={"libgfortran_version": v}) for v in versions]
    shuffled = list(choices)
    rng.shuffle(shuffled)
    first = select_platform({p: p for p in choices}, Platform("linux", "x86_64"))
    again = select_platform({p: p for p in shuffled}, Platform("linux", "x86_64"))
    assert first == again
    assert first is not None
    assert first.get("libgfortran_version") == f"{max(versions)}.0.0"
