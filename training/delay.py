"""Detection delay: how long after a labelled event starts the first flag comes (docs/evaluation.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.metrics import segments


@dataclass(frozen=True)
class DelayResult:
    """Time from each labelled event's start to its first flagged point (:func:`detection_delays`)."""

    delays: tuple[float | None, ...]  # seconds per event in time order; None = never flagged inside it
    within: float  # the "quick detection" bound in seconds (default 300)
    detected_within: float | None  # share of ALL events flagged within ``within`` s; None without events

    @property
    def events(self) -> int:
        return len(self.delays)

    @property
    def detected(self) -> list[float]:
        return [d for d in self.delays if d is not None]

    @property
    def median_s(self) -> float | None:
        return float(np.median(self.detected)) if self.detected else None

    @property
    def p90_s(self) -> float | None:
        return float(np.percentile(self.detected, 90)) if self.detected else None

    def as_dict(self) -> dict[str, object]:
        return {
            "events": self.events,
            "detected": len(self.detected),
            "median_s": self.median_s,
            "p90_s": self.p90_s,
            "detected_within_5min": self.detected_within,
            "within_s": self.within,
            "delays_s": list(self.delays),
        }


def detection_delays(
    score: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    interval_seconds: float = 60.0,
    within_seconds: float = 300.0,
) -> DelayResult:
    """Detection delay per labelled event at a fixed threshold.

    For each label segment [a, b) (:func:`segments`) the delay is
    ``(i - a) * interval_seconds`` for the first row ``i`` in [a, b) with
    ``score[i] > threshold``, or None when no row of the event is flagged
    (a flag before the event starts does not count: it is not a detection of
    this event).  ``detected_within`` is the share of all events (missed ones
    included) whose delay is <= ``within_seconds``.  Median and p90 (linear
    interpolation) are taken over the detected events only.

    Parameters
    ----------
    score : (T,) scores; NaN rows (no full window yet) are never flagged
    labels : (T,) 0/1 ground truth
    threshold : flag ``score > threshold``
    """
    s = np.asarray(score, np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and labels {y.shape} differ in shape")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not interval_seconds > 0:
        raise ValueError(f"interval_seconds must be > 0, got {interval_seconds}")
    flagged = np.nan_to_num(s, nan=-np.inf) > threshold
    delays: list[float | None] = []
    for a, b in segments(y):
        hit = np.flatnonzero(flagged[a:b])
        delays.append(float(hit[0] * interval_seconds) if hit.size else None)
    share = float(np.mean([d is not None and d <= within_seconds for d in delays])) if delays else None
    return DelayResult(tuple(delays), float(within_seconds), share)
