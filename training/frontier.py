"""The alert-level frontier (DESIGN.md "Choose on the frontier, pooled"): pure numpy.

One global threshold multiplier ``m`` is swept over a candidate's live scores:
an alert is a run of ``run`` consecutive scores above ``m`` (the shipped
HostAnomaly rule at ``m = 1``), firing once per run.  For each ``m`` and each
held-out host: false alerts (firing outside every incident and its ``run``-sample
grace), normal days scored, incidents of at least ``run`` samples (the pager's
scope) alerted, all incidents alerted, and the delay from incident start to the
first alert.  Pooled over hosts: false alerts per host per day (sum of false
alerts / sum of normal days), the share of incidents alerted, the median delay.

:func:`choose` picks the multiplier with the most pooled incidents alerted within
the budget (``budget`` false alerts per host per day pooled, no host above
``ceiling``), ties by the shorter median delay.  Definitions match
:func:`agent.score.alerts.alert_figures` at ``m = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

RUN = 5
MULTIPLIERS = np.round(np.geomspace(0.25, 4.0, 49), 4)  # 1.0 is on the grid (index 24)


@dataclass(frozen=True)
class HostCurve:
    """One host's alert figures at every multiplier (arrays of len(multipliers))."""

    name: str
    false_alerts: np.ndarray
    normal_days: float
    long_alerted: np.ndarray
    long_incidents: int
    alerted: np.ndarray
    incidents: int
    delays: list[list[int]]  # per multiplier: delays (samples) of the alerted long incidents

    def fa_per_day(self) -> np.ndarray:
        return self.false_alerts / self.normal_days if self.normal_days > 0 else np.full(len(self.false_alerts), np.nan)


def _fires(score: np.ndarray, level: float, run: int, critical: tuple[int, float] | None = None) -> np.ndarray:
    """Indices where a page fires, once per episode (a run of scores > ``level``; NaN breaks a run): at the
    ``run``-th sample of the episode, or earlier, at the ``critical[0]``-th consecutive sample above
    ``critical[1] x level`` (a faster critical rule; Alertmanager inhibits the warning it precedes)."""
    above = np.nan_to_num(score, nan=-np.inf) > level
    edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    fire = np.where(ends - starts >= run, starts + run - 1, len(score))
    if critical is not None:
        c_run, factor = critical
        hot = np.nan_to_num(score, nan=-np.inf) > factor * level
        e2 = np.diff(np.concatenate([[0], hot.astype(np.int8), [0]]))
        s2, n2 = np.flatnonzero(e2 == 1), np.flatnonzero(e2 == -1)
        c_fire = (s2 + c_run - 1)[n2 - s2 >= c_run]
        episode = np.searchsorted(starts, c_fire, side="right") - 1  # the episode each critical fire is in
        np.minimum.at(fire, episode, c_fire)
    return np.sort(fire[fire < len(score)])


def _spans(labels: np.ndarray) -> np.ndarray:
    lab = (np.asarray(labels).ravel() > 0).astype(np.int8)
    edges = np.diff(np.concatenate([[0], lab, [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1)


def host_curve(
    name: str,
    score: np.ndarray,
    labels: np.ndarray,
    rows_per_day: float = 1440.0,
    multipliers: np.ndarray = MULTIPLIERS,
    run: int = RUN,
    critical: tuple[int, float] | None = None,
) -> HostCurve:
    s = np.asarray(score, np.float64)
    lab = np.asarray(labels).astype(bool)
    if s.shape != lab.shape or s.ndim != 1:
        raise ValueError(f"score {s.shape} and labels {lab.shape} must be 1-D of the same length")
    spans = _spans(lab)
    covered = np.zeros(len(s), bool)
    for a, b in spans:
        covered[a : min(b + run, len(s))] = True
    is_long = (spans[:, 1] - spans[:, 0]) >= run if len(spans) else np.zeros(0, bool)
    normal_days = float(((~lab) & np.isfinite(s)).sum()) / rows_per_day
    fa, la, al, delays = [], [], [], []
    for m in multipliers:
        fires = _fires(s, float(m), run, critical)
        fa.append(int((~covered[fires]).sum()))
        first = np.searchsorted(fires, spans[:, 0]) if len(spans) else np.zeros(0, np.int64)
        hit = np.zeros(len(spans), bool)
        d: list[int] = []
        for k, (a, b) in enumerate(spans):
            if first[k] < len(fires) and fires[first[k]] < b + run:
                hit[k] = True
                if is_long[k]:
                    d.append(int(fires[first[k]] - a))
        la.append(int((hit & is_long).sum()))
        al.append(int(hit.sum()))
        delays.append(d)
    return HostCurve(
        name, np.asarray(fa), normal_days, np.asarray(la), int(is_long.sum()), np.asarray(al), len(spans), delays
    )


def _median(values: list[int]) -> float | None:
    return float(np.median(values)) if values else None


def _shares(counts: np.ndarray, total: int) -> list[float | None]:
    return [float(x) / total if total else None for x in counts]


def pooled(curves: list[HostCurve], multipliers: np.ndarray = MULTIPLIERS) -> dict[str, Any]:
    """The pooled frontier: per multiplier, pooled FA/host/day, worst host, share of incidents alerted."""
    days = sum(c.normal_days for c in curves)
    fa = np.sum([c.false_alerts for c in curves], axis=0)
    n_long = sum(c.long_incidents for c in curves)
    n_all = sum(c.incidents for c in curves)
    per_host = np.stack([c.fa_per_day() for c in curves])
    return {
        "multipliers": [float(m) for m in multipliers],
        "fa_per_host_day": [float(x) for x in fa / days],
        "worst_host_fa_per_day": [float(x) for x in np.nanmax(per_host, axis=0)],
        "long_alerted_share": [
            float(x) / n_long if n_long else None for x in np.sum([c.long_alerted for c in curves], 0)
        ],
        "all_alerted_share": [float(x) / n_all if n_all else None for x in np.sum([c.alerted for c in curves], 0)],
        "median_delay": [_median([d for c in curves for d in c.delays[i]]) for i in range(len(multipliers))],
        "long_incidents": n_long,
        "incidents": n_all,
        "normal_days": days,
    }


def choose(frontier: dict[str, Any], budget: float = 0.2, ceiling: float = 0.5) -> int | None:
    """Index of the multiplier with the most long incidents alerted within the budget; ties by delay, then
    the larger multiplier (fewer false alerts).  None: no multiplier meets the budget."""
    best: tuple[float, float, float] | None = None
    pick = None
    for i, m in enumerate(frontier["multipliers"]):
        if frontier["fa_per_host_day"][i] > budget or frontier["worst_host_fa_per_day"][i] > ceiling:
            continue
        share = frontier["long_alerted_share"][i] or 0.0
        delay = frontier["median_delay"][i]
        key = (share, -(delay if delay is not None else np.inf), m)
        if best is None or key > best:
            best, pick = key, i
    return pick


def at(curves: list[HostCurve], frontier: dict[str, Any], i: int) -> dict[str, Any]:
    """Every figure at multiplier index ``i``: pooled, and per host (FA/day, incidents, median delay)."""
    return {
        "multiplier": frontier["multipliers"][i],
        "fa_per_host_day": frontier["fa_per_host_day"][i],
        "worst_host_fa_per_day": frontier["worst_host_fa_per_day"][i],
        "long_alerted_share": frontier["long_alerted_share"][i],
        "all_alerted_share": frontier["all_alerted_share"][i],
        "median_delay": frontier["median_delay"][i],
        "hosts": {
            c.name: {
                "fa_per_day": float(c.fa_per_day()[i]),
                "false_alerts": int(c.false_alerts[i]),
                "long_alerted": f"{int(c.long_alerted[i])}/{c.long_incidents}",
                "alerted": f"{int(c.alerted[i])}/{c.incidents}",
                "median_delay": _median(c.delays[i]),
            }
            for c in curves
        },
    }
