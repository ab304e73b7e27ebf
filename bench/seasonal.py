"""``python -m bench.seasonal``: the seasonal profile's effect on alerts and its cost (docs/seasonality.md).

One synthetic host (``anomaly-train synth --seasonal``: 28 days in
Europe/Berlin from 2026-10-05, nightly backup 02:00, Monday batch 09:00, the
backup's shape on Wednesday 14:00 of week three, the end of DST on
2026-10-25) goes through ``anomaly-agent backtest --history`` three times:
seasonal off, on (timezone Europe/Berlin) and on with timezone UTC (to show
what the local wall clock is for), and on without the clamp.  Alerts (the shipped rule: score > 1 for
5 samples) are attributed to the job or anomaly they fired in (up to an
hour after its end); the evaluation period is the two weeks after the
14-day learning period.  The cost side: the profile's arrays and state
file, tracemalloc peak of one relearn, time per ``apply`` and per relearn.
Writes ``bench/results/seasonal.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from agent.calibrate.seasonal import Seasonal
from agent.config import SeasonalConfig
from agent.history.reader import load_recorded
from agent.score.alerts import alert_fires
from training.synth_seasonal import fires_by_event, generate, read_events, write_history

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "models" / "default"
LEARN_DAYS, DAYS = 14, 28
DST_END = 1792890000.0  # 2026-10-25 01:00 UTC: Europe/Berlin goes from CEST to CET
# the synthetic rows are SMD-scaled (0-1), not in host units: z-score noise floors as a share of the range
FLOORS = "calibration:\n  noise_floors: range\n"
CONFIGS = {
    "off": FLOORS + "seasonal:\n  enabled: false\n",
    "on": FLOORS + "seasonal:\n  timezone: Europe/Berlin\n",
    "on_utc": FLOORS + "seasonal:\n  timezone: UTC\n",
    "on_unclamped": FLOORS + "seasonal:\n  timezone: Europe/Berlin\n  clamp: false\n",
}


def _scores(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    ts = np.array([float(r["timestamp"]) for r in rows])
    return ts, np.array([float(r["score"]) if r["score"] else np.nan for r in rows])


def backtest_run(history: Path, name: str, work: Path) -> dict[str, Any]:
    """One ``anomaly-agent backtest --history`` run; alerts by event in the learning and evaluation periods."""
    cfg = work / f"{name}.yml"
    cfg.write_text(CONFIGS[name])
    out = work / f"{name}.csv"
    cmd = [
        sys.executable,
        "-m",
        "agent",
        "backtest",
        "--bundle",
        str(BUNDLE),
        "--history",
        str(history),
        "--output",
        str(out),
        "--config.file",
        str(cfg),
        "--state-dir",
        str(work / f"state-{name}"),
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    ts, score = _scores(out)
    fires = alert_fires(score)
    events = read_events(history.parent / "events.csv")
    names = fires_by_event(ts[fires], events)
    learn_end = ts[0] + LEARN_DAYS * 86400
    result: dict[str, Any] = {"seconds": round(seconds, 1), "command": " ".join(cmd[1:])}
    for period, mask in (("learning", ts[fires] < learn_end), ("evaluation", ts[fires] >= learn_end)):
        counts: dict[str, int] = {}
        for n, m in zip(names, mask):
            if m:
                counts[n] = counts.get(n, 0) + 1
        weeks = (LEARN_DAYS if period == "learning" else DAYS - LEARN_DAYS) / 7
        false = sum(v for k, v in counts.items() if k not in ("offschedule_backup", "memory_leak"))
        result[period] = {
            "alerts_by_event": counts,
            "false_alerts_per_week": round(false / weeks, 2),
            "scheduled_job_alerts_per_week": round(
                (counts.get("nightly_backup", 0) + counts.get("monday_batch", 0)) / weeks, 2
            ),
        }
    dst = next(e.start for e in events if e.name == "nightly_backup" and e.start > DST_END)
    result["nightly_alerts_after_dst_change"] = sum(
        1 for n, t in zip(names, ts[fires]) if n == "nightly_backup" and t >= dst
    )
    result["offschedule_backup_alerted"] = "offschedule_backup" in names
    return result


def _bundle_id() -> str:
    """Which default bundle ran (it changes with the detection work): path, model id, scaler method."""
    doc = json.loads((BUNDLE / "bundle.json").read_text())
    return f"{BUNDLE.relative_to(ROOT)} ({doc.get('model_id')}, scaler {doc.get('scaler', {}).get('method')})"


def _rss() -> dict[str, int]:
    """VmRSS/VmHWM of this process in KiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def _reset_peak_rss() -> None:
    """Reset VmHWM (Linux >= 4.0), so the peak of the relearn alone is read."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def cost(history: Path, features: tuple[str, ...]) -> dict[str, Any]:
    """Memory and time of the profile on 28 days of one-minute rows (a weekly profile)."""
    rec = load_recorded(history, features)
    now, n_rows = float(rec.timestamps[-1]), len(rec.values)
    del rec
    with tempfile.TemporaryDirectory() as d:
        s = Seasonal(SeasonalConfig(timezone="Europe/Berlin"), features, history, Path(d) / "seasonal.json")
        rss0 = _rss()["VmRSS"]
        _reset_peak_rss()
        t0 = time.perf_counter()
        s.learn(now)  # ends with release_free_memory(), as in the agent
        learn_s = time.perf_counter() - t0
        after = _rss()
        tracemalloc.start()
        s.learn(now)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert s.profile is not None
        state_bytes = (Path(d) / "seasonal.json").stat().st_size
        p = s.profile
        rows = np.ones((1200, len(features)))
        stamps = now + 60.0 * np.arange(1, 1201)  # the next 20 hours of cycles (no relearn due within them)
        t0 = time.perf_counter()
        for r, t in zip(rows, stamps):
            s.apply(r, float(t))
        apply_us = (time.perf_counter() - t0) / len(rows) * 1e6
        t0 = time.perf_counter()
        Seasonal(SeasonalConfig(timezone="Europe/Berlin"), features, history, Path(d) / "seasonal.json")
        load_s = time.perf_counter() - t0
    return {
        "profile": f"weekly, {p.offset.shape[0]} slots x {p.offset.shape[1]} features",
        "profile_array_bytes": int(p.offset.nbytes + p.ratio.nbytes + p.center.nbytes),
        "state_file_bytes": state_bytes,
        "relearn_rows": int(n_rows),
        "relearn_seconds": round(learn_s, 3),
        "relearn_tracemalloc_peak_bytes": int(peak),
        "relearn_rss_before_kib": rss0,
        "relearn_rss_peak_kib": after["VmHWM"],
        "relearn_rss_after_kib": after["VmRSS"],
        "apply_microseconds_per_cycle": round(apply_us, 1),
        "reload_at_start_seconds": round(load_s, 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "seasonal.json")
    ap.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    ap.add_argument("--cost-only", action="store_true", help="measure the cost and keep the runs of --out")
    args = ap.parse_args(argv)
    if args.cost_only:
        doc = json.loads(args.out.read_text())
        with tempfile.TemporaryDirectory(prefix="bench-seasonal-") as tmp:
            host = generate(DAYS, anomaly_after_days=LEARN_DAYS)
            history = write_history(Path(tmp) / "host", host, "synth-seasonal")
            doc["cost"] = cost(history, host.features)
        doc["cost_date"], doc["cost_load_average"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), os.getloadavg()
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
        print(json.dumps(doc["cost"], indent=1))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-seasonal-") as tmp:
        work = args.work or Path(tmp)
        host = generate(DAYS, anomaly_after_days=LEARN_DAYS)
        history = write_history(work / "host", host, "synth-seasonal")
        with ThreadPoolExecutor(max_workers=len(CONFIGS)) as pool:
            runs = dict(zip(CONFIGS, pool.map(lambda n: backtest_run(history, n, work), CONFIGS)))
        doc = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_average": os.getloadavg(),
            "host": f"synthetic, {DAYS} days, learning {LEARN_DAYS} days, Europe/Berlin, DST end 2026-10-25",
            "bundle": _bundle_id(),
            "runs": runs,
            "cost": cost(history, host.features),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
