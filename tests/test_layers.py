"""The layering holds: a module imports only its own layer or lower ones, and no modules import
each other in a cycle. Imports inside functions count too: a lazy import is still a dependency.

Lowest first: common <- envs <- perception <- networks <- agents <- benchmarks.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("common", "envs", "perception", "networks", "agents", "benchmarks")
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for layer in LAYERS for p in sorted((ROOT / layer).rglob("*.py"))}


def imported_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that ``path`` imports, at any depth of its code."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def resolve(target: str) -> None:
        # `import a.b.c` depends on a.b.c; a name that is not a module counts as its package.
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target:
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                resolve(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # Benchmark scripts import their siblings as top-level modules (sys.path trick).
            if name.startswith("benchmarks.") and f"benchmarks.{stem}" in modules:
                stem = f"benchmarks.{stem}"
            for alias in node.names:
                full = f"{stem}.{alias.name}"
                resolve(full if full in modules else stem)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imported_modules(path, modules) for name, path in modules.items()}


def test_every_layer_has_modules():
    layers_seen = {name.split(".")[0] for name in project_modules()}
    assert layers_seen == set(LAYERS)


def test_no_layer_imports_a_higher_one():
    upward = [
        f"{module} imports {dep}"
        for module, deps in import_graph().items()
        for dep in deps
        if RANK[dep.split(".")[0]] > RANK[module.split(".")[0]]
    ]
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(upward))


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in graph.get(node, ()):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "modules that import each other: " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycle_finder(graph, expected):
    assert find_cycles(graph) == expected


def test_lazy_and_relative_imports_are_seen(tmp_path, monkeypatch):
    """A function-level import counts, as does `from . import x` inside a package."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "__init__.py").write_text("")
    (tmp_path / "envs" / "lake.py").write_text("def f():\n    from agents import loop\n")
    (tmp_path / "envs" / "maps.py").write_text("from . import lake\n")
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "__init__.py").write_text("")
    (tmp_path / "agents" / "loop.py").write_text("")
    modules = {module_name(p): p for p in tmp_path.rglob("*.py")}
    assert imported_modules(tmp_path / "envs" / "lake.py", modules) == {"agents.loop"}
    assert imported_modules(tmp_path / "envs" / "maps.py", modules) == {"envs.lake"}
