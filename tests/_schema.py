"""The JSON every ``--json`` prints: the rules of docs/json.md, checked on any document.

snake_case keys; sizes are integer ``bytes`` or ``<what>_bytes``, never ``size``; paths
absolute; times ISO 8601 with an offset; a binding is ``{"file", "name"}`` in
``bound_by``; a report of deletions has ``deleted`` (``path``, ``bytes``) and ``failed``
(``path``, ``error``).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any

SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
TIMES = {"last_access", "orphaned_since", "deleted_at", "started", "next_due"}


def check_schema(value: Any, where: str = "$") -> None:  # noqa: PLR0912 - one rule per branch
    """Hold ``value`` and everything in it to the rules of docs/json.md."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_schema(item, f"{where}[{i}]")
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        at = f"{where}.{key}"
        assert SNAKE.fullmatch(key), f"{at}: not a snake_case key"
        assert key != "size", f"{at}: sizes are bytes"
        assert not key.startswith("bound") or key == "bound_by", f"{at}: bindings are bound_by"
        if key == "bytes":
            assert type(item) is int, f"{at}: {item!r}"
            assert item >= 0, at
        elif key.endswith("_bytes"):
            assert item is None or type(item) is int, f"{at}: {item!r}"
        elif key == "path" or key.endswith("_path"):
            assert isinstance(item, str), at
            assert os.path.isabs(item), f"{at}: {item!r}"
        elif key == "bound_by":
            assert isinstance(item, list), at
            for binding in item:
                assert {"file", "name"} <= set(binding) <= {"file", "name", "through"}, at
                assert os.path.isabs(binding["file"]), at
        elif key == "dry_run":
            assert type(item) is bool, at
        elif key == "deleted":
            assert isinstance(item, list), f"{at}: what was deleted, not a count"
            assert all({"path", "bytes"} <= set(d) for d in item), at
        elif key == "failed":
            assert all(set(f) == {"path", "error"} for f in item), at
        elif key in TIMES and item is not None:
            assert isinstance(item, str), at
            assert datetime.fromisoformat(item).utcoffset() is not None, f"{at}: {item!r}"
        elif key == "status":
            assert isinstance(item, str), at
            assert item == item.lower(), at
        check_schema(item, at)
