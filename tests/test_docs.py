"""The README's examples and the quick start's example run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.DOTALL)


def test_readme_has_the_examples() -> None:
    assert len(BLOCKS) >= 5
    for use in ("downloaded_files", "dataset", "data_for_version-", "publish_artifact"):
        assert any(use in block for block in BLOCKS), use


@pytest.mark.parametrize("block", BLOCKS, ids=[b.splitlines()[-1][:40] for b in BLOCKS])
def test_readme_python_blocks_run(
    block: str, depot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    for name, value in list(namespace.items()):
        if name.startswith("test_") and callable(value):
            value(scratch_depot=depot)  # a test the README shows, given what the plugin gives
    for value in namespace.values():
        if isinstance(value, Path) and value.is_absolute():
            # everything the example made is in the depot or its working directory
            assert depot in value.parents or tmp_path in value.parents


def test_quickstart_builds_then_loads(depot: Path) -> None:
    def run() -> str:
        result = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "quickstart.py")],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    first, second = run(), run()
    assert first.startswith("built an index of")
    assert second.startswith("loaded an index of")
    space = Path(second.splitlines()[1].removeprefix("scratch space: "))
    assert space.parent.parent == depot / "scratchspaces"
    assert (space / "index.json").is_file()
    # The examples are a project of their own, listed as an ordinary space.
    assert space.parent.name == "scratchspaces-examples"
    listing = subprocess.run(
        [sys.executable, "-m", "scratchspaces", "list"], capture_output=True, text=True, check=True
    )
    assert space.name in listing.stdout
