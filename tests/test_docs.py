"""Every code block of the README and of the documentation site (docs/) runs as written.

What "runs" means depends on the block's language:

- ``python``: executed as a script in a fresh depot, in a temporary working directory;
  a ``test_...`` function it defines is called with the plugin's ``scratch_depot``.
- ``sh``: run by ``bash -e`` in the same conditions, this environment's ``python`` and
  ``scratchspaces`` first on ``PATH``. A block that installs with pip is not run: it must
  be one of the README's two quick-start commands, checked by the tests below.
- ``toml``: parsed; the access log's record is compared with one that is written.
- ``json``: parsed, and held to the rules of the JSON schema (docs/json.md).
- ``text``: output; the quick start's is compared with the real output.
- a block of ``--8<-- "FILE"`` lines shows a file whole: the file must exist.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import scratchspaces
from _schema import check_schema
from scratchspaces import _accesslog

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
LANGUAGES = {"python", "sh", "toml", "json", "text"}

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
SNIPPET = re.compile(r'--8<-- "([^"]+)"')

# The README's quick start: make a venv, install and run the example, run the suite.
VENV_COMMAND = "python -m venv .venv && . .venv/bin/activate"
MAIN_COMMAND = (
    'python -m pip install ".[cli]" && python examples/quickstart.py && '
    "python examples/quickstart.py && python -m scratchspaces list"
)
TEST_COMMAND = 'python -m pip install -e ".[test]" && python -m pytest'


class Block(NamedTuple):
    """A fenced block: where it is, its language and its text."""

    page: Path
    line: int
    language: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [
        Block(page, text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
        for m in FENCE.finditer(text)
    ]


BLOCKS = [block for page in PAGES for block in _blocks(page)]


def _is_snippet(block: Block) -> bool:
    lines = block.code.strip().splitlines()
    return bool(lines) and all(SNIPPET.fullmatch(line.strip()) for line in lines)


def _installs(block: Block) -> bool:
    return "pip install" in block.code


def _params(language: str, keep: Any = None) -> list[Any]:
    chosen = [
        b
        for b in BLOCKS
        if b.language == language and not _is_snippet(b) and (keep is None or keep(b))
    ]
    return [
        pytest.param(b, id=b.where, marks=[pytest.mark.venv] if VENV_COMMAND in b.code else [])
        for b in chosen
    ]


def test_the_pages_have_blocks_in_known_languages() -> None:
    assert len(PAGES) >= 10
    unknown = [b.where for b in BLOCKS if b.language not in LANGUAGES and not _is_snippet(b)]
    assert not unknown, f"blocks without a language this test runs: {unknown}"


def test_the_examples_are_there() -> None:
    readme = [b.code for b in BLOCKS if b.page == README and b.language == "python"]
    for use in ('get_scratch("downloads")', "move_from=", "def test_", "iterdir()"):
        assert any(use in code for code in readme), use
    everywhere = [b.code for b in BLOCKS if b.language == "python"]
    for use in (
        "downloaded_files",
        "data_for_version-",
        "publish_artifact",
        "create_my_artifact",
        "scratchspaces.gc(",
    ):
        assert any(use in code for code in everywhere), use


@pytest.mark.parametrize("block", _params("python"))
def test_python_blocks_run(
    block: Block,
    depot: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(block.code, block.where, "exec"), namespace)  # noqa: S102 - our own docs
    tests = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    if tests:
        # what a package's test gets: the plugin's own fixture
        scratch_depot = request.getfixturevalue("scratch_depot")
        for test in tests:
            test(scratch_depot=scratch_depot)
    for value in namespace.values():
        if isinstance(value, Path) and value.is_absolute():
            # everything the example made is in the depot or its working directory
            assert depot in value.parents or tmp_path in value.parents


def _shell_env() -> dict[str, str]:
    """Return this environment, with this interpreter's scripts first on ``PATH``."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _bash(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", code],
        cwd=cwd,
        env=_shell_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.parametrize("block", _params("sh", keep=lambda b: not _installs(b)))
def test_shell_blocks_run(block: Block, tmp_path: Path) -> None:
    work = tmp_path / "work"  # beside the test's own depot, home and XDG folders
    work.mkdir()
    _bash(block.code, work)


def test_only_the_quick_start_installs() -> None:
    installing = [b for b in BLOCKS if b.language == "sh" and _installs(b)]
    assert [(b.page, b.code.strip()) for b in installing] == [
        (README, MAIN_COMMAND),
        (README, TEST_COMMAND),
    ]
    quick_start = [b.code.strip() for b in BLOCKS if b.page == README and b.language == "sh"]
    assert quick_start[:3] == [VENV_COMMAND, MAIN_COMMAND, TEST_COMMAND]


def test_ci_runs_the_test_command_verbatim() -> None:
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text()


def _words(line: str) -> list[str]:
    """Return the columns of a table line: runs of text split by two spaces or more."""
    return re.split(r"\s{2,}", line.strip())


def test_quickstart_builds_then_loads(depot: Path) -> None:
    """The main command, but for its install step, prints what the README shows."""
    steps = MAIN_COMMAND.split(" && ")
    assert steps[0].startswith("python -m pip install")
    output = _bash(" && ".join(steps[1:]), ROOT).stdout.splitlines()
    assert output[0].startswith("built an index of")
    assert output[2].startswith("loaded an index of")
    space = Path(output[1].removeprefix("scratch space: "))
    assert output[3] == output[1]
    assert space.parent.parent == depot / "scratchspaces"
    assert (space / "index.json").is_file()
    # The examples are a project of their own, listed as an ordinary space.
    assert space.parent.name == "scratchspaces-examples"
    [row] = [line for line in output[4:] if space.name in line]
    assert _words(row)[:2] == ["scratchspaces-examples", space.name]

    # The README's first text block is the quick start's output (the next, CI's checks).
    sample = next(b for b in BLOCKS if b.page == README and b.language == "text").code.splitlines()
    assert len(sample) == len(output)
    for i in (0, 2):  # the same words, other numbers
        assert _numbers_out(sample[i]) == _numbers_out(output[i])
    for shown in (sample[1], sample[3]):
        shown_path = Path(shown.removeprefix("scratch space: "))
        assert shown_path.parent.name == space.parent.name
        assert _numbers_out(shown_path.name) == _numbers_out(space.name)
    assert _words(sample[4]) == _words(output[4]), "the README's table heading is not list's"
    assert _words(sample[5])[0] == _words(row)[0]
    assert _words(sample[5])[-1] == _words(row)[-1] == "in use"


def _numbers_out(text: str) -> str:
    return re.sub(r"[0-9a-f]{12}|\d+(\.\d+)?", "#", text)


@pytest.mark.parametrize("block", _params("toml"))
def test_toml_blocks_parse(block: Block, depot: Path) -> None:
    data = tomllib.loads(block.code)
    if "parent_projects" in block.code:  # the access log's record, as get_scratch writes it
        scratchspaces.get_scratch("k", scratchspaces.GLOBAL)
        written = tomllib.loads(Path(_accesslog.log_path(str(depot))).read_text())
        [(shown_space, shown)] = data.items()
        [(space, records)] = written.items()
        assert isinstance(shown, list)
        assert [sorted(r) for r in shown] == [sorted(r) for r in records]
        assert Path(shown_space).parent.parent.name == Path(space).parent.parent.name
    if "dependencies" in data.get("project", {}):  # a package's dependency on this one
        [requirement] = data["project"]["dependencies"]
        lowest = re.fullmatch(r"scratchspaces>=([\d.]+)", requirement)
        assert lowest is not None, requirement
        assert _version(lowest.group(1)) <= _version(scratchspaces.__version__)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


@pytest.mark.parametrize("block", _params("json"))
def test_json_blocks_follow_the_schema(block: Block) -> None:
    check_schema(json.loads(block.code), block.where)


def test_snippets_show_files_that_exist() -> None:
    shown = [
        SNIPPET.fullmatch(line.strip())
        for b in BLOCKS
        if _is_snippet(b)
        for line in b.code.strip().splitlines()
    ]
    assert shown, "the CI page shows .ci/run"
    for match in shown:
        assert match is not None
        assert (ROOT / match.group(1)).is_file(), match.group(1)
