"""Reading and writing a depot's files the way tests need: its logs and its orphanage."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from scratchspaces import _accesslog, _collect, _depot, _records

if TYPE_CHECKING:
    from datetime import datetime

    from scratchspaces._records import Record


def access_log(depot: str | os.PathLike[str]) -> list[Record]:
    """Every readable record of the depot's access log (none if it is missing)."""
    return _records.read_records(_accesslog.log_path(os.fspath(depot)))


def read_orphanage(depot: str | os.PathLike[str]) -> dict[str, datetime]:
    """The depot's orphanage: path -> when gc first saw it orphaned."""
    return _collect.read_orphanage(_depot.orphanage_path(os.fspath(depot)))


def write_orphanage(depot: str | os.PathLike[str], entries: dict[str, datetime]) -> None:
    """Replace the depot's orphanage."""
    _collect.write_orphanage(_depot.orphanage_path(os.fspath(depot)), entries)
