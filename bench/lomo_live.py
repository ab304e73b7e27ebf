"""bench.lomo's live path: a bundle through :func:`agent.runtime.backtest.backtest` on a host as a new host sees it.

Every model (per-host, held-out fleet, shipped) runs the same way on the
same rows: the train split then the test split, one row a minute, the first
``warm-up`` rows calibrate, everything after is scored.  Alert figures cover
the whole path, its train part and its test part; the test part is the fair
one for a per-host bundle (it was trained on the train part), so point-wise
AUC-PR and best F1 (no point adjustment) of the live score are given there.
The cost of each model: training seconds as recorded in its ``bundle.json``,
bundle bytes, and the agent's calibration timed on the warm-up rows.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.calibrate.calibrator import scorer_errors_fn
from agent.config import Config, load_config
from agent.history.smd import Machine
from agent.model.bundle import BUNDLE_FILE
from agent.model.loaded import LoadedModel, load_model
from agent.runtime.backtest import backtest, input_timestamps
from agent.runtime.hoststate import host_state
from agent.score.alerts import alert_figures
from training import metrics as M

ROOT = Path(__file__).resolve().parents[1]
INTERVAL = 60.0  # SMD and synth: one row a minute
END = 1_800_000_000.0  # simulated time of the last row (fixed: reruns are identical)


def live_config(bundle: Path, warmup: int) -> Config:
    cfg = load_config(None, check_files=False)
    return replace(
        cfg,
        model=replace(cfg.model, bundle=str(bundle)),
        calibration=replace(cfg.calibration, noise_floors="range", warmup_samples=warmup),
    )


def pointwise(score: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """AUC-PR and best F1 of ``score`` on the rows that have one (None without an anomaly there)."""
    ok = np.isfinite(score)
    y = labels[ok]
    if not ok.any() or not (y > 0).any():
        return {"rows": int(ok.sum()), "auc_pr": None, "best_f1": None}
    s, y = score[ok], (y > 0).astype(np.int64)
    return {"rows": int(ok.sum()), "auc_pr": M.auc_pr(s, y), "best_f1": M.best_f1(s, y).as_dict()}


def calibration_seconds(cfg: Config, model: LoadedModel, rows: np.ndarray) -> float | None:
    """Wall seconds of the agent's first calibration on ``rows`` (None: the bundle skips calibration).

    The same :class:`agent.calibrate.calibrator.Calibrator` the daemon builds (``host_state``),
    fed the warm-up rows, then timed over ``calibrate`` (scaler, every window's
    error, POT, the state file written)."""
    with tempfile.TemporaryDirectory(prefix="lomo-calib-") as state:
        c = replace(cfg, state_directory=state, history=replace(cfg.history, enabled=False))
        cal, _ = host_state(c, model)
        if cal is None:
            return None
        for row in rows[: cal.target_rows]:
            cal.observe(row)
        t0 = time.perf_counter()
        cal.calibrate(scorer_errors_fn(model.scorer))
        return round(time.perf_counter() - t0, 3)


def live(m: Machine, bundle: Path, warmup: int) -> dict[str, Any]:
    """Backtest ``bundle`` on the machine's train + test rows as a new host: warm-up, then everything scored."""
    assert m.train is not None and m.test is not None and m.labels is not None
    cfg = live_config(bundle, warmup)
    model = load_model(bundle, cfg.model.num_threads)
    rows = np.concatenate([m.train, m.test])
    labels = np.concatenate([np.zeros(len(m.train), np.int64), m.labels])
    with tempfile.TemporaryDirectory(prefix="lomo-backtest-") as state:
        r = backtest(
            cfg,
            model,
            rows,
            input_timestamps(len(rows), INTERVAL, END),
            Path(state),
            record_history=cfg.seasonal.enabled,
        )
    per_day = 86400.0 / INTERVAL
    n = len(m.train)
    return {
        "bundle": model.bundle.model_id,
        "rows": len(rows),
        "scored": r.scored,
        "warmup": warmup,
        "seconds": round(r.seconds, 1),
        "all": alert_figures(r.score, labels, per_day).to_dict(),  # every row after the warm-up
        "train_part": alert_figures(r.score[:n], labels[:n], per_day).to_dict(),  # normal weeks
        "test_part": alert_figures(r.score[n:], labels[n:], per_day).to_dict(),  # the labelled period
        "test_pointwise": pointwise(r.score[n:], labels[n:]),
        "calibration_seconds": calibration_seconds(cfg, model, rows[:warmup]),
    }


# -- cost ----------------------------------------------------------------------------------------------
def bundle_facts(path: Path) -> dict[str, Any]:
    """Training seconds as recorded in bundle.json (None if not), and the bundle's bytes on disk."""
    meta = json.loads((path / BUNDLE_FILE).read_text())
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    secs = training.get("seconds")
    return {
        "path": str(path),
        "train_seconds": float(secs) if isinstance(secs, (int, float)) else None,
        "bytes": sum(f.stat().st_size for f in path.iterdir() if f.is_file()),
    }


def _mean(vals: Sequence[Any]) -> float | None:
    v = [float(x) for x in vals if isinstance(x, (int, float))]
    return round(float(np.mean(v)), 3) if v else None


def cost(bundles: dict[str, dict[str, Path]], lv: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model: mean training seconds and bundle bytes over its distinct bundles, bundles to train per
    round for N hosts, and the mean agent calibration seconds over the hosts it ran on.

    ``bundles``: model -> host -> bundle path (the fleet and the shipped bundle repeat over hosts)."""
    out: dict[str, dict[str, Any]] = {}
    for model, per_host in bundles.items():
        facts = {str(p): bundle_facts(p) for p in per_host.values()}
        recorded = all(f["train_seconds"] is not None for f in facts.values())
        out[model] = {
            "bundles": len(facts),
            "train_seconds": _mean([f["train_seconds"] for f in facts.values()]),
            "train_seconds_source": (
                f"bundle.json, mean of {len(facts)}" if recorded else "not recorded in every bundle.json"
            ),
            "bundles_per_round": "N (one per host)" if model == "per-host" else "1 + N agent calibrations",
            "bundle_bytes": int(np.mean([f["bytes"] for f in facts.values()])),
            "calibration_seconds": _mean([lv[h][model]["calibration_seconds"] for h in per_host if model in lv[h]]),
        }
    return out


def git_state() -> dict[str, Any]:
    """HEAD and the modified tracked files under agent/ and training/ (empty when not a git checkout)."""

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "agent", "training").splitlines()
    return {"git_head": git("rev-parse", "HEAD").strip() or None, "modified": [line[3:] for line in dirty]}
