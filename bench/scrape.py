"""Scrape benchmark: ``/metrics`` latency and throughput, sequential and with 8 concurrent scrapers.

The target is a replay agent on a loopback port that keeps scoring
(``--speed 100``: a cycle every 10 ms, 6000 times production's rate) while
the scrapes run.  Each request opens a fresh connection (``Connection:
close``, like a Prometheus scrape), so the latency includes the connect and
the server's per-connection thread.  Scrapers are threads of this process
(socket waits release the GIL); counts and time are bounded.  Reference:
the same load against ``prometheus-node-exporter`` in the same run.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
    NODE_EXPORTER,
    Context,
    Report,
    Server,
    agent_replay,
    free_port,
    http_get,
    node_exporter,
    ratio,
    sample_value,
)

NAME = "scrape"
TITLE = "/metrics latency and throughput: sequential and 8 concurrent scrapers (loopback, no keep-alive)"
CONCURRENCY = 8
TARGET_P99_MS = 5.0


def one(port: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    status, body = http_get(port, "/metrics", timeout=10)
    dt = (time.perf_counter() - t0) * 1e3
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    return dt, len(body)


def sequential(port: int, n: int, budget_s: float) -> dict[str, Any]:
    lat: list[float] = []
    size = 0
    t0 = time.perf_counter()
    deadline = t0 + budget_s
    while len(lat) < n and time.perf_counter() < deadline:
        dt, size = one(port)
        lat.append(dt)
    elapsed = time.perf_counter() - t0
    return {"latency_ms": lat, "requests": len(lat), "seconds": elapsed, "bytes": size}


def concurrent(port: int, threads: int, per_thread: int, budget_s: float) -> dict[str, Any]:
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def worker() -> None:
        mine = []
        start.wait()
        try:
            for _ in range(per_thread):
                if time.perf_counter() > deadline[0]:
                    break
                mine.append(one(port)[0])
        except (OSError, RuntimeError) as exc:
            errors.append(str(exc))
        with lock:
            lat.extend(mine)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    deadline[0] = time.perf_counter() + budget_s
    t0 = time.perf_counter()
    start.wait()
    for t in pool:
        t.join(budget_s + 30)
    elapsed = time.perf_counter() - t0
    return {"latency_ms": lat, "requests": len(lat), "seconds": elapsed, "errors": errors[:5]}


def listen_drops() -> dict[str, int]:
    """TcpExt ListenOverflows/ListenDrops: a full accept backlog drops SYNs (the client retries after 1 s)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return {}
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            d = dict(zip(head.split()[1:], vals.split()[1:]))
            return {k: int(d[k]) for k in ("ListenOverflows", "ListenDrops") if k in d}
    return {}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (clock ticks: 10 ms resolution, fine over a second or more)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_per_request(pid: int, port: int, n: int, idle_s: float = 2.0) -> dict[str, float]:
    """Server CPU ms per sequential scrape: CPU during n scrapes minus the background (scoring) rate."""
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    time.sleep(idle_s)
    c1, t1 = cpu_seconds(pid), time.perf_counter()
    for _ in range(n):
        one(port)
    c2, t2 = cpu_seconds(pid), time.perf_counter()
    background = (c1 - c0) / (t1 - t0)
    return {
        "background_cpu_ratio": round(background, 4),
        "cpu_ms_per_request": round(max(0.0, (c2 - c1) - background * (t2 - t1)) / n * 1e3, 3),
    }


def measure(port: int, seq_n: int, conc_n: int, budget_s: float, pid: int | None = None) -> dict[str, Any]:
    for _ in range(20):  # warm: first connections, imports on the server's side
        one(port)
    cpu = server_cpu_per_request(pid, port, max(50, seq_n // 2)) if pid else None
    seq = sequential(port, seq_n, budget_s)
    if cpu:
        seq["server"] = cpu
    before = listen_drops()
    conc = concurrent(port, CONCURRENCY, conc_n, budget_s)
    after = listen_drops()
    conc["listen_overflows"] = {k: after[k] - before.get(k, 0) for k in after}  # host-wide counter
    return {"sequential": seq, "concurrent": conc}


def _summ(m: dict[str, Any]) -> dict[str, Any]:
    from bench.common import dist

    out = {}
    for k in ("sequential", "concurrent"):
        r = m[k]
        out[k] = {
            "latency_ms": dist(r["latency_ms"], 3),
            "requests": r["requests"],
            "requests_per_s": round(r["requests"] / r["seconds"], 1) if r["seconds"] else None,
            **({"errors": r["errors"]} if r.get("errors") else {}),
            **({"listen_overflows": r["listen_overflows"]} if "listen_overflows" in r else {}),
        }
    out["bytes"] = m["sequential"]["bytes"]
    if "server" in m["sequential"]:
        out["server"] = m["sequential"]["server"]
    return out


def run(ctx: Context) -> Report:
    seq_n, conc_n, budget = (100, 25, 20.0) if ctx.quick else (1000, 250, 60.0)
    results: dict[str, Any] = {}
    notes = []
    with tempfile.TemporaryDirectory(prefix="anomaly-bench-scrape-") as tmpd:
        tmp = Path(tmpd)
        port = free_port()
        with agent_replay(ctx.bundle, port, tmp / "agent.log", speed=100) as agent:
            agent.wait_http(timeout=120)
            _wait_scored(agent)
            m = measure(port, seq_n, conc_n, budget, agent.pid)
            cycles = sample_value(agent.get()[1].decode(), "host_anomaly_scoring_duration_seconds_count")
            results["agent"] = {**_summ(m), "cycles_at_end": cycles}
        if NODE_EXPORTER.exists():
            port = free_port()
            with node_exporter(port, tmp / "ne.log") as ne:
                ne.wait_http(timeout=30)
                results["node_exporter"] = _summ(measure(port, seq_n // 2, conc_n // 2, budget, ne.pid))
        else:
            notes.append(f"{NODE_EXPORTER} not installed: no reference")
    table, summary = [], []
    ref = results.get("node_exporter")
    for who, r in results.items():
        for mode in ("sequential", "concurrent"):
            x = r[mode]
            table.append(
                {
                    "target": who,
                    "scrapers": 1 if mode == "sequential" else CONCURRENCY,
                    "p50 ms": x["latency_ms"]["p50"],
                    "p99 ms": x["latency_ms"]["p99"],
                    "max ms": x["latency_ms"]["max"],
                    "req/s": x["requests_per_s"],
                    "requests": x["requests"],
                    "bytes": r["bytes"],
                    "listen overflows": x.get("listen_overflows", {}).get("ListenOverflows"),
                    "server CPU ms/req": r.get("server", {}).get("cpu_ms_per_request")
                    if mode == "sequential"
                    else None,
                }
            )
    a = results["agent"]
    for mode, label in (("sequential", "1 scraper"), ("concurrent", f"{CONCURRENCY} concurrent scrapers")):
        x, rx = a[mode], (ref or {}).get(mode)
        summary.append(
            {
                "metric": f"/metrics p50 latency, {label}",
                "value": x["latency_ms"]["p50"],
                "unit": "ms",
                "reference": rx["latency_ms"]["p50"] if rx else None,
                "ratio": ratio(x["latency_ms"]["p50"], rx["latency_ms"]["p50"]) if rx else None,
            }
        )
        row = {
            "metric": f"/metrics p99 latency, {label}",
            "value": x["latency_ms"]["p99"],
            "unit": "ms",
            "reference": rx["latency_ms"]["p99"] if rx else None,
            "ratio": ratio(x["latency_ms"]["p99"], rx["latency_ms"]["p99"]) if rx else None,
        }
        if mode == "concurrent":
            row.update(target=f"< {TARGET_P99_MS:g}", met=x["latency_ms"]["p99"] < TARGET_P99_MS)
        summary.append(row)
        summary.append(
            {
                "metric": f"/metrics throughput, {label}",
                "value": x["requests_per_s"],
                "unit": "req/s",
                "reference": rx["requests_per_s"] if rx else None,
                "ratio": ratio(x["requests_per_s"], rx["requests_per_s"]) if rx else None,
            }
        )
    srv = a.get("server")
    if srv:
        rs = (ref or {}).get("server")
        summary.append(
            {
                "metric": "server CPU per /metrics request",
                "value": srv["cpu_ms_per_request"],
                "unit": "ms",
                "reference": rs["cpu_ms_per_request"] if rs else None,
                "ratio": ratio(srv["cpu_ms_per_request"], rs["cpu_ms_per_request"]) if rs else None,
            }
        )
    notes.append(
        "reference = prometheus-node-exporter (all default collectors, a much larger page) under the "
        "same load; the scrapers are threads on the same 2 cores as the server, so they compete for CPU"
    )
    return Report(
        params={
            "sequential_requests": seq_n,
            "concurrent_per_thread": conc_n,
            "threads": CONCURRENCY,
            "budget_s": budget,
            "replay_speed_rows_per_s": 100,
            "keep_alive": False,
        },
        results=results,
        summary=summary,
        table=table,
        notes=notes,
    )


def _wait_scored(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sample_value(server.get()[1].decode(), "host_anomaly_score") is not None:
            return
        time.sleep(0.05)
    raise RuntimeError(f"no host_anomaly_score after {timeout} s: {server.tail()}")
