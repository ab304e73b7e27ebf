"""training/ imports its project modules at module level and without a circle; the CLI starts without TensorFlow.

Function-level imports are kept for the heavy optional libraries only
(TensorFlow/Keras, scikit-learn, matplotlib, Optuna, the TFLite interpreter,
threadpoolctl), so ``anomaly-train --help`` stays fast.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAZY_OK = {"keras", "tensorflow", "sklearn", "matplotlib", "optuna", "ai_edge_litert", "threadpoolctl"}


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted((ROOT / "training").rglob("*.py")):
        parts = p.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _imports(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return []


def test_function_level_imports_are_heavy_optional_libraries_only() -> None:
    bad = []
    for name, path in _modules().items():
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    bad += [f"{name}:{node.lineno}: {imp}" for imp in _imports(node)[:1]
                            if imp.split(".")[0] not in LAZY_OK]
    assert not bad, "function-level imports:\n" + "\n".join(bad)


def test_training_import_graph_has_no_circle() -> None:
    mods = _modules()
    edges = {m: {i for n in ast.walk(ast.parse(p.read_text())) for i in _imports(n) if i in mods and i != m}
             for m, p in mods.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(u: str) -> None:
        state[u] = 1
        path.append(u)
        for v in sorted(edges[u]):
            assert state.get(v) != 1, "import circle: " + " -> ".join(path[path.index(v):] + [v])
            if v not in state:
                visit(v)
        path.pop()
        state[u] = 2

    for m in mods:
        if m not in state:
            visit(m)


def test_cli_parser_loads_no_heavy_library() -> None:
    code = ("import sys; from training.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn', 'matplotlib', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
