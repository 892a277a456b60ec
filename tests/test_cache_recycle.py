"""Recycling the content cache (``scratchspaces.cache._recycle``): the binding files decide.

Usage records only say where to look: lost ones are rebuilt from the binding files.
An entry a binding holds, or a bound directory links to, stays; the rest goes once past
its grace period, read-only folders and all, by ``find_orphanages``, by gc (after a
package's spaces, in the same call), and once a week by itself on first use.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchspaces
from _depots import (
    cache_entries,
    cache_store,
    check_cache_entry,
    parents_of,
    read_orphanage,
    snapshot,
    write_orphanage,
)
from _fills import dataset, file_writer, writer
from _git import blob_sha256
from _venvs import DROP_OVERRIDE, Venv, run_bound_by_permissions, write_wheel
from scratchspaces import _toml, cache
from scratchspaces.cache import _bindings, _recycle, _store
from scratchspaces.errors import InvalidArtifactsToml

ZERO = timedelta(0)
DAYS_2 = timedelta(days=2)


# --- the binding files decide ------------------------------------------------------------


def test_lost_usage_records_cost_no_bound_entry() -> None:
    """With usage.toml gone, recycling reads the packages' binding files and heals it."""
    toml = cache.my_artifacts_toml("some-package")
    kept = cache.create_my_artifact(dataset)
    cache.bind_my_artifact(toml, "dataset", kept)
    unbound = cache.create_my_artifact(file_writer(b"x", "x"))
    store = _store.current_store()
    os.unlink(_bindings.usage_path(store))

    report = cache.find_orphanages(collect_delay=ZERO)

    assert cache.my_artifact_exists(kept)
    assert len(list(cache.my_artifact_path(kept).iterdir())) == 2
    assert not cache.my_artifact_exists(unbound)
    assert cache.my_artifact_path(unbound) in report.deleted
    records = _bindings.read_usage(store).records
    assert _bindings.Use(str(toml), "dataset") in records[kept]  # healed
    [(_when, files)] = records[kept].values()
    assert len(files) == 2  # with the file entries the directory reaches


def test_a_file_reached_from_a_directory_is_never_deleted_before_it(
    tmp_path: Path, depot: Path
) -> None:
    """A file entry a bound directory links to survives losing its own binding; one an
    unbound directory links to waits for that directory's grace period too."""
    data = b"kept through the directory\n"
    d = cache.create_my_artifact(writer({"f.txt": data, "g.txt": b"g\n"}))
    f = cache.create_my_artifact(file_writer(data))
    assert f == blob_sha256(data)
    toml = tmp_path / "Artifacts.toml"
    cache.bind_my_artifact(toml, "file", f)
    cache.bind_my_artifact(toml, "dir", d)
    cache.unbind_my_artifact(toml, "file")
    report = cache.find_orphanages(collect_delay=timedelta(0))
    assert report.deleted == {}
    assert cache.my_artifact_path(f) in report.kept
    assert cache.my_artifact_exists(f)

    # an unbound directory still in its grace period keeps its files past theirs
    loose = cache.create_my_artifact(writer({"h.txt": b"h\n"}))
    h = blob_sha256(b"h\n")
    write_orphanage(depot, {loose: _days_ago(1), h: _days_ago(30)}, cache=True)
    report = cache.find_orphanages()
    assert report.deleted == {}
    assert {cache.my_artifact_path(loose), cache.my_artifact_path(h)} <= set(report.orphaned)
    write_orphanage(depot, {loose: _days_ago(30), h: _days_ago(30)}, cache=True)
    report = cache.find_orphanages()
    assert set(report.deleted) == {cache.my_artifact_path(loose), cache.my_artifact_path(h)}
    assert cache.my_artifact_exists(f)
    assert cache.my_artifact_exists(d)


def _days_ago(days: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)


CODE = """
import datetime, os, stat
from pathlib import Path
from scratchspaces import cache

def fill(d: Path) -> None:
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "sub" / "deeper" / "a.txt").write_text("a")
    (d / "top.txt").write_text("top")

toml = Path("Artifacts.toml").resolve()
h = cache.create_my_artifact(fill)
cache.bind_my_artifact(toml, "d", h)
entry = cache.my_artifact_path(h)
for folder in (entry, entry / "sub", entry / "sub" / "deeper"):
    assert stat.S_IMODE(os.lstat(folder).st_mode) & 0o222 == 0, folder
try:
    (entry / "sub" / "new.txt").write_text("x")
except PermissionError:
    pass
else:
    raise AssertionError("a directory entry took a new file")
assert (entry / "sub" / "deeper" / "a.txt").read_text() == "a"
cache.unbind_my_artifact(toml, "d")
report = cache.find_orphanages(collect_delay=datetime.timedelta(0))
assert not os.path.lexists(entry), entry
print(len(report.deleted))
"""


@pytest.mark.skipif(DROP_OVERRIDE is None, reason="root without setpriv: permissions never bind")
def test_read_only_directory_entries_are_recycled_whole(tmp_path: Path, depot: Path) -> None:
    """No folder of a directory entry is writable, yet recycling removes it and its files."""
    result = run_bound_by_permissions(CODE, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"  # the directory and its two files
    store = cache_store(depot)
    assert not (store / ".trash").exists()
    prefixes = list((store / "artifacts").iterdir())  # the <ab> folders stay, for reuse
    assert all(os.listdir(p) == [] for p in prefixes)


# --- automatic recycling and gc ----------------------------------------------------------


def test_gc_recycles_the_cache_after_the_spaces(tmp_path: Path, depot: Path) -> None:
    """``gc`` frees unbound entries and reports them; when it deletes the space of a package
    that is gone, that package's bindings release their entries in the same call; a dry run
    reports the same and changes nothing."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "leaving-pkg"\n')
    (project / "use.py").write_text(
        "from scratchspaces import cache\n"
        "TOML = cache.my_artifacts_toml()\n"
        "ID = cache.create_my_artifact(lambda d: (d / 'x.txt').write_text('leaving') and None)\n"
        "cache.bind_my_artifact(TOML, 'x', ID)\n"
    )
    used = runpy.run_path(str(project / "use.py"))
    leaving, leaving_toml = used["ID"], Path(used["TOML"])
    assert leaving_toml.parent.name == "leaving-pkg"

    toml = tmp_path / "Artifacts.toml"
    bound = cache.create_my_artifact(file_writer(b"bound\n"))
    cache.bind_my_artifact(toml, "bound", bound)
    loose = cache.create_my_artifact(file_writer(b"loose\n"))
    path = cache.my_artifact_path

    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert set(report.deleted) == {path(loose)}
    assert report.deleted[path(loose)] == len(b"loose\n")
    assert {path(bound), path(leaving)} <= set(report.kept)

    (project / "pyproject.toml").unlink()  # the package is gone: its space goes
    before = snapshot(depot)
    report = scratchspaces.gc(collect_delay=timedelta(0), dry_run=True)
    assert {leaving_toml.parent, path(leaving)} <= set(report.deleted)
    assert snapshot(depot) == before
    assert cache.my_artifact_exists(leaving)

    report = scratchspaces.gc(collect_delay=timedelta(0))
    assert {leaving_toml.parent, path(leaving)} <= set(report.deleted)
    assert not leaving_toml.exists()
    assert not cache.my_artifact_exists(leaving)
    assert set(cache_entries(depot)) == {bound}


def test_gc_survives_a_blocked_store(depot: Path) -> None:
    """A file where the store should be costs gc a warning, not the spaces' report."""
    scratchspaces.get_scratch("k", "some-package")
    store = Path(_store.store_of_depot(str(depot)))
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("in the way")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = scratchspaces.gc(collect_delay=ZERO)
    assert any("content cache" in str(w.message) for w in caught)
    assert report.kept == [depot / "scratchspaces" / "some-package" / "k"]


# --- a real venv, a real uninstall -------------------------------------------------------

USER_MODULE = '''
"""Keeps a directory (and, if given, a download) in the content cache, bound by name."""
import shutil
from pathlib import Path

from scratchspaces import cache


def fetch(src_dir, raw_url=None):
    toml = cache.my_artifacts_toml()

    def fill(work):
        for path in sorted(Path(src_dir).iterdir()):
            shutil.copyfile(path, work / path.name)

    found = {"toml": str(toml), "data": cache.create_my_artifact(fill)}
    cache.bind_my_artifact(toml, "data", found["data"])
    if raw_url is not None:
        found["raw"] = cache.download_my_artifact(raw_url, "raw", toml)
    return found
'''

SHARED = b"both packages keep this file\n" * 40
MINE = b"only cache-user keeps this\n" * 30
THEIRS = b"only other-user keeps this\n" * 20
RAW = b"downloaded by cache-user\n" * 50


@pytest.mark.venv
def test_uninstalling_a_package_frees_only_what_its_bindings_held(
    venv: Venv, tmp_path: Path, depot: Path
) -> None:
    """pip uninstall, then gc(collect_delay=0), frees the package's bindings and entries.

    cache-user binds a directory (a file shared with other-user's directory, and one of
    its own) and a download; other-user binds a directory. Before the uninstall gc
    deletes nothing. After it, one gc deletes cache-user's binding space and the
    entries only it bound, and keeps other-user's entries, the shared file included.
    """
    wheels = tmp_path / "wheels"
    cache_user = write_wheel(
        wheels,
        "cache-user",
        "1.0",
        {"cacheuser/__init__.py": USER_MODULE},
        requires=("scratchspaces",),
    )
    other_user = write_wheel(
        wheels,
        "other-user",
        "1.0",
        {"otheruser/__init__.py": USER_MODULE},
        requires=("scratchspaces",),
    )
    venv.install(cache_user, other_user)
    mine, theirs = tmp_path / "src-mine", tmp_path / "src-theirs"
    for folder, own in ((mine, ("mine.txt", MINE)), (theirs, ("theirs.txt", THEIRS))):
        folder.mkdir()
        (folder / "shared.txt").write_bytes(SHARED)
        (folder / own[0]).write_bytes(own[1])
    raw = tmp_path / "raw.bin"
    raw.write_bytes(RAW)

    got_mine = json.loads(
        venv.run(
            "import json, cacheuser\n"
            f"print(json.dumps(cacheuser.fetch({str(mine)!r}, {raw.as_uri()!r})))"
        )
    )
    got_theirs = json.loads(
        venv.run(f"import json, otheruser\nprint(json.dumps(otheruser.fetch({str(theirs)!r})))")
    )

    spaces = depot / "scratchspaces" / "scratchspaces"
    mine_space, theirs_space = spaces / "cache-user", spaces / "other-user"
    assert got_mine["toml"] == str(mine_space / "Artifacts.toml")
    assert got_theirs["toml"] == str(theirs_space / "Artifacts.toml")
    assert parents_of(depot, mine_space) == {str(venv.site_packages / "cache_user-1.0.dist-info")}
    assert parents_of(depot, theirs_space) == {str(venv.site_packages / "other_user-1.0.dist-info")}

    store = cache_store(depot)
    ids = {
        "mine-dir": got_mine["data"],
        "theirs-dir": got_theirs["data"],
        "raw": got_mine["raw"],
        "shared": blob_sha256(SHARED),
        "mine": blob_sha256(MINE),
        "theirs": blob_sha256(THEIRS),
    }
    assert ids["raw"] == blob_sha256(RAW)
    entries = cache_entries(depot)
    assert set(entries) == set(ids.values())
    expected = {"shared.txt": SHARED, "mine.txt": MINE, "theirs.txt": THEIRS}
    assert check_cache_entry(store, entries[ids["mine-dir"]], expected.__getitem__) == {
        ids["shared"],
        ids["mine"],
    }
    assert check_cache_entry(store, entries[ids["theirs-dir"]], expected.__getitem__) == {
        ids["shared"],
        ids["theirs"],
    }

    # Both packages installed: nothing is an orphan, nothing goes.
    report = scratchspaces.gc(collect_delay=ZERO)
    assert report.deleted == {}
    assert {mine_space, theirs_space} <= set(report.kept)
    assert set(cache_entries(depot)) == set(entries)

    venv.uninstall("cache-user")
    report = scratchspaces.gc(collect_delay=ZERO)
    gone = {entries[ids[k]] for k in ("mine-dir", "mine", "raw")}
    assert set(report.deleted) == {mine_space} | gone
    assert report.deleted[entries[ids["mine"]]] == len(MINE)
    assert report.deleted[entries[ids["raw"]]] == len(RAW)
    assert not mine_space.exists()
    assert set(cache_entries(depot)) == {ids["theirs-dir"], ids["shared"], ids["theirs"]}
    assert check_cache_entry(store, entries[ids["theirs-dir"]], expected.__getitem__) == {
        ids["shared"],
        ids["theirs"],
    }
    usage = _bindings.read_usage(str(store))
    assert {use.toml for uses in usage.records.values() for use in uses} == {got_theirs["toml"]}

    # other-user still finds its entry where it left it.
    out = venv.run(
        "from scratchspaces import cache\n"
        "import otheruser\n"
        f"h = cache.my_artifact_hash('data', {got_theirs['toml']!r})\n"
        "print(h, cache.my_artifact_exists(h))"
    )
    assert out.split() == [ids["theirs-dir"], "True"]


# --- what writers killed mid-write leave -----------------------------------------------------

KILLED_WRITER = """
import os, signal, sys
from scratchspaces import _fs
with _fs.atomic_file(sys.argv[1]) as f:
    f.write(b"half a record")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_mid_write(path: Path) -> Path:
    """Run a real writer of ``path`` and SIGKILL it inside the write; return its temporary."""
    before = set(os.listdir(path.parent))
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(path)], capture_output=True, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    [left] = set(os.listdir(path.parent)) - before
    assert left.startswith(path.name + ".tmp-")
    return path.parent / left


def test_recycling_removes_what_killed_writers_left(depot: Path) -> None:
    """``usage.toml``, ``orphaned.toml`` and a binding file's temporaries, left by writers
    killed mid-write: removed by the first recycling, since their names say their writers
    are gone; one whose writer ran on another host is kept until it is a day old."""
    toml = cache.my_artifacts_toml("some-package")
    entry = cache.create_my_artifact(dataset)
    cache.bind_my_artifact(toml, "dataset", entry)
    store = cache_store(depot)
    cache.find_orphanages(collect_delay=ZERO)  # writes orphaned.toml
    left = [
        _killed_mid_write(store / "usage.toml"),
        _killed_mid_write(store / "orphaned.toml"),
        _killed_mid_write(toml),
    ]
    left.append(_killed_mid_write(cache.my_artifacts_toml("other-package")))  # no file yet
    elsewhere = store / "usage.toml.tmp-1-ab@another-host.4026531836"
    elsewhere.write_bytes(b"a writer on another machine")
    kept_dir = store / "usage.toml.tmp-1-ab@dir"  # not a file: not a write's temporary
    kept_dir.mkdir()
    before = snapshot(store)

    _recycle.recycle(str(store), collect_delay=ZERO)
    assert not any(p.exists() for p in left)
    assert elsewhere.exists()  # its writer may be at work: nothing here can tell
    _recycle.recycle(str(store), collect_delay=ZERO, now=datetime.now(timezone.utc) + DAYS_2)
    assert not elsewhere.exists()
    assert kept_dir.is_dir()
    assert cache.my_artifact_exists(entry)
    assert cache.my_artifact_hash("dataset", toml) == entry
    after = snapshot(store)
    assert {k for k in before if ".tmp-" not in k and not k.startswith("locks/")} <= set(after)


def test_a_temporary_of_a_writer_at_work_is_kept(depot: Path, tmp_path: Path) -> None:
    """A writer still inside its write (a live process) keeps its temporary until it is a
    day old, whatever the lock says: recycling a minute later leaves it."""
    toml = cache.my_artifacts_toml("some-package")
    cache.bind_my_artifact(toml, "f", cache.create_my_artifact(file_writer(b"f")))
    store = cache_store(depot)
    ready = tmp_path / "ready"
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom scratchspaces import _fs\n"
        "with _fs.atomic_file(sys.argv[1]) as f:\n"
        "    f.write(b'x'); f.flush(); Path(sys.argv[2]).touch(); time.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, "-c", code, str(store / "usage.toml"), str(ready)]) as p:
        try:
            while not ready.exists():
                assert p.poll() is None
                time.sleep(0.01)
            [tmp] = [n for n in os.listdir(store) if n.startswith("usage.toml.tmp-")]
            later = datetime.now(timezone.utc) + timedelta(minutes=1)
            _recycle.recycle(str(store), collect_delay=ZERO, now=later)
            assert (store / tmp).exists()
        finally:
            p.kill()


# --- reading fast what is written here, and writing only what changed ---------------------


def test_a_new_orphan_is_entered_when_every_record_stands(depot: Path) -> None:
    """Records with nothing to drop are not rewritten; the orphanage still is, if it changed."""
    toml = cache.my_artifacts_toml("some-package")
    cache.bind_my_artifact(toml, "dataset", cache.create_my_artifact(dataset))
    cache.find_orphanages()
    usage = cache_store(depot) / "usage.toml"
    written = usage.stat()
    orphan = cache.create_my_artifact(file_writer(b"orphan"))
    cache.find_orphanages()
    assert orphan in read_orphanage(depot, cache=True)
    assert (usage.stat().st_ino, usage.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


_ids = st.text("0123456789abcdef", min_size=64, max_size=64)
_paths = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), min_size=1)


@given(
    id_=_ids,
    toml=_paths,
    name=_paths,
    when=st.floats(min_value=0, max_value=4_000_000_000),
    files=st.none() | st.lists(_ids, max_size=3),
)
def test_usage_records_are_read_fast_as_the_toml_parser_reads_them(
    id_: str, toml: str, name: str, when: float, files: list[str] | None
) -> None:
    chunk = _bindings.format_record(id_, _bindings.Use(toml, name), when, files).decode()
    chunk = chunk.removeprefix("\n")  # as the log is cut into records
    parsed, _exact = _bindings._parse_chunk(chunk, {})
    oracle = _bindings._parse(chunk)
    assert oracle is not None
    assert parsed is not None
    assert parsed[:3] == oracle[:3]
    assert sorted(parsed[3]) == sorted(oracle[3])


@given(bindings=st.dictionaries(_paths, _ids | _ids.map(lambda i: i + ".x"), max_size=5))
def test_binding_files_are_read_fast_as_the_toml_parser_reads_them(
    bindings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = str(tmp_path_factory.mktemp("bindings") / "Artifacts.toml")
    _bindings.write(path, {name: {"sha256": id_} for name, id_ in bindings.items()})
    data = _toml.load_bindings(path)
    assert _bindings.bound_ids(path) == {n: _bindings.bound_id(data, n, path) for n in data}


def test_a_binding_file_naming_one_binding_twice_is_refused(tmp_path: Path) -> None:
    twice = '[a]\nsha256 = "{0}"\n\n[a]\nsha256 = "{0}"\n'.format("0" * 64)
    (tmp_path / "Artifacts.toml").write_text(twice)
    with pytest.raises(InvalidArtifactsToml):
        _bindings.bound_ids(str(tmp_path / "Artifacts.toml"))


@pytest.mark.parametrize(
    "change",
    ["twice", "out of order", "a blank line", "a damaged record", "unnormalized"],
)
def test_usage_records_not_as_written_are_rewritten(depot: Path, change: str) -> None:
    """Only records exactly as recycling writes them are left as they are."""
    toml = cache.my_artifacts_toml("some-package")
    for n in range(2):
        cache.bind_my_artifact(toml, f"f{n}", cache.create_my_artifact(file_writer(b"%d" % n)))
    cache.find_orphanages()
    usage = cache_store(depot) / "usage.toml"
    condensed = usage.read_bytes()
    first, second = (b"\n[[" + r for r in condensed.split(b"\n[[")[1:])
    changed = {
        "twice": first + first + second,
        "out of order": second + first,
        "a blank line": first + b"\n" + second,
        "a damaged record": first + second + b'\n[["zz"]]\n',
        "unnormalized": first.replace(b"/scratchspaces/", b"/./scratchspaces/", 1) + second,
    }[change]
    usage.write_bytes(changed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the damaged record's warning
        cache.find_orphanages()
    assert usage.read_bytes() == condensed
