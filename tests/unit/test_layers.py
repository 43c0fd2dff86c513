"""The architecture rule (README, "Architecture"), checked on the source: which layer may import which.

Every import of a project module (at module level or inside a function; `if TYPE_CHECKING:` blocks
aside) must point at the same layer or a lower one; the pure core imports nothing of the project
but `monitor.errors`; the layers below the state store import no I/O library; and no two modules
import each other, directly or round a longer loop.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("monitor", "consumers", "alerts", "driftline")

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS: list[tuple[str, ...]] = [
    # foundation
    ("monitor", "monitor.errors", "monitor.clock", "monitor.config_types", "monitor.gc_tuning"),
    ("monitor.core",),  # pure statistics, sketches, detectors, performance accumulators
    # The config tree and the config sections it assembles (pydantic schemas, no behaviour).
    (
        "monitor.config",
        "alerts.config",
        "alerts.defaults",
        "monitor.api.settings",
        "monitor.sinks.elasticsearch.config",
    ),
    ("monitor.baselines",),
    ("monitor.pipeline",),
    ("monitor.evaluation",),
    ("monitor.state",),
    ("monitor.sinks",),
    ("monitor.service", "monitor.baseline_sharing"),
    ("alerts",),
    # The edges that feed the service; driftline (the client library) runs inside the user's model
    # service, so it imports nothing of the project (test_the_client_library_stands_alone).
    ("monitor.api", "consumers", "driftline"),
    ("monitor.cli", "monitor.demo", "monitor.init"),  # entry points
]
STATE_LAYER = 6
# Libraries that talk to the outside world: none of them below the state store.
IO_LIBRARIES = {
    "kafka", "confluent_kafka", "elasticsearch", "psycopg", "sqlite3", "rocksdict", "httpx", "requests",
    "urllib", "socket", "http", "apscheduler", "fastapi", "uvicorn", "starlette", "prometheus_client",
    "evidently",
}  # fmt: skip
CORE_MAY_IMPORT = {"monitor.errors"}


def layer_of(module: str) -> int:
    best, found = -1, -1
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), number
    if found < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for package in PACKAGES
        for p in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def _type_checking_only(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name | ast.Attribute) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(source: str, module: str, is_package: bool) -> Iterator[str]:
    """Every module named by an import statement of `source` (relative imports resolved)."""

    def walk(node: ast.AST) -> Iterator[ast.AST]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                continue
            yield child
            yield from walk(child)

    package = module if is_package else module.rpartition(".")[0]
    for node in walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            # `from monitor.core import stats` imports the module monitor.core.stats
            yield from (f"{base}.{alias.name}" for alias in node.names)


def project_edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports (names that are not modules, such as classes, drop out)."""
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
        edges[name] = {t for t in targets if t in modules and t != name}
    return edges


def violations(edges: dict[str, set[str]], external: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            low, high = layer_of(source), layer_of(target)
            if high > low:
                found.append(f"{source} (layer {low}) imports {target} (layer {high})")
            core_only = target.startswith("monitor.core") or target in CORE_MAY_IMPORT or target == "monitor"
            if source.startswith("monitor.core") and not core_only:
                found.append(f"the pure core module {source} imports {target}")
        if layer_of(source) < STATE_LAYER:
            for library in sorted(external.get(source, set()) & IO_LIBRARIES):
                found.append(f"{source} (layer {layer_of(source)}) imports the I/O library {library}")
    return found


def external_imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    return {
        name: {
            t.split(".")[0]
            for t in imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
        }
        for name, path in modules.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = project_modules()
    return project_edges(modules), external_imports(modules)


def test_every_import_points_down_or_sideways(graph: tuple[dict[str, set[str]], dict[str, set[str]]]) -> None:
    edges, external = graph
    assert violations(edges, external) == []


def test_no_import_cycles(graph: tuple[dict[str, set[str]], dict[str, set[str]]]) -> None:
    assert cycles(graph[0]) == []


def test_few_top_level_modules_in_monitor() -> None:
    top = sorted(p.name for p in (ROOT / "monitor").glob("*.py"))
    assert len(top) <= 10, top


@pytest.mark.parametrize(
    ("module", "source", "complaint"),
    [
        ("monitor.core.sketch", "from monitor.state.sqlite import SqliteStateStore", "layer 1) imports"),
        ("monitor.core.sketch", "def f():\n    import consumers.kafka", "layer 1) imports consumers.kafka"),
        ("monitor.core.sketch", "from monitor.config import ModelConfig", "pure core module"),
        ("monitor.pipeline.join", "import sqlite3", "I/O library sqlite3"),
        ("monitor.evaluation.drift", "from ..service import Service", "imports monitor.service"),
    ],
)
def test_the_checker_catches_a_wrong_import(module: str, source: str, complaint: str) -> None:
    """The rules above can fail: a planted import of an edge from the core is reported."""
    modules = project_modules()
    names = set(modules)
    planted = {t for t in imports_of(source, module, False) if t in names}
    edges = {module: planted}
    external = {module: {t.split(".")[0] for t in imports_of(source, module, False)}}
    found = violations(edges, external)
    assert any(complaint in line for line in found), found


def test_a_planted_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_documents_match_the_tree() -> None:
    """Every path ARCHITECTURE.md names exists; it and the README's layout name every package of
    monitor/ and every top-level module, so neither drifts from the tree."""
    architecture = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout") :]
    named = set(re.findall(r"((?:monitor|consumers|alerts)/[\w/]*\w(?:\.py)?/?)", architecture))
    assert named, "ARCHITECTURE.md names no paths"
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == [], f"ARCHITECTURE.md names paths that do not exist: {missing}"
    packages = sorted(p.name for p in (ROOT / "monitor").iterdir() if (p / "__init__.py").exists())
    top = sorted(p.name for p in (ROOT / "monitor").glob("*.py") if p.name != "__init__.py")
    for name in packages:
        assert f"monitor/{name}/" in architecture, f"ARCHITECTURE.md does not place monitor/{name}/"
        assert f"{name}/" in layout, f"the README's layout does not list monitor/{name}/"
    for name in top:
        assert f"monitor/{name}" in architecture, f"ARCHITECTURE.md does not place monitor/{name}"
        assert name in layout, f"the README's layout does not list monitor/{name}"


def test_the_client_library_stands_alone(graph: tuple[dict[str, set[str]], dict[str, set[str]]]) -> None:
    """driftline.client runs in the user's model service: it imports no module of the service and
    no heavy library, so importing it loads none (checked in a fresh interpreter)."""
    edges, _ = graph
    outside = {t for s, targets in edges.items() if s.startswith("driftline") for t in targets}
    assert sorted(t for t in outside if not t.startswith("driftline")) == []
    probe = (
        "import sys, driftline.client; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pandas', 'monitor', 'consumers', "
        "'alerts', 'fastapi', 'pydantic', 'kafka', 'scipy', 'sklearn', 'evidently', 'httpx', 'requests'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert loaded.stdout.strip() == "[]", loaded.stdout
