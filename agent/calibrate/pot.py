"""Peaks-Over-Threshold (POT) thresholds in pure numpy (the agent does not ship scipy).

This is the initial step of SPOT (Siffer et al., "Anomaly Detection in Streams
with Extreme Value Theory", KDD 2017): take the ``level`` quantile t of the
scores, fit a Generalized Pareto distribution (shape gamma, scale sigma) to
the N_t excesses over t, and return the score exceeded with probability ``q``:

    z_q = t + sigma / gamma * ((q * n / N_t) ** -gamma - 1)     (gamma != 0)
    z_q = t - sigma * log(q * n / N_t)                           (gamma -> 0)

The GPD is fitted by Grimshaw's reduction: with theta = gamma / sigma the
likelihood is maximised in gamma for fixed theta by
gamma(theta) = mean(log(1 + theta * y)), so the fit is a 1-D search over theta.
Instead of root-finding we maximise that profile log-likelihood on a bounded
grid, refine around the best grid point by golden-section search and keep the
result only if it beats the exponential fit (gamma = 0, sigma = mean excess).
gamma is restricted to >= -1, where the GPD likelihood is bounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from agent.calibrate.quantiles import quantile, unique_sorted

FLOOR = 1e-12  # a threshold of 0 would make every normalised score infinite
MIN_EXCESSES = 10  # fewer peaks than this cannot support a GPD fit
GAMMA_EPS = 1e-6  # |gamma| below this uses the exponential (gamma -> 0) limit
GAMMA_MIN = -1.0  # below -1 the GPD likelihood is unbounded (no MLE)
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0

FitFn = Callable[[np.ndarray], tuple[float, float, str]]


def gpd_loglik(excess: np.ndarray, gamma: float, sigma: float) -> float:
    """Log-likelihood of a GPD(gamma, sigma, loc=0) on positive excesses (-inf outside the support)."""
    if not sigma > 0:
        return -math.inf
    if abs(gamma) < GAMMA_EPS:
        return float(-excess.size * math.log(sigma) - excess.sum() / sigma)
    z = 1.0 + gamma * excess / sigma
    if (z <= 0).any():
        return -math.inf
    return float(-excess.size * math.log(sigma) - (1.0 + 1.0 / gamma) * np.log(z).sum())


def _profile(y: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grimshaw's profile: (gamma, sigma, loglik) for each theta (K,) given excesses y (m,).

    With gamma = mean(log1p(theta*y)) and sigma = gamma/theta the log-likelihood
    simplifies to -m * (log(sigma) + 1 + gamma).  Invalid points get -inf.
    """
    theta = np.atleast_1d(np.asarray(theta, np.float64))
    with np.errstate(all="ignore"):
        gamma = np.log1p(np.multiply.outer(theta, y)).mean(axis=1)
        sigma = gamma / theta
        ll = -y.size * (np.log(sigma) + 1.0 + gamma)
    ok = np.isfinite(ll) & (sigma > 0) & (gamma >= GAMMA_MIN) & (theta * y.max() > -1.0)
    return gamma, sigma, np.where(ok, ll, -np.inf)


def _grid(y: np.ndarray) -> np.ndarray:
    """Sorted theta candidates in (-1/max(y), 0) and (0, Grimshaw's upper bound]."""
    ymax, ymin, ymean = float(y.max()), float(y.min()), float(y.mean())
    # Grimshaw: every stationary point has theta < 2 (mean - min) / min**2
    upper = 2.0 * (ymean - ymin) / ymin**2 * ymax if ymin > 0 else math.inf
    s_max = min(max(upper, 1.0), 1e12)  # s = theta * ymax is dimensionless
    neg_near0 = -np.logspace(-8, math.log10(0.5), 60)
    neg_near_pole = -(1.0 - np.logspace(-12, math.log10(0.5), 60))  # dense where gamma -> -inf
    pos = np.logspace(-8, math.log10(s_max), 120)
    return unique_sorted(np.concatenate([neg_near_pole, neg_near0, pos])) / ymax


def _golden_max(f: Callable[[float], float], lo: float, hi: float, iters: int = 60) -> float:
    """Argmax of a unimodal ``f`` on [lo, hi] by golden-section search."""
    a, b = lo, hi
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iters):
        if fc >= fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = f(d)
    return c if fc >= fd else d


def fit_gpd(excess: np.ndarray) -> tuple[float, float, str]:
    """Fit a GPD with location 0 to positive excesses by maximum likelihood (Grimshaw).

    Parameters
    ----------
    excess : (m,) positive, finite excesses over the initial threshold

    Returns
    -------
    (gamma, sigma, how) where ``how`` is "grimshaw" or "exponential" (gamma = 0).
    """
    y = np.asarray(excess, np.float64).ravel()
    expo_ll = -y.size * (math.log(float(y.mean())) + 1.0)
    theta = _grid(y)
    _, _, ll = _profile(y, theta)
    i = int(np.argmax(ll))
    if not np.isfinite(ll[i]):
        return 0.0, float(y.mean()), "exponential"
    lo, hi = theta[max(i - 1, 0)], theta[min(i + 1, len(theta) - 1)]
    best = _golden_max(lambda th: float(_profile(y, np.array([th]))[2][0]), float(lo), float(hi))
    cands = np.array([theta[i], best])
    gamma, sigma, cll = _profile(y, cands)
    j = int(np.argmax(cll))
    if not cll[j] > expo_ll + 1e-9 or abs(gamma[j]) < GAMMA_EPS:
        return 0.0, float(y.mean()), "exponential"
    return float(gamma[j]), float(sigma[j]), "grimshaw"


def _floor(value: float) -> float:
    return float(value) if math.isfinite(value) and value > FLOOR else FLOOR


def pot_threshold(
    scores: np.ndarray, q: float = 1e-3, level: float = 0.98, *, fit: FitFn | None = None
) -> tuple[float, dict[str, Any]]:
    """Peaks-Over-Threshold threshold exceeded with probability ``q``.

    Parameters
    ----------
    scores : (N,) raw scores of normal data; NaN/Inf are ignored
    q : target exceedance probability (risk), 0 < q < 1
    level : quantile of the initial threshold t, 0 < level < 1
    fit : GPD fitter ``excess -> (gamma, sigma, how)``; default :func:`fit_gpd`

    Returns
    -------
    (value, params): ``value`` is finite and >= ``FLOOR``; ``params`` holds
    plain JSON values (q, level, n, n_excess, t, gpd, fallback).

    Fallbacks to the empirical ``1 - q`` quantile, named in
    ``params["fallback"]``: fewer than ``MIN_EXCESSES`` excesses, ``q * n >= N_t``
    (the target lies below t), constant excesses, or a non-finite z_q.
    Raises ValueError for bad ``q``/``level`` or when no score is finite.
    """
    if not 0 < level < 1:
        raise ValueError(f"pot: level must be in (0, 1), got {level}")
    if not 0 < q < 1:
        raise ValueError(f"pot: q must be in (0, 1), got {q}")
    x = np.asarray(scores, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError("pot: scores have no finite values to set a threshold on")
    n = int(x.size)
    t = quantile(x, level)
    excess = x[x > t] - t
    n_t = int(excess.size)
    params: dict[str, Any] = {"q": q, "level": level, "n": n, "n_excess": n_t, "t": t, "fallback": None}

    def fallback(reason: str) -> tuple[float, dict[str, Any]]:
        params["fallback"] = reason
        value = quantile(x, 1.0 - q)
        params["empirical_quantile"] = value
        return _floor(value), params

    if n_t < MIN_EXCESSES:
        return fallback(f"only {n_t} excesses over t (need {MIN_EXCESSES})")
    if q * n >= n_t:
        return fallback("q is not below the share of excesses: the target quantile lies under t")
    if float(excess.max() - excess.min()) <= 1e-12 * max(1.0, abs(t)):
        return fallback("degenerate (constant) excesses")
    gamma, sigma, how = (fit or fit_gpd)(excess)
    ll = gpd_loglik(excess, gamma, sigma)
    params["gpd"] = {"gamma": gamma, "sigma": sigma, "fit": how, "loglik": ll if math.isfinite(ll) else None}
    r = q * n / n_t
    if abs(gamma) < GAMMA_EPS:
        z = t - sigma * math.log(r)
    else:
        z = t + sigma / gamma * (r ** (-gamma) - 1.0)
    if not math.isfinite(z):
        return fallback("non-finite GPD quantile")
    return _floor(z), params


def pot_or_provisional(
    values: np.ndarray, q: float, floor: float, margin: float, provisional_floor: float = -math.inf
) -> tuple[float, str, float, dict[str, Any]]:
    """(threshold, kind, POT value, POT params) on the finite ``values`` (N,) of a calibration.

    ``kind`` "pot": max(POT, ``floor``).  When POT cannot stand (a fallback: too few excesses on a short
    warm-up) the threshold is "provisional", refined once enough rows are recorded: max(``floor``,
    ``margin`` x the largest value (``floor`` when there is none), ``provisional_floor``).
    """
    try:
        pot, params = pot_threshold(values, q)
    except ValueError as exc:
        pot, params = float("nan"), {"fallback": str(exc)}
    if params.get("fallback") is None and math.isfinite(pot):
        return max(pot, floor), "pot", pot, params
    largest = float(values.max()) if values.size else floor
    return max(floor, margin * largest, provisional_floor), "provisional", pot, params


def _floored_pot(scores: np.ndarray, q: float, floor: float) -> tuple[float, dict[str, Any]]:
    """POT with a floor; a column without a finite value gets the floor."""
    try:
        value, params = pot_threshold(scores, q=q)
    except ValueError as exc:
        return floor, {"fallback": str(exc)}
    return max(value, floor), params


def error_thresholds(errors: np.ndarray, q: float, floor: float) -> tuple[float, np.ndarray, dict[str, Any]]:
    """Window threshold (POT on the mean error) and per-feature thresholds, all at least ``floor``.

    Parameters
    ----------
    errors : (N, F) per-feature raw errors of the warm-up windows

    Returns
    -------
    (threshold, feature_thresholds (F,), details)
    """
    window, params = _floored_pot(errors.mean(axis=1), q, floor)
    per = [_floored_pot(errors[:, j], q, floor) for j in range(errors.shape[1])]
    values = np.array([v for v, _ in per])
    details = {
        "window_pot": params,
        "floor": floor,
        "window_floored": bool(window == floor),
        "features_floored": int(sum(v == floor for v, _ in per)),
        "feature_fallbacks": int(sum(bool(p.get("fallback")) for _, p in per)),
    }
    return window, values, details
