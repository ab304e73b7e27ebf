"""Metrics: hand-computed cases, a brute-force VUS check, and the PA-F1 random-score trap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.history.smd import Interpretation
from training import metrics as m

# segments [1,3) and [5,6); no tied scores
LABELS = np.array([0, 1, 1, 0, 0, 1, 0, 0])
SCORES = np.array([0.15, 0.9, 0.2, 0.3, 0.1, 0.4, 0.5, 0.0])


def test_segments() -> None:
    assert m.segments(LABELS).tolist() == [[1, 3], [5, 6]]
    assert m.segments(np.array([1, 1, 0, 1])).tolist() == [[0, 2], [3, 4]]
    assert m.segments(np.zeros(3)).shape == (0, 2)


def test_best_f1_hand_computed() -> None:
    r = m.best_f1(SCORES, LABELS)  # cut 0.2 flags .9 .5 .4 .3 .2: P 3/5, R 1
    assert r.f1 == pytest.approx(0.75)
    assert (r.precision, r.recall) == (pytest.approx(0.6), pytest.approx(1.0))
    assert r.threshold == pytest.approx(0.175)
    assert ((r.threshold < SCORES) == (SCORES >= 0.2)).all()


def test_at_threshold_hand_computed() -> None:
    r = m.at_threshold(SCORES, LABELS, 0.35)  # flags .9 (a) .4 (a) .5 (n)
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)
    assert r["fpr"] == pytest.approx(1 / 5)
    assert r["event_recall"] == 1.0
    assert r["event_f1"] == pytest.approx(0.8)
    assert r["flagged_ratio"] == pytest.approx(3 / 8)


def test_at_threshold_nothing_flagged() -> None:
    r = m.at_threshold(SCORES, LABELS, 10.0)
    assert r["precision"] == r["recall"] == r["f1"] == r["event_f1"] == 0.0


def test_auc_pr_hand_computed() -> None:
    assert m.auc_pr(SCORES, LABELS) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)


def test_event_f1_hand_computed() -> None:
    r = m.event_f1(SCORES, LABELS)  # cut 0.4: both events hit, P 2/3
    assert r.f1 == pytest.approx(0.8)
    assert r.recall == 1.0 and r.precision == pytest.approx(2 / 3)
    assert r.threshold == pytest.approx(0.35)


def test_pa_f1_hand_computed() -> None:
    r = m.pa_f1(SCORES, LABELS)  # cut 0.4: all 3 anomaly points adjusted, 1 FP
    assert r.f1 == pytest.approx(2 * 0.75 / 1.75)
    assert r.precision == pytest.approx(0.75) and r.recall == 1.0


def test_pa_f1_is_inflated_for_random_scores() -> None:
    rng = np.random.default_rng(0)
    y = np.zeros(10_000, dtype=int)
    for a in range(500, 10_000, 2000):  # 5 segments of 200 points: 10% anomalous
        y[a : a + 200] = 1
    s = rng.uniform(size=y.size)
    assert m.pa_f1(s, y).f1 > 0.8
    assert m.best_f1(s, y).f1 < 0.25  # ~ 2 * 0.1 / 1.1 from flagging everything
    assert m.auc_pr(s, y) < 0.15
    assert m.event_f1(s, y).f1 < m.pa_f1(s, y).f1 - 0.3


def test_checks_inputs() -> None:
    with pytest.raises(ValueError, match="NaN"):
        m.best_f1(np.array([np.nan, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="no anomaly"):
        m.auc_pr(np.array([0.0, 1.0]), np.array([0, 0]))
    with pytest.raises(ValueError, match="shape"):
        m.pa_f1(np.ones(3), np.ones(2))


def test_buffered_labels_ramp() -> None:
    y = np.array([0, 0, 0, 1, 1, 0, 0, 0])
    b = m.buffered_labels(y, 4)  # 2 ramp points each side: sqrt(1 - d/4)
    r1, r2 = math.sqrt(0.75), math.sqrt(0.5)
    assert b == pytest.approx([0, r2, r1, 1, 1, r1, r2, 0])
    assert (m.buffered_labels(y, 1) == y).all()


def _range_pr_auc(s: np.ndarray, y: np.ndarray, buffer: int, cuts: np.ndarray) -> float:
    """Loop-by-loop Range-AUC-PR, written straight from the definition."""
    yc = m.buffered_labels(y, buffer)
    segs = m.segments(yc > 0)
    mass = (y.sum() + yc.sum()) / 2
    rec, prec = [0.0], [1.0]
    for c in cuts:
        pred = s >= c
        tp = float((yc * pred).sum())
        exist = sum(pred[a:b].any() for a, b in segs) / len(segs)
        rec.append(min(tp / mass, 1.0) * exist)
        prec.append(tp / pred.sum())
    return sum((rec[i] - rec[i - 1]) * (prec[i] + prec[i - 1]) / 2 for i in range(1, len(rec)))


def test_vus_pr_hand_computed() -> None:
    s = np.array([0.1, 0.4, 0.35, 0.8])
    y = np.array([0, 0, 1, 1])
    # buffer 0 (and 1): (R,P) = (0,1) (.5,1) (.5,.5) (1,2/3) (1,.5)
    b0 = 0.5 * 1 + 0 + 0.5 * (0.5 + 2 / 3) / 2
    assert m.vus_pr(s, y, max_buffer=0, n_thresholds=4) == pytest.approx(b0)
    # buffer 2: row 1 gets sqrt(1/2); mass (2 + 2 + sqrt(.5)) / 2
    h = math.sqrt(0.5)
    mass = (4 + h) / 2
    r = [0, 1 / mass, (1 + h) / mass, 1, 1]
    p = [1, 1, (1 + h) / 2, (2 + h) / 3, (2 + h) / 4]
    b2 = sum((r[i] - r[i - 1]) * (p[i] + p[i - 1]) / 2 for i in range(1, 5))
    assert m.vus_pr(s, y, max_buffer=2, n_thresholds=4) == pytest.approx((2 * b0 + b2) / 3)


def test_vus_pr_matches_loop_definition() -> None:
    rng = np.random.default_rng(1)
    y = np.zeros(400, dtype=int)
    y[50:60] = y[200:203] = y[390:400] = 1
    s = rng.normal(size=400) + 1.5 * y
    cuts = np.sort(s)[::-1][np.linspace(0, 399, 50).astype(int)]
    want = np.mean([_range_pr_auc(s, y, b, cuts) for b in range(0, 13)])
    assert m.vus_pr(s, y, max_buffer=12, n_thresholds=50) == pytest.approx(want)


def test_vus_pr_perfect_and_constant() -> None:
    y = np.zeros(200, dtype=int)
    y[100:110] = 1
    assert m.vus_pr(y.astype(float), y, max_buffer=0) == pytest.approx(1.0)
    assert m.vus_pr(np.ones(200), y) == 0.0


def test_interpretation_dims() -> None:
    interps = [Interpretation(1, 3, (0, 2)), Interpretation(2, 4, (5,)), Interpretation(9, 12, (1,))]
    rows = m.interpretation_dims(interps, 5)
    assert rows == [frozenset(), {0, 2}, {0, 2, 5}, {5}, frozenset()]


def test_hit_rate_hand_computed() -> None:
    fs = np.array([[0.9, 0.1, 0.8, 0.0], [0.0, 0.5, 0.6, 0.7], [9.0, 9.0, 9.0, 9.0]])
    dims = [frozenset({0, 1}), frozenset({3}), frozenset()]
    # row 0: top2 = {0, 2} -> 1/2; row 1: top1 = {3} -> 1; row 2 not interpreted
    assert m.hit_rate(fs, dims, 1.0) == pytest.approx(0.75)
    # @150%: row 0 top3 = {0, 2, 1} -> 1; row 1 top1 -> 1
    assert m.hit_rate(fs, dims, 1.5) == pytest.approx(1.0)
    assert m.hit_rate(fs, dims, 1.0, labels=np.array([0, 1, 1])) == pytest.approx(1.0)
    assert math.isnan(m.hit_rate(fs, [frozenset()] * 3))
    with pytest.raises(ValueError, match="rows"):
        m.hit_rate(fs, dims[:2])
