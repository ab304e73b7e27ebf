"""Cycle CPU benchmark: CPU time per sampling cycle, split into collect, score and publish.

Runs in-process on this host, with the agent's real pieces: ``Sampler.sample()``
(collect), ``Scorer.score_window`` on the TFLite model (score), the snapshot
replacement (publish) and one ``generate_latest`` of a registry holding the
agent's collectors (render: what one scrape costs).  CPU time is
``time.thread_time()`` (this thread only, so other processes' load does not
count, although cache and frequency effects still do); wall time is
``perf_counter``.  Cycles are spaced by ``GAP`` seconds, like a (much faster)
schedule.  Cross-check: ``agent.runtime.daemon.Agent.cycle()`` on a live source, which
is exactly what the scheduler runs.  Further splits: the scorer's steps and
each collector source.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from bench.common import Context, Report, dist

NAME = "cycle_cpu"
TITLE = "CPU time per sampling cycle: collect + score + publish (+ one scrape render)"
GAP = 0.02  # > 1/USER_HZ, so CPU tick counters advance and cpu_r is defined
TARGET_MS = 5.0


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    c0, w0 = time.thread_time(), time.perf_counter()
    out = fn()
    return out, (time.thread_time() - c0) * 1e3, (time.perf_counter() - w0) * 1e3


def measure_split(bundle: Any, n: int) -> dict[str, Any]:
    """Per-cycle CPU/wall ms of each stage over ``n`` cycles after the window has filled."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest
    from prometheus_client.process_collector import ProcessCollector

    from agent.collect.sampler import Sampler
    from agent.model.loaded import load_model
    from agent.score.snapshot import ModelInfo, Snapshot
    from agent.score.window import RingWindow
    from agent.serve.exporter import AnomalyCollector

    model = load_model(bundle)
    b = model.bundle
    sampler = Sampler(features=b.features)
    window = RingWindow(b.window, len(b.features))
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    Histogram("host_anomaly_scoring_duration_seconds", "cycle time", registry=registry)
    state = {"snap": Snapshot(model=ModelInfo(b.model_id, b.architecture, b.window, b.sha256, b.features))}
    registry.register(AnomalyCollector(lambda: state["snap"], 5))
    stages = ("collect", "score", "publish", "render")
    cpu: dict[str, list[float]] = {s: [] for s in stages}
    wall: dict[str, list[float]] = {s: [] for s in stages}
    size = 0
    for i in range(b.window + n):
        row, c_col, w_col = _timed(sampler.sample)
        window.push(row)
        res, c_sc, w_sc = _timed(lambda: model.scorer.score_window(window.view()) if window.full else None)
        snap = state["snap"]

        def publish(snap: Snapshot = snap, res: Any = res) -> None:  # bound now: B023
            state["snap"] = replace(
                snap,
                result=res,
                fill_ratio=window.fill_ratio,
                scored_at=time.time(),
                collector_errors=sampler.error_counts(),
            )

        _, c_pub, w_pub = _timed(publish)
        body, c_ren, w_ren = _timed(lambda: generate_latest(registry))
        if i >= b.window:
            for s, c, w in zip(stages, (c_col, c_sc, c_pub, c_ren), (w_col, w_sc, w_pub, w_ren)):
                cpu[s].append(c)
                wall[s].append(w)
            size = len(body)
        time.sleep(GAP)
    total = [sum(v) for v in zip(*(cpu[s] for s in stages))]
    nan = np.isnan(window.view())
    return {
        "cpu_ms": {s: dist(cpu[s], 4) for s in stages},
        "wall_ms": {s: dist(wall[s], 4) for s in stages},
        "cycle_cpu_ms": dist(total, 4),
        "cycle_cpu_ms_without_render": dist([t - r for t, r in zip(total, cpu["render"])], 4),
        "render_bytes": size,
        "runtime": model.runtime,
        "window_has_nan": bool(nan.any()),
        "nan_features": [f for f, bad in zip(b.features, nan.any(axis=0)) if bad],
        "collector_errors": sampler.error_counts(),
        "sources": list(sampler.sources),
        "_model": model,
        "_sampler": sampler,
        "_window": window,
        "_snapshot": state["snap"],
    }


def score_breakdown(model: Any, window: Any, n: int) -> dict[str, Any]:
    """CPU µs of the scorer's steps: scale + impute, predict (TFLite), error maths."""
    from agent.score.scoring import contributions, feature_errors, model_io

    spec, pred = model.scorer.spec, model.scorer.predictor
    raw = window.view()[None]
    out: dict[str, list[float]] = {"scale+impute": [], "predict": [], "errors+shares": []}
    for _ in range(n):
        c0 = time.thread_time()
        x, target = model_io(spec, raw)
        c1 = time.thread_time()
        y = pred.predict(x)
        c2 = time.thread_time()
        err = feature_errors(target, y, spec.tail)[0]
        contributions(err)
        c3 = time.thread_time()
        for k, v in zip(out, (c1 - c0, c2 - c1, c3 - c2)):
            out[k].append(v * 1e6)
        time.sleep(GAP)  # as in the cycle loop: caches go cold between cycles
    return {k: dist(v, 2) for k, v in out.items()}


def source_breakdown(sampler: Any, n: int) -> dict[str, Any]:
    """CPU µs of each collector source's read (the sampler's private readers)."""
    readers = getattr(sampler, "_readers", {})
    out: dict[str, list[float]] = {s: [] for s in readers}
    for _ in range(n):
        for s, fn in readers.items():
            c0 = time.thread_time()
            try:
                fn()
            except Exception:  # an unreadable source on this host: its cost is still the attempt
                pass
            out[s].append((time.thread_time() - c0) * 1e6)
        time.sleep(GAP)
    return {s: dist(v, 1) for s, v in out.items()}


def render_breakdown(snapshot: Any, n: int) -> dict[str, Any]:
    """CPU µs of one render of each collector alone: the agent's families vs prometheus_client's process metrics."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.process_collector import ProcessCollector

    from agent.serve.exporter import AnomalyCollector

    regs = {
        "AnomalyCollector": CollectorRegistry(auto_describe=False),
        "ProcessCollector": CollectorRegistry(auto_describe=False),
    }
    regs["AnomalyCollector"].register(AnomalyCollector(lambda: snapshot, 5))
    ProcessCollector(registry=regs["ProcessCollector"])
    out: dict[str, list[float]] = {k: [] for k in regs}
    sizes = {}
    for _ in range(n):
        for k, reg in regs.items():
            c0 = time.thread_time()
            sizes[k] = len(generate_latest(reg))
            out[k].append((time.thread_time() - c0) * 1e6)
        time.sleep(GAP)
    return {k: {**dist(v, 1), "bytes": sizes[k]} for k, v in out.items()}


def agent_cycle(bundle: Any, n: int, probation: bool = False) -> dict[str, Any]:
    """CPU/wall ms of ``Agent.cycle()`` with a live source: the scheduler's job as the daemon runs it
    (``probation``: just after a swap, the previous bundle scoring every window too: agent.runtime.swap)."""
    from prometheus_client import CollectorRegistry

    from agent.collect.sampler import Sampler
    from agent.config import load_config
    from agent.model.loaded import load_model
    from agent.runtime.cycle import Agent
    from agent.runtime.sources import LiveSource
    from bench.bundles import switch_to_twin, symlinked

    link, tmp = symlinked(bundle)
    model = load_model(link)
    cfg = load_config(None, check_files=False)
    cfg = replace(cfg, sampling=replace(cfg.sampling, max_gap_intervals=10000.0))
    cfg = replace(cfg, model=replace(cfg.model, bundle=str(link), watch=False))
    agent = Agent(
        cfg, LiveSource(Sampler(features=model.bundle.features)), model, CollectorRegistry(auto_describe=False)
    )
    if probation:
        switch_to_twin(link)
        if not agent.reload("bench") or agent.rollbacks.probation is None:
            raise RuntimeError("no probation after the swap: the figures would be meaningless")
    cpu, wall = [], []
    for i in range(model.bundle.window + n):
        _, c, w = _timed(agent.cycle)
        if i >= model.bundle.window:
            cpu.append(c)
            wall.append(w)
        time.sleep(GAP)
    shutil.rmtree(tmp, ignore_errors=True)
    errors = getattr(agent.snapshot, "scoring_errors", 0)
    if errors or agent.snapshot.result is None:
        raise RuntimeError(f"Agent.cycle() did not score ({errors} failed cycles): the figures would be meaningless")
    return {"cpu_ms": dist(cpu, 4), "wall_ms": dist(wall, 4), "scored": True, "scoring_errors": errors}


def run(ctx: Context) -> Report:
    n = 60 if ctx.quick else 1500
    split = measure_split(ctx.bundle, n)
    model, sampler, window = split.pop("_model"), split.pop("_sampler"), split.pop("_window")
    snapshot = split.pop("_snapshot")
    m = min(n, 300)
    results: dict[str, Any] = {
        "split": split,
        "score_steps_us": score_breakdown(model, window, m),
        "collect_sources_us": source_breakdown(sampler, m),
        "render_collectors_us": render_breakdown(snapshot, m),
        "agent_cycle": agent_cycle(ctx.bundle, n),
        "agent_cycle_probation": agent_cycle(ctx.bundle, n, probation=True),
    }
    c = split["cpu_ms"]
    wall = split["wall_ms"]
    table = [
        {
            "stage": s,
            "cpu p50 ms": c[s]["p50"],
            "cpu p99 ms": c[s]["p99"],
            "wall p50 ms": wall[s]["p50"],
            "wall p99 ms": split["wall_ms"][s]["p99"],
        }
        for s in c
    ]
    table.append(
        {
            "stage": "collect+score+publish+render",
            "cpu p50 ms": split["cycle_cpu_ms"]["p50"],
            "cpu p99 ms": split["cycle_cpu_ms"]["p99"],
        }
    )
    ac, pc = results["agent_cycle"], results["agent_cycle_probation"]
    for stage, r in (("Agent.cycle() (daemon job, no render)", ac), ("Agent.cycle() on probation (two models)", pc)):
        row = {f"{kind} {q} ms": r[f"{kind}_ms"][q] for kind in ("cpu", "wall") for q in ("p50", "p99")}
        table.append({"stage": stage, **row})
    for k, v in results["score_steps_us"].items():
        table.append({"stage": f"  score: {k}", "cpu p50 ms": v["p50"] / 1e3, "cpu p99 ms": v["p99"] / 1e3})
    for k, v in results["render_collectors_us"].items():
        table.append(
            {"stage": f"  render: {k} ({v['bytes']} B)", "cpu p50 ms": v["p50"] / 1e3, "cpu p99 ms": v["p99"] / 1e3}
        )
    for k, v in results["collect_sources_us"].items():
        table.append({"stage": f"  collect: {k}", "cpu p50 ms": v["p50"] / 1e3, "cpu p99 ms": v["p99"] / 1e3})
    total = split["cycle_cpu_ms"]
    summary = [
        {
            "metric": "cycle CPU p50 (collect+score+publish incl. one render)",
            "value": total["p50"],
            "unit": "ms",
            "target": f"< {TARGET_MS:g}",
            "met": total["p50"] < TARGET_MS,
        },
        {"metric": "cycle CPU p99 (same)", "value": total["p99"], "unit": "ms"},
        {"metric": "collect CPU p50", "value": c["collect"]["p50"], "unit": "ms"},
        {"metric": "score CPU p50", "value": c["score"]["p50"], "unit": "ms"},
        {
            "metric": "publish + render CPU p50",
            "value": round(c["publish"]["p50"] + c["render"]["p50"], 4),
            "unit": "ms",
        },
        {"metric": "Agent.cycle() CPU p50 (daemon job)", "value": ac["cpu_ms"]["p50"], "unit": "ms"},
        {"metric": "Agent.cycle() CPU p50 on probation", "value": pc["cpu_ms"]["p50"], "unit": "ms"},
    ]
    notes = [f"{n} cycles, {GAP * 1e3:g} ms apart, after the window filled; CPU = thread_time of this thread"]
    if split["window_has_nan"]:
        notes.append(
            f"on this host {', '.join(split['nan_features'])} are NaN (source unreadable: "
            f"{split['collector_errors']}), so every score also runs the NaN-imputation path"
        )
    return Report(
        params={"cycles": n, "gap_s": GAP, "bundle": str(ctx.bundle)},
        results=results,
        summary=summary,
        table=table,
        notes=notes,
    )
