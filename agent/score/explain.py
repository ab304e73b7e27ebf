"""Why a window scored what it did: each leading feature against its learned normal, and the score's rank.

Pure: a scorer, the window of rows as it was scored (raw units, after the
seasonal offset) and the scores of the day before in; a plain document out,
which ``anomaly-agent explain`` prints as a table and ``/api/v1/explain``
serves.  The normal of a feature is what the scaler learned on this host:
for z-score bundles the centre and the scale (one sigma, floored) in the
feature's units, so ``z = (value - centre) / scale``; for min-max bundles the
low end and the span of the range.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.score.scoring import Scorer, ZScaler


def rank_in(score: float, day: np.ndarray) -> tuple[int, int]:
    """(rank, of): 1 for the highest of ``day`` (the scores before, ``score`` among them), ties share a rank."""
    d = np.asarray(day, np.float64)
    d = d[np.isfinite(d)]
    return int((d > score).sum()) + 1, max(int(d.size), 1)


def explain_window(scorer: Scorer, window: np.ndarray, day_scores: np.ndarray, top: int = 5) -> dict[str, Any]:
    """The explanation of ``window`` (W, F): its score, its tiers, rank in ``day_scores`` and the ``top`` features."""
    spec = scorer.spec
    res = scorer.score_window(np.asarray(window, np.float64))
    scaler = spec.scaler
    if isinstance(scaler, ZScaler):
        centre, scale = scaler.center, scaler.scale
    else:  # min-max: the range's low end and its span
        centre, scale = scaler.low, np.where(scaler.high - scaler.low > 0, scaler.high - scaler.low, 1.0)
    value = np.asarray(window, np.float64)[-1]
    rank, of = rank_in(res.score, np.append(day_scores, res.score))
    order = np.argsort(-res.contributions, kind="stable")[:top]
    features = [
        {
            "feature": spec.features[j],
            "value": float(value[j]),
            "centre": float(centre[j]),
            "scale": float(scale[j]),
            "z": float((value[j] - centre[j]) / scale[j]),
            "share": float(res.contributions[j]),
            "feature_score": float(res.feature_scores[j]),
        }
        for j in order
    ]
    tiers = {"window": res.window_score, "fast": res.fast_score, "metric": res.metric_score}
    return {
        "score": res.score,
        "anomalous": res.anomalous,
        "tiers": {k: v for k, v in tiers.items() if v is not None},
        "rank": rank,
        "of": of,
        "scaler": scaler.method,
        "features": features,
    }
