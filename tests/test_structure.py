"""The package's shape: no import cycle between its modules, no module importing another's
private names, modules kept small."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("backtests", "models", "strategies")
MAX_LINES = 520  # "~500": a module past this wants splitting by job


def _modules() -> dict[str, Path]:
    out = {}
    for root in ROOTS:
        for path in (REPO / root).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out["lstm_backtrader." + ".".join(parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, str, list[str]]]:
    """(imported module, kind, names) of every import of the package (function-level too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [a.name for a in node.names]
            for name in names:  # `from pkg import module` imports that module
                if f"{node.module}.{name}" in modules:
                    found.append((f"{node.module}.{name}", "module", []))
            if node.module in modules:
                found.append((node.module, "from", names))
        elif isinstance(node, ast.Import):
            found += [(a.name, "import", []) for a in node.names if a.name in modules]
    return found


def test_no_import_cycle_between_modules() -> None:
    modules = _modules()
    graph = {
        name: {dep for dep, _, _ in _imports(path, modules) if dep != name}
        for name, path in modules.items()
    }
    # a package's __init__ re-exporting its own modules is not a dependency of those modules
    for name in graph:
        graph[name] = {d for d in graph[name] if not name.startswith(d + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep) :] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_no_module_imports_another_modules_private_names() -> None:
    modules = _modules()
    offenders = [
        f"{path.relative_to(REPO)} imports {name} from {dep}"
        for path in modules.values()
        for dep, kind, names in _imports(path, modules)
        if kind == "from"
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not offenders, offenders


def test_modules_stay_small() -> None:
    sizes = {
        str(p.relative_to(REPO)): len(p.read_text(encoding="utf-8").splitlines())
        for p in _modules().values()
    }
    big = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"
