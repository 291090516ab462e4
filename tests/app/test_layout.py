"""The layout's rules, checked on the source: imports go one way, from a domain down to the
foundation and the domains below it, never up; the foundation names a domain only in the
factory (``create_app`` and the CLI's command list in ``app/__init__.py``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Lowest first: each may import those before it, never those after it.
LAYERS = ("app", "consent", "reports", "signing")
# Where the foundation wires the domains in.
FACTORY = ROOT / "app" / "__init__.py"


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
