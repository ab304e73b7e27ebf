"""Memory benchmark: the agent's RSS/PSS after warm-up and after 10,000 accelerated cycles.

Each configuration starts a real agent subprocess on a loopback port
(``anomaly-agent replay --speed 2000 --loop``, and ``anomaly-agent run`` with a
2 ms sampling interval for the live path, calibrating and recording history
in a temporary state directory, as on a fresh host; and once more with
calibration off), scrapes ``/metrics`` every
``POLL`` seconds (which also yields the cycle count from
``host_anomaly_scoring_duration_seconds_count``) and reads VmRSS/RssAnon/
RssFile from /proc/PID/status and PSS from smaps_rollup at each scrape.
Growth = RSS at the end minus RSS after warm-up; the slope of a line fitted to
RSS over cycles after warm-up says whether memory keeps climbing.  Reference:
``prometheus-node-exporter`` (the Debian binary) after it has served scrapes.
A worker run attributes the RSS to the start-up steps (imports, model, data).
The figures over repeated runs, the table and the summary rows: :mod:`bench.memory_report`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.bundles import trained
from bench.common import (
    ARCHS,
    NODE_EXPORTER,
    PY,
    ROOT,
    Context,
    Report,
    Server,
    agent_replay,
    free_port,
    node_exporter,
    proc_mem,
    sample_value,
    spread,
)
from bench.memory_report import aggregate, memory_report

NAME = "memory"
TITLE = "Resident memory: agent (replay and live) vs prometheus-node-exporter"
POLL = 0.25
CYCLES_METRIC = "host_anomaly_scoring_duration_seconds_count"
LIVE_CALIBRATION = 1440  # config default calibration.warmup_samples


def watch(server: Server, warmup: int, cycles: int, timeout: float) -> dict[str, Any]:
    """Scrape and sample memory until ``warmup + cycles`` cycles have run (or ``timeout``)."""
    server.wait_http(timeout=120)
    samples: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    warm_at = None
    scrapes = 0
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"agent exited {server.proc.returncode}: {server.tail()}")
        status, body = server.get(timeout=10)
        scrapes += 1
        n = sample_value(body.decode(), CYCLES_METRIC) if status == 200 else None
        mem = proc_mem(server.pid)
        samples.append({"t": time.monotonic(), "cycles": n or 0, **mem})
        if warm_at is None and (n or 0) >= warmup:
            warm_at = len(samples) - 1
        if (n or 0) >= warmup + cycles:
            break
        time.sleep(POLL)
    if warm_at is None:
        raise RuntimeError(f"agent did not reach {warmup} cycles in {timeout} s")
    text = body.decode() if status == 200 else ""
    errors = sample_value(text, "host_anomaly_scoring_errors_total")
    if errors or sample_value(text, "host_anomaly_score") is None:  # RSS of a failing agent means nothing
        raise RuntimeError(f"agent is not scoring (scoring errors {errors}): {server.tail()}")
    warm, end = samples[warm_at], samples[-1]
    after = samples[warm_at:]
    c = np.array([s["cycles"] for s in after], float)
    r = np.array([s["VmRSS"] for s in after], float)
    slope = float(np.polyfit(c, r, 1)[0]) * 10_000 if len(after) > 2 and np.ptp(c) > 0 else 0.0
    return {
        "warm": _pick(warm),
        "end": _pick(end),
        "cycles_warm": warm["cycles"],
        "cycles_end": end["cycles"],
        "growth_mb": round(end["VmRSS"] - warm["VmRSS"], 3),
        "pss_growth_mb": round(end.get("Pss", 0) - warm.get("Pss", 0), 3),
        "slope_mb_per_10k_cycles": round(slope, 3),
        "max_rss_after_warmup_mb": round(float(r.max()), 2),
        "cycles_per_second": round((end["cycles"] - warm["cycles"]) / max(end["t"] - warm["t"], 1e-9), 1),
        "scrapes": scrapes,
        "reached": end["cycles"] >= warmup + cycles,
    }


def _pick(s: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(s[k]), 2) for k in ("VmRSS", "RssAnon", "RssFile", "Pss", "VmHWM", "Threads") if k in s}


def live_config(tmp: Path, bundle: Path, calibration: bool = True) -> Path:
    """A config for ``anomaly-agent run`` sampling every 2 ms, its state (calibration, history) in ``tmp``.

    ``max_gap_intervals`` is raised so that a scheduling hiccup on a busy machine (6 ms would
    otherwise be a "gap") does not reset the window.
    """
    cfg = tmp / f"agent-{'cal' if calibration else 'nocal'}.yml"
    state = tmp / f"state-{cfg.stem}"
    if state.exists():  # a fresh host each time: no saved calibration
        shutil.rmtree(state)
    state.mkdir()
    cfg.write_text(
        f"model:\n  bundle: {bundle}\nsampling:\n  interval_seconds: 0.002\n  max_gap_intervals: 10000\n"
        f"calibration:\n  enabled: {'true' if calibration else 'false'}\nstate_directory: {state}\n"
    )
    return cfg


def agent_run(kind: str, bundle: Path, tmp: Path, warmup: int, cycles: int, timeout: float) -> dict[str, Any]:
    port = free_port()
    log = tmp / f"{kind}-{port}.log"
    if kind == "replay":
        server = agent_replay(bundle, port, log, speed=2000)
    else:
        cfg = live_config(tmp, bundle, calibration=kind == "run")
        argv = [
            PY,
            "-m",
            "agent",
            "run",
            "--config.file",
            str(cfg),
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--log.level",
            "warning",
        ]
        server = Server(argv, port, log)
    with server:
        return watch(server, warmup, cycles, timeout)


def node_exporter_run(tmp: Path, scrapes: int) -> dict[str, Any]:
    port = free_port()
    with node_exporter(port, tmp / f"node-exporter-{port}.log") as server:
        server.wait_http(timeout=30)
        first = proc_mem(server.pid)
        size = 0
        for _ in range(scrapes):
            status, body = server.get(timeout=10)
            size = len(body)
            time.sleep(0.05)
        return {
            "before_scrapes": _pick(first),
            "end": _pick(proc_mem(server.pid)),
            "scrapes": scrapes,
            "metrics_bytes": size,
        }


def steps_breakdown(bundle: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [PY, "-m", "bench.agent_worker", "steps", str(bundle)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(f"agent_worker steps failed: {proc.stderr[-500:]}")
    steps = json.loads(proc.stdout.strip().splitlines()[-1])["steps"]
    prev = None
    for s in steps:
        s["delta_rss_mb"] = round(s["VmRSS"] - prev, 2) if prev is not None else s["VmRSS"]
        prev = s["VmRSS"]
    return steps


def run(ctx: Context) -> Report:
    quick = ctx.quick
    repeats = 1 if quick else 3
    warmup, cycles = (300, 2000) if quick else (1000, 10_000)
    timeout = 120 if quick else 300
    configs: list[tuple[str, str, Path]] = [("default", "replay", ctx.bundle)]
    if not quick:
        configs += [(arch, "replay", trained(arch, 1, ctx.cache)) for arch in ARCHS]
        configs += [("default", "run", ctx.bundle), ("default", "run-nocal", ctx.bundle)]
    results: dict[str, Any] = {"agent": {}, "node_exporter": None, "startup_steps": None}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="anomaly-bench-mem-") as tmpd:
        tmp = Path(tmpd)
        for label, kind, bundle in configs:
            key = f"{kind}:{label}"
            runs = []
            # live: calibration (1440 samples by default) must be over before "warm"
            warm = warmup + LIVE_CALIBRATION if kind == "run" else warmup
            for _ in range(repeats):
                try:
                    runs.append(agent_run(kind, bundle, tmp, warm, cycles, timeout))
                except RuntimeError as exc:
                    notes.append(f"{key}: {exc}"[:600])
                    break
            if runs:
                results["agent"][key] = {"bundle": str(bundle), "runs": runs, **aggregate(runs)}
        if NODE_EXPORTER.exists():
            ne = [node_exporter_run(tmp, 10 if quick else 30) for _ in range(repeats)]
            results["node_exporter"] = {
                "runs": ne,
                "rss_mb": spread(r["end"]["VmRSS"] for r in ne),
                "pss_mb": spread(r["end"].get("Pss", 0) for r in ne),
            }
        else:
            notes.append(f"{NODE_EXPORTER} not installed: no reference")
    results["startup_steps"] = steps_breakdown(ctx.bundle)
    return memory_report(
        results,
        notes,
        {
            "repeats": repeats,
            "warmup_cycles": warmup,
            "cycles": cycles,
            "live_warmup_cycles": warmup + LIVE_CALIBRATION,
            "replay_speed_rows_per_s": 2000,
            "live_interval_s": 0.002,
            "poll_s": POLL,
            "configs": [f"{kind}:{label}" for label, kind, _ in configs],
        },
    )
