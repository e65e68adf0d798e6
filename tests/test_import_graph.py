"""The import picture of the package, read with the AST: no cycle between modules, and every
import points down the data flow datasets -> codecs -> metrics -> bench -> reports -> api -> cli
(benchmarks/import_graph.py prints it)."""

import importlib.util
import sys
import textwrap

import pytest

from .conftest import ROOT


def _load_checker():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "benchmarks" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


graph = _load_checker()

# Cycles that live in code other helpers are rewriting this round; each entry must go as soon
# as its cycle does (the test fails on an entry that no longer matches, so none outlives its cycle).
KNOWN_CYCLES = {
    # bench/plan.py imports ratesearch.check_searchable/split_searches inside plan_run, and
    # ratesearch imports Job, Plan and job_key from plan (plan/runner: helper `api`).
    ("gvcbench.bench.plan", "gvcbench.bench.ratesearch"),
    # reports/curves.py imports seeds.mean_over_seeds, and seeds.bd_per_seed imports
    # curves.bd_table inside the function (reports records: helper `records`).
    ("gvcbench.reports.curves", "gvcbench.reports.seeds"),
}


def _describe_cycle(group, edges) -> str:
    members = set(group)
    inside = [e for e in edges if e.source in members and e.target in members and e.kind != "typing"]
    return " <-> ".join(group) + "".join(f"\n    {e.source}:{e.line} imports {e.target} ({e.kind})" for e in inside)


def test_no_import_cycle_between_modules():
    edges = graph.edges()
    found = graph.cycles(edges)
    new = [g for g in found if g not in KNOWN_CYCLES]
    gone = sorted(KNOWN_CYCLES - set(found))
    assert not new, "import cycles:\n  " + "\n  ".join(_describe_cycle(g, edges) for g in new)
    assert not gone, f"these cycles are gone: delete them from KNOWN_CYCLES: {gone}"


def test_imports_point_down_the_data_flow():
    wrong = graph.upward(graph.edges())
    assert not wrong, (
        "imports against the data flow ("
        + " -> ".join(graph.LAYERS)
        + "):\n"
        + "\n".join(
            f"  {e.source}:{e.line} ({graph.part(e.source)}) imports {e.target} ({graph.part(e.target)}, {e.kind})"
            for e in wrong
        )
    )


def test_datasets_codecs_and_metrics_import_nothing_above_them():
    """The brief's own rule, spelled out: whatever else moves, these parts never reach up."""
    above = {"bench", "reports", "api", "cli"}
    wrong = [
        e
        for e in graph.edges()
        if graph.part(e.source) in ("datasets", "codecs", "metrics") and graph.part(e.target) in above
    ]
    wrong += [e for e in graph.edges() if graph.part(e.source) == "bench" and graph.part(e.target) in above - {"bench"}]
    assert not wrong, "\n".join(f"{e.source}:{e.line} imports {e.target}" for e in wrong)


@pytest.fixture
def toy_package(tmp_path):
    """A package with one of each kind of import the checker must tell apart."""
    files = {
        "__init__.py": "__version__ = '1'\n",
        "errors.py": "",
        "datasets/__init__.py": "from .a import A\n",
        "datasets/a.py": "from ..errors import Error\nfrom . import b\nA = 1\n",
        "datasets/b.py": "def f():\n    from .a import A\n    return A\n",  # a cycle through a function
        "metrics/__init__.py": "",
        "metrics/m.py": "def g():\n    from ..reports.r import R\n",  # upward, inside a function
        "reports/__init__.py": "",
        "reports/r.py": "from typing import TYPE_CHECKING\nfrom gvcbench.datasets import a\n"
        "if TYPE_CHECKING:\n    from .s import S\nR = 1\n",
        "reports/s.py": "from .r import R\nfrom .. import __version__\n",  # typing-only back edge: no cycle
    }
    for name, text in files.items():
        path = tmp_path / "gvcbench" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / "gvcbench"


def test_the_checker_finds_cycles_and_upward_imports(toy_package):
    edges = graph.edges(toy_package)
    kinds = {(e.source, e.target): e.kind for e in edges}
    assert kinds[("gvcbench.datasets.a", "gvcbench.datasets.b")] == "module"
    assert kinds[("gvcbench.datasets.b", "gvcbench.datasets.a")] == "lazy"
    assert kinds[("gvcbench.reports.r", "gvcbench.reports.s")] == "typing"
    assert kinds[("gvcbench.reports.r", "gvcbench.datasets.a")] == "module"  # from a package import a module
    assert graph.cycles(edges) == [("gvcbench.datasets.a", "gvcbench.datasets.b")]
    wrong = [(e.source, e.target, e.line) for e in graph.upward(edges)]
    assert wrong == [("gvcbench.metrics.m", "gvcbench.reports.r", 2)]
    table = {(a, b): n for a, b, n in graph.part_table(edges)}
    assert table[("metrics", "reports")] == {"module": 0, "lazy": 1, "typing": 0}
    assert table[("reports", "root")]["module"] == 1
