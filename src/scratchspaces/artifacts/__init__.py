"""Artifacts: immutable directories named by their git tree hash (SPEC 5)."""

from __future__ import annotations

from ._treehash import tree_hash

__all__ = ["tree_hash"]
