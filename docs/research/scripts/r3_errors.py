"""r3 phase 1: per-host per-timestep per-feature squared errors of the live path, reduced to the
per-feature aggregates every candidate reduction needs (cached in /tmp/r3/<host>.npz).

E[n, t, f] = (AE(z)[n, t, f] - z[n, t, f])^2 for the window n ending at row n + 29, z from the host
z-scaler fitted on the first 1440 rows (agent.calibrate.fit.fit_host_zscaler, SMD-format recipe).
Stored: whole-window mean and last-s means (s = 1, 5, 10) per feature, uncapped, float32 (N, 4, 38);
the z-scored rows (for PCA); the labels (0 on train, test_label after).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from agent.calibrate.fit import HostRecipe, fit_host_zscaler
from agent.model.loaded import load_model
from agent.score.scoring import ERROR_CAP, Z_CLIP, feature_errors, model_io
from agent.score.window import make_windows
from bench.lomo import DATA, MACHINES, smd_hosts, synth_hosts

CACHE = Path("/tmp/anomaly-lomo-cache")
OUT = Path("/tmp/r3")
WARMUP = 1440
HEADS = (1, 5, 10)
BATCH = 2048


def bundle_for(host: str) -> Path:
    if host in MACHINES:
        others = "+".join(m for m in MACHINES if m != host)
        prefix = f"fleet-{others}-"
    else:
        prefix = "fleet-" + "+".join(MACHINES) + "-"
    (path,) = [p for p in CACHE.iterdir() if p.name.startswith(prefix)]
    return path


def host_errors(h, check: bool = True) -> dict[str, np.ndarray]:
    m = h.machine
    rows = np.concatenate([m.train, m.test]).astype(np.float64)
    labels = np.concatenate([np.zeros(len(m.train), np.int64), m.labels])
    model = load_model(bundle_for(h.name), 1)
    b = model.bundle
    scaler = fit_host_zscaler(rows[:WARMUP], b.features, HostRecipe(units=False, cpus=1), clip=Z_CLIP)
    spec = b.spec().__class__(**{**b.spec().__dict__, "scaler": scaler, "tail": b.window, "error_cap": ERROR_CAP})
    wins = make_windows(rows, b.window)
    agg = np.empty((len(wins), 1 + len(HEADS), len(b.features)), np.float32)
    for i in range(0, len(wins), BATCH):
        x, target = model_io(spec, wins[i : i + BATCH])
        e = (model.scorer.predictor.predict(x).astype(np.float64) - target) ** 2  # (n, W, F)
        agg[i : i + len(x), 0] = e.mean(axis=1)
        for j, s in enumerate(HEADS):
            agg[i : i + len(x), 1 + j] = e[:, -s:].mean(axis=1)
    if check:  # the agent's own scorer (tail = window, cap 36) on a few windows gives the same errors
        from agent.score.scoring import Scorer

        idx = np.linspace(0, len(wins) - 1, 50).astype(int)
        ref = Scorer(spec, model.scorer.predictor).errors(wins[idx])
        assert np.allclose(ref, np.minimum(agg[idx, 0], ERROR_CAP), rtol=1e-4, atol=1e-5), "mismatch with Scorer"
    return {
        "agg": agg,
        "z": scaler.transform(rows).astype(np.float32),
        "labels": labels,
        "window": np.int64(b.window),
        "bundle": np.array(b.model_id),
        "features": np.array(b.features),
    }


def all_hosts():
    return [*smd_hosts(DATA, MACHINES), *synth_hosts(range(1, 7), 7 * 1440, 7 * 1440, 10)]


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for h in all_hosts():
        f = OUT / f"{h.name}.npz"
        if f.exists():
            continue
        t0 = time.monotonic()
        np.savez(f, **host_errors(h))
        print(f"{h.name}: {time.monotonic() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
