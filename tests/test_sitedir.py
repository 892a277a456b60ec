"""The distributions of each ``sys.path`` entry (``scratchspaces._sitedir``): RECORD files.

RECORD lines are read as CSV, each RECORD at most once per process and only when
needed (the names the path suggests first, then the distributions installed nearest to
it), and threads resolving at once agree. Resolution at import time lists nothing the
import system has listed already, opens one RECORD for a package named like its
distribution, and reads no ``direct_url.json`` outside every project.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
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
    assert len(entry._records_read) == 1  # installed next to bs4: read first


@pytest.mark.parametrize(
    ("entry", "name", "found"),
    [
        ("PyYAML-6.0.dist-info", "pyyaml", True),
        ("zope.interface-5.4.0.dist-info", "zope-interface", True),
        ("python-dateutil-2.8.2.dist-info", "python-dateutil", True),
        ("python-dateutil-2.8.2.dist-info", "python", False),
        ("Tiny_Pkg-1.0.0.dist-info", "tiny-pkg", True),
        ("tiny_pkg-1.0.0.dist-info", "tiny", False),
        ("tiny_pkg-1.0.0.data", "tiny-pkg", False),
        ("a1-2.0.dist-info", "a", False),
    ],
)
def test_distributions_are_found_by_name_in_every_spelling(
    tmp_path: Path, entry: str, name: str, *, found: bool
) -> None:
    (tmp_path / entry).mkdir()
    (tmp_path / "zz-1.0.dist-info").mkdir()
    listed = _sitedir.site(str(tmp_path))
    assert listed is not None
    assert listed.dist_infos(name) == ([entry] if found else [])


def test_a_listing_the_import_system_made_is_used_while_the_directory_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finder's listing saves a listing; once stale it is not trusted."""
    site = _fake_site(tmp_path / "site", {"first": ["first/__init__.py"]}, {})
    monkeypatch.syspath_prepend(str(site))
    __import__("first")  # the import system lists the entry
    _identity.invalidate_caches()
    assert _identity.owner_of_file(str(site / "first" / "__init__.py")).namespace == "first"
    # Installed after that listing: the directory changed, so it is listed again.
    _fake_site(site, {"second": ["second/__init__.py"]}, {})
    _identity.invalidate_caches()
    assert _sitedir.installed_dist_info("second") == str(site / "second-1.0.dist-info")


# Runs with a fake site on sys.path; prints the events of interest as JSON.
_TRACE = """
import json, os, sys
events = []
def hook(event, args):
    if event == "open" and isinstance(args[0], str):
        events.append(["open", os.path.basename(args[0])])
    elif event in ("os.listdir", "os.scandir"):
        events.append([event, os.fspath(args[0]) if args[0] is not None else "."])
sys.addaudithook(hook)
{code}
sys.stdout.write(json.dumps(events))
"""


def _trace(code: str, site: Path, cwd: Path, depot: Path) -> list[list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    # The scratchspaces under test, wherever it is imported from here.
    code_under_test = os.path.dirname(os.path.dirname(_sitedir.__file__))
    env.update(
        PYTHONPATH=os.pathsep.join([str(site), code_under_test]),
        SCRATCHSPACES_DEPOT_PATH=str(depot),
    )
    result = subprocess.run(
        [sys.executable, "-c", _TRACE.format(code=textwrap.dedent(code))],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    events: list[list[str]] = json.loads(result.stdout)
    return events


@pytest.fixture
def crowded(tmp_path: Path) -> Path:
    """A site of 300 distributions, among them ``a`` and ``zz-unrelated`` holding ``c``."""
    dists = {f"filler_{i}": [f"filler_{i}/__init__.py"] for i in range(150)}
    dists["a"] = ["a/__init__.py"]
    dists["zz_unrelated"] = ["c/__init__.py"]
    dists.update({f"more_{i}": [f"more_{i}/__init__.py"] for i in range(150)})
    site = _fake_site(tmp_path / "site", dists, {})
    code = "import scratchspaces\nSPACE = scratchspaces.get_scratch('k')\n"
    (site / "a" / "__init__.py").write_text(code)
    (site / "c" / "__init__.py").write_text(code)
    return site


@pytest.mark.parametrize(("module", "namespace"), [("a", "a"), ("c", "zz-unrelated")])
def test_resolving_at_import_reads_few_records_and_lists_nothing_again(
    crowded: Path, tmp_path: Path, depot: Path, module: str, namespace: str
) -> None:
    code = f"import {module}; assert {module}.SPACE.parent.name == {namespace!r}"
    events = _trace(code, crowded, tmp_path, depot)
    records = [e for e in events if e == ["open", "RECORD"]]
    listings = [e for e in events if e[0] in {"os.listdir", "os.scandir"} and e[1] == str(crowded)]
    if module == "a":
        # Named like its distribution: one RECORD, and the import system's listing.
        assert len(records) == 1
        assert listings == []
    else:
        # No name to go by: the distributions installed nearest to c/ first.
        assert 1 <= len(records) <= 3
        assert len(listings) == 1
    assert ["open", "top_level.txt"] not in events


def test_code_outside_every_project_reads_no_direct_url(
    crowded: Path, tmp_path: Path, depot: Path
) -> None:
    info = crowded / "a-1.0.dist-info"
    (info / "direct_url.json").write_text(
        json.dumps({"url": (tmp_path / "elsewhere").as_uri(), "dir_info": {"editable": True}})
    )
    outside = tmp_path / "outside"
    outside.mkdir()
    events = _trace(
        "import scratchspaces; assert scratchspaces.get_scratch('k').parent.name == '_global'",
        crowded,
        outside,
        depot,
    )
    assert ["open", "direct_url.json"] not in events


def test_a_setup_py_project_installed_editable_is_its_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No pyproject.toml: the setup.py above the file sends resolution to the editables."""
    project = tmp_path / "legacy"
    (project / "pkg").mkdir(parents=True)
    (project / "setup.py").write_text("from setuptools import setup\nsetup(name='legacy')\n")
    (project / "pkg" / "mod.py").write_text("")
    site = _fake_site(tmp_path / "site", {"legacy": []}, {})
    (site / "legacy-1.0.dist-info" / "direct_url.json").write_text(
        json.dumps({"url": project.as_uri(), "dir_info": {"editable": True}})
    )
    monkeypatch.syspath_prepend(str(site))
    _identity.invalidate_caches()
    owner = _identity.owner_of_file(str(project / "pkg" / "mod.py"))
    assert (owner.namespace, owner.parent) == ("legacy", str(site / "legacy-1.0.dist-info"))
    (project / "setup.py").unlink()  # no build file above: no editable install holds it
    _identity.invalidate_caches()
    assert _identity.owner_of_file(str(project / "pkg" / "mod.py")).namespace == "_global"
