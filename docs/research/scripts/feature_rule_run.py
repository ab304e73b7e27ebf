"""Issue 13 feature rule, step 1: live-path backtests that keep the raw per-feature errors and T.

One npz per host under OUT: score (T,), errors (T, F) capped per-feature window errors before
normalisation, threshold (T,) the window threshold T in force, labels (T,) (0 on the train part).
Synthetic hosts (seeds 1-6, 7+7 days, 10 anomalies) run the shipped model; SMD machines run the
held-out fleet bundle of the other two machines.  First 1440 rows = warm-up, as bench.lomo_live.

    PYTHONPATH=/work/r4 nice -n 5 /work/main/.venv/bin/python research/feature_rule_run.py HOST...
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from agent.calibrate import fit as calibration_fit
from agent.runtime.backtest import backtest, input_timestamps
from agent.model.loaded import load_model
from agent.calibrate.pot import pot_threshold
from bench.lomo import DATA, smd_hosts, synth_hosts
from bench.lomo_live import END, INTERVAL, live_config

ROOT = Path(__file__).resolve().parents[1]
OUT = Path("/tmp/feature-rule")
CACHE = Path("/tmp/anomaly-lomo-cache")
SMD = ("machine-1-6", "machine-2-1", "machine-3-3")
WARMUP = 1440
QS = (1e-3, 1e-4)  # POT risk per feature is q / F (a Bonferroni split of the window's q)


def feature_stats(errors: np.ndarray) -> dict[str, np.ndarray]:
    """Per-feature threshold ingredients of one calibration's window errors (N, F)."""
    n, f = errors.shape
    out = {"max": np.nanmax(errors, axis=0), "q999": np.nanquantile(errors, 0.999, axis=0)}
    for q in QS:
        vals = []
        for j in range(f):
            try:
                vals.append(pot_threshold(errors[:, j], q / f)[0])
            except ValueError:
                vals.append(np.nan)
        out[f"pot{q:g}"] = np.array(vals)
    return out


class Recorder:
    """Every calibration's time, T and per-feature statistics (the hook in calibrate_rows)."""

    def __init__(self) -> None:
        self.cals: list[tuple[float, float, dict[str, np.ndarray]]] = []

    def __call__(self, now: float, errors: np.ndarray, threshold: float) -> None:
        self.cals.append((now, threshold, feature_stats(errors)))

    def per_row(self, timestamps: np.ndarray, threshold: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Index of the calibration in force at each scored row (checked against T), and stats per row."""
        times = np.array([c[0] for c in self.cals])
        ts = np.array([c[1] for c in self.cals])
        idx = np.full(len(timestamps), -1)
        for i, (t, th) in enumerate(zip(timestamps, threshold)):
            if not np.isfinite(th):
                continue
            for k in (np.searchsorted(times, t, "left") - 1, np.searchsorted(times, t, "right") - 1):
                if k >= 0 and np.isclose(ts[k], th, rtol=1e-9):
                    idx[i] = k
                    break
            assert idx[i] >= 0, (i, t, th)
        stats = {key: np.stack([c[2][key] for c in self.cals]) for key in self.cals[0][2]}
        return idx, stats


def fleet_bundle(machine: str) -> Path:
    others = "+".join(m for m in SMD if m != machine)
    (hit,) = CACHE.glob(f"fleet-{others}-*")
    return hit


def run(name: str) -> None:
    if name.startswith("synth-"):
        (h,) = synth_hosts([int(name.split("-")[1])], 7 * 1440, 7 * 1440, 10)
        bundle = ROOT / "models" / "default"
    else:
        (h,) = smd_hosts(DATA, [name])
        bundle = fleet_bundle(name)
    m = h.machine
    cfg = live_config(bundle, WARMUP)
    model = load_model(bundle, 1)
    rows = np.concatenate([m.train, m.test])
    labels = np.concatenate([np.zeros(len(m.train), np.int64), m.labels])
    t0 = time.time()
    rec = Recorder()
    calibration_fit.CALIBRATION_HOOK = rec
    ts = input_timestamps(len(rows), INTERVAL, END)
    with tempfile.TemporaryDirectory(prefix="feature-rule-") as st:
        r = backtest(cfg, model, rows, ts, Path(st))
    calibration_fit.CALIBRATION_HOOK = None
    cal_index, stats = rec.per_row(ts, r.threshold)
    ok = np.isfinite(r.score)
    # the patch's reconstruction is exact: the mean of the errors over T is the score
    assert np.allclose(np.nanmean(r.errors[ok], axis=1) / r.threshold[ok], r.score[ok], rtol=1e-6, atol=1e-9)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT / f"{name}.npz",
        score=r.score,
        errors=r.errors,
        threshold=r.threshold,
        labels=labels,
        n_train=len(m.train),
        cal_index=cal_index,
        cal_time=np.array([c[0] for c in rec.cals]),
        cal_threshold=np.array([c[1] for c in rec.cals]),
        **{f"cal_{k}": v for k, v in stats.items()},
        bundle=str(bundle),
        features=np.array(model.bundle.features),
    )
    print(f"{name}: {len(rows)} rows, {int(ok.sum())} scored, {len(rec.cals)} calibrations, {time.time() - t0:.0f} s, bundle {bundle}", flush=True)


if __name__ == "__main__":
    for n in sys.argv[1:]:
        run(n)
