"""The import graph of MindHit's packages and the layer rules it must keep.

Layers, bottom to top (each may import the ones below it and itself):

* ``schema``: contracts; imports nothing of the project;
* the core, ``mindhit`` without ``mindhit.cli``: settings, logs, streams, keys, db,
  clock, the Redis client factory, …; imports ``schema`` only;
* the services ``ingest``, ``processors``, ``projector``, ``web``: each imports
  ``schema``, the core and itself, never another service;
* the composition layer, ``mindhit.cli`` and its modules: may import anything, and
  nothing imports it.

And no import cycle between any two modules. ``from a import b`` is an edge to the
module ``a.b`` when there is one, else to ``a`` (as import-linter counts it; the
parents a submodule import also runs are not edges). Every import counts: module level,
inside functions, under ``TYPE_CHECKING``, relative, and ``importlib.import_module`` /
``__import__`` with a literal name; a dynamic import with a computed name is itself a
violation (the graph could not see it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "COMPOSITION",
    "PACKAGES",
    "SERVICES",
    "build_graph",
    "cycles",
    "dynamic_imports",
    "layer_of",
    "layer_violations",
    "module_names",
]

PACKAGES = ("schema", "mindhit", "ingest", "processors", "projector", "web")
SERVICES = ("ingest", "processors", "projector", "web")
COMPOSITION = "mindhit.cli"

Graph = dict[str, set[str]]


def module_names(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name → file, for every Python file of ``packages`` under ``root``."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    """The project module ``name`` refers to (the longest known prefix), if any."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _base(module: str, is_package: bool, level: int) -> list[str]:
    parts = module.split(".") if is_package else module.split(".")[:-1]
    return parts[: len(parts) - (level - 1)] if level > 1 else parts


def _literal_dynamic_import(node: ast.Call) -> str | None:
    """``importlib.import_module("x")`` / ``__import__("x")`` → ``"x"``."""
    func = node.func
    named = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in ("__import__", "import_module")
    )
    if named and node.args and isinstance(node.args[0], ast.Constant):
        value = node.args[0].value
        return value if isinstance(value, str) else None
    return None


def _targets(module: str, path: Path, modules: Mapping[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*_base(module, is_package, node.level), base]).strip(".")
            for alias in node.names:  # a submodule by that name, else the module itself
                full = f"{base}.{alias.name}"
                names.append(full if full in modules else base)
        elif isinstance(node, ast.Call):
            literal = _literal_dynamic_import(node)
            if literal:
                names.append(literal)
    targets = set()
    for name in names:
        target = _resolve(name, modules)
        if target is not None and target != module:
            targets.add(target)
    return targets


def build_graph(root: Path, packages: Iterable[str] = PACKAGES) -> Graph:
    """Module → the project modules it imports (anywhere in its body)."""
    modules = module_names(root, packages)
    return {module: _targets(module, path, modules) for module, path in modules.items()}


def dynamic_imports(root: Path, packages: Iterable[str] = PACKAGES) -> list[str]:
    """``file:line`` of every import by a computed name (invisible to the graph)."""
    found: list[str] = []
    for path in module_names(root, packages).values():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and _literal_dynamic_import(node) is None
                and (
                    (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                    or (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                )
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def layer_of(module: str) -> str:
    """``schema``, ``core``, ``service:<name>`` or ``composition``."""
    top = module.split(".")[0]
    if module == COMPOSITION or module.startswith(COMPOSITION + "."):
        return "composition"
    if top == "mindhit":
        return "core"
    if top == "schema":
        return "schema"
    return f"service:{top}"


def _allowed(source: str, target: str) -> bool:
    src, dst = layer_of(source), layer_of(target)
    if src == dst or src == "composition":
        return True
    if dst == "schema":
        return True
    return dst == "core" and src != "schema"


def layer_violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Every import that goes against the layers, as ``source -> target (why)``."""
    found: list[str] = []
    for source in sorted(graph):
        for target in sorted(graph[source]):
            if not _allowed(source, target):
                why = f"{layer_of(source)} imports {layer_of(target)}"
                found.append(f"{source} -> {target} ({why})")
    return found


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every set of modules that import each other in a circle (Tarjan's SCCs, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found
