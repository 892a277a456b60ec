"""The documentation site covers what the code defines: every command, option and module."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from scratchspaces.cli import _parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CLI_PAGE = DOCS / "cli.md"
GLOBAL_OPTIONS = "Global options"
PUBLIC_MODULES = (
    "scratchspaces",
    "scratchspaces.artifacts",
    "scratchspaces.cache",
    "scratchspaces.testing",
    "scratchspaces.errors",
)


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Return every parser of the command line with its command (``("artifacts", "list")``)."""
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:  # an alias names the same parser again
                    seen.add(id(sub))
                    found += _commands(sub, (*path, name))
    return found


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """Return how each option of ``parser`` is spelled: every long form, else its short one."""
    spelled: list[str] = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if not action.option_strings:
            continue  # a positional argument
        longs = [s for s in action.option_strings if s.startswith("--")]
        spelled += longs or action.option_strings
    return spelled


def _sections(text: str) -> dict[str, str]:
    """Return each heading's text (outside code blocks) and what follows it up to the next."""
    without_code = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    parts = re.split(r"^#{1,6} (.+)$", without_code, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def _mentions(section: str, option: str) -> bool:
    return re.search(re.escape(option) + r"(?![\w-])", section) is not None


def test_the_cli_page_names_every_command_and_option() -> None:
    sections = _sections(CLI_PAGE.read_text(encoding="utf-8"))
    missing = []
    for path, parser in _commands(_parser()):
        heading = f"`{' '.join(path)}`" if path else GLOBAL_OPTIONS
        section = sections.get(heading)
        if section is None:
            missing.append(f"a section {heading}")
            continue
        missing += [
            f"{' '.join(path) or 'scratchspaces'} {option}"
            for option in _options(parser)
            if not _mentions(section, option)
        ]
    assert not missing, f"docs/cli.md does not document: {', '.join(missing)}"


def test_the_walk_finds_the_commands_and_options() -> None:
    """The test above checks what the parser has, not nothing."""
    commands = dict(_commands(_parser()))
    assert {("list",), ("artifacts", "install"), ("config", "set")} <= set(commands)
    assert "--collect-delay" in _options(commands[("gc",)])
    assert "--toml" in _options(commands[("artifacts", "install")])
    assert "--help" not in _options(commands[("gc",)])
    sections = _sections("# A\n\ntext --json\n\n```sh\n# not a heading\n```\n## `b c`\n\nmore\n")
    assert sections == {"A": "\n\ntext --json\n\n\n", "`b c`": "\n\nmore\n"}
    assert _mentions("`--max-age DURATION`", "--max-age")
    assert not _mentions("`--max-age`", "--max")


def test_the_api_pages_render_every_public_module() -> None:
    rendered = {
        match.group(1)
        for page in (DOCS / "api").glob("*.md")
        for match in re.finditer(r"^::: ([\w.]+)\s*$", page.read_text(), re.MULTILINE)
    }
    assert set(PUBLIC_MODULES) <= rendered


def test_every_page_is_in_the_navigation() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md")}
    listed = set(re.findall(r"^\s*- (?:[^:\n]+: )?([\w/.-]+\.md)\s*$", config, re.MULTILINE))
    assert pages == listed


def _slug(heading: str) -> str:
    """Return the anchor MkDocs (Python-Markdown's ``toc``) gives a heading."""
    text = re.sub(r"[^\w\s-]", "", heading).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def test_the_readme_links_to_pages_and_headings_that_exist() -> None:
    """The site's own links are checked by ``mkdocs build --strict``; the README's here."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?!https?:)[^)#\s]+)(?:#([^)\s]+))?\)", readme)
    assert len(links) >= 10
    for target, anchor in links:
        page = ROOT / target
        assert page.exists(), target
        if anchor:
            headings = re.findall(r"^#{1,6} (.+)$", page.read_text(), re.MULTILINE)
            assert anchor in {_slug(h) for h in headings}, f"{target}#{anchor}"
    assert _slug("Which package am I?") == "which-package-am-i"
    assert _slug('What "least recently used" means') == "what-least-recently-used-means"
