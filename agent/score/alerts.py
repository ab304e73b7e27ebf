"""Alert-level figures: judge a score series as a pager does (DESIGN.md "Evaluation").

An alert is a run of ``run`` consecutive scores above ``level`` (the shipped
``HostAnomaly`` rule: ``score > 1`` for five one-minute samples) and fires once
per run, at the sample that completes it.  A missing score (NaN: the agent
published none) breaks a run, as an absent series resets a Prometheus ``for``.

Pure functions on arrays; the backtest, ``evaluate`` and the scoreboard share them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

RULE_RUN = 5  # samples: `for: 5m` at one sample a minute
RULE_LEVEL = 1.0  # the normalised score's threshold


def alert_fires(scores: np.ndarray, run: int = RULE_RUN, level: float = RULE_LEVEL) -> np.ndarray:
    """Indices where an alert fires: the sample completing a run of ``run`` scores > ``level``."""
    above = np.nan_to_num(np.asarray(scores, np.float64), nan=-np.inf) > level
    fires: list[int] = []
    streak = 0
    for i, a in enumerate(above):
        streak = streak + 1 if a else 0
        if streak == run:
            fires.append(i)
    return np.asarray(fires, dtype=np.int64)


def incidents(labels: np.ndarray) -> np.ndarray:
    """(K, 2) int [start, end) row ranges of the labelled incidents (runs of labels > 0)."""
    lab = (np.asarray(labels).ravel() > 0).astype(np.int8)
    edges = np.diff(np.concatenate([[0], lab, [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1)


@dataclass(frozen=True)
class AlertFigures:
    """What a pager sees over a labelled series."""

    alerts: int  # all alert runs
    false_alerts: int  # runs firing outside every incident (+ grace)
    normal_days: float  # normal rows that had a score, in days
    false_alerts_per_day: float
    incidents: int
    incidents_alerted: int
    incident_recall: float  # share of all incidents alerted
    long_incidents: int  # incidents of at least `run` samples (the pager's scope)
    long_incident_recall: float
    median_delay_samples: float  # incident start -> first alert, over alerted incidents (NaN if none)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def alert_figures(
    scores: np.ndarray, labels: np.ndarray, rows_per_day: float = 1440.0, run: int = RULE_RUN, level: float = RULE_LEVEL
) -> AlertFigures:
    """Alert-level figures of ``scores`` against 0/1 ``labels`` (same length).

    An incident counts as alerted when an alert fires inside it or within
    ``run`` samples after its end; an alert is false when it fires outside
    every such span.  False alerts per day divide by the normal rows that were
    scored (rows without a score, e.g. the warm-up, count for nothing).
    """
    s = np.asarray(scores, np.float64)
    lab = np.asarray(labels).astype(bool)
    if s.shape != lab.shape or s.ndim != 1:
        raise ValueError(f"scores {s.shape} and labels {lab.shape} must be 1-D of the same length")
    fires = alert_fires(s, run, level)
    spans = incidents(lab)
    covered = np.zeros(len(s), bool)
    delays: list[int] = []
    alerted = 0
    for a, b in spans:
        covered[a : min(b + run, len(s))] = True
        inside = fires[(fires >= a) & (fires < b + run)]
        if len(inside):
            alerted += 1
            delays.append(int(inside[0] - a))
    false = int((~covered[fires]).sum()) if len(fires) else 0
    normal_days = float(((~lab) & np.isfinite(s)).sum()) / rows_per_day
    long_mask = (spans[:, 1] - spans[:, 0]) >= run if len(spans) else np.zeros(0, bool)
    long_alerted = sum(
        1 for (a, b), is_long in zip(spans, long_mask) if is_long and ((fires >= a) & (fires < b + run)).any()
    )
    n_long = int(long_mask.sum())
    return AlertFigures(
        alerts=int(len(fires)),
        false_alerts=false,
        normal_days=normal_days,
        false_alerts_per_day=false / normal_days if normal_days > 0 else float("nan"),
        incidents=int(len(spans)),
        incidents_alerted=alerted,
        incident_recall=alerted / len(spans) if len(spans) else float("nan"),
        long_incidents=n_long,
        long_incident_recall=long_alerted / n_long if n_long else float("nan"),
        median_delay_samples=float(np.median(delays)) if delays else float("nan"),
    )
