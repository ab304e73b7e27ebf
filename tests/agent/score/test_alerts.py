"""Alert-level figures: runs of five scores above 1, as the shipped HostAnomaly rule pages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.score.alerts import alert_figures, alert_fires, incidents


def test_a_run_fires_once_at_the_sample_completing_it() -> None:
    s = np.array([0, 2, 2, 2, 2, 2, 2, 2, 0, 2, 2, 2, 2, 2], float)
    assert alert_fires(s).tolist() == [5, 13]


def test_four_samples_above_do_not_fire_and_nan_breaks_a_run() -> None:
    assert alert_fires(np.array([2, 2, 2, 2, 0, 2, 2, np.nan, 2, 2, 2], float)).size == 0


def test_exactly_at_the_level_is_not_above() -> None:
    assert alert_fires(np.ones(10)).size == 0


def test_incidents_are_label_runs() -> None:
    assert incidents(np.array([0, 1, 1, 0, 0, 1])).tolist() == [[1, 3], [5, 6]]


def test_figures_count_false_alerts_recall_and_delay() -> None:
    n = 2880  # two days at one row a minute
    labels = np.zeros(n, int)
    labels[1000:1020] = 1  # long incident, alerted after 7 samples
    labels[2000:2003] = 1  # short incident (< 5 samples), not alerted
    scores = np.zeros(n)
    scores[1003:1012] = 3.0  # fires at 1007: delay 7
    scores[100:110] = 3.0  # false alert, fires at 104
    scores[1020:1030] = 0.5
    f = alert_figures(scores, labels)
    assert (f.alerts, f.false_alerts, f.incidents, f.incidents_alerted) == (2, 1, 2, 1)
    assert f.incident_recall == 0.5 and f.long_incidents == 1 and f.long_incident_recall == 1.0
    assert f.median_delay_samples == 7.0
    assert f.normal_days == pytest.approx((n - 23) / 1440)
    assert f.false_alerts_per_day == pytest.approx(1 / f.normal_days)


def test_an_alert_just_after_the_incident_end_counts_for_it() -> None:
    labels = np.zeros(100, int)
    labels[50:52] = 1
    scores = np.zeros(100)
    scores[51:56] = 2.0  # fires at 55, three samples after the end: alerted, not false
    f = alert_figures(scores, labels)
    assert (f.false_alerts, f.incidents_alerted) == (0, 1)


def test_unscored_rows_are_not_normal_days() -> None:
    scores = np.full(1440 * 2, np.nan)
    scores[1440:] = 0.0
    f = alert_figures(scores, np.zeros(len(scores), int))
    assert f.normal_days == pytest.approx(1.0) and f.false_alerts_per_day == 0.0
    assert math.isnan(f.incident_recall) and math.isnan(f.median_delay_samples)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="same length"):
        alert_figures(np.zeros(3), np.zeros(4))
