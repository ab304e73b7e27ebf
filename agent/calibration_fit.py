"""Host calibration maths: the robust scaler, thresholds by POT, and the result's document.

Pure: rows and an ``errors_fn`` in, a :class:`CalibrationResult` out; the
warm-up, its state file and the model are :mod:`agent.calibration`'s.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from agent.pot import error_thresholds
from agent.quantiles import nanpercentile_columns
from agent.scoring import FEATURE_ERROR_FLOOR, SCALER_CLIP, Scaler, Scorer
from agent.window import make_windows

BATCH = 256  # windows per errors_fn call: bounds memory for long windows
LOW_PCT, HIGH_PCT = 0.1, 99.9  # robust min/max: a stray spike in the warm-up does not set the range
MIN_REL_SPAN = 0.01  # a feature moving by < 1 % of its level is treated as (near) constant
ZERO_SPAN = 1.0  # span of a feature that is 0 throughout the warm-up (idle counters, ratios)

ErrorsFn = Callable[[Scaler, np.ndarray], np.ndarray]


class CalibrationError(ValueError):
    """Calibration cannot run now (too few rows, unusable errors from the model)."""


def fit_host_scaler(rows: np.ndarray, clip: float = SCALER_CLIP) -> Scaler:
    """Robust per-feature min-max scaling from the warm-up rows.

    Parameters
    ----------
    rows : (T, F) raw rows; NaN cells are ignored
    clip : passed to the Scaler

    low/high are the 0.1st/99.9th percentiles.  The span is at least 1 % of
    the feature's magnitude, and ``ZERO_SPAN`` for a feature that is 0 (or
    never readable) throughout, so a constant feature maps to 0 -- as SMD's
    constant columns do -- and any later movement is visible.
    """
    x = np.asarray(rows, np.float64)
    missing = np.isnan(x).all(axis=0)
    x = np.where(missing, 0.0, x)  # a never-readable feature behaves like a constant 0
    low = nanpercentile_columns(x, LOW_PCT)
    high = nanpercentile_columns(x, HIGH_PCT)
    floor = MIN_REL_SPAN * np.maximum(np.abs(low), np.abs(high))
    floor = np.where(floor > 0, floor, ZERO_SPAN)
    return Scaler(low, low + np.maximum(high - low, floor), clip)


@dataclass(frozen=True)
class CalibrationResult:
    """This host's scaler and thresholds, for one bundle (``bundle_sha``)."""

    scaler: Scaler
    threshold: float  # on the raw window error
    feature_thresholds: np.ndarray  # (F,) on the raw per-feature errors
    bundle_sha: str
    calibrated_at: float  # unix seconds
    rows: int
    windows: int
    details: dict[str, Any]  # POT params of the window threshold, fallback/floor counts

    def to_doc(self) -> dict[str, Any]:
        return {
            "scaler": {"method": "minmax", "min": self.scaler.low.tolist(), "max": self.scaler.high.tolist(),
                       "clip": self.scaler.clip},
            "threshold": self.threshold, "feature_thresholds": self.feature_thresholds.tolist(),
            "bundle_sha256": self.bundle_sha, "calibrated_at": self.calibrated_at, "rows": self.rows,
            "windows": self.windows, "details": self.details,
        }

    @classmethod
    def from_doc(cls, doc: Any, n_features: int) -> CalibrationResult:
        """Rebuild from :meth:`to_doc` output; ValueError/KeyError/TypeError on anything malformed."""
        sc = doc["scaler"]
        low, high, fth = (np.asarray(v, np.float64) for v in (sc["min"], sc["max"], doc["feature_thresholds"]))
        threshold = float(doc["threshold"])
        if not low.shape == high.shape == fth.shape == (n_features,):
            raise ValueError(f"calibration arrays must have {n_features} entries")
        if not (np.isfinite(low).all() and np.isfinite(high).all() and (high >= low).all()):
            raise ValueError("calibration scaler is not finite or max < min")
        if not (math.isfinite(threshold) and threshold > 0 and np.isfinite(fth).all() and (fth > 0).all()):
            raise ValueError("calibration thresholds must be finite and > 0")
        return cls(Scaler(low, high, float(sc["clip"])), threshold, fth, str(doc["bundle_sha256"]),
                   float(doc["calibrated_at"]), int(doc["rows"]), int(doc["windows"]), dict(doc["details"]))


def scorer_errors_fn(scorer: Scorer) -> ErrorsFn:
    """An ``errors_fn`` that runs ``scorer``'s predictor with a given scaler."""

    def errors(scaler: Scaler, raw_windows: np.ndarray) -> np.ndarray:
        return Scorer(replace(scorer.spec, scaler=scaler), scorer.predictor).errors(raw_windows)

    return errors


def calibrate_rows(rows: np.ndarray, features: tuple[str, ...], window: int, pot_q: float, clip: float,
                   errors_fn: ErrorsFn, bundle_sha: str, now: float) -> CalibrationResult:
    """Fit the scaler on ``rows`` (T, F), run ``errors_fn(scaler, (N, W, F)) -> (N, F)`` over their
    windows in batches and set the thresholds by POT (quantile ``pot_q``) on the errors."""
    scaler = fit_host_scaler(rows, clip)
    windows = make_windows(rows, window)
    parts = []
    for i in range(0, len(windows), BATCH):
        chunk = windows[i : i + BATCH]
        err = np.asarray(errors_fn(scaler, chunk), np.float64)
        if err.shape != (len(chunk), len(features)):
            want = (len(chunk), len(features))
            raise CalibrationError(f"errors_fn returned shape {err.shape}, expected {want}")
        parts.append(err)
    errors = np.concatenate(parts)
    if not np.isfinite(errors).any():
        raise CalibrationError("the model produced no finite error on the warm-up windows")
    threshold, fth, details = error_thresholds(errors, pot_q, FEATURE_ERROR_FLOOR)
    details["missing_features"] = [f for f, m in zip(features, np.isnan(rows).all(axis=0)) if m]
    return CalibrationResult(scaler, threshold, fth, bundle_sha, now, len(rows), len(windows), details)
