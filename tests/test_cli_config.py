"""``scratchspaces config | info``: the policy from the command line, and the bug-report screen.

Run as ``python -m scratchspaces``, as users do, on each test's own depot.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

import pytest

from _cli import run_cli
from _depots import use_depots
from _tmpfs import mounted
from scratchspaces import _autogc, _policy, _toml, get_scratch

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

AUTO_VAR = "SCRATCHSPACES_GC_AUTO"
DAY = 24 * 60 * 60
YEARS_5 = 5 * 365 * DAY
KEYS = ["gc.auto", "gc.interval", "gc.collect-delay", "gc.max-age", "gc.max-size"]
DEFAULTS = ["on", "1d", "7d", "none", "none"]
EXTRA = '[gc]\nfuture-key = "x"\n\n[other]\na = 1\n'


def _config(*args: str) -> list[dict[str, str]]:
    result = run_cli("config", *args, "--json")
    assert result.returncode == 0, result.stderr
    found: list[dict[str, str]] = json.loads(result.stdout)
    return found


def _info() -> dict[str, Any]:
    result = run_cli("info", "--json")
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def _one_line_error(result: subprocess.CompletedProcess[str], status: int) -> str:
    assert result.returncode == status, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("scratchspaces: error: ")
    return result.stderr


def _snapshot(root: Path) -> dict[str, tuple[int, float]]:
    """Every path under ``root`` with its size and mtime: what tells a write."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            found[os.path.join(dirpath, name)] = (st.st_size, st.st_mtime)
    return found


# --- config ------------------------------------------------------------------------------


def test_config_lists_the_defaults(depot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(AUTO_VAR)
    assert _config() == [
        {"key": k, "value": v, "source": "default"} for k, v in zip(KEYS, DEFAULTS, strict=True)
    ]
    result = run_cli("config")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KEY", "VALUE", "SOURCE"]
    assert [line.split() for line in lines[1:]] == [
        [k, v, "default"] for k, v in zip(KEYS, DEFAULTS, strict=True)
    ]
    assert not depot.exists()


def test_the_environment_turns_auto_off(depot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTO_VAR, "0")
    assert _config()[0] == {"key": "gc.auto", "value": "off", "source": f"${AUTO_VAR}"}
    info = _info()["auto_gc"]
    assert (info["enabled"], info["reason"]) == (False, f"${AUTO_VAR}=0")
    monkeypatch.delenv(AUTO_VAR)
    assert _config()[0] == {"key": "gc.auto", "value": "on", "source": "default"}
    assert _info()["auto_gc"]["enabled"] is True


def test_set_and_unset(depot: Path) -> None:
    path = str(depot / "config.toml")
    result = run_cli("config", "set", "gc.max-size", "2G")
    assert (result.returncode, result.stdout) == (0, "gc.max-size = 2G\n"), result.stderr
    assert _config()[4] == {"key": "gc.max-size", "value": "2G", "source": path}
    assert _policy.policy(str(depot)).max_size == 2 * 1024**3
    assert run_cli("config").stdout.splitlines()[5].split() == ["gc.max-size", "2G", path]
    result = run_cli("config", "unset", "gc.max-size")
    assert (result.returncode, result.stdout) == (0, "gc.max-size = none (default)\n")
    assert _config()[4] == {"key": "gc.max-size", "value": "none", "source": "default"}
    assert _policy.policy(str(depot)).max_size is None


def test_set_and_unset_keep_what_else_the_file_holds(depot: Path) -> None:
    depot.mkdir()
    config = depot / "config.toml"
    config.write_text(EXTRA)
    assert run_cli("config", "set", "gc.interval", "12h").returncode == 0
    with config.open("rb") as f:
        assert _toml.load(f) == {"gc": {"future-key": "x", "interval": "12h"}, "other": {"a": 1}}
    assert run_cli("config", "unset", "gc.interval").returncode == 0
    with config.open("rb") as f:
        assert _toml.load(f) == {"gc": {"future-key": "x"}, "other": {"a": 1}}
    assert [s["source"] for s in _config()[1:]] == ["default"] * 4


BAD = [
    ("set", "gc.bogus", "1"),
    ("set", "interval", "1d"),
    ("unset", "gc.bogus"),
    ("set", "gc.interval", "abc"),
    ("set", "gc.auto", "maybe"),
    ("set", "gc.max-size", "-1"),
    ("set", "gc.collect-delay", "7x"),
]


@pytest.mark.parametrize("args", BAD, ids=" ".join)
@pytest.mark.parametrize("existing", [None, EXTRA])
def test_bad_keys_and_values_are_usage_errors(
    depot: Path, args: tuple[str, ...], existing: str | None
) -> None:
    config = depot / "config.toml"
    if existing is not None:
        depot.mkdir()
        config.write_text(existing)
    error = _one_line_error(run_cli("config", *args), 2)
    assert ("unknown key" in error) == ("gc.bogus" in args or "interval" in args)
    if existing is None:
        assert not config.exists()
    else:
        assert config.read_text() == existing


def test_unknown_key_message_has_no_extra_quotes(depot: Path) -> None:
    result = run_cli("config", "unset", "gc.bogus")
    assert result.stderr.startswith("scratchspaces: error: unknown key 'gc.bogus': use one of")


DAMAGED = ["not [ toml\n", '[gc]\ninterval = "abc"\n', "gc = 1\n"]


@pytest.mark.parametrize("text", DAMAGED)
def test_a_damaged_policy(depot: Path, text: str) -> None:
    depot.mkdir()
    config = depot / "config.toml"
    config.write_bytes(text.encode())
    error = _one_line_error(run_cli("config"), 1)
    assert repr(str(config)) in error
    error = _one_line_error(run_cli("config", "set", "gc.max-size", "2G"), 1)
    assert repr(str(config)) in error
    error = _one_line_error(run_cli("config", "unset", "gc.interval"), 1)
    assert config.read_bytes() == text.encode()
    # info still shows everything else, and the error in place of the policy
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    assert f"policy         error: cannot use {str(config)!r}" in result.stdout
    assert "USER DEPOT" in result.stdout
    info = _info()
    assert "policy" not in info
    assert str(config) in info["policy_error"]
    assert info["auto_gc"]["enabled"] is False  # $SCRATCHSPACES_GC_AUTO=0 still says so


# --- the automatic gc's marker -----------------------------------------------------------


def _due(depot: Path) -> float:
    return os.stat(_autogc.marker_path(str(depot))).st_mtime


def test_auto_off_dates_the_marker_years_ahead_and_on_makes_it_due(depot: Path) -> None:
    assert run_cli("config", "set", "gc.auto", "off").returncode == 0
    assert _due(depot) > time.time() + YEARS_5
    assert _info()["auto_gc"]["next"] == "off"
    result = run_cli("config", "set", "gc.auto", "on")
    assert (result.returncode, result.stdout) == (0, "gc.auto = on\n")
    assert "keeps automatic gc off" in result.stderr  # $SCRATCHSPACES_GC_AUTO=0 here
    assert _due(depot) <= time.time()  # never ran: due now
    assert _info()["auto_gc"]["next"].startswith("at the next use (due since ")


def test_interval_moves_the_due_time_from_the_last_run(depot: Path) -> None:
    (depot / "logs").mkdir(parents=True)
    started = time.time() - 3600
    _autogc.schedule(str(depot), started, started + DAY)
    assert run_cli("config", "set", "gc.interval", "2d").returncode == 0
    assert _due(depot) == pytest.approx(started + 2 * DAY, abs=0.01)
    auto = _info()["auto_gc"]
    assert auto["next"] == auto["next_due"]
    assert auto["next_due"].startswith(time.strftime("%Y-%m-%d", time.gmtime(started + 2 * DAY)))
    assert run_cli("config", "unset", "gc.interval").returncode == 0
    assert _due(depot) == pytest.approx(started + DAY, abs=0.01)


# --- info --------------------------------------------------------------------------------


def test_info_on_a_missing_depot_writes_nothing(depot: Path, tmp_path: Path) -> None:
    before = _snapshot(tmp_path)
    result = run_cli("info", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "next run       at the next use\n" in result.stdout
    assert "last run       never\n" in result.stdout
    info = _info()
    assert info["depots"] == [
        {"path": str(depot), "user": True, "exists": False, "writable": False}
    ]
    assert info["sizes"]["total_bytes"] == 0
    assert not depot.exists()
    assert _snapshot(tmp_path) == before


def test_info_json(depot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    later = tmp_path / "later"
    use_depots(monkeypatch, depot, later)
    get_scratch("k", "some-pkg").joinpath("data").write_bytes(b"x" * 1000)
    assert run_cli("config", "set", "gc.max-age", "90d").returncode == 0
    before = _snapshot(tmp_path)
    info = _info()
    assert _snapshot(tmp_path) == before
    assert set(info) == {"version", "python", "platform", "depots", "policy", "auto_gc", "sizes"}
    assert info["depots"] == [
        {"path": str(depot), "user": True, "exists": True, "writable": True},
        {"path": str(later), "user": False, "exists": False, "writable": False},
    ]
    assert info["policy"][3] == {
        "key": "gc.max-age",
        "value": "90d",
        "source": str(depot / "config.toml"),
    }
    assert set(info["auto_gc"]) >= {"enabled", "last", "next_due"}
    assert info["auto_gc"]["last"] is None
    du = json.loads(run_cli("du", "--json").stdout)
    sizes = info["sizes"]
    assert sizes["spaces"] == {
        "count": sum(n["count"] for n in du["namespaces"]),
        "bytes": sum(n["bytes"] for n in du["namespaces"]),
    }
    assert sizes["spaces"]["bytes"] >= 1000
    assert (sizes["artifacts"], sizes["cache"]) == (du["artifacts"], du["cache"])
    assert sizes["total_bytes"] == du["total_bytes"]


def test_info_shows_the_last_readable_run(depot: Path) -> None:
    (depot / "logs").mkdir(parents=True)
    run = {
        "started": "2024-05-01T10:00:00+00:00",
        "pid": 1,
        "deleted": 3,
        "freed_bytes": 1536,
        "orphaned": 1,
        "warnings": ["a", "b"],
    }
    lines = [json.dumps(run), "garbage {", '{"started": 7}', '["a list"]', "\x00\xff"]
    (depot / "logs" / "gc_auto.log").write_text("\n".join(lines) + "\n")
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    assert (
        "last run       2024-05-01T10:00:00+00:00 (deleted 3, freed 1.5 KiB, 1 orphaned, "
        "2 warnings)\n"
    ) in result.stdout
    assert _info()["auto_gc"]["last"] == {
        "started": "2024-05-01T10:00:00+00:00",
        "freed_bytes": 1536,
        "deleted_count": 3,
        "orphaned_count": 1,
        "error": None,
        "warning_count": 2,
    }


def test_info_shows_a_failed_run(depot: Path) -> None:
    (depot / "logs").mkdir(parents=True)
    run = {"started": "2024-05-01T10:00:00+00:00", "error": "boom", "freed_bytes": "lots"}
    (depot / "logs" / "gc_auto.log").write_text(json.dumps(run) + "\n")
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    assert "last run       2024-05-01T10:00:00+00:00 (error: boom, 0 warnings)\n" in result.stdout


def test_info_on_a_depot_that_is_a_file(depot: Path) -> None:
    depot.write_text("a file")
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    assert "not a directory" in result.stdout
    info = _info()
    assert {"policy_error", "sizes_error"} <= set(info)
    assert depot.read_text() == "a file"


def test_info_on_a_read_only_depot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with mounted(tmp_path / "mnt", size=4 * 2**20) as fs:
        depot = fs.path / "depot"
        use_depots(monkeypatch, depot)
        get_scratch("k", "some-pkg")
        assert run_cli("config", "set", "gc.max-size", "1G").returncode == 0
        with fs.read_only_for():
            info = _info()
            assert info["depots"][0]["writable"] is False
            assert info["policy"][4]["value"] == "1G"
            assert info["sizes"]["spaces"]["count"] == 1
            error = _one_line_error(run_cli("config", "set", "gc.max-size", "2G"), 1)
            assert "Read-only file system" in error


def test_python_m_scratchspaces_info(tmp_path: Path) -> None:
    result = run_cli("info", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("scratchspaces  ")
    assert "\nplatform       " in result.stdout
