"""One model on one machine: its detector, its scores on the test rows, and every figure of those scores.

The one path of every model in :mod:`training.evaluate` and the report
(:mod:`training.report_data`): :func:`detector_for` makes the unfitted
detector (a baseline, or a :class:`training.bundle_detector.BundleDetector`
trained and scored through the agent's TFLite path), :func:`model_scores`
fits it on the training rows and scores the test rows, and
:func:`machine_metrics` computes the detection, interpretation, delay and
alert-level figures on the rows every model of the machine has scored.
Metric definitions: docs/evaluation.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.history.smd import Machine
from agent.score.alerts import alert_figures
from training import metrics as M
from training.baselines import BASELINES, make_baseline
from training.bundle_detector import BundleDetector
from training.bundle_meta import recorded_data_dir
from training.data import feature_names_for
from training.delay import detection_delays
from training.detector import Detector
from training.options import FitOptions, default_window

HIT_P = (1.0, 1.5)


@dataclass(frozen=True)
class ModelScores:
    """One model's output on one machine's test rows."""

    score: np.ndarray  # (T,), NaN where no score
    feature_scores: np.ndarray | None  # (T, F) ranking used for HitRate
    threshold: float  # flag score > threshold (1.0 for bundles: scores are normalised)
    threshold_method: str
    info: dict[str, Any]
    feature_scores_normalised: np.ndarray | None = None  # a second ranking (bundles: error over own threshold)


def row_interval(data_dir: Path | str, machine: str, default: float = 60.0) -> float:
    """Seconds between rows: an importer's sidecar ``timestamps.step`` when present, else SMD's minute."""
    path = Path(data_dir) / "train" / f"{machine}.json"
    if not path.is_file():
        return default
    step = (json.loads(path.read_text(encoding="utf-8")).get("timestamps") or {}).get("step")
    return float(step) if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0 else default


def detector_for(
    name: str,
    m: Machine,
    data_dir: Path,
    bundles_dir: Path,
    epochs: int | None,
    fit_overrides: dict[str, Any],
    seed: int = 0,
) -> Detector:
    """An unfitted detector for ``name``: a baseline, or a bundle kept in ``bundles_dir/<name>/<machine>``."""
    if name in BASELINES:
        return make_baseline(name, seed=seed)
    assert m.train is not None
    kw: dict[str, Any] = {"window": default_window(name), "verbose": 0, **fit_overrides}
    if epochs is not None:
        kw["epochs"] = epochs
    prov = {
        "data_dir": recorded_data_dir(data_dir),
        "machine": m.name,
        "split": "train",
        "command": "anomaly-train evaluate",
    }
    return BundleDetector(
        name, bundles_dir / name / m.name, FitOptions(**kw), feature_names_for(data_dir, m.name, m.train.shape[1]), prov
    )


def model_scores(det: Detector, m: Machine) -> ModelScores:
    """Fit ``det`` on the machine's training rows and score its test rows: the one path of every model."""
    assert m.train is not None and m.test is not None
    det.fit(m.train)
    t0 = time.monotonic()
    s = det.score_series(m.test)
    info = {**det.info(), "score_seconds": round(time.monotonic() - t0, 2)}
    return ModelScores(
        s.score, s.feature_scores, det.threshold, det.threshold_method, info, s.feature_scores_normalised
    )


def machine_metrics(
    s: ModelScores,
    labels: np.ndarray,
    dims: Sequence[frozenset[int]],
    mask: np.ndarray,
    vus_max_buffer: int,
    interval_seconds: float = 60.0,
) -> dict[str, Any]:
    """Every figure for one model on one machine, on the rows in ``mask`` (rows ``interval_seconds`` apart)."""
    score, y = s.score[mask], labels[mask]
    kept = [d for d, k in zip(dims, mask) if k]
    out: dict[str, Any] = {
        "best_f1": M.best_f1(score, y).as_dict(),
        "at_threshold": {**M.at_threshold(score, y, s.threshold), "method": s.threshold_method},
        "auc_pr": M.auc_pr(score, y),
        "vus_pr": M.vus_pr(score, y, max_buffer=vus_max_buffer),
        "event_f1": M.event_f1(score, y).as_dict(),
        "pa_f1_inflated": M.pa_f1(score, y).as_dict(),
        "detection_delay": detection_delays(score, y, s.threshold, interval_seconds).as_dict(),
        "alerts": alert_level(s, labels, mask, interval_seconds),
    }
    for p in HIT_P:
        key = f"hitrate@{round(p * 100)}"
        out[key] = None if s.feature_scores is None else M.hit_rate(s.feature_scores[mask], kept, p, y)
        if s.feature_scores_normalised is not None:
            out[f"{key}_normalised"] = M.hit_rate(s.feature_scores_normalised[mask], kept, p, y)
    out["info"] = dict(s.info)
    return out


def alert_level(s: ModelScores, labels: np.ndarray, mask: np.ndarray, interval_seconds: float) -> dict[str, Any]:
    """What a pager sees (:func:`agent.score.alerts.alert_figures`): the shipped rule, five consecutive scores above
    the model's shipped threshold (> 1 for a bundle's normalised score), on the whole test series with the
    rows outside ``mask`` unscored (they break a run and count for no normal day)."""
    score = np.where(mask, s.score, np.nan)
    return alert_figures(score, labels, rows_per_day=86400.0 / interval_seconds, level=s.threshold).to_dict()
