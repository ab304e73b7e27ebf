"""Subprocess worker that measures the agent's own pieces in a clean interpreter.

``python -m bench.agent_worker steps BUNDLE``
    RSS/PSS after each start-up step of ``anomaly-agent`` (bare interpreter,
    each import, model load, registry + first render), so memory can be
    attributed to what costs it.
``python -m bench.agent_worker scale BUNDLE --repeats N``
    RSS after import, after ``load_model`` and after N scored and rendered
    cycles, plus per-cycle times of ``Scorer.score_window`` and of one
    ``generate_latest`` (the scaling benchmark).

Prints one JSON object.  Never imports TensorFlow (the bundle is read by the
agent's own loader).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from typing import Any

from bench.procmem import proc_mem

STEP_IMPORTS = (
    ("numpy", "numpy"),
    ("psutil", "psutil"),
    ("prometheus_client", "prometheus_client"),
    ("yaml", "yaml"),
    ("ai_edge_litert", "ai_edge_litert.interpreter"),
    ("agent modules", "agent.cli"),
    ("agent.runtime.daemon (+wsgiref, scheduler)", "agent.runtime.daemon"),
    ("agent.collect.sampler", "agent.collect.sampler"),
)


def _mem() -> dict[str, float]:
    m = proc_mem()
    return {k: round(m[k], 2) for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Pss", "Threads") if k in m}


def steps(bundle: str) -> dict[str, Any]:
    out = [{"step": "bare interpreter", **_mem(), "seconds": 0.0}]
    for label, mod in STEP_IMPORTS:
        t0 = time.perf_counter()
        importlib.import_module(mod)
        out.append({"step": f"import {label}", **_mem(), "seconds": round(time.perf_counter() - t0, 4)})
    from prometheus_client import CollectorRegistry, generate_latest

    from agent.config import load_config
    from agent.model.loaded import load_model
    from agent.runtime.cycle import Agent
    from agent.runtime.sources import ReplaySource

    t0 = time.perf_counter()
    model = load_model(bundle)
    out.append(
        {"step": "load_model (bundle + interpreter + probe)", **_mem(), "seconds": round(time.perf_counter() - t0, 4)}
    )
    from bench.common import DEMO_DATA, DEMO_MACHINE  # numpy is loaded by now

    t0 = time.perf_counter()
    src = ReplaySource(DEMO_DATA, DEMO_MACHINE, len(model.bundle.features), loop=True)
    out.append(
        {
            "step": f"ReplaySource ({src.rows.shape[0]} x {src.rows.shape[1]} rows parsed)",
            **_mem(),
            "seconds": round(time.perf_counter() - t0, 4),
        }
    )
    registry = CollectorRegistry(auto_describe=False)
    agent = Agent(load_config(None, check_files=False), src, model, registry)
    t0 = time.perf_counter()
    for _ in range(model.bundle.window + 200):
        agent.cycle()
    body = generate_latest(registry)
    out.append(
        {
            "step": f"{model.bundle.window + 200} cycles + 1 render ({len(body)} B)",
            **_mem(),
            "seconds": round(time.perf_counter() - t0, 4),
        }
    )
    return {"steps": out, "modules": len(sys.modules), "runtime": model.runtime}


def scale(bundle: str, repeats: int) -> dict[str, Any]:
    import numpy as np
    from prometheus_client import CollectorRegistry, generate_latest

    import agent.runtime.daemon  # noqa: F401 - the agent's full import set, as in production
    from agent.model.predictors import interpreter_class

    interpreter_class()  # the interpreter module too, so "loaded - before" is the model's own cost
    from agent.model.loaded import load_model
    from agent.score.snapshot import ModelInfo, Snapshot
    from agent.score.window import RingWindow
    from agent.serve.exporter import AnomalyCollector

    before = _mem()
    t0 = time.perf_counter()
    model = load_model(bundle)
    load_s = time.perf_counter() - t0
    loaded = _mem()
    b = model.bundle
    rng = np.random.default_rng(0)
    win = RingWindow(b.window, len(b.features))
    for _ in range(b.window):
        win.push(b.scaler.typical + rng.random(len(b.features)) * b.scaler.spread)
    snap = Snapshot(model=ModelInfo(b.model_id, b.architecture, b.window, b.sha256, b.features))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AnomalyCollector(lambda: snap, 5))
    score_us, render_us, cpu_us, size = [], [], [], 0
    for _ in range(repeats):
        c0, t0 = time.thread_time(), time.perf_counter()
        res = model.scorer.score_window(win.view())
        t1 = time.perf_counter()
        snap = Snapshot(model=snap.model, result=res, scored_at=time.time(), fill_ratio=1.0)
        body = generate_latest(registry)
        t2 = time.perf_counter()
        cpu_us.append((time.thread_time() - c0) * 1e6)
        score_us.append((t1 - t0) * 1e6)
        render_us.append((t2 - t1) * 1e6)
        size = len(body)
    return {
        "rss_before_load": before,
        "rss_loaded": loaded,
        "rss_after": _mem(),
        "load_seconds": load_s,
        "score_us": score_us,
        "render_us": render_us,
        "cycle_cpu_us": cpu_us,
        "render_bytes": size,
        "model_bytes": b.model_path.stat().st_size,
        "features": len(b.features),
        "window": b.window,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["steps", "scale"])
    ap.add_argument("bundle")
    ap.add_argument("--repeats", type=int, default=300)
    args = ap.parse_args(argv)
    doc = steps(args.bundle) if args.mode == "steps" else scale(args.bundle, args.repeats)
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
