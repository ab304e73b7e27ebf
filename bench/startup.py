"""Start-up benchmark: process start -> first HTTP 200 on /metrics -> first score.

``anomaly-agent replay --speed 1000`` (a window of 30 rows fills in 30 ms) is
started fresh each time; ``/metrics`` is polled every 5 ms.  The first score
is the first response holding a ``host_anomaly_score`` sample.  The same for
``anomaly-agent run`` (live host, 2 ms sampling interval, calibration off:
with it, the first score waits for ``calibration.warmup_samples`` samples,
a day at the default 1440 x 60 s).  A split: the time
to import the agent's modules, to load the model and to parse the demo file,
each in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import PY, ROOT, Context, Report, Server, agent_replay, free_port, ratio, sample_value, spread

NAME = "startup"
TITLE = "Start-up: process start to first /metrics 200 and to first score (replay and live run)"
POLL = 0.005


def one_start(bundle: Path, tmp: Path, mode: str = "replay", timeout: float = 120.0) -> dict[str, float]:
    port = free_port()
    log = tmp / f"agent-{port}.log"
    if mode == "replay":
        server = agent_replay(bundle, port, log, speed=1000)
    else:
        from bench.memory import live_config

        server = Server(
            [
                PY,
                "-m",
                "agent",
                "run",
                "--config.file",
                str(live_config(tmp, bundle, calibration=False)),
                "--web.listen-address",
                f"127.0.0.1:{port}",
                "--log.level",
                "warning",
            ],
            port,
            log,
        )
    with server as agent:
        first_http = agent.wait_http(timeout=timeout, poll=POLL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = agent.get(timeout=5)
            if status == 200 and sample_value(body.decode(), "host_anomaly_score") is not None:
                return {"first_metrics_s": first_http, "first_score_s": time.perf_counter() - agent.started}
            time.sleep(POLL)
    raise RuntimeError(f"no score within {timeout} s")


def import_seconds(code: str, repeats: int) -> list[float]:
    """Wall seconds of a fresh ``python -c code`` (interpreter start included)."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([PY, "-c", code], cwd=ROOT, check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return out


def run(ctx: Context) -> Report:
    repeats = 2 if ctx.quick else 5
    with tempfile.TemporaryDirectory(prefix="anomaly-bench-start-") as tmpd:
        runs = [one_start(ctx.bundle, Path(tmpd)) for _ in range(repeats)]
        live = [one_start(ctx.bundle, Path(tmpd), "run") for _ in range(repeats)]
    parts = {
        "python -c pass": import_seconds("pass", repeats),
        "import agent.cli + agent.runtime.daemon + agent.collect.sampler": import_seconds(
            "import agent.cli, agent.runtime.daemon, agent.collect.sampler, agent.runtime.sources", repeats
        ),
        "... + load_model": import_seconds(
            "import agent.cli, agent.runtime.daemon; from agent.model.loaded import load_model; "
            f"load_model({str(ctx.bundle)!r})",
            repeats,
        ),
        "... + parse the demo replay file": import_seconds(
            "import agent.cli, agent.runtime.daemon; from agent.runtime.sources import ReplaySource; "
            "from bench.common import DEMO_DATA, DEMO_MACHINE; ReplaySource(DEMO_DATA, DEMO_MACHINE, 38)",
            repeats,
        ),
    }
    first_http = spread(r["first_metrics_s"] for r in runs)
    first_score = spread(r["first_score_s"] for r in runs)
    live_http = spread(r["first_metrics_s"] for r in live)
    live_score = spread(r["first_score_s"] for r in live)
    results: dict[str, Any] = {
        "runs": runs,
        "first_metrics_s": first_http,
        "first_score_s": first_score,
        "live_runs": live,
        "live_first_metrics_s": live_http,
        "live_first_score_s": live_score,
        "parts_s": {k: spread(v) for k, v in parts.items()},
    }
    table = [
        {"step": "replay: first /metrics 200", **{f"{k} s": v for k, v in first_http.items() if k != "n"}},
        {"step": "replay: first score", **{f"{k} s": v for k, v in first_score.items() if k != "n"}},
        {
            "step": "run (live, 2 ms, no calibration): first /metrics 200",
            **{f"{k} s": v for k, v in live_http.items() if k != "n"},
        },
        {"step": "run (live): first score", **{f"{k} s": v for k, v in live_score.items() if k != "n"}},
    ]
    table += [
        {"step": f"  {k}", **{f"{s} s": v for s, v in sp.items() if s != "n"}} for k, sp in results["parts_s"].items()
    ]
    bare = results["parts_s"]["python -c pass"]["median"]
    summary = [
        {
            "metric": "start -> first /metrics 200 (median of runs)",
            "value": first_http["median"],
            "unit": "s",
            "reference": bare,
            "ratio": ratio(first_http["median"], bare),
        },
        {"metric": "start -> first score (median of runs)", "value": first_score["median"], "unit": "s"},
        {
            "metric": "live run: start -> first /metrics 200",
            "value": live_http["median"],
            "unit": "s",
            "reference": bare,
            "ratio": ratio(live_http["median"], bare),
        },
        {"metric": "live run: start -> first score (2 ms interval)", "value": live_score["median"], "unit": "s"},
    ]
    notes = [
        f"{repeats} fresh starts; reference = a bare `python -c pass` in the same run; parts are separate "
        "interpreters, each including interpreter start-up"
    ]
    return Report(
        params={"repeats": repeats, "replay_speed_rows_per_s": 1000, "poll_s": POLL},
        results=results,
        summary=summary,
        table=table,
        notes=notes,
    )
