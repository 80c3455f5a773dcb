"""The shape of the code: commands stay at the edge, no module imports itself back
through others, and the detectors stand on their own.

A small AST walk builds the graph of imports between the project's modules (every
``import`` and ``from ... import``, at module level or inside a function; relative
imports resolved against the importing module's package; ``from pkg import name``
pointing at the submodule ``pkg.name`` when there is one, else at ``pkg``).

Packages and their ``__init__``: a package is the module of its ``__init__.py``
(``streams.detection`` is ``streams/detection/__init__.py``). Importing
``pkg.sub`` runs ``pkg/__init__.py`` first, but that is load order, not a dependency
of the importer on the package's ``__init__``: the graph has no edge from a module to
its parent packages unless the module names the package itself. So an ``__init__``
that re-exports its submodules (``pkg -> pkg.sub``) makes no false cycle with a
submodule that imports a sibling (``pkg.sub -> pkg.other``); only a submodule that
imports a name from its own package's ``__init__`` while that ``__init__`` imports it
is a cycle, and a real one (the submodule then runs against a half-initialized package).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping, Set
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("streams", "detectors", "dashboards")
COMMAND_ASSEMBLERS = frozenset({"streams.cli", "streams.__main__"})
"""The modules that put the commands together into ``berthwatch``."""

Graph = dict[str, set[str]]


# --------------------------------------------------------------------------- the checker


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of the packages under ``root``, by dotted name (a package is named by
    its ``__init__.py``)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def within(name: str, package: str) -> bool:
    """Whether module ``name`` is ``package`` or inside it.

    >>> within("streams.commands.detect", "streams.commands"), within("streams.cli", "streams.c")
    (True, False)
    """
    return name == package or name.startswith(package + ".")


def _known(name: str, modules: Set[str]) -> str | None:
    """The longest prefix of ``name`` that is a module of the project, if any."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in modules:
            return prefix
    return None


def imports_of(name: str, path: Path, modules: Set[str]) -> set[str]:
    """The project's modules that module ``name`` (file ``path``) imports anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(_known(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else _known(base, modules))
    return {m for m in found if m is not None and m != name}


def import_graph(root: Path, packages: Iterable[str]) -> Graph:
    """Module -> the project's modules it imports."""
    files = module_files(root, packages)
    return {name: imports_of(name, path, files.keys()) for name, path in files.items()}


def cycles(graph: Mapping[str, Set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per group of modules that import each other
    (a strongly connected component of more than one module, Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(_cycle_through(graph, set(group)) for group in groups)


def _cycle_through(graph: Mapping[str, Set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        step = []
        for v in frontier:
            for w in sorted(graph.get(v, set()) & group):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    step.append(w)
        frontier = step
    raise AssertionError(f"no cycle through {sorted(group)}")  # a component always has one


def forbidden_imports(graph: Mapping[str, Set[str]], importer: Callable[[str], bool],
                      imported: Callable[[str], bool]) -> list[str]:
    """``"a imports b"`` for every import of a module ``imported`` accepts by a module
    ``importer`` accepts."""
    return [f"{a} imports {b}" for a in sorted(graph) if importer(a)
            for b in sorted(graph[a]) if imported(b)]


def outside_commands(name: str) -> bool:
    """A module of ``streams`` that is neither a command nor assembles the commands."""
    return (within(name, "streams") and not within(name, "streams.commands")
            and name not in COMMAND_ASSEMBLERS)


# --------------------------------------------------------------------------- the project


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph(ROOT, PACKAGES)


def test_the_walk_sees_the_project(graph: Graph) -> None:
    assert {"streams.cli", "streams.commands.dashboards", "detectors", "dashboards"} <= set(graph)
    assert "streams.commands.common" in graph["streams.cli"]
    assert "streams.commands.dashboards" in graph["streams.cli"]


def test_nothing_under_streams_imports_the_commands(graph: Graph) -> None:
    found = forbidden_imports(graph, outside_commands,
                              lambda b: within(b, "streams.commands"))
    assert not found, ("only streams.commands, streams.cli and streams.__main__ may import "
                       "streams.commands: " + "; ".join(found))


def test_no_import_cycle(graph: Graph) -> None:
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_detectors_import_nothing_from_streams(graph: Graph) -> None:
    found = forbidden_imports(graph, lambda a: within(a, "detectors"),
                              lambda b: within(b, "streams"))
    assert not found, "detectors must stand on their own: " + "; ".join(found)


# --------------------------------------------------------------------------- the checker


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


TOY = {
    "app/__init__.py": "from app import a\nfrom app.sub import X\n",  # re-exports
    "app/a.py": "from app.b import thing\n",
    "app/b.py": "import os\n\nfrom . import a\n\nthing = 1\n",  # a -> b -> a
    "app/c.py": "",
    "app/sub/__init__.py": "from .x import X\n",  # re-exports
    "app/sub/x.py": ("from app.sub import helpers\nfrom .. import c\n\n"
                     "def run():\n    import app.commands.run\n\nX = 1\n"),
    "app/sub/helpers.py": "from app import c\n",
    "app/commands/__init__.py": "",
    "app/commands/run.py": "from app.c import *\n",
    "lib/__init__.py": "from app.sub import X\n",
}
"""A small project with one cycle (app.a, app.b), one forbidden import inside a function
(app.sub.x of app.commands.run), and ``__init__`` files that re-export submodules."""


def test_checker_resolves_imports(tmp_path: Path) -> None:
    write(tmp_path, TOY)
    toy = import_graph(tmp_path, ["app", "lib"])
    assert toy == {
        "app": {"app.a", "app.sub"},
        "app.a": {"app.b"},
        "app.b": {"app.a"},  # `from . import a` is the submodule, not the package
        "app.c": set(),
        "app.sub": {"app.sub.x"},
        "app.sub.x": {"app.sub.helpers", "app.c", "app.commands.run"},
        "app.sub.helpers": {"app.c"},
        "app.commands": set(),
        "app.commands.run": {"app.c"},
        "lib": {"app.sub"},  # X is no module: the package
    }


def test_checker_finds_cycles_but_none_through_reexports(tmp_path: Path) -> None:
    write(tmp_path, TOY)
    # app re-exports app.a and app.sub re-exports app.sub.x: neither is in a cycle
    assert cycles(import_graph(tmp_path, ["app", "lib"])) == [["app.a", "app.b", "app.a"]]
    # a submodule importing from its own package's __init__, which imports it, is one
    write(tmp_path, {"app/sub/helpers.py": "from app.sub import X\n"})
    assert cycles(import_graph(tmp_path, ["app", "lib"])) == [
        ["app.a", "app.b", "app.a"],
        ["app.sub", "app.sub.x", "app.sub.helpers", "app.sub"]]


def test_checker_finds_forbidden_imports(tmp_path: Path) -> None:
    write(tmp_path, TOY)
    toy = import_graph(tmp_path, ["app", "lib"])
    found = forbidden_imports(toy, lambda a: within(a, "app") and not within(a, "app.commands"),
                              lambda b: within(b, "app.commands"))
    assert found == ["app.sub.x imports app.commands.run"]
    assert forbidden_imports(toy, lambda a: within(a, "lib"), lambda b: within(b, "app")) == [
        "lib imports app.sub"]
