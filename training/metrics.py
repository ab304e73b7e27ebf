"""Detection and interpretation metrics, honest ones first (docs/evaluation.md).

All functions are pure.  ``scores`` are (T,) finite floats, higher = more
anomalous; ``labels`` are (T,) 0/1.  A point is flagged at threshold ``thr``
when ``score > thr`` (the agent's convention), and curves sweep every distinct
score ``s`` as the set ``score >= s``.

- point-wise: precision/recall/F1/FPR, best F1 over thresholds, AUC-PR;
- event-wise: composite F1 (Garg et al. 2021): point-wise precision, event recall;
- point-adjusted F1 (Xu et al. 2018): shown only as *inflated*;
- VUS-PR (Paparrizos et al. 2022): range-based PR with a buffer ramp, averaged over buffers;
- HitRate@P% (Su et al. 2019) for interpretation.

Detection delay per event: :mod:`training.delay`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from agent.score.alerts import incidents

if TYPE_CHECKING:  # a type only: agent.history.smd reads files, this module only computes
    from agent.history.smd import Interpretation


@dataclass(frozen=True)
class F1Result:
    f1: float
    precision: float
    recall: float
    threshold: float  # flag with score > threshold

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and labels {y.shape} differ in shape")
    if not np.isfinite(s).all():
        raise ValueError("scores hold NaN or Inf; mask those rows first")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if y.sum() == 0:
        raise ValueError("labels hold no anomaly; the metric is undefined")
    return s, y.astype(np.int64)


def _f1(p: np.ndarray | float, r: np.ndarray | float) -> np.ndarray:
    p, r = np.asarray(p, np.float64), np.asarray(r, np.float64)
    return np.divide(2 * p * r, p + r, out=np.zeros_like(p + r), where=(p + r) > 0)


segments = incidents  # contiguous runs of labels > 0 as an (E, 2) int array of [start, end) rows: agent.score.alerts


def pr_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counts for every cut ``score >= s`` over the distinct scores, highest first.

    Returns
    -------
    cuts, tp, fp, fn : (K,) arrays
    """
    s, y = _check(scores, labels)
    order = np.argsort(-s, kind="stable")
    ss, ys = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1]  # last row of each distinct value
    tp = np.cumsum(ys)[last]
    fp = np.cumsum(1 - ys)[last]
    return ss[last], tp, fp, y.sum() - tp


def _below(cuts: np.ndarray, k: int) -> float:
    """A value v with ``score > v`` <=> ``score >= cuts[k]`` on this data."""
    if k + 1 < len(cuts):
        return float((cuts[k] + cuts[k + 1]) / 2)
    return float(np.nextafter(cuts[k], -np.inf))


def best_f1(scores: np.ndarray, labels: np.ndarray) -> F1Result:
    """Point-wise F1 maximised over all thresholds (no point adjustment)."""
    cuts, tp, fp, fn = pr_curve(scores, labels)
    p, r = tp / (tp + fp), tp / (tp + fn)
    f = _f1(p, r)
    k = int(np.argmax(f))
    return F1Result(float(f[k]), float(p[k]), float(r[k]), _below(cuts, k))


def event_recall(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """Share of label segments with at least one point scoring > threshold."""
    s, y = _check(scores, labels)
    seg = segments(y)
    return float(np.mean([s[a:b].max() > threshold for a, b in seg]))


def at_threshold(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """Point-wise precision/recall/F1/FPR plus event recall and composite F1 at one threshold."""
    s, y = _check(scores, labels)
    pred = s > threshold
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / int(y.sum())
    er = event_recall(s, y, threshold)
    return {
        "threshold": float(threshold),
        "precision": p,
        "recall": r,
        "f1": float(_f1(p, r)),
        "fpr": fp / int((y == 0).sum()) if (y == 0).any() else 0.0,
        "flagged_ratio": float(pred.mean()),
        "event_recall": er,
        "event_f1": float(_f1(p, er)),
    }


def auc_pr(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the point-wise PR curve as average precision (sklearn)."""
    from sklearn.metrics import average_precision_score

    s, y = _check(scores, labels)
    return float(average_precision_score(y, s))


def _event_max(s: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Highest score inside each [start, end) segment, (E,)."""
    return np.array([s[a:b].max() for a, b in seg], dtype=np.float64)


def event_f1(scores: np.ndarray, labels: np.ndarray) -> F1Result:
    """Best composite F1 (Garg et al. 2021) over thresholds.

    Precision is point-wise (every flagged normal point is a false alarm);
    recall is event-wise (share of label segments with >= 1 flagged point).
    """
    cuts, tp, fp, _ = pr_curve(scores, labels)
    s, y = _check(scores, labels)
    m = np.sort(_event_max(s, segments(y)))
    er = (len(m) - np.searchsorted(m, cuts, side="left")) / len(m)  # events with max >= cut
    p = tp / (tp + fp)
    f = _f1(p, er)
    k = int(np.argmax(f))
    return F1Result(float(f[k]), float(p[k]), float(er[k]), _below(cuts, k))


def pa_f1(scores: np.ndarray, labels: np.ndarray) -> F1Result:
    """Best point-adjusted F1 over thresholds.  INFLATED: report only next to honest figures.

    Point adjustment (Xu et al. 2018) counts every point of a label segment as
    detected once any point in it is flagged, so long segments reward even
    random scores (Kim et al., AAAI 2022).
    """
    cuts, _, fp, _ = pr_curve(scores, labels)
    s, y = _check(scores, labels)
    seg = segments(y)
    m = _event_max(s, seg)
    order = np.argsort(m)
    m_sorted, lengths = m[order], (seg[:, 1] - seg[:, 0])[order]
    tail = np.r_[np.cumsum(lengths[::-1])[::-1], 0]  # points in events at index >= i
    tp = tail[np.searchsorted(m_sorted, cuts, side="left")]
    p = tp / (tp + fp)
    r = tp / int(y.sum())
    f = _f1(p, r)
    k = int(np.argmax(f))
    return F1Result(float(f[k]), float(p[k]), float(r[k]), _below(cuts, k))


def buffered_labels(labels: np.ndarray, buffer: int) -> np.ndarray:
    """Continuous labels with a sqrt ramp of ``buffer // 2`` points on both sides of each segment.

    A point at distance d (1 <= d <= buffer // 2) from a segment gets
    sqrt(1 - d / buffer); overlapping ramps keep the larger value; inside
    segments the label stays 1 (Paparrizos et al. 2022, Sec. 4).
    """
    y = np.asarray(labels, np.float64).ravel().copy()
    half = buffer // 2
    if half < 1:
        return y
    n = len(y)
    d = np.arange(1, half + 1)
    ramp = np.sqrt(1.0 - d / buffer)
    for a, b in segments(labels):
        left, right = a - d, b - 1 + d
        ok = left >= 0
        y[left[ok]] = np.maximum(y[left[ok]], ramp[ok])
        ok = right < n
        y[right[ok]] = np.maximum(y[right[ok]], ramp[ok])
    return y


def vus_pr(scores: np.ndarray, labels: np.ndarray, max_buffer: int = 100, n_thresholds: int = 250) -> float:
    """Volume under the range-based PR surface, buffers 0..max_buffer (Paparrizos et al. 2022).

    For each buffer length l the labels get a sqrt ramp (:func:`buffered_labels`);
    at each of ``n_thresholds`` score quantiles (flag ``score >= t``):
    TP = sum of the continuous labels over flagged points, precision = TP / flagged,
    recall = min(TP / P_l, 1) * existence, with P_l the mean of the binary and
    buffered label masses and existence the share of (buffered) segments with
    a flagged point.  Range-AUC-PR is the trapezoid area of that curve starting
    at (recall 0, precision 1); VUS-PR is its mean over the buffer lengths.
    A constant score carries no information and gets 0.0.
    """
    s, y = _check(scores, labels)
    if np.ptp(s) == 0:
        return 0.0
    cuts = np.sort(s)[::-1][np.linspace(0, len(s) - 1, n_thresholds).astype(int)]
    pred = s[None, :] >= cuts[:, None]  # (K, T)
    flagged = pred.sum(axis=1)
    csum = np.concatenate([np.zeros((len(cuts), 1), np.int64), np.cumsum(pred, axis=1)], axis=1)
    areas = []
    for buffer in range(max_buffer + 1):
        yc = buffered_labels(y, buffer)
        seg = segments(yc > 0)
        tp = pred @ yc
        mass = (y.sum() + yc.sum()) / 2
        exist = ((csum[:, seg[:, 1]] - csum[:, seg[:, 0]]) > 0).mean(axis=1)
        recall = np.r_[0.0, np.minimum(tp / mass, 1.0) * exist]
        precision = np.r_[1.0, tp / flagged]
        areas.append(float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2)))
    return float(np.mean(areas))


def interpretation_dims(interps: Iterable[Interpretation], length: int) -> list[frozenset[int]]:
    """Per-row sets of 0-indexed ground-truth dimensions (empty outside every interpretation)."""
    rows: list[set[int]] = [set() for _ in range(length)]
    for it in interps:
        if it.start >= length:
            continue
        for t in range(it.start, min(it.end, length)):
            rows[t].update(it.dims)
    return [frozenset(r) for r in rows]


def hit_rate(
    feature_scores: np.ndarray,
    dims: Sequence[frozenset[int]],
    p: float = 1.0,
    labels: np.ndarray | None = None,
) -> float:
    """HitRate@P%: mean over interpreted anomalous rows of |top_k ∩ G| / |G|, k = floor(p |G|).

    Parameters
    ----------
    feature_scores : (T, F) per-feature scores, higher = more responsible
    dims : T sets of ground-truth dimensions G (empty = not interpreted)
    p : 1.0 for HitRate@100%, 1.5 for @150%
    labels : (T,) optional; when given only rows labelled 1 count

    Rows whose feature scores hold NaN are skipped; NaN when no row counts.
    """
    fs = np.asarray(feature_scores, np.float64)
    if fs.ndim != 2 or len(fs) != len(dims):
        raise ValueError(f"feature_scores {fs.shape} must be (T, F) with T = {len(dims)} rows of dims")
    hits = []
    for t, g in enumerate(dims):
        if not g or (labels is not None and labels[t] != 1) or not np.isfinite(fs[t]).all():
            continue
        k = min(int(math.floor(p * len(g) + 1e-9)), fs.shape[1])
        top = np.argsort(-fs[t], kind="stable")[:k]
        hits.append(len(g.intersection(top.tolist())) / len(g))
    return float(np.mean(hits)) if hits else float("nan")
