"""The import graph of agent/ and training/, read from the source (ast), module level and function level.

Rules, each a test below:

1. **No circle** among project modules.  Every import counts, at module level
   or inside a function; only ``if TYPE_CHECKING:`` imports (never executed)
   are left out.
2. **The agent stands alone**: nothing in ``agent/`` imports ``training`` or
   ``bench``, and its third-party imports are its declared dependencies
   (``[project.dependencies]``: numpy, psutil, prometheus_client, yaml, the
   TFLite interpreter, bcrypt).  So no TensorFlow, Keras, scikit-learn, SciPy,
   matplotlib or Optuna on a host, not even for type hints.
3. **Imports at the top**: no function-level import of a project module, and
   no ``importlib.import_module``/``__import__`` (an edge this test could not
   see).  A function-level import of a third-party library is allowed only for
   the names in ``LAZY_THIRD_PARTY`` (the interpreter fallback and the optional
   extras, so that importing a module stays cheap); the standard library may
   be imported where it is used (the agent's RSS: ``ssl`` only with TLS).
4. **Pure modules do no I/O**: the modules in ``PURE`` (scoring, windowing,
   POT, rates, calibration maths, alert and detection figures, PCA) import
   only ``PURE_STDLIB``, the maths libraries (numpy, scipy, scikit-learn) and
   other ``PURE`` modules.  So no ``os``, ``pathlib``, ``io``, ``json``,
   ``socket``, ``http``, ``subprocess``, ``time`` (a clock is an input: pass
   the timestamp), ``threading``, ``psutil``, ``prometheus_client``, ``yaml``
   and no ``logging`` either: a pure function returns what happened and its
   caller logs it.  Type-only imports (``if TYPE_CHECKING:``) are allowed.

5. **Tests mirror modules**: ``agent/x.py`` is tested in
   ``tests/agent/test_x.py`` (``training/`` likewise; a subpackage such as
   ``agent/collect/collectors/`` in one ``test_collectors.py``), except the modules in
   ``TESTED_ELSEWHERE``, which names where they are exercised instead.

6. **Layers of the agent** (``AGENT_LAYERS``, the flow of data; each subpackage's ``__init__`` says
   the same): ``score`` and ``collect`` import no other subpackage; ``history`` only ``collect``
   (the feature catalog); ``model`` only ``score``; ``calibrate`` ``score``, ``model``, ``history`` and
   ``collect``; ``serve`` ``score``, ``model``, ``calibrate`` and ``history`` (the score ring);
   ``runtime`` any of them, and only ``agent.cli`` imports ``runtime``.  The base modules
   (``AGENT_BASE``: config, state, memory, build info, journal) import nothing of the agent and may
   be imported by all.  ``backtest`` drives the cycle without the daemon: it never imports
   ``agent.runtime.daemon``.

7. **Modules stay short**: every module of ``agent/``, ``training/`` and ``bench/`` (``SIZED``) is
   at most ``MAX_LINES`` (300) lines, as ``wc -l`` counts them; a longer one is split along a seam
   (a group of functions with one job) into a module of its own.

A runtime check completes the static one: importing the agent's entry points
loads no TensorFlow/Keras/training, and ``anomaly-train``'s parser loads no
heavy library.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "training")
SIZED = ("agent", "training", "bench")  # rule 7
MAX_LINES = 300

# Third-party libraries a function may import (rule 3), and why.
LAZY_THIRD_PARTY = {
    "ai_edge_litert": "the TFLite interpreter, tflite_runtime the fallback (agent.model.predictors, training.convert)",
    "tflite_runtime": "the interpreter fallback when ai-edge-litert is not installed (agent.model.predictors)",
    "bcrypt": "only when basic auth is configured (agent.serve.webconfig)",
    "cryptography": "only when model.url_public_key is configured (agent.model.signature)",
    "tensorflow": "the [train] extra: loads only for commands that build or convert a network",
    "keras": "the [train] extra, as TensorFlow",
    "sklearn": "the [train] extra: baselines, tuning and average precision",
    "matplotlib": "the [train] extra: report figures only",
    "optuna": "the [train] extra: `anomaly-train tune` only",
    "ray": "the [fleet] extra: `anomaly-train fleet fit` on Ray only (training.fleet.run)",
    "tqdm": "the fleet progress bar (training.fleet.run)",
    "threadpoolctl": "ships with scikit-learn: thread limits while the report runs baselines",
}

# The agent's declared runtime dependencies (pyproject [project.dependencies]) as import names (rule 2).
AGENT_THIRD_PARTY = {
    "numpy",
    "psutil",
    "prometheus_client",
    "yaml",
    "ai_edge_litert",
    "tflite_runtime",
    "bcrypt",
    "cryptography",
}

# Rule 6: which agent subpackages each one may import (besides itself and AGENT_BASE).
AGENT_LAYERS: dict[str, set[str]] = {
    "score": set(),
    "collect": set(),
    "history": {"collect"},
    "model": {"score"},
    "calibrate": {"score", "model", "history", "collect"},
    "serve": {"score", "model", "calibrate", "history"},
    "runtime": {"score", "collect", "model", "calibrate", "history", "serve"},
}
AGENT_BASE = {"agent", "agent.config", "agent.typed", "agent.state", "agent.memory", "agent.buildinfo", "agent.journal"}
AGENT_TOP = AGENT_BASE | {"agent.cli", "agent.__main__"}

# Modules that compute only (rule 4).
PURE = {
    "agent.score.alerts",
    "agent.model.fields",
    "agent.calibrate.fit",
    "agent.calibrate.metric_tier",
    "agent.calibrate.saved",
    "agent.model.ensemble",
    "agent.collect.features",
    "agent.calibrate.pot",
    "agent.calibrate.quantiles",
    "agent.collect.rates",
    "agent.score.scoring",
    "agent.score.snapshot",
    "agent.score.window",
    "training.delay",
    "training.detector",
    "training.incidents",
    "training.metrics",
    "training.pca",
}
PURE_STDLIB = {
    "__future__",
    "abc",
    "bisect",
    "collections",
    "copy",
    "dataclasses",
    "enum",
    "fractions",
    "functools",
    "heapq",
    "itertools",
    "math",
    "numbers",
    "operator",
    "re",
    "statistics",
    "types",
    "typing",
    "warnings",
}
MATHS = {"numpy", "scipy", "sklearn"}


# Modules without a test file of their own (rule 5), and the tests that exercise them; shrink it, do not grow it.
TESTED_ELSEWHERE = {
    "agent.model.write": "tests/agent/model/test_ensemble.py",
    "agent.calibrate.fit": "tests/agent/calibrate/test_calibrator.py",
    "agent.runtime.cycle": "tests/agent/runtime/test_daemon.py",
    "agent.collect.features": "tests/agent/collect/test_sampler.py",
    "agent.history.reader": "tests/agent/runtime/test_backtest.py",
    "agent.memory": "bench/startup.py",
    "agent.model.predictors": "tests/agent/model/test_loaded.py",
    "agent.score.snapshot": "tests/agent/serve/test_exporter.py",
    "agent.serve.status_cmd": "tests/agent/test_cli.py",
    "agent.runtime.hoststate": "tests/agent/runtime/test_daemon.py",
    "agent.calibrate.persist": "tests/agent/calibrate/test_calibrator.py",
    "agent.serve.page": "tests/agent/serve/test_http.py",
    "agent.serve.api": "tests/agent/serve/test_http.py",
    "training.bundle_detector": "tests/training/test_evaluate.py",
    "training.bundle_meta": "tests/training/test_fit.py",
    "training.cli": "tests/training/test_fit_cli.py",
    "training.convert": "tests/training/test_models.py",
    "training.detector": "tests/training/test_evaluate.py",
    "training.history": "tests/training/test_fit_history.py",
    "training.options": "tests/training/test_fit.py",
    "training.plots": "tests/training/test_report.py",
    "training.report_data": "tests/training/test_report.py",
    "training.report_sections": "tests/training/test_report.py",
    "training.tables": "tests/training/test_evaluate.py",
    "training.train": "tests/training/test_fit.py",
}


@dataclass(frozen=True)
class Import:
    target: str  # a project module when it is one, else the dotted name as written
    line: int
    in_function: bool
    type_only: bool  # under `if TYPE_CHECKING:`


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            parts = p.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(module: str, name: str | None) -> str:
    """``from module import name``: the submodule when ``name`` is one, else ``module``."""
    if name is not None and f"{module}.{name}" in MODULES:
        return f"{module}.{name}"
    return module


def _imports(path: Path) -> list[Import]:
    out: list[Import] = []

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            out.extend(Import(a.name, node.lineno, in_function, type_only) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import; write the absolute module"
            assert node.module is not None
            out.extend(Import(_resolve(node.module, a.name), node.lineno, in_function, type_only) for a in node.names)
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("import_module", "__import__"):
                out.append(Import("<dynamic import>", node.lineno, in_function, type_only))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, in_function, True)
            for child in node.orelse:
                visit(child, in_function, type_only)
            return
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner, type_only)

    visit(ast.parse(path.read_text(), str(path)), False, False)
    return out


IMPORTS = {m: _imports(p) for m, p in MODULES.items()}


def _top(name: str) -> str:
    return name.split(".")[0]


def _where(module: str, imp: Import) -> str:
    return f"{MODULES[module].relative_to(ROOT)}:{imp.line}: {imp.target}"


def test_the_walk_sees_both_packages_and_their_edges() -> None:
    # guards the test itself: a parsing slip must not turn every rule vacuous
    assert {"agent.cli", "agent.runtime.daemon", "agent.score.scoring", "training.cli", "training.fit"} <= set(MODULES)
    assert "agent.score.scoring" in {i.target for i in IMPORTS["agent.calibrate.fit"]}
    assert any(i.in_function for i in IMPORTS["agent.model.predictors"])
    assert not PURE - set(MODULES), f"PURE names modules that do not exist: {sorted(PURE - set(MODULES))}"


def test_no_import_circle() -> None:
    edges = {
        m: sorted({i.target for i in imps if i.target in MODULES and i.target != m and not i.type_only})
        for m, imps in IMPORTS.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    circles: list[str] = []

    def visit(u: str) -> None:
        state[u] = 1
        path.append(u)
        for v in edges[u]:
            if state.get(v) == 1:
                circles.append(" -> ".join(path[path.index(v) :] + [v]))
            elif v not in state:
                visit(v)
        path.pop()
        state[u] = 2

    for m in sorted(MODULES):
        if m not in state:
            visit(m)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_agent_imports_only_itself_the_stdlib_and_its_dependencies() -> None:
    bad = sorted(
        {
            _where(m, i)
            for m, imps in IMPORTS.items()
            if m.startswith("agent")
            for i in imps
            if _top(i.target) != "agent"
            and _top(i.target) not in sys.stdlib_module_names
            and _top(i.target) not in AGENT_THIRD_PARTY
        }
    )
    assert not bad, "agent/ imports outside its dependencies (training, bench, TensorFlow, Keras ...):\n" + "\n".join(
        bad
    )


def test_function_level_imports_are_the_listed_third_party_libraries_only() -> None:
    bad = sorted(
        {
            _where(m, i)
            for m, imps in IMPORTS.items()
            for i in imps
            if i.in_function
            and not i.type_only
            and _top(i.target) not in LAZY_THIRD_PARTY
            and _top(i.target) not in sys.stdlib_module_names
        }
    )
    dynamic = sorted({_where(m, i) for m, imps in IMPORTS.items() for i in imps if i.target == "<dynamic import>"})
    assert not bad, "function-level imports of project modules or unlisted libraries:\n" + "\n".join(bad)
    assert not dynamic, "dynamic imports hide edges from this test; import statically:\n" + "\n".join(dynamic)


def test_pure_modules_import_no_io() -> None:
    bad = sorted(
        {
            _where(m, i)
            for m in PURE
            for i in IMPORTS[m]
            if not i.type_only and not (i.target in PURE or _top(i.target) in PURE_STDLIB or _top(i.target) in MATHS)
        }
    )
    assert not bad, (
        "pure modules importing I/O (or a module that is not pure); pass data in, or import the name "
        "under `if TYPE_CHECKING:` when it is only a type:\n" + "\n".join(bad)
    )


def _loaded_after(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return out.stdout.split()


def test_agent_entry_points_load_no_tensorflow_or_training() -> None:
    loaded = _loaded_after(
        "import agent.cli, agent.runtime.daemon, agent.model.loaded, agent.serve.http, agent.serve.exporter, "
        "agent.runtime.backtest"
    )
    assert not [m for m in loaded if _top(m) in ("tensorflow", "keras", "training", "sklearn", "scipy", "bench")]


def test_training_cli_parser_loads_no_heavy_library() -> None:
    loaded = _loaded_after("from training.cli import build_parser; build_parser()")
    assert not [m for m in loaded if _top(m) in ("tensorflow", "keras", "sklearn", "matplotlib", "optuna")]


def _test_file(module: str) -> Path:
    """Tests mirror modules: agent.score.window -> tests/agent/score/test_window.py; a module of a deeper
    package is tested with its package (agent.collect.collectors.cpu -> tests/agent/collect/test_collectors.py);
    agent.cli -> tests/agent/test_cli.py; training.fleet.run -> tests/training/test_fleet.py."""
    parts = module.split(".")
    if parts[0] == "agent" and parts[1] in AGENT_LAYERS and len(parts) > 2:
        return ROOT / "tests" / "agent" / parts[1] / f"test_{parts[2]}.py"
    return ROOT / "tests" / parts[0] / f"test_{parts[1]}.py"


def test_every_module_has_its_test_file() -> None:
    modules = [m for m, p in MODULES.items() if "." in m and p.name not in ("__init__.py", "__main__.py")]
    missing = sorted(m for m in modules if m not in TESTED_ELSEWHERE and not _test_file(m).exists())
    stale = sorted(m for m in TESTED_ELSEWHERE if m not in MODULES or _test_file(m).exists())
    gone = sorted(f for f in TESTED_ELSEWHERE.values() if not (ROOT / f).exists())
    assert not missing, "modules without tests/<package>/test_<module>.py:\n" + "\n".join(missing)
    assert not stale, f"TESTED_ELSEWHERE lists modules that are gone or now have their own test file: {stale}"
    assert not gone, f"TESTED_ELSEWHERE names test files that do not exist: {gone}"


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "agent" and len(parts) >= 2 and parts[1] in AGENT_LAYERS else None


def test_every_agent_module_sits_in_a_layer_or_the_base() -> None:
    loose = sorted(m for m in MODULES if m.startswith("agent") and m not in AGENT_TOP and _layer(m) is None)
    assert not loose, f"agent modules outside the layers and the base (add them to a subpackage): {loose}"
    assert set(AGENT_LAYERS) == {p.name for p in (ROOT / "agent").iterdir() if (p / "__init__.py").is_file()} - {
        "default_model"
    }


def test_agent_layers_import_only_what_their_flow_allows() -> None:
    bad = []
    for m, imps in IMPORTS.items():
        if not m.startswith("agent"):
            continue
        own = _layer(m)
        for i in imps:
            if not i.target.startswith("agent") or i.target not in MODULES or i.type_only:
                continue
            target = _layer(i.target)
            if m in AGENT_BASE and i.target not in AGENT_BASE:
                bad.append(f"{_where(m, i)} (a base module imports only the base)")
            elif target is None and i.target not in AGENT_BASE and m not in AGENT_TOP:
                bad.append(f"{_where(m, i)} (only agent.cli imports the entry points)")
            elif own is not None and target is not None and target != own and target not in AGENT_LAYERS[own]:
                bad.append(f"{_where(m, i)} ({own} may import {sorted(AGENT_LAYERS[own]) or 'no other layer'})")
    assert not bad, "layering broken:\n" + "\n".join(sorted(bad))


def test_the_backtest_drives_the_cycle_without_the_daemon() -> None:
    targets = {i.target for i in IMPORTS["agent.runtime.backtest"]}
    assert "agent.runtime.cycle" in targets
    assert "agent.runtime.daemon" not in targets
    assert "agent.runtime.cycle" in {i.target for i in IMPORTS["agent.runtime.daemon"]}


def test_every_module_is_at_most_max_lines_long() -> None:
    sizes = {p: p.read_bytes().count(b"\n") for pkg in SIZED for p in sorted((ROOT / pkg).rglob("*.py"))}
    assert len(sizes) > len(MODULES)  # bench/ is walked too
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p, n in sizes.items() if n > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines (split one along a seam):\n" + "\n".join(long)
