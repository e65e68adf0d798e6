"""The package's import picture, read from the source with the AST (nothing is imported).

    python benchmarks/import_graph.py            # which part of gvcbench imports which
    python benchmarks/import_graph.py --modules  # and every module-to-module edge
    python benchmarks/import_graph.py --root OTHER/gvcbench   # another checkout's picture

Prints how many imports go from each part of the package to each other part, the import
cycles between modules and the imports that point against the data flow
datasets -> codecs -> metrics -> bench -> reports -> api -> cli (a part imports only the
parts before it; the shared helpers at the top level, such as errors.py and tools.py,
import no part; the package root, gvcbench/__init__.py, is free both ways, and the
cycle check covers it). ``tests/test_import_graph.py`` holds the package to these rules.

Every import counts, also one inside a function (it runs when the function is called)
and, for the direction, one under ``if TYPE_CHECKING:``; cycles are counted over the
imports that run (not the typing-only ones).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "gvcbench"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
# The data flow: a part may import the parts before it, never those after. "api" is
# gvcbench/api* (the Python surface over bench and reports that the command line is built on).
LAYERS = ("datasets", "codecs", "metrics", "bench", "reports", "api", "cli")
SHARED = "shared"  # the other top-level modules: errors, registry, tools, processes, ...
ROOT_PART = "root"  # gvcbench/__init__.py: the version and the public names; its cycles are checked


@dataclass(frozen=True)
class Edge:
    source: str  # the importing module, e.g. gvcbench.metrics.base
    target: str  # the imported module of the package, e.g. gvcbench.metrics.axes
    line: int
    kind: str  # "module" (runs on import), "lazy" (inside a function) or "typing" (TYPE_CHECKING only)


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its ``__init__``)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def part(module: str) -> str:
    """The part of the package a module belongs to (one of ``LAYERS``, ``SHARED`` or ``ROOT_PART``)."""
    pieces = module.split(".")
    if len(pieces) == 1:
        return ROOT_PART
    if pieces[1].startswith("api"):
        return "api"
    if pieces[1] == "__main__":
        return "cli"
    return pieces[1] if pieces[1] in LAYERS else SHARED


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    anchor = module.split(".") if is_package else module.split(".")[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join(anchor + ([node.module] if node.module else []))


def _targets(node: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in known:
                yield alias.name
    elif isinstance(node, ast.ImportFrom):
        base = _base(module, is_package, node)
        for alias in node.names:
            if f"{base}.{alias.name}" in known:  # from .pkg import submodule
                yield f"{base}.{alias.name}"
            elif base in known:
                yield base


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Every node with the kind of import it would be (see ``Edge.kind``)."""
    stack: list[tuple[ast.AST, str]] = [(tree, "module")]
    while stack:
        node, kind = stack.pop()
        yield node, kind
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend((child, "typing") for child in node.body)
            stack.extend((child, kind) for child in node.orelse)
            continue
        inner = "lazy" if kind == "module" and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else kind
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))


def edges(root: Path = ROOT) -> list[Edge]:
    """Every import of one package module by another."""
    found = modules(root)
    known = set(found)
    out = set()
    for module, path in found.items():
        tree = ast.parse(path.read_text(), str(path))
        for node, kind in _walk(tree):
            for target in _targets(node, module, path.name == "__init__.py", known):
                if target != module:
                    out.add(Edge(module, target, getattr(node, "lineno", 0), kind))
    return sorted(out, key=lambda e: (e.source, e.target, e.line))


def cycles(found: list[Edge]) -> list[tuple[str, ...]]:
    """Groups of modules that import each other, directly or round a circle (Tarjan's
    strongly connected components over the imports that run)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for e in found:
        if e.kind != "typing":
            graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(group) > 1:
                groups.append(tuple(sorted(group)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def may_import(source_part: str, target_part: str) -> bool:
    """The direction rule: within a part, or to a part earlier in the data flow; shared
    helpers are for everyone and import no part; the package root may be imported by any
    module (for ``__version__``) and may import any (for its public names)."""
    if target_part in (source_part, SHARED, ROOT_PART) or source_part == ROOT_PART:
        return True
    if source_part == SHARED:
        return False
    return LAYERS.index(target_part) < LAYERS.index(source_part)


def upward(found: list[Edge]) -> list[Edge]:
    """Imports against the data flow."""
    return [e for e in found if not may_import(part(e.source), part(e.target))]


def part_table(found: list[Edge]) -> list[tuple[str, str, dict[str, int]]]:
    """(importing part, imported part, module-to-module edges by kind) for every pair of parts."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"module": 0, "lazy": 0, "typing": 0})
    for e in found:
        a, b = part(e.source), part(e.target)
        if a != b:
            counts[(a, b)][e.kind] += 1
    order = {name: i for i, name in enumerate((ROOT_PART, SHARED, *LAYERS))}
    return sorted(((a, b, n) for (a, b), n in counts.items()), key=lambda r: (order[r[0]], order[r[1]]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modules", action="store_true", help="also list every module-to-module edge")
    ap.add_argument("--root", type=Path, default=ROOT, help="the package folder (another checkout's, say)")
    args = ap.parse_args()
    found = edges(args.root)
    print(f"{len(modules(args.root))} modules, {len(found)} imports between them (data flow: {' -> '.join(LAYERS)})\n")
    print(f"| {'part':<9}| {'imports':<9}| on import | in a function | typing only |")
    print(f"|{'-' * 10}|{'-' * 10}|-----------|---------------|-------------|")
    for a, b, n in part_table(found):
        mark = "" if may_import(a, b) else "  <- against the flow"
        print(f"| {a:<9}| {b:<9}| {n['module']:>9} | {n['lazy']:>13} | {n['typing']:>11} |{mark}")
    groups = cycles(found)
    print(f"\nimport cycles between modules: {len(groups) or 'none'}")
    for group in groups:
        print("  " + " <-> ".join(group))
    wrong = upward(found)
    print(f"imports against the data flow: {len(wrong) or 'none'}")
    for e in wrong:
        print(f"  {e.source}:{e.line} imports {e.target} ({e.kind})")
    if args.modules:
        print()
        for e in found:
            print(f"{e.source} -> {e.target}" + ("" if e.kind == "module" else f"  ({e.kind})"))
    return 1 if groups or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
