"""Layering rules for the package: no import cycles, small modules, explained suppressions.

The checks read the source tree (``ast`` and ``tokenize``, never importing the package)
and name no module of today's layout, so they keep holding while modules move. Each
check is a function of a root directory; the tests at the end run them on tiny trees
written to ``tmp_path``, which shows what they accept as well as what they refuse.
"""

from __future__ import annotations

import ast
import re
import textwrap
import tokenize
from collections import deque
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from _processes import modules_after

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = "scratchspaces"
MAX_LINES = 400
SUPPRESSION_DIRS = ("src", "tests", "benchmarks", "examples")
MIN_REASON_WORDS = 2

# ---------------------------------------------------------------------------------------
# Import cycles

ImportNode = ast.Import | ast.ImportFrom


class Edge(NamedTuple):
    """``importer`` runs ``target``'s code; ``sites`` are the import lines (file:line)."""

    importer: str
    target: str
    sites: tuple[str, ...]


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Each module of ``package`` under ``root`` by dotted name; a package is its __init__.py."""
    modules: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def runtime_imports(tree: ast.AST) -> Iterator[ImportNode]:
    """Every import statement, in functions and methods too, but not under ``if TYPE_CHECKING:``.

    The ``else:`` branch of such an ``if`` runs, so its imports count.
    """
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        else:
            stack.extend(ast.iter_child_nodes(node))


def _imported(
    node: ImportNode, importer: str, is_package: bool, modules: dict[str, Path]
) -> Iterator[str]:
    """The absolute names ``node`` imports: a module, or the package a name comes from."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    if node.level == 0:
        base = node.module or ""
    else:
        parts = importer.split(".") if is_package else importer.split(".")[:-1]
        parts = parts[: max(0, len(parts) - (node.level - 1))]
        base = ".".join([*parts, node.module] if node.module else parts)
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in modules else base


def _ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def import_graph(root: Path, package: str) -> dict[str, dict[str, list[str]]]:
    """``graph[a][b]``: the import lines (file:line) by which importing ``a`` runs ``b``.

    Relative imports are resolved; ``from p import n`` goes to ``p.n`` when that is a
    module, else to ``p``. Importing ``a.b.c`` also runs the packages ``a.b`` and ``a``,
    so they are targets too, except the importer's own ancestors: they are running
    already (a module importing its own package is no cycle).
    """
    modules = module_files(root, package)
    graph: dict[str, dict[str, list[str]]] = {name: {} for name in modules}
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        site = path.relative_to(root.parent).as_posix()
        running = _ancestors(importer)
        for node in runtime_imports(tree):
            for name in _imported(node, importer, path.name == "__init__.py", modules):
                for target in _ancestors(name) - running:
                    if target not in modules:
                        continue
                    sites = graph[importer].setdefault(target, [])
                    if f"{site}:{node.lineno}" not in sites:
                        sites.append(f"{site}:{node.lineno}")
    return graph


def strongly_connected(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def _shortest_path(
    graph: dict[str, dict[str, list[str]]], start: str, goal: str, within: set[str]
) -> list[str]:
    came_from: dict[str, str] = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            break
        for succ in sorted(graph[node]):
            if succ in within and succ not in came_from:
                came_from[succ] = node
                queue.append(succ)
    path = [goal]
    while path[-1] != start:
        path.append(came_from[path[-1]])
    return path[::-1]


def import_cycles(root: Path, package: str) -> list[list[Edge]]:
    """Cycles among the modules of ``package``: the shortest one through each import on one.

    Every import that lies on some cycle is in at least one listed cycle: none goes
    unnamed, though a component of many modules has more cycles than are listed.
    """
    graph = import_graph(root, package)
    cycles: dict[tuple[str, ...], list[Edge]] = {}
    for component in strongly_connected(graph):
        members = set(component)
        for importer in component:
            for target in sorted(graph[importer]):
                if target not in members:
                    continue
                loop = [importer, *_shortest_path(graph, target, importer, members)]
                start = loop.index(min(loop[:-1]))
                loop = loop[start:-1] + loop[:start] + [loop[start]]
                cycles[tuple(loop)] = [Edge(a, b, tuple(graph[a][b])) for a, b in pairwise(loop)]
    return [cycles[key] for key in sorted(cycles)]


def format_cycles(cycles: Sequence[list[Edge]]) -> str:
    """One paragraph per cycle: the modules in order, then each import's lines."""
    paragraphs = []
    for cycle in cycles:
        lines = [" -> ".join([cycle[0].importer, *(edge.target for edge in cycle)])]
        lines += [f"    {e.importer} -> {e.target}: {', '.join(e.sites)}" for e in cycle]
        paragraphs.append("\n".join(lines))
    return "\n".join(paragraphs)


def test_no_import_cycles() -> None:
    """No two modules of the package import each other, directly or through others.

    Imports inside functions count (they run, only later); ``if TYPE_CHECKING:`` ones do
    not. Importing a submodule runs its enclosing packages too, except the importer's own.
    """
    cycles = import_cycles(SRC, PACKAGE)
    tangles = "\n".join(
        f"    {', '.join(c)}" for c in strongly_connected(import_graph(SRC, PACKAGE))
    )
    assert not cycles, (
        f"modules that import each other:\n{tangles}\n"
        f"{len(cycles)} import cycles, each with its import lines:\n{format_cycles(cycles)}"
    )


# ---------------------------------------------------------------------------------------
# Module size


def oversized_modules(root: Path, under: str, limit: int) -> list[tuple[str, int]]:
    """The ``.py`` files in ``root / under`` longer than ``limit`` lines: path from root, length."""
    found = []
    for path in sorted((root / under).rglob("*.py")):
        length = len(path.read_text(encoding="utf-8").splitlines())
        if length > limit:
            found.append((path.relative_to(root).as_posix(), length))
    return found


def test_no_module_is_longer_than_the_limit() -> None:
    """No module of the package has more than MAX_LINES lines: split it instead."""
    found = oversized_modules(REPO, f"src/{PACKAGE}", MAX_LINES)
    assert not found, f"modules longer than {MAX_LINES} lines:\n" + "\n".join(
        f"    {path}: {length} lines" for path, length in found
    )


# ---------------------------------------------------------------------------------------
# Suppression comments

_CODES = r"[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*"
_DIRECTIVE = re.compile(
    r"#\s*(?:"
    rf"(?P<noqa>(?:(?:ruff|flake8)\s*:\s*)?(?i:noqa)(?!\w)(?::\s*{_CODES})?)"
    r"|(?P<ignore>type:\s*ignore(?!\w)(?:\[[^\]]*\])?)"
    r")"
)
_NOQA_REASON = re.compile(r"\s+[-#]\s+(?P<reason>.*)", re.DOTALL)
_IGNORE_REASON = re.compile(r"\s+#\s+(?P<reason>.*)", re.DOTALL)


def _explained(reason: str) -> bool:
    words = [word for word in reason.split() if re.search(r"[^\W\d_]", word)]
    return len(words) >= MIN_REASON_WORDS


def _unexplained_in_comment(comment: str) -> bool:
    matches = list(_DIRECTIVE.finditer(comment))
    if not matches:
        return False
    ends = [match.start() for match in matches[1:]] + [len(comment)]
    for match, end in zip(matches, ends, strict=True):
        tail = comment[match.end() : end]
        shape = _NOQA_REASON if match.group("noqa") else _IGNORE_REASON
        found = shape.fullmatch(tail)
        if not (found and _explained(found.group("reason"))):
            return True
    return False


def unexplained_suppressions(root: Path, dirs: Sequence[str]) -> list[str]:
    """``file:line: comment`` for each suppression comment without a reason (see the test)."""
    found = []
    for name in dirs:
        for path in sorted((root / name).rglob("*.py")):
            if any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            with tokenize.open(path) as f:
                comments = [
                    tok
                    for tok in tokenize.generate_tokens(f.readline)
                    if tok.type == tokenize.COMMENT
                ]
            site = path.relative_to(root).as_posix()
            found += [
                f"{site}:{tok.start[0]}: {tok.string}"
                for tok in comments
                if _unexplained_in_comment(tok.string)
            ]
    return found


def test_every_suppression_says_why() -> None:
    """Every ``# noqa`` and ``# type: ignore`` comment says why, after its codes.

    The rule, per directive in a comment (only real comments: strings do not count):

    * ``# noqa``, ``# noqa: CODE, CODE`` (also ``# ruff: noqa...``) is followed by
      whitespace, ``-`` or ``#``, whitespace and the reason:
      ``# noqa: PLC0415 - only when collecting``.
    * ``# type: ignore`` or ``# type: ignore[codes]`` is followed by whitespace, ``#``,
      whitespace and the reason: ``# type: ignore[assignment] # None ends the loop``
      (mypy rejects anything else after the brackets, `` - `` included).
    * The reason runs to the next directive or the end of the comment, and has at least
      two words (MIN_REASON_WORDS; a word is a whitespace-separated run with a letter): two
      directives in one comment need a reason each.
    """
    found = unexplained_suppressions(REPO, SUPPRESSION_DIRS)
    assert not found, f"{len(found)} suppressions without a reason:\n" + "\n".join(
        f"    {line}" for line in found
    )


# ---------------------------------------------------------------------------------------
# A fresh process

CREATE_AND_BIND = """
import sys
from scratchspaces import cache

def fill(d):
    (d / "a.txt").write_text("a")
    (d / "sub").mkdir()
    (d / "sub" / "b.txt").write_text("b")

h = cache.create_my_artifact(fill)
cache.bind_my_artifact(cache.my_artifacts_toml("some-package"), "data", h)
print(" ".join(sorted(sys.modules)))
"""

HEAVY = ("tarfile", "gzip", "bz2", "lzma", "urllib.request", "rich", "fsspec")


def test_creating_a_cache_entry_loads_no_archive_network_or_terminal_modules(
    tmp_path: Path,
) -> None:
    """Creating and binding a content-cache entry in a fresh process loads none of HEAVY.

    Except what the locking library loads by itself, which is not ours to avoid:
    filelock 4.1.0, the last for Python 3.10, imports shutil (and with it bz2 and lzma).
    """
    loaded = modules_after(CREATE_AND_BIND, tmp_path)
    assert f"{PACKAGE}.cache" in loaded, "the script printed no module names"
    by_filelock = modules_after(
        'import sys, filelock\nprint(" ".join(sorted(sys.modules)))', tmp_path
    )
    heavy = sorted(loaded.intersection(HEAVY) - by_filelock)
    ours = sorted(name for name in loaded if name.split(".")[0] == PACKAGE)
    assert not heavy, f"creating a cache entry loaded {heavy}; the package's modules: {ours}"


# ---------------------------------------------------------------------------------------
# The checks on tiny trees


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


SYNTHETIC = {
    "pkg/__init__.py": "from . import a, sub\n",
    # a cycle through an import inside a function
    "pkg/a.py": "from . import b\n",
    "pkg/b.py": """\
        def later():
            from .a import thing
            return thing
        """,
    # imports only a type checker runs: no cycle
    "pkg/c.py": """\
        import typing
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from . import d
        if typing.TYPE_CHECKING:
            import pkg.d
        """,
    "pkg/d.py": "from . import c\n",
    # the else branch of TYPE_CHECKING runs: a cycle
    "pkg/e.py": """\
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            pass
        else:
            from pkg import f
        """,
    "pkg/f.py": "from .e import x\n",
    # a child importing its own packages: no cycle
    "pkg/sub/__init__.py": "from .inner import helper\nfrom . import more\n",
    "pkg/sub/inner.py": """\
        import pkg
        from . import something_in_init
        from .. import a
        def helper():
            from pkg.sub import other
        """,
    # importing pkg.sub.inner runs pkg.sub, which imports g: a cycle through a package
    "pkg/g.py": "def later():\n    import pkg.sub.inner\n",
    "pkg/sub/more.py": "from ..g import later\n",
}


def test_cycle_finder_on_a_tiny_package(tmp_path: Path) -> None:
    """Function-level imports, else branches and enclosing packages count; the rest not."""
    _write_tree(tmp_path / "src", SYNTHETIC)
    cycles = import_cycles(tmp_path / "src", "pkg")
    assert [[(e.importer, e.target) for e in cycle] for cycle in cycles] == [
        [("pkg.a", "pkg.b"), ("pkg.b", "pkg.a")],
        [("pkg.e", "pkg.f"), ("pkg.f", "pkg.e")],
        [("pkg.g", "pkg.sub"), ("pkg.sub", "pkg.sub.more"), ("pkg.sub.more", "pkg.g")],
    ]
    assert cycles[0][1].sites == ("src/pkg/b.py:2",)
    assert cycles[2][0].sites == ("src/pkg/g.py:2",)
    assert "pkg.b -> pkg.a: src/pkg/b.py:2" in format_cycles(cycles)


def test_cycle_finder_accepts_a_layered_package(tmp_path: Path) -> None:
    """The same tree without the imports that close its cycles has none."""
    _write_tree(tmp_path / "src", {**SYNTHETIC, "pkg/b.py": "", "pkg/f.py": "", "pkg/g.py": ""})
    assert import_cycles(tmp_path / "src", "pkg") == []


def test_size_check_on_a_tiny_package(tmp_path: Path) -> None:
    """A file of exactly the limit passes; one line more is named with its length."""
    _write_tree(tmp_path / "pkg", {"ok.py": "x = 1\n" * 5, "sub/big.py": "x = 1\n" * 6})
    assert oversized_modules(tmp_path, "pkg", 5) == [("pkg/sub/big.py", 6)]


def test_suppression_check_on_tiny_files(tmp_path: Path) -> None:
    """Reasons after the codes pass; bare codes, one-word reasons and strings are told apart."""
    good = """\
        import os  # noqa: F401 - kept for the example
        x: int = "a"  # type: ignore[assignment] # the point of it
        y = 1  # NOQA: E501, PLC0415 # long on purpose
        z = "# noqa: F401"  # a string is no comment
        """
    bad = """\
        import os  # noqa: F401
        import sys  # noqa
        x: int = "a"  # type: ignore[assignment]
        y: int = "a"  # type: ignore[assignment] - a dash mypy rejects
        z = 1  # noqa: E501 - rare
        w = 1  # type: ignore[misc]  # noqa: E501 - the noqa's reason only
        """
    _write_tree(tmp_path, {"src/good.py": good, "tests/bad.py": bad})
    found = unexplained_suppressions(tmp_path, ["src", "tests", "missing"])
    assert [line.split(": ", 1)[0] for line in found] == [f"tests/bad.py:{n}" for n in range(1, 7)]
