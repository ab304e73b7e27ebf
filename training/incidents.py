"""Incidents: runs of rows above the threshold, ranked, with their mean feature shares (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from training.metrics import segments


@dataclass(frozen=True)
class Incident:
    """A run of test rows [start, end) whose score is above the threshold."""

    start: int
    end: int
    peak: float
    peak_row: int
    area: float  # sum of (score - threshold) over the rows above it
    labelled: bool  # overlaps a labelled anomaly
    shares: np.ndarray  # (F,) mean contribution share over the run
    truth: frozenset[int]  # ground-truth dimensions (interpretation_label), empty if none

    @property
    def duration(self) -> int:
        return self.end - self.start


def find_runs(score: np.ndarray, threshold: float = 1.0, merge_gap: int = 0) -> np.ndarray:
    """Runs of ``score > threshold`` as (E, 2) [start, end) rows; gaps of <= ``merge_gap`` rows are bridged."""
    runs = segments(np.nan_to_num(np.asarray(score, np.float64), nan=-np.inf) > threshold)
    if merge_gap <= 0 or len(runs) < 2:
        return runs
    merged = [list(runs[0])]
    for a, b in runs[1:]:
        if a - merged[-1][1] <= merge_gap:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return np.asarray(merged, dtype=runs.dtype)


def find_incidents(
    score: np.ndarray,
    contributions: np.ndarray,
    labels: np.ndarray,
    dims: Sequence[frozenset[int]],
    n: int,
    threshold: float = 1.0,
    merge_gap: int = 0,
    rank_by: str = "area",
) -> list[Incident]:
    """The ``n`` largest runs above ``threshold``, ranked by ``area`` or ``peak`` (the other breaks ties).

    Parameters
    ----------
    score : (T,) normalised score; contributions : (T, F) shares; labels : (T,) 0/1
    dims : T sets of 0-indexed ground-truth dimensions (:func:`training.metrics.interpretation_dims`)
    """
    if rank_by not in ("area", "peak"):
        raise ValueError(f"rank_by must be 'area' or 'peak', got {rank_by!r}")
    s = np.asarray(score, np.float64)
    out = []
    for a, b in find_runs(s, threshold, merge_gap):
        seg = s[a:b]
        k = int(np.nanargmax(seg))
        out.append(
            Incident(
                int(a),
                int(b),
                float(seg[k]),
                int(a + k),
                float(np.nansum(np.clip(seg - threshold, 0, None))),
                bool(np.any(labels[a:b])),
                np.nanmean(contributions[a:b], axis=0),
                frozenset().union(*dims[a:b]),
            )
        )
    key = (lambda i: (i.area, i.peak)) if rank_by == "area" else (lambda i: (i.peak, i.area))
    return sorted(out, key=key, reverse=True)[:n]
