"""The layout's rules, checked on the source: imports go one way, from a domain down to the
foundation and the domains below it, never up; the foundation names a domain only in the
factory (``create_app`` and the CLI's command list in ``app/__init__.py``); and no two
modules import each other at module level, directly or round a longer loop.

``scripts/layout_figures.py`` prints the same measures (and lines per package)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Lowest first: each may import those before it, never those after it.
LAYERS = ("app", "consent", "reports", "signing")
# Where the foundation wires the domains in, and the functions of it that may name a domain.
FACTORY = ROOT / "app" / "__init__.py"
WIRING = {"create_app", "_wire_domains", "cli_commands"}


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module an import statement in ``path`` names (at any depth: function-level ones too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def upward_imports() -> list[str]:
    found = []
    for rank, package in enumerate(LAYERS):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == FACTORY:
                continue
            for line, module in imports(path):
                top = module.split(".")[0]
                if top in LAYERS[rank + 1:] or top == "migrations":
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def test_no_package_imports_one_above_it() -> None:
    assert upward_imports() == []


def test_the_factory_is_the_only_place_the_foundation_names_a_domain() -> None:
    named = {module.split(".")[0] for _line, module in imports(FACTORY)}
    assert named & set(LAYERS[1:]), "the factory wires the domains in by name"
    # ...and nothing else in app/ does (the test above), so removing a domain fails loudly in one place.


def test_the_factory_names_domains_only_inside_its_wiring_functions() -> None:
    tree = ast.parse(FACTORY.read_text(encoding="utf-8"))
    outside = [
        f"app/__init__.py:{line} imports {module}"
        for line, module in top_level_imports(tree.body)
        if module.split(".")[0] in LAYERS[1:]
    ]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name not in WIRING:
            outside += [
                f"app/__init__.py:{line} imports {module} in {node.name}"
                for line, module in imports_in(node)
                if module.split(".")[0] in LAYERS[1:]
            ]
    assert outside == []


# --- module-level import cycles -------------------------------------------------------------


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module is imported: its body, and the branches
    of its top-level ``if``/``try`` (not ``if TYPE_CHECKING``, not inside functions or classes)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and not _type_checking_only(node):
            yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for part in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _module_level(part)


def top_level_imports(body: list[ast.stmt]) -> Iterator[tuple[int, str]]:
    for node in _module_level(body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif node.level == 0 and node.module:
            yield node.lineno, node.module


def imports_in(node: ast.AST) -> Iterator[tuple[int, str]]:
    for inner in ast.walk(node):
        if isinstance(inner, ast.Import):
            for alias in inner.names:
                yield inner.lineno, alias.name
        elif isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
            yield inner.lineno, inner.module


def _every_statement(tree: ast.Module, factory: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, function-level ones too (but not the factory's wiring functions)."""
    for top in tree.body:
        if factory and isinstance(top, ast.FunctionDef) and top.name in WIRING:
            continue
        for node in ast.walk(top):
            if isinstance(node, ast.Import | ast.ImportFrom):
                yield node


def import_graph(root: Path, packages: tuple[str, ...], *, every_statement: bool = False) -> dict[str, set[str]]:
    """Each module of ``packages`` and the modules of ``packages`` its module-level imports load
    (with ``every_statement``, its function-level imports too).

    ``from pkg import sub`` loads the submodule ``pkg.sub``; it counts as an edge to ``pkg``
    itself only when it takes a name ``pkg`` defines (a package's ``__init__`` importing its
    submodules is no cycle with a submodule importing a sibling).
    """
    paths = {module_name(root, p): p for package in packages for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        statements = (
            _every_statement(tree, path == root / "app" / "__init__.py") if every_statement
            else _module_level(tree.body)
        )
        for node in statements:
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in paths)
                continue
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            submodules = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in paths}
            edges |= submodules
            if base in paths and len(submodules) < len(node.names):
                edges.add(base)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_module_level_import_cycles() -> None:
    assert cycles(import_graph(ROOT, LAYERS)) == []


def test_the_cycle_check_finds_a_loop_through_a_package_and_ignores_init_importing_submodules(
    tmp_path: Path,
) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    files = {
        "pkg/__init__.py": "from pkg import a  # noqa\n",
        "pkg/a.py": "from pkg import b\n",  # the package's __init__ imports a: no cycle with it
        "pkg/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/x.py": "from .y import thing\n",
        "pkg/sub/y.py": "import os\ntry:\n    from pkg.sub.z import other\nexcept ImportError:\n    pass\n",
        "pkg/sub/z.py": "def f():\n    from pkg.sub import x\nfrom pkg.sub.x import thing\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg"] == {"pkg.a"} and graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == set()
    assert cycles(graph) == [["pkg.sub.x", "pkg.sub.y", "pkg.sub.z"]]
