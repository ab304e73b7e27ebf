"""Shared pieces of the footprint/speed benchmarks: statistics, /proc memory, HTTP, reports.

The machine a run measured on (CPU, versions, load): :mod:`bench.machine`.

Every benchmark module exposes ``NAME``, ``TITLE`` and ``run(ctx: Context) -> Report``;
:mod:`bench.__main__` adds the run facts (date, machine, load) and writes the JSON.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.procmem import proc_mem  # noqa: F401 - re-exported

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DEMO_DATA = ROOT / "data" / "smd-demo"
DEMO_MACHINE = "machine-1-6"
PY = sys.executable
CACHE = Path(os.environ.get("ANOMALY_BENCH_CACHE", "/tmp/anomaly-perf-cache"))
TFLITE_VENV = Path(os.environ.get("ANOMALY_BENCH_TFLITE_VENV", "/tmp/bench-tflite-venv"))
ARCHS = ("dense", "lstm", "conv_bigru")


@dataclass
class Context:
    """What every benchmark gets: mode, the default bundle and where to put scratch files."""

    quick: bool
    bundle: Path  # the default model bundle (models/default or a trained stand-in)
    bundle_note: str
    cache: Path = CACHE


@dataclass
class Report:
    """A benchmark's outcome.

    ``summary`` rows feed ``summary.md``: ``metric``, ``value``, ``unit`` and,
    when there is one, ``target`` (text), ``met`` (bool), ``reference`` and
    ``ratio`` (value / reference, measured in the same run).
    """

    params: dict[str, Any]
    results: dict[str, Any]
    summary: list[dict[str, Any]]
    table: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


# --- statistics -------------------------------------------------------------------------------
def dist(values: Iterable[float], digits: int = 4) -> dict[str, float | int]:
    """n, min, p50, p90, p99, max and mean of a sample (empty -> n=0 only)."""
    a = np.asarray(list(values), dtype=np.float64)
    if a.size == 0:
        return {"n": 0}
    q = np.percentile(a, [50, 90, 99])
    out = {"n": int(a.size), "min": a.min(), "p50": q[0], "p90": q[1], "p99": q[2], "max": a.max(), "mean": a.mean()}
    return {k: (v if k == "n" else round(float(v), digits)) for k, v in out.items()}


def spread(values: Iterable[float], digits: int = 3) -> dict[str, float | int]:
    """min/median/max over repeated runs."""
    a = np.asarray(list(values), dtype=np.float64)
    if a.size == 0:
        return {"n": 0}
    return {
        "n": int(a.size),
        "min": round(float(a.min()), digits),
        "median": round(float(np.median(a)), digits),
        "max": round(float(a.max()), digits),
    }


def ratio(value: float | None, reference: float | None, digits: int = 3) -> float | None:
    if value is None or not reference:
        return None
    return round(float(value) / float(reference), digits)


# --- processes and HTTP -----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, path: str = "/metrics", timeout: float = 5.0) -> tuple[int, bytes]:
    """One GET on a fresh connection (``Connection: close``, as Prometheus' scrapes are per target)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def sample_value(text: str, name: str) -> float | None:
    """Value of the first unlabelled sample ``name`` in exposition text."""
    prefix = name + " "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :].split()[0])
    return None


class Server:
    """A subprocess serving HTTP on a loopback port; stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, argv: Sequence[str], port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(log, "wb")
        self.started = time.perf_counter()
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv, stdout=self._fh, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **(env or {})}
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def get(self, path: str = "/metrics", timeout: float = 5.0) -> tuple[int, bytes]:
        return http_get(self.port, path, timeout)

    def wait_http(self, path: str = "/metrics", timeout: float = 60.0, poll: float = 0.05) -> float:
        """Seconds from start until ``path`` answers 200; raises with the log if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited {self.proc.returncode}: {self.tail()}")
            try:
                if self.get(path, timeout=2.0)[0] == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(poll)
        raise RuntimeError(f"no HTTP 200 on {path} after {timeout} s: {self.tail()}")

    def tail(self, n: int = 1500) -> str:
        self._fh.flush()
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._fh.close()
        return self.proc.returncode

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def agent_replay(
    bundle: Path, port: int, log: Path, speed: float = 2000.0, loop: bool = True, extra: Sequence[str] = ()
) -> Server:
    """``anomaly-agent replay`` of the shipped demo machine on a loopback port."""
    argv = [
        PY,
        "-m",
        "agent",
        "replay",
        "--data",
        str(DEMO_DATA),
        "--machine",
        DEMO_MACHINE,
        "--speed",
        str(speed),
        "--bundle",
        str(bundle),
        "--web.listen-address",
        f"127.0.0.1:{port}",
        "--log.level",
        "warning",
        *(["--loop"] if loop else []),
        *extra,
    ]
    return Server(argv, port, log, env={"TF_CPP_MIN_LOG_LEVEL": "2"})


NODE_EXPORTER = Path("/usr/bin/prometheus-node-exporter")


def node_exporter(port: int, log: Path) -> Server:
    return Server([str(NODE_EXPORTER), f"--web.listen-address=127.0.0.1:{port}"], port, log)


# --- printing ---------------------------------------------------------------------------------
def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        if v == 0:
            return "0"
        a = abs(v)
        return f"{v:.0f}" if a >= 1000 else f"{v:.1f}" if a >= 100 else f"{v:.2f}" if a >= 1 else f"{v:.3g}"
    return str(v)


def format_table(rows: Sequence[dict[str, Any]], title: str | None = None) -> str:
    """Plain-text table (columns from the union of the rows' keys, in first-seen order)."""
    if not rows:
        return f"{title}: (no rows)" if title else "(no rows)"
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    width = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, width))
    out = [title] if title else []
    out += [line, "  ".join("-" * w for w in width)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, width)) for row in cells]
    return "\n".join(out)
