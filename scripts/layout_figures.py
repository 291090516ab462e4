"""Print the layout's figures for a checkout: lines per package, the largest files, upward imports,
and import cycles (module-level, the rule; and at any depth, function-level imports included).

    python scripts/layout_figures.py [CHECKOUT]    # default: this checkout

The rules themselves are tests/app/test_layout.py; this reuses its functions on any tree, so a
before/after comparison is one run on each checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "app"))

import test_layout as layout

PACKAGES = ("app", "consent", "signing", "reports", "migrations", "tests", "bench")


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent).resolve()
    layout.ROOT, layout.FACTORY = root, root / "app" / "__init__.py"
    print(f"layout figures for {root}")
    sizes: list[tuple[int, str]] = []
    for package in PACKAGES:
        files = sorted((root / package).rglob("*.py"))
        lines = [(len(p.read_text(encoding="utf-8").splitlines()), str(p.relative_to(root))) for p in files]
        sizes += [entry for entry in lines if package not in ("tests", "bench", "migrations")]
        print(f"  {package:<11} {sum(n for n, _ in lines):>6} lines in {len(files)} files")
    print("  largest files (app, consent, signing, reports):")
    for n, name in sorted(sizes, reverse=True)[:8]:
        print(f"    {n:>5}  {name}{'  (over 400)' if n > 400 else ''}")
    upward = layout.upward_imports()
    print(f"  upward imports: {len(upward)}")
    for line in upward:
        print(f"    {line}")
    graph = layout.import_graph(root, layout.LAYERS)
    found = layout.cycles(graph)
    print(f"  module-level import graph: {len(graph)} modules, {sum(map(len, graph.values()))} edges, "
          f"{len(found)} cycles")
    for cycle in found:
        print(f"    {' <-> '.join(cycle)}")
    deep = layout.cycles(layout.import_graph(root, layout.LAYERS, every_statement=True))
    print(f"  cycles counting function-level imports too: {len(deep)}")
    for cycle in deep:
        print(f"    {' <-> '.join(cycle)}")


if __name__ == "__main__":
    main()
