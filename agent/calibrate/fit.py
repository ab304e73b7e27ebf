"""Host calibration maths: the robust scaler, thresholds by POT, and the result's document.

Pure: rows and an ``errors_fn`` in, a :class:`CalibrationResult` out; the
warm-up, its state file and the model are :mod:`agent.calibrate.calibrator`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from agent.calibrate.metric_tier import LEVEL_FLOOR, metric_thresholds
from agent.calibrate.pot import error_thresholds, pot_or_provisional
from agent.calibrate.quantiles import nanpercentile_columns
from agent.collect.features import noise_floors
from agent.model.fields import BundleError, parse_scaler
from agent.score.scoring import FEATURE_ERROR_FLOOR, SCALER_CLIP, Z_CLIP, AnyScaler, Scaler, Scorer, ZScaler
from agent.score.window import make_windows

BATCH = 256  # windows per errors_fn call: bounds memory for long windows
LOW_PCT, HIGH_PCT = 0.1, 99.9  # robust min/max: a stray spike in the warm-up does not set the range
MIN_REL_SPAN = 0.01  # a feature moving by < 1 % of its level is treated as (near) constant
ZERO_SPAN = 1.0  # span of a feature that is 0 throughout the warm-up (idle counters, ratios)

WINSOR_PCT = 0.5  # the std is taken on rows winsorised at 0.5/99.5 %: one stray spike cannot set the scale
PROVISIONAL_MARGIN = 1.5  # provisional threshold: half again above the largest warm-up error

ErrorsFn = Callable[[AnyScaler, np.ndarray], np.ndarray]
TiersFn = Callable[[AnyScaler, np.ndarray], tuple[np.ndarray, ...]]  # each tier's (N, F) errors from one inference


class FastTier(NamedTuple):
    """The fast tier: the ``tail`` last steps averaged; ``errors(scaler, (N, W, F))`` gives the window tier's
    and the fast tier's (N, F) errors from one inference of the model (:func:`scorer_tiers_fn`)."""

    tail: int
    errors: TiersFn


@dataclass(frozen=True)
class HostRecipe:
    """How a z-score bundle is calibrated on this host (docs/detection.md)."""

    units: bool = True  # noise floors in feature units (live host); False: SMD-format rows, 1 % of the range
    cpus: int = 1  # load-average floors scale with the core count
    anchor: float | None = None  # the bundle's threshold.anchor: T never goes below it
    metric_floor: float = LEVEL_FLOOR  # the per-metric tier's level floor (scoring.metric_level_floor)


def fit_host_zscaler(rows: np.ndarray, features: tuple[str, ...], recipe: HostRecipe, clip: float = Z_CLIP) -> ZScaler:
    """Robust z-scoring from calibration rows: median, and the largest of the winsorised std,
    IQR / 1.349 and the feature's noise floor (so a quiet warm-up does not make every change huge)."""
    x = np.asarray(rows, np.float64)
    missing = np.isnan(x).all(axis=0)
    x = np.where(missing, 0.0, x)  # a never-readable feature behaves like a constant 0
    centre = nanpercentile_columns(x, 50.0)
    lo, hi = nanpercentile_columns(x, WINSOR_PCT), nanpercentile_columns(x, 100.0 - WINSOR_PCT)
    std = np.nanstd(np.clip(x, lo, hi), axis=0)
    iqr = (nanpercentile_columns(x, 75.0) - nanpercentile_columns(x, 25.0)) / 1.349
    floor = noise_floors(features, centre, recipe.cpus, recipe.units)
    return ZScaler(centre, np.maximum(np.maximum(np.nan_to_num(std), iqr), floor), clip)


def z_thresholds(errors: np.ndarray, pot_q: float, anchor: float | None) -> tuple[float, np.ndarray, dict[str, Any]]:
    """Window threshold for a z-score bundle, and per-feature thresholds F x T.

    T = max(POT on the window errors, anchor).  When POT cannot stand (too
    few excesses on a short warm-up) the threshold is *provisional*:
    max(anchor, 1.5 x the largest warm-up error), refined once enough rows
    are recorded.  Every feature's threshold is F x T, so feature scores add
    up to the window score and a capped feature alone cannot reach 1.
    """
    window_err = errors.mean(axis=1)
    window_err = window_err[np.isfinite(window_err)]
    a = anchor or 0.0
    threshold, kind, pot, params = pot_or_provisional(window_err, pot_q, a, PROVISIONAL_MARGIN, FEATURE_ERROR_FLOOR)
    n_features = errors.shape[1]
    details = {
        "window_pot": params,
        "threshold_kind": kind,
        "anchor": anchor,
        "pot_value": pot,
        "anchored": bool(kind == "pot" and a > pot),
        "warmup_max_error": float(window_err.max()),
    }
    return threshold, np.full(n_features, n_features * threshold), details


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

    scaler: AnyScaler
    threshold: float  # on the raw window error
    feature_thresholds: np.ndarray  # (F,) on the raw per-feature errors
    bundle_sha: str
    calibrated_at: float  # unix seconds
    rows: int
    windows: int
    details: dict[str, Any]  # POT params of the window threshold, fallback/floor counts
    fast_threshold: float | None = None  # the fast tier's threshold on its raw error (None: tier off)
    fast_tail: int | None = None  # the steps the fast tier averages (its threshold is for this tail only)
    # the per-metric tier (agent.calibrate.metric_tier), on the fast tier's errors: levels (F,) and threshold
    metric_levels: np.ndarray | None = None
    metric_threshold: float | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "fast_threshold": self.fast_threshold,
            "fast_tail": self.fast_tail,
            "metric_levels": None if self.metric_levels is None else self.metric_levels.tolist(),
            "metric_threshold": self.metric_threshold,
            "scaler": self.scaler.to_doc(),
            "threshold": self.threshold,
            "feature_thresholds": self.feature_thresholds.tolist(),
            "bundle_sha256": self.bundle_sha,
            "calibrated_at": self.calibrated_at,
            "rows": self.rows,
            "windows": self.windows,
            "details": self.details,
        }

    @classmethod
    def from_doc(cls, doc: Any, n_features: int) -> CalibrationResult:
        """Rebuild from :meth:`to_doc` output; ValueError/KeyError/TypeError on anything malformed."""
        try:
            scaler = parse_scaler(doc["scaler"], n_features)
        except BundleError as exc:  # its message names bundle.json; this is the state file
            raise ValueError(f"calibration scaler: {str(exc).removeprefix('bundle.json: ')}") from None
        fth = np.asarray(doc["feature_thresholds"], np.float64)
        threshold = float(doc["threshold"])
        if fth.shape != (n_features,):
            raise ValueError(f"calibration arrays must have {n_features} entries")
        if not (math.isfinite(threshold) and threshold > 0 and np.isfinite(fth).all() and (fth > 0).all()):
            raise ValueError("calibration thresholds must be finite and > 0")
        levels = doc.get("metric_levels")
        levels = None if levels is None else np.asarray(levels, np.float64)
        if levels is not None and (
            levels.shape != (n_features,) or not (np.isfinite(levels).all() and (levels > 0).all())
        ):
            raise ValueError(f"calibration metric_levels must be {n_features} finite values > 0")
        return cls(
            scaler,
            threshold,
            fth,
            str(doc["bundle_sha256"]),
            float(doc["calibrated_at"]),
            int(doc["rows"]),
            int(doc["windows"]),
            dict(doc["details"]),
            _positive_or_none(doc.get("fast_threshold")),
            int(doc["fast_tail"]) if doc.get("fast_tail") is not None else None,
            levels,
            _positive_or_none(doc.get("metric_threshold")),
        )


def _positive_or_none(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError("calibration fast_threshold and metric_threshold must be finite and > 0")
    return v


def scorer_errors_fn(scorer: Scorer) -> ErrorsFn:
    """An ``errors_fn`` that runs ``scorer``'s predictor with a given scaler."""

    def errors(scaler: AnyScaler, raw_windows: np.ndarray) -> np.ndarray:
        return Scorer(replace(scorer.spec, scaler=scaler), scorer.predictor).errors(raw_windows)

    return errors


def scorer_tiers_fn(scorer: Scorer, tail: int) -> TiersFn:
    """:attr:`FastTier.errors` for ``scorer``: its predictor run once with a given scaler, the errors averaged
    over the bundle's ``score.tail`` (the window tier) and over the last ``tail`` steps (the fast tier)."""

    def errors(scaler: AnyScaler, raw_windows: np.ndarray) -> tuple[np.ndarray, ...]:
        return Scorer(replace(scorer.spec, scaler=scaler), scorer.predictor).errors_at(
            raw_windows, (scorer.spec.tail, tail)
        )

    return errors


def calibrate_rows(
    rows: np.ndarray,
    features: tuple[str, ...],
    window: int,
    pot_q: float,
    clip: float,
    errors_fn: ErrorsFn,
    bundle_sha: str,
    now: float,
    recipe: HostRecipe | None = None,
    scaler_mask: np.ndarray | None = None,
    fast: FastTier | None = None,
    scaler: AnyScaler | None = None,
) -> CalibrationResult:
    """Fit the scaler on ``rows`` (T, F), run ``errors_fn(scaler, (N, W, F)) -> (N, F)`` over their
    windows in batches and set the thresholds by POT (quantile ``pot_q``) on the errors.

    ``recipe`` given (a z-score bundle): robust z-scaling with noise floors and
    :func:`z_thresholds`; otherwise the min-max scaler and per-feature POT of
    format-1 min-max bundles.  ``fast`` (a :class:`FastTier`), z-score bundles only: the fast tier's own
    threshold, by the same rule on its errors; its ``errors`` then give both tiers' errors from one pass
    of the model, in place of ``errors_fn``.  ``scaler`` given: kept as it is (a recalibration that adapts
    the thresholds alone)."""
    if scaler is None:
        fit_rows = rows if scaler_mask is None else rows[scaler_mask]  # recalibration: incidents are not the norm
        scaler = (
            fit_host_scaler(fit_rows, clip) if recipe is None else fit_host_zscaler(fit_rows, features, recipe, clip)
        )
    windows = make_windows(rows, window)
    fast = fast if recipe is not None else None
    tiers_fn: TiersFn = (lambda s, w: (errors_fn(s, w),)) if fast is None else fast.errors  # both tiers: one pass
    errors, *fast_errors = _all_errors(tiers_fn, scaler, windows, len(features))
    if recipe is None:
        threshold, fth, details = error_thresholds(errors, pot_q, FEATURE_ERROR_FLOOR)
    else:
        threshold, fth, details = z_thresholds(errors, pot_q, recipe.anchor)
    details["missing_features"] = [f for f, m in zip(features, np.isnan(rows).all(axis=0)) if m]
    fast_threshold = fast_tail = levels = metric_threshold = None
    if fast is not None and recipe is not None:
        fast_tail = fast.tail
        fast_threshold, _, fast_details = z_thresholds(fast_errors[0], pot_q, recipe.anchor)
        details["fast"] = {"tail": fast_tail, "threshold": fast_threshold} | {
            k: fast_details[k] for k in ("threshold_kind", "pot_value", "anchored", "warmup_max_error")
        }
        # the per-metric tier shares the fast tier's errors: no second pass of the model
        levels, metric_threshold, details["metric"] = metric_thresholds(fast_errors[0], pot_q, recipe.metric_floor)
    return CalibrationResult(
        scaler,
        threshold,
        fth,
        bundle_sha,
        now,
        len(rows),
        len(windows),
        details,
        fast_threshold,
        fast_tail,
        levels,
        metric_threshold,
    )


def _all_errors(fn: TiersFn, scaler: AnyScaler, windows: np.ndarray, n_features: int) -> tuple[np.ndarray, ...]:
    """``fn`` (each tier's errors, from one inference) over every window in batches of ``BATCH``; each tier's (N, F)."""
    parts: list[list[np.ndarray]] = []
    for i in range(0, len(windows), BATCH):
        chunk = windows[i : i + BATCH]
        tiers = [np.asarray(e, np.float64) for e in fn(scaler, chunk)]
        for err in tiers:
            if err.shape != (len(chunk), n_features):
                raise CalibrationError(f"errors_fn returned shape {err.shape}, expected {(len(chunk), n_features)}")
        parts.append(tiers)
    errors = tuple(np.concatenate(tier) for tier in zip(*parts)) if parts else (np.concatenate([]),)  # []: raises
    for err in errors:
        if not np.isfinite(err).any():
            raise CalibrationError("the model produced no finite error on the warm-up windows")
    return errors
