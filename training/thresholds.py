"""Thresholds on raw scores: Peaks-Over-Threshold, empirical quantile, best F1.

Every function returns an :class:`agent.model.bundle.Threshold` whose ``value`` is
finite and > 0 (a bundle refuses anything else) and whose ``params`` are plain
JSON values recording how it was obtained, including any fallback taken.

POT is the SPOT initial step (Siffer et al., KDD 2017) implemented once, in
numpy, in :mod:`agent.calibrate.pot` (the agent calibrates hosts with the same code);
:func:`pot` only wraps its result into a ``Threshold``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from agent.calibrate.fit import z_thresholds
from agent.calibrate.pot import FLOOR, GAMMA_EPS, MIN_EXCESSES, fit_gpd, pot_threshold
from agent.model.bundle import Threshold
from training import metrics
from training.options import FitOptions

__all__ = ["FLOOR", "GAMMA_EPS", "MIN_EXCESSES", "best_f1", "compute_thresholds", "fit_gpd", "pot", "quantile"]


def _finite(scores: np.ndarray, name: str = "scores") -> np.ndarray:
    x = np.asarray(scores, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError(f"{name}: no finite values to set a threshold on")
    return x


def _floor(value: float) -> float:
    return float(value) if math.isfinite(value) and value > FLOOR else FLOOR


def pot(scores: np.ndarray, q: float = 1e-3, level: float = 0.98) -> Threshold:
    """Peaks-Over-Threshold threshold exceeded with probability ``q``.

    Parameters
    ----------
    scores : (N,) raw scores of normal data (NaN ignored)
    q : target exceedance probability (risk), 0 < q < 1
    level : quantile of the initial threshold t, 0 < level < 1

    The computation is :func:`agent.calibrate.pot.pot_threshold`, the one the agent uses
    for its host calibration, so training and agent thresholds agree.
    Fallbacks (named in ``params["fallback"]``): fewer than ``MIN_EXCESSES``
    excesses, degenerate (constant) excesses, or a non-finite z_q use the
    empirical ``1 - q`` quantile; so does ``q * n >= N_t`` (the target lies
    below t).
    """
    # fit_gpd is looked up here at call time so tests can substitute the fitter
    value, params = pot_threshold(scores, q=q, level=level, fit=fit_gpd)
    return Threshold(value, "pot", params)


def quantile(scores: np.ndarray, q: float = 0.995) -> Threshold:
    """Empirical ``q`` quantile of the (finite) scores."""
    if not 0 < q <= 1:
        raise ValueError(f"quantile: q must be in (0, 1], got {q}")
    x = _finite(scores)
    return Threshold(_floor(float(np.quantile(x, q))), "quantile", {"q": q, "n": int(x.size)})


def best_f1(scores: np.ndarray, labels: np.ndarray) -> Threshold:
    """Threshold maximising point-wise F1 of ``score > value`` on labelled data.

    Parameters
    ----------
    scores : (N,) raw scores (NaN rows are dropped with their labels)
    labels : (N,) 0/1 ground truth with at least one 1

    The value lies halfway between the lowest flagged score and the next
    lower score, so ``score > value`` reproduces the optimal flag set.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"best_f1: scores {s.shape} and labels {y.shape} differ in shape")
    keep = np.isfinite(s)
    res = metrics.best_f1(s[keep], y[keep])
    params = {
        "n": int(keep.sum()),
        "n_positive": int((y[keep] == 1).sum()),
        "f1": res.f1,
        "precision": res.precision,
        "recall": res.recall,
    }
    return Threshold(_floor(res.threshold), "best_f1", params)


def _threshold(scores: np.ndarray, opt: FitOptions) -> Threshold:
    if opt.threshold == "quantile":
        return quantile(scores, opt.quantile_q)
    try:
        return pot(scores, q=opt.pot_q, level=opt.pot_level)
    except ValueError as exc:  # POT could not be fitted: fall back to a high quantile, say so
        th = quantile(scores, opt.quantile_q)
        return Threshold(th.value, "quantile", {**th.params, "pot_failed": str(exc)})


def compute_thresholds(errors: np.ndarray, opt: FitOptions) -> tuple[Threshold, np.ndarray, dict[str, Any]]:
    """Overall threshold on window errors and floored per-feature thresholds.

    Parameters
    ----------
    errors : (N, F) per-feature validation errors from :meth:`agent.score.scoring.Scorer.errors`

    Returns
    -------
    (overall, per_feature (F,), feature_thresholds document for bundle.json)
    """
    overall = _threshold(errors.mean(axis=1), opt)
    per = [_threshold(errors[:, j], opt) for j in range(errors.shape[1])]
    values = np.array([max(t.value, opt.feature_floor) for t in per])
    doc = {
        "values": [float(v) for v in values],
        "method": opt.threshold,
        "floor": opt.feature_floor,
        "floored": int(sum(t.value < opt.feature_floor for t in per)),
        "fallbacks": int(sum(bool(t.params.get("fallback")) or t.method != opt.threshold for t in per)),
    }
    return overall, values, doc


ANCHOR_Q = 0.999  # the anchor: the model's own 1-in-1000 window error on its training windows
ANCHOR_WINDOWS = 20_000  # training windows the anchor is measured on (evenly spaced)


def anchor(train_errors: np.ndarray) -> float:
    """``threshold.anchor`` of a z-score bundle: the 99.9 % quantile of its training window errors.

    Hosts never set their threshold below it (docs/detection.md): on a quiet
    host POT on idle noise would otherwise make any blip page.
    """
    e = np.asarray(train_errors, np.float64).mean(axis=1)
    return float(np.quantile(e[np.isfinite(e)], ANCHOR_Q))


def z_bundle_thresholds(
    val_errors: np.ndarray, train_errors: np.ndarray, opt: FitOptions
) -> tuple[Threshold, np.ndarray, dict[str, Any]]:
    """Thresholds of a z-score bundle, by the agent's own rule (:func:`agent.calibrate.fit.z_thresholds`):
    T = max(POT on the validation window errors, anchor); every feature's threshold is F x T."""
    a = anchor(train_errors)
    value, values, details = z_thresholds(val_errors, opt.pot_q, a)
    method = "pot" if details["threshold_kind"] == "pot" else "quantile"
    params = {**details["window_pot"], "anchor": a, "anchored": details["anchored"], "kind": details["threshold_kind"]}
    doc = {
        "values": [float(v) for v in values],
        "method": "uniform",
        "note": "F x window threshold: feature scores add up to the window score",
    }
    return Threshold(value, method, params), values, doc
