"""A griffe extension for the API pages: the docstrings' reStructuredText as Markdown.

The docstrings are written for ``help()`` and for readers used to Sphinx: roles such as
``:func:`gc```, doctest lines (``>>>``) and literal blocks after a ``::``. mkdocstrings
renders Markdown, where a role shows its colons, a ``>>>`` line is a quote nested three
deep and a ``::`` stays as it is. Before each docstring is parsed, this turns a role into
code, a doctest into a ``pycon`` block and a ``::`` block into a fenced one. The source
files are not touched. mkdocs.yml loads it (``extensions`` of the python handler).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|meth|class|mod|data|attr|exc|obj|const):`[~.]?([^`]+)`")
PROMPT = re.compile(r"^(\s*)>>> ")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _fence(block: list[str], indent: str, language: str) -> list[str]:
    """Return ``block`` (lines at ``indent`` or deeper) as a fenced code block."""
    width = min(_indent(line) for line in block if line.strip())
    body = [line[width:] for line in block]
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    return [f"{indent}```{language}", *(indent + line for line in body), f"{indent}```"]


def _is_python(lines: list[str]) -> bool:
    try:
        compile(textwrap.dedent("\n".join(lines)), "<docstring>", "exec")
    except SyntaxError:
        return False
    return True


def markdown(text: str) -> str:
    """Return the docstring ``text`` with its roles, doctests and ``::`` blocks as Markdown."""
    lines = ROLE.sub(r"`\1`", text).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        prompt = PROMPT.match(line)
        if prompt:  # a doctest: up to the next blank line
            start = i
            while i < len(lines) and lines[i].strip():
                i += 1
            if out and out[-1].strip():
                out.append("")
            out += _fence(lines[start:i], prompt.group(1), "pycon")
            continue
        if line.rstrip().endswith("::"):  # a literal block follows, indented deeper
            out.append(line.rstrip()[:-1])
            i += 1
            start = i
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > _indent(line)):
                i += 1
            block = lines[start:i]
            if any(b.strip() for b in block):
                language = "python" if _is_python(block) else ""
                out += ["", *_fence(block, " " * _indent(line), language), ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite each docstring as it is loaded (see the module's docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring, if it has one."""
        del kwargs
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
