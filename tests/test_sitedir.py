"""The distributions of each ``sys.path`` entry (``scratchspaces._sitedir``): RECORD files.

RECORD lines are read as CSV, each RECORD at most once per process and only when
needed (``top_level.txt`` points at the right one first), and threads resolving at
once agree.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from scratchspaces import _identity, _sitedir

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("pkg/mod.py,sha256=abc,12", "pkg/mod.py"),
        ("pkg/odd,name.py,sha256=abc,12", "pkg/odd,name.py"),
        ('"pkg/quoted,""x"".py",sha256=abc,12', 'pkg/quoted,"x".py'),
        ("pkg-1.0.dist-info/RECORD,,", "pkg-1.0.dist-info/RECORD"),
        ("", ""),
    ],
)
def test_record_lines(line: str, path: str) -> None:
    assert _sitedir.record_path(line) == path


def _fake_site(root: Path, dists: dict[str, list[str]], top_level: dict[str, str]) -> Path:
    """A sys.path entry with installed-looking distributions (dist-info and files)."""
    for name, files in dists.items():
        info = root / f"{name}-1.0.dist-info"
        info.mkdir(parents=True)
        for file in files:
            (root / file).parent.mkdir(parents=True, exist_ok=True)
            (root / file).write_text("")
        (info / "RECORD").write_text("".join(f"{f},sha256=x,0\n" for f in files))
        if name in top_level:
            (info / "top_level.txt").write_text(top_level[name] + "\n")
    return root


def test_concurrent_first_resolutions_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A RECORD is marked read only once indexed: no thread sees it half read."""
    files = [f"bigmod/m{i}.py" for i in range(20000)]
    site = _fake_site(tmp_path / "site", {"big_dist": files}, {})
    monkeypatch.syspath_prepend(str(site))
    _identity.invalidate_caches()
    barrier = threading.Barrier(8)
    results: list[str] = []

    def resolve(i: int) -> None:
        barrier.wait(10)
        results.append(_identity.owner_of_file(str(site / files[i * 997])).namespace)

    threads = [threading.Thread(target=resolve, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == ["big-dist"] * 8


def test_a_mismatched_import_name_reads_few_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dists = {f"filler_{i}": [f"filler_{i}/__init__.py"] for i in range(60)}
    dists["beautifulsoup4"] = ["bs4/__init__.py"]
    site = _fake_site(tmp_path / "site", dists, {"beautifulsoup4": "bs4"})
    monkeypatch.syspath_prepend(str(site))
    _identity.invalidate_caches()
    owner = _identity.owner_of_file(str(site / "bs4" / "__init__.py"))
    assert owner.namespace == "beautifulsoup4"
    entry = _sitedir.site(str(site))
    assert entry is not None
    assert len(entry._records_read) == 1  # top_level.txt pointed straight at it
