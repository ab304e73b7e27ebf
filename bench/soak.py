"""Soak: many accelerated sampling cycles while scraping; memory, descriptors and threads must not grow.

    python -m bench.soak [--replay-cycles 100000] [--live-cycles 10000] [--out bench/results/soak.json]

Two agent processes, one after the other: ``replay`` of the demo SMD machine
at a high ``--speed`` with ``--loop``, and ``run`` on this host's live
collector with a short interval (calibration and history on, in a scratch
state directory with small bounds so files rotate and old ones are deleted
all the time).  A scraper thread hits ``/metrics``, ``/healthz`` and ``/model``
throughout.  Cycles are counted from ``host_anomaly_scoring_duration_seconds_count``; the
bundle watcher polls every second.
Resident memory (VmRSS), open descriptors (``/proc/PID/fd``) and threads are
read after a warm-up (the first ``warmup`` cycles: allocator pools, the
interpreter arena, history reaching its byte bound) and at the end, with the
scraper paused so its connections are not counted.  The run passes when RSS
grew by at most ``max_rss_growth_kb`` and descriptors and threads by at most
``slack``.  Standard library only (besides the agent it starts).  The scraper
and the /proc readings: :mod:`bench.soak_probe`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.soak_probe import CYCLES, Figures, Scraper, fetch, metric_value, quiet_figures

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DEMO_DATA = ROOT / "data" / "smd-demo"
DEFAULT_BUNDLE = ROOT / "models" / "default"


@dataclass
class SoakResult:
    mode: str
    cycles: int
    warmup_cycles: int
    start: Figures
    end: Figures
    seconds: float
    cycles_per_second: float
    scrapes: int
    scrape_errors: int
    scoring_errors: float
    cycles_skipped: float
    max_rss_growth_kb: int
    slack: int
    growth: dict[str, int] = field(default_factory=dict)
    passed: bool = False

    def judge(self) -> None:
        self.growth = {
            "rss_kb": self.end.rss_kb - self.start.rss_kb,
            "fds": self.end.fds - self.start.fds,
            "threads": self.end.threads - self.start.threads,
        }
        self.passed = (
            self.growth["rss_kb"] <= self.max_rss_growth_kb
            and abs(self.growth["fds"]) <= self.slack
            and abs(self.growth["threads"]) <= self.slack
            and self.scrape_errors == 0
            and self.scoring_errors == 0
        )


def _config(work: Path, interval: float) -> Path:
    """The bundle watcher polls every second, so the scheduler's second pool thread (the watch job
    overlapping a cycle) exists before the warm-up ends instead of appearing 30 s in."""
    cfg = work / "agent.yml"
    cfg.write_text(
        f"state_directory: {work / 'state'}\nmodel:\n  bundle: {DEFAULT_BUNDLE}\n"
        "  watch_interval_seconds: 1\n"
        f"sampling:\n  interval_seconds: {interval}\n  max_gap_intervals: 10000\n"
        "calibration:\n  warmup_samples: 10\nhistory:\n  max_bytes: 65536\n  rows_per_file: 200\n"
    )
    return cfg


def soak(
    mode: str,
    cycles: int,
    warmup: int,
    *,
    speed: float = 5000.0,
    interval: float = 0.002,
    scrape_period: float = 0.02,
    max_rss_growth_kb: int = 1024,
    slack: int = 2,
    port: int = 0,
    timeout: float = 3600.0,
    log: Path | None = None,
) -> SoakResult:
    """Run one agent for ``cycles`` cycles (``mode`` is ``replay`` or ``live``) and measure it."""
    if port == 0:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix=f"soak-{mode}-") as tmp:
        work = Path(tmp)
        cfg = str(_config(work, interval))
        if mode == "replay":  # replay overrides the interval with 1/speed
            args = [
                "replay",
                "--config.file",
                cfg,
                "--data",
                str(DEMO_DATA),
                "--machine",
                "machine-1-6",
                "--speed",
                str(speed),
                "--loop",
            ]
        else:
            args = ["run", "--config.file", cfg]
        logf = open(log or work / "agent.log", "wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent",
                *args,
                "--web.listen-address",
                f"127.0.0.1:{port}",
                "--log.level",
                "warning",
            ],
            stdout=logf,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        t0 = time.monotonic()
        scraper = Scraper(url, scrape_period)
        try:
            _wait(lambda: fetch(url + "/metrics", 1) is not None, proc, 60)
            scraper.start()

            def count() -> int:
                return int(metric_value(fetch(url + "/metrics").decode(), CYCLES) or 0)

            _wait(lambda: count() >= warmup, proc, timeout)
            start = quiet_figures(proc.pid, scraper, url, t0)
            _wait(lambda: count() >= cycles, proc, timeout, step=0.5)
            end = quiet_figures(proc.pid, scraper, url, t0)
            body = fetch(url + "/metrics").decode()
        finally:
            scraper.done.set()
            proc.terminate()
            proc.wait(30)
            logf.close()
    seconds = end.at_seconds - start.at_seconds
    result = SoakResult(
        mode,
        end.cycles,
        start.cycles,
        start,
        end,
        round(seconds, 1),
        round((end.cycles - start.cycles) / max(seconds, 1e-9), 1),
        scraper.count,
        len(scraper.errors),
        metric_value(body, "host_anomaly_scoring_errors_total") or 0.0,
        metric_value(body, "host_anomaly_cycles_skipped_total") or 0.0,
        max_rss_growth_kb,
        slack,
    )
    result.judge()
    if scraper.errors:
        print(f"{mode}: scrape errors, first: {scraper.errors[:3]}", file=sys.stderr)
    return result


def _wait(cond: Any, proc: subprocess.Popen, timeout: float, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited with {proc.returncode}")
        try:
            if cond():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("soak: condition not reached in time")
        time.sleep(step)


def run_soak(replay_cycles: int, live_cycles: int, out: Path | None = None) -> dict[str, Any]:
    """Both modes; warm-up is 10 % of the cycles (at least 2000 replay / 500 live).  Writes ``out`` if given."""
    results = [soak("replay", replay_cycles, max(2000, replay_cycles // 10))]
    if live_cycles:
        results.append(soak("live", live_cycles, max(500, live_cycles // 10)))
    doc = {
        "benchmark": "soak",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "passed": all(r.passed for r in results),
        "results": [asdict(r) for r in results],
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def format_table(doc: dict[str, Any]) -> str:
    rows = ["mode    cycles  cyc/s   RSS start→end (kB)     fds     threads  scrapes  errors  ok"]
    for r in doc["results"]:
        s, e = r["start"], r["end"]
        rows.append(
            f"{r['mode']:<7} {r['cycles']:>6}  {r['cycles_per_second']:>5.0f}   "
            f"{s['rss_kb']:>7} → {e['rss_kb']:<7} ({r['growth']['rss_kb']:+5d})  "
            f"{s['fds']:>2} → {e['fds']:<2}  "
            f"{s['threads']:>2} → {e['threads']:<2}  {r['scrapes']:>7}  {r['scrape_errors']:>6}  "
            f"{'yes' if r['passed'] else 'NO'}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    p.add_argument("--replay-cycles", type=int, default=100_000)
    p.add_argument("--live-cycles", type=int, default=10_000)
    p.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = p.parse_args(argv)
    doc = run_soak(args.replay_cycles, args.live_cycles, args.out)
    print(format_table(doc))
    print(f"written to {args.out}")
    return 0 if doc["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
