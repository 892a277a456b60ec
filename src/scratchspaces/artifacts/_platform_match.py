"""Which platform serves which: Julia's ``platforms_match`` and ``select_platform``.

A platform-specific name in ``Artifacts.toml`` often has several entries that serve one
machine: OpenBLAS has one per ``libgfortran_version`` and one built with
``sanitize = "memory"``; libjulia one per ``julia_version``. Julia picks among them in two
steps, and so does this module:

1. the most complete match: fewest tags carried by only one of the entry and the
   platform asked for;
2. among those, the greatest triplet as a string (``...-libgfortran5`` over
   ``...-libgfortran3``, ``julia_version+1.11.1`` over ``julia_version+1.10.0``).

Candidates still tied (equal tags but for values the triplet does not spell) keep the
order they are given in; Julia leaves them in its ``Dict``'s hash order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from ._platform import host
from ._platform_tags import compare_default

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._platform import Platform
    from ._platform_tags import Comparator

T = TypeVar("T")


def _strategy(platform: Platform, tag: str) -> Comparator:
    for name, comparator in platform.strategy_items:
        if name == tag:
            return comparator
    return compare_default


def platforms_match(a: Platform, b: Platform) -> bool:
    """Return whether ``a`` and ``b`` can stand for each other, as Julia decides it.

    Every tag both carry must compare true; a tag only one carries is no obstacle (an
    entry without ``libgfortran_version`` serves any libgfortran). A tag compares with the
    strategy ``a`` or ``b`` set for it (``b``'s if both set one), else by equality; the
    comparator is told which side asked for it, which makes a version cap one-sided.

    Raises:
        ValueError: ``a`` and ``b`` set different strategies for one tag.
    """
    tags_a, tags_b = a.tags, b.tags
    for tag in tags_a.keys() & tags_b.keys():
        comp_a, comp_b = _strategy(a, tag), _strategy(b, tag)
        if compare_default not in (comp_a, comp_b) and comp_a != comp_b:
            raise ValueError(
                f"cannot compare {a} and {b}: they set different strategies for {tag!r}"
            )
        comparator = comp_b if comp_b != compare_default else comp_a
        if not comparator(tags_a[tag], tags_b[tag], comp_a == comparator, comp_b == comparator):
            return False
    return True


def match_loss(a: Platform, b: Platform) -> int:
    """Return how many tag names only one of ``a`` and ``b`` carries (0: the same names)."""
    return len(a.tags.keys() ^ b.tags.keys())


def rank(candidates: list[Platform], platform: Platform) -> list[Platform]:
    """Return the ``candidates`` that match ``platform``, best first, as Julia orders them.

    One rule more when no platform was asked for (``platform`` is :func:`host`'s): a
    build made with a sanitizer (``sanitize = "memory"``) comes after every other. Julia's own host
    carries tags Python cannot know (``libgfortran_version``, ``julia_version``...),
    which make it lose to the plain builds; without them it would win on its triplet.
    """
    found = [p for p in candidates if platforms_match(p, platform)]
    # Stable sorts: by triplet, greatest first, then by loss; ties keep given order.
    found.sort(key=lambda p: p.triplet(), reverse=True)
    found.sort(key=lambda p: match_loss(p, platform))
    if platform is host() and "sanitize" not in platform.tags:
        found.sort(key=lambda p: "sanitize" in p.tags)
    return found


def select_platform(choices: Mapping[Platform, T], platform: Platform | None = None) -> T | None:
    """Return the value whose platform best serves ``platform`` (default: this machine).

    As Julia's ``select_platform``: among the platforms that match, the one sharing the
    most tag names with ``platform``, then the greatest triplet. None if none matches.

    >>> from scratchspaces.artifacts import Platform
    >>> builds = {
    ...     Platform("linux", "x86_64", tags={"libgfortran_version": "3"}): "gfortran3",
    ...     Platform("linux", "x86_64", tags={"libgfortran_version": "5"}): "gfortran5",
    ... }
    >>> select_platform(builds, Platform("linux", "x86_64"))
    'gfortran5'
    """
    wanted = platform if platform is not None else host()
    ranked = rank(list(choices), wanted)
    return choices[ranked[0]] if ranked else None
