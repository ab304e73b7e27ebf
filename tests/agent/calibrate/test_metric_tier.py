"""agent.calibrate.metric_tier: each metric against its own calibrated level, the maximum calibrated as one signal."""

from __future__ import annotations

import numpy as np

from agent.calibrate.metric_tier import LEVEL_FLOOR, THRESHOLD_FLOOR, metric_thresholds, metric_values


def test_levels_follow_each_metrics_own_tail_and_never_drop_below_one_sigma() -> None:
    rng = np.random.default_rng(0)
    steady = rng.chisquare(1, 5000) * 0.01  # a gauge that barely moves: floored at one sigma squared
    bursty = rng.chisquare(1, 5000) * 9.0  # a counter with 3-sigma bursts: its level is its bursts
    levels, threshold, details = metric_thresholds(np.column_stack([steady, bursty]), 1e-3)
    assert levels[0] == LEVEL_FLOOR
    assert 50 < levels[1] < 150
    assert details["threshold_kind"] == "pot" and threshold >= THRESHOLD_FLOOR
    # a 25 (5 sigma) error is an anomaly for the steady gauge, ordinary for the bursty counter
    v = metric_values(np.array([[25.0, 0.0], [0.0, 25.0]]), levels)
    assert v[0] / threshold > 5 and v[1] / threshold < 1


def test_the_threshold_keeps_the_budget_of_the_maximum_over_metrics() -> None:
    rng = np.random.default_rng(1)
    errors = rng.chisquare(1, (20000, 38))
    levels, threshold, _ = metric_thresholds(errors[:10000], 1e-3)
    fresh = metric_values(errors[10000:], levels) / threshold
    # POT at q = 1e-3 on the maximum: about one window in a thousand above 1, not 38 in a thousand
    assert (fresh > 1).mean() < 5e-3


def test_few_rows_give_a_provisional_threshold_above_the_largest_value_and_nan_is_ignored() -> None:
    errors = np.array([[1.0, np.nan], [2.0, np.nan], [3.0, np.nan]])
    levels, threshold, details = metric_thresholds(errors, 1e-3)
    assert details["threshold_kind"] == "provisional"
    assert np.isfinite(levels).all() and levels[1] == LEVEL_FLOOR
    assert threshold >= 2.0 * metric_values(errors, levels).max()


def test_the_floor_is_the_configured_squared_z() -> None:
    errors = np.random.default_rng(2).chisquare(1, (3000, 3)) * 0.5
    levels, _, details = metric_thresholds(errors, 1e-3, floor=9.0)
    assert (levels == 9.0).all() and details["floor"] == 9.0
    assert metric_values(np.array([[8.0, 0.0, 0.0]]), levels)[0] < 1  # a metric under 3 sigma stays under its level
