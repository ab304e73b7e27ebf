"""The alert-level frontier of every detection candidate, pooled over held-out hosts (issue 23).

Run from the repository root::

    python -m bench.frontier [--data DIR] [--seeds 1,2,3,4,5,6] [--seasonal-seeds 1,2,3] [--jobs 2] [--quick]

Hosts, each seen as a new host sees it (``agent.runtime.backtest``: the first day
calibrates, everything after is scored with the daily recalibration and the
seasonal profile as shipped):

* the shared SMD machines, leave one machine out: each scored by the fleet model
  of the other two (trained once, cached under ``--cache``), rows in SMD's [0, 1]
  (``noise_floors: range``), train split then test split, the test labels judged;
* synthetic hosts in real units (:mod:`training.synth_units`: loads in cores,
  bytes/s in the thousands, ratios in 0-1, AR noise, daily rhythm), one per seed,
  scored by the shipped bundle with the noise floors in units and the host's cores;
* seasonal synthetic hosts (nightly backup, Monday batch, an off-schedule backup).

Candidates are agent settings (and, for the baseline, a bundle); every candidate
runs on every host in the same run.  For each, :mod:`training.frontier` sweeps one
global threshold multiplier and pools incidents of >= 5 samples over all hosts;
the choice is the multiplier with the most incidents alerted at <= 0.2 false
alerts per host per day pooled and no host above 0.5.  Writes
``bench/results/frontier.json`` (and ``docs/img/frontier.png`` with ``--plot``).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from agent.config import Config, load_config
from agent.model.loaded import load_model
from agent.runtime.backtest import backtest, input_timestamps
from bench.frontier_hosts import CANDIDATES, SimHost, bundles_for, smd_sim_hosts, units_sim_hosts
from bench.lomo_live import git_state, pointwise
from training import frontier as F

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "frontier.json"
PLOT = ROOT / "docs" / "img" / "frontier.png"
DATA = Path("/work/shared/data/smd")
CACHE = Path(tempfile.gettempdir()) / "anomaly-frontier-cache"
END = 1_800_000_000.0
BUDGET, CEILING = 0.2, 0.5


@dataclass(frozen=True)
class Job:
    candidate: str
    host: SimHost
    bundle: Path
    warmup: int


def candidate_config(name: str, bundle: Path, host: SimHost, warmup: int) -> Config:
    cfg = load_config(None, check_files=False)
    cfg = replace(
        cfg,
        model=replace(cfg.model, bundle=str(bundle)),
        calibration=replace(cfg.calibration, noise_floors=host.floors, warmup_samples=warmup),
    )
    return CANDIDATES[name].configure(cfg)


def run_job(job: Job) -> tuple[str, str, np.ndarray, float]:
    """One candidate on one host through the live cycle; (candidate, host, published score, seconds)."""
    h = job.host
    cfg = candidate_config(job.candidate, job.bundle, h, job.warmup)
    model = load_model(job.bundle, 1)
    ts = h.timestamps if h.timestamps is not None else input_timestamps(len(h.rows), 60.0, END)
    # the simulated host's cores set its load-average noise floors (agent.calibrate.recipe.host_recipe)
    with tempfile.TemporaryDirectory(prefix="frontier-") as state, mock.patch("os.cpu_count", return_value=h.cpus):
        r = backtest(cfg, model, h.rows, ts, Path(state), record_history=cfg.seasonal.enabled)
    return job.candidate, h.name, r.score, r.seconds


# Rule variants judged on every candidate's scores: the shipped rule alone, and with a critical rule
# paging at once when the score holds above 2 x the level for 2 samples (packaging/prometheus/rules.yml).
RULES: dict[str, tuple[int, float] | None] = {"": None, "+critical": (2, 2.0)}


def evaluate(scores: dict[str, dict[str, np.ndarray]], hosts: list[SimHost]) -> dict[str, Any]:
    """Per candidate and rule: the pooled frontier, the chosen multiplier, the figures there and at 1."""
    one = int(np.argmin(np.abs(F.MULTIPLIERS - 1.0)))
    out: dict[str, Any] = {}
    for cand, per_host in scores.items():
        judged = [h for h in hosts if h.name in per_host]
        point = {h.name: pointwise(per_host[h.name][h.judged :], h.labels[h.judged :]) for h in judged}
        for suffix, critical in RULES.items():
            curves = [F.host_curve(h.name, per_host[h.name], h.labels, critical=critical) for h in judged]
            fr = F.pooled(curves)
            pick = F.choose(fr, BUDGET, CEILING)
            out[cand + suffix] = {
                "description": CANDIDATES[cand].description
                + (" + critical rule (2 x level, 2 samples)" if critical else ""),
                "frontier": fr,
                "chosen": None if pick is None else F.at(curves, fr, pick),
                "at_1": F.at(curves, fr, one),
                "pointwise": point,
            }
    return out


def ranking(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Candidates by pooled long incidents alerted at the budget, ties by the shorter median delay."""
    rows = []
    for cand, r in results.items():
        c = r["chosen"]
        rows.append(
            {
                "candidate": cand,
                "multiplier": c["multiplier"] if c else None,
                "long_alerted": c["long_alerted_share"] if c else 0.0,
                "all_alerted": c["all_alerted_share"] if c else 0.0,
                "fa_per_host_day": c["fa_per_host_day"] if c else None,
                "worst_host": c["worst_host_fa_per_day"] if c else None,
                "median_delay": c["median_delay"] if c else None,
                "at_1_long_alerted": r["at_1"]["long_alerted_share"],
                "at_1_fa": r["at_1"]["fa_per_host_day"],
            }
        )
    rows.sort(key=lambda x: (-(x["long_alerted"] or 0.0), x["median_delay"] if x["median_delay"] is not None else 1e9))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="SMD root (its machines are skipped when absent)")
    ap.add_argument("--seeds", default="1,2,3,4,5,6", help="synthetic hosts in real units, one per seed")
    ap.add_argument("--seasonal-seeds", default="1,2,3", help="seasonal synthetic hosts, one per seed")
    ap.add_argument("--days", type=int, default=21, help="days per synthetic host")
    ap.add_argument("--candidates", default=",".join(CANDIDATES), help=f"of {', '.join(CANDIDATES)}")
    ap.add_argument("--cache", type=Path, default=CACHE, help="trained fleet bundles")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--plot", type=Path, nargs="?", const=PLOT, default=None, help=f"write the figure (default {PLOT})")
    ap.add_argument("--quick", action="store_true", help="smoke run: two short synthetic hosts, two candidates")
    args = ap.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.monotonic()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    sseeds = [int(s) for s in args.seasonal_seeds.split(",") if s]
    cands = [c for c in args.candidates.split(",") if c]
    unknown = [c for c in cands if c not in CANDIDATES]
    if unknown:
        ap.error(f"--candidates: unknown {', '.join(unknown)}; choose from {', '.join(CANDIDATES)}")
    if args.quick:
        hosts, warmup, cands = units_sim_hosts(seeds[:1], [], days=10), 1440, cands[:2]
        hosts += units_sim_hosts([], sseeds[:1], days=10)
    else:
        smd = smd_sim_hosts(args.data) if (args.data / "test").is_dir() else []
        hosts, warmup = smd + units_sim_hosts(seeds, sseeds, days=args.days), 1440
    jobs = [
        Job(c, h, bundles_for(c, h, args.cache, args.data, quick=args.quick), warmup) for c in cands for h in hosts
    ]  # bundles trained (once) here, in the parent, before the workers fork
    scores: dict[str, dict[str, np.ndarray]] = {c: {} for c in cands}
    seconds = 0.0
    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for cand, host, score, secs in pool.imap_unordered(run_job, jobs):
            scores[cand][host] = score
            seconds += secs
            log.info("%s on %s: %.0f s", cand, host, secs)
    results = evaluate(scores, hosts)
    ranked = ranking(results)
    doc: dict[str, Any] = {
        "kind": "frontier",
        "protocol": {
            "budget_fa_per_host_day": BUDGET,
            "host_ceiling_fa_per_day": CEILING,
            "rule": "score > m for 5 consecutive samples, once per run; incidents of >= 5 samples",
            "warmup": warmup,
        },
        "hosts": {h.name: h.describe() for h in hosts},
        "ranking": ranked,
        "candidates": results,
        "bench": {"seconds": round(time.monotonic() - t0, 1), "cycle_seconds": round(seconds, 1), **git_state()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    for row in ranked:
        print(
            f"{row['candidate']:<22} m={row['multiplier']}  long alerted {row['long_alerted']:.3f}  "
            f"all {row['all_alerted']:.3f}  FA/host/day {row['fa_per_host_day']}  worst {row['worst_host']}  "
            f"delay {row['median_delay']}  | at m=1: {row['at_1_long_alerted']:.3f} @ {row['at_1_fa']:.3f}/day"
        )
    if args.plot:
        from training.frontier_report import save_figure  # matplotlib: the [train] extra

        save_figure(doc, args.plot)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
