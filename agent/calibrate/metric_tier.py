"""The per-metric tier's calibration (docs/detection.md "Per-metric tier"): each metric against its own normal.

The whole-window score is the mean of the per-feature errors, so one metric far
outside its normal (CPU from 10 % to 90 %, load from 0.7 to 4.7 on four cores)
moves the mean by a 38th and stays under a threshold set by the noisy
features' normal tail.  In the manner of Netdata's per-metric anomaly bit, this
tier judges each metric on its own: its fast-tail error over its *level*, a
high quantile of that metric's own errors on the calibration rows (never below
two sigma squared, ``scoring.metric_level_floor``), so a bursty counter is measured against its bursts and a
steady gauge against its steadiness.  The tier's raw value is the largest of
these ratios and its threshold is POT on that maximum over the same rows: the
maximum over every metric is calibrated as one signal, so the tier keeps the
host's false-alert budget like the other two.  Pure numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.calibrate.pot import pot_or_provisional
from agent.calibrate.quantiles import nanpercentile_columns

LEVEL_PCT = 99.9  # a metric's level: its own tail on the calibration rows (the 10th largest of 10k windows)
LEVEL_FLOOR = 4.0  # squared z of two sigma (scoring.metric_level_floor): a metric that never moved stays quiet
THRESHOLD_FLOOR = 1.0  # the tier never fires on a metric inside its own calibration tail
# too few rows for POT (a short warm-up): twice the largest calibration value, more than the window tier's
# 1.5: the maximum over every metric has the heavier tail, and 30 windows show little of it
PROVISIONAL_MARGIN = 2.0


def metric_values(errors: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """(N,) the largest per-metric ratio error / level of (N, F) errors (NaN errors are ignored)."""
    ratio = np.asarray(errors, np.float64) / levels
    return np.nanmax(np.where(np.isnan(ratio), -np.inf, ratio), axis=-1)


def metric_thresholds(
    errors: np.ndarray, pot_q: float, floor: float = LEVEL_FLOOR
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """(levels (F,), threshold on :func:`metric_values`, details) from calibration errors (N, F); no level
    below ``floor`` (squared z)."""
    x = np.asarray(errors, np.float64)
    levels = np.maximum(np.nan_to_num(nanpercentile_columns(x, LEVEL_PCT), nan=floor), floor)
    values = metric_values(x, levels)
    values = values[np.isfinite(values)]
    threshold, kind, _, params = pot_or_provisional(values, pot_q, THRESHOLD_FLOOR, PROVISIONAL_MARGIN)
    details = {"threshold": threshold, "threshold_kind": kind, "pot": params, "level_pct": LEVEL_PCT, "floor": floor}
    return levels, threshold, details
