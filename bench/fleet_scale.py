"""Fleet training throughput: N synthetic short hosts through ``anomaly-train fleet fit``, Ray vs a plain loop.

    python -m bench.fleet_scale --hosts 1000 --executor ray --num-cpus 2
    python -m bench.fleet_scale --hosts 100 --executor local

Each host is an SMD-layout ``train/host-NNNN.txt`` of ``--rows`` rows x 38 features (sinusoids with a
host-specific period, phase and level, plus noise, scaled to [0, 1]).  Reported: wall seconds,
hosts per hour, seconds per host, failed hosts, and the peak resident memory of the driver, of the
largest worker and of the driver with every descendant (Ray's raylet, GCS and workers), sampled every
0.5 s with psutil.  Results: ``bench/results/fleet_scale_<executor>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from training.fleet.plan import smd_jobs
from training.fleet.run import fit_fleet, run_local, run_ray
from training.options import FitOptions

RESULTS = Path(__file__).parent / "results"


def make_hosts(root: Path, n: int, rows: int, features: int = 38, seed: int = 0) -> Path:
    train = root / "train"
    train.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    for i in range(n):
        path = train / f"host-{i:04d}.txt"
        if path.exists():
            continue
        period = rng.uniform(10, 120, features)
        x = np.sin(2 * np.pi * t / period + rng.uniform(0, 6.3, features)) + rng.uniform(-1, 1, features)
        x += rng.normal(0, 0.1, x.shape)
        x = (x - x.min(0)) / np.ptp(x, 0)
        np.savetxt(path, x, delimiter=",", fmt="%.4f")
    return root


class MemorySampler(threading.Thread):
    """Peak RSS of this process, of its largest descendant and of the whole tree."""

    def __init__(self, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.every, self.stop = every, threading.Event()
        self.driver = self.worker = self.tree = 0

    def run(self) -> None:
        me = psutil.Process()
        while not self.stop.is_set():
            try:
                own = me.memory_info().rss
                kids = []
                for c in me.children(recursive=True):
                    try:
                        kids.append(c.memory_info().rss)
                    except psutil.Error:
                        pass
                self.driver = max(self.driver, own)
                self.worker = max(self.worker, max(kids, default=0))
                self.tree = max(self.tree, own + sum(kids))
            except psutil.Error:
                pass
            self.stop.wait(self.every)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fleet_scale", description=__doc__.splitlines()[0])
    p.add_argument("--hosts", type=int, default=1000)
    p.add_argument("--rows", type=int, default=400, help="rows per host (short histories)")
    p.add_argument("--executor", choices=["ray", "local"], default="ray")
    p.add_argument("--num-cpus", type=int, default=os.cpu_count())
    p.add_argument("--cpus-per-host", type=float, default=1.0)
    p.add_argument("--work", type=Path, default=Path("/tmp/fleet-scale"))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--window", type=int, default=16)
    args = p.parse_args(argv)
    data = make_hosts(args.work / "data", args.hosts, args.rows)
    out = args.work / f"out-{args.executor}"
    opt = FitOptions(window=args.window, epochs=args.epochs, batch_size=64, verbose=0)
    names = [f"host-{i:04d}" for i in range(args.hosts)]
    jobs = smd_jobs(data, names, "dense", opt)
    if args.executor == "ray":
        executor: Any = partial(run_ray, cpus_per_host=args.cpus_per_host, num_cpus=args.num_cpus)
    else:
        executor = run_local
    load_before = os.getloadavg()[0]
    mem = MemorySampler()
    mem.start()
    t0 = time.monotonic()
    doc = fit_fleet(jobs, out, executor, force=True)
    wall = time.monotonic() - t0
    mem.stop.set()
    mem.join()
    recs = [doc["hosts"][j.host] for j in jobs]
    ok = [r for r in recs if r.get("status") == "ok"]
    result = {
        "hosts": args.hosts,
        "rows_per_host": args.rows,
        "features": 38,
        "executor": args.executor,
        "num_cpus": args.num_cpus,
        "cpus_per_host": args.cpus_per_host,
        "epochs": args.epochs,
        "window": args.window,
        "ok": len(ok),
        "failed": len(recs) - len(ok),
        "wall_seconds": round(wall, 1),
        "hosts_per_hour": round(3600 * len(recs) / wall),
        "task_seconds_median": round(float(np.median([r["seconds"] for r in ok])), 2) if ok else None,
        "bundle_bytes_median": int(np.median([r["model_bytes"] for r in ok])) if ok else None,
        "peak_rss_mb": {
            "driver": round(mem.driver / 2**20),
            "largest_worker": round(mem.worker / 2**20),
            "driver_and_descendants": round(mem.tree / 2**20),
        },
        "machine_cpus": os.cpu_count(),
        # the machine is shared: other jobs' load makes these figures pessimistic
        "load_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "command": f"python -m bench.fleet_scale --hosts {args.hosts} --rows {args.rows} --executor {args.executor} "
        f"--num-cpus {args.num_cpus}",
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"fleet_scale_{args.executor}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
