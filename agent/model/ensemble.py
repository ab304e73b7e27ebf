"""Ensembles: how several member models' errors combine into one (pure numpy).

An ensemble bundle (``architecture: "ensemble"``) lists its members in
``bundle.json``; each member is its own builtin-ops ``.tflite`` file in the
bundle directory with its own sha256, window, tail, weight and normalisation::

    "members": [{"file": "member-0-dense.tflite", "sha256": "…", "architecture": "dense",
                 "kind": "autoencoder", "window": 30, "tail": 1, "weight": 0.5,
                 "norm": {"method": "z", "std": [F floats], "mean": [F floats]}}, …]

Combined per-feature error of a window (member m sees its last ``window_m`` rows)::

    e_j = sum_m weight_m * norm_m(e_mj)

``norm`` makes members comparable (statistics from the validation split):
``z`` divides by a standard deviation of the member's validation errors,
either one for the whole member (``scope: "member"``: the std of its window
error, so the member's own balance between features is kept) or one per
feature (``scope: "feature"``); centring would add a constant per feature:
no ranking changes, but negative errors and undefined shares.  ``rank`` maps the error to its
empirical CDF (``quantiles``: K values per feature at probabilities 0..1,
ties at their lowest probability), continued linearly above the top quantile
with the slope of the top decile so large errors keep growing instead of
saturating at 1.

The ensemble plugs into the unchanged scorer as an autoencoder with
``tail = 1``: :meth:`agent.model.predictors.EnsemblePredictor.predict` returns the input window
offset by ``sqrt(e)`` on every row, so the scorer's squared error is exactly
``e`` (float64).  Daemon, replay, score, evaluation and host calibration (which
re-creates a ``Scorer`` around ``scorer.predictor`` with its own scaler) all
run it as they run any model.  The bundle's ``sha256`` is the digest of the
member list (``file``, ``sha256`` per member, in order).

Homes: the ``members`` schema and its validation are in :mod:`agent.model.bundle`,
the writer in :mod:`agent.model.write`, the predictor in :mod:`agent.model.predictors`;
this module holds the normalisation and combination arithmetic they share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.score.scoring import FEATURE_ERROR_FLOOR

NORM_METHODS = ("z", "rank")
RANK_TAIL = 0.9  # rank: the linear continuation uses the CDF slope between this quantile and the top
RANK_MIN_WIDTH = FEATURE_ERROR_FLOOR  # ... over at least this error span (1 % of the range, squared)


@dataclass(frozen=True)
class Norm:
    """How one member's per-feature errors are made comparable with the others'."""

    method: str  # "z" or "rank"
    std: np.ndarray | None = None  # z: (F,) > 0 (all equal for scope "member")
    quantiles: np.ndarray | None = None  # rank: (K, F), non-decreasing along K
    scope: str = "feature"  # "member": one statistic for the member's window error, "feature": one per feature

    def apply(self, errors: np.ndarray) -> np.ndarray:
        """Normalise (N, F) raw member errors; the result is >= 0."""
        if self.method == "z":
            assert self.std is not None
            return errors / self.std
        assert self.quantiles is not None
        return rank_normalise(errors, self.quantiles)

    def to_doc(self) -> dict[str, Any]:
        if self.method == "z":
            assert self.std is not None
            return {"method": "z", "scope": self.scope, "std": self.std.tolist()}
        assert self.quantiles is not None
        return {"method": "rank", "scope": self.scope, "quantiles": self.quantiles.tolist()}


def rank_normalise(errors: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Empirical CDF of (N, F) errors from (K, F) quantiles at probabilities 0, 1/(K-1), ..., 1.

    Tied quantiles (a feature whose error is always 0) give their lowest
    probability, P(E < e).  Above the top quantile q_K the value continues as
    1 + s (e - q_K) where s is the CDF slope over the top decile (taken over
    at least :data:`RANK_MIN_WIDTH`), so it never saturates.
    """
    k = quantiles.shape[0]
    probs = np.linspace(0.0, 1.0, k)
    out = np.empty_like(errors, dtype=np.float64)
    top = int(math.floor(RANK_TAIL * (k - 1)))
    for j in range(errors.shape[1]):
        q = quantiles[:, j]
        # ties (e.g. a feature whose error is always 0) take their lowest probability: P(E < e)
        xs, first = np.unique(q, return_index=True)
        out[:, j] = np.interp(errors[:, j], xs, probs[first])
        width = max(float(q[-1] - q[top]), RANK_MIN_WIDTH)
        above = errors[:, j] > q[-1]
        out[above, j] = 1.0 + (1.0 - probs[top]) / width * (errors[above, j] - q[-1])
    return out


def fit_norm(
    errors: np.ndarray, method: str, floor: float = FEATURE_ERROR_FLOOR, n_quantiles: int = 51, scope: str = "feature"
) -> Norm:
    """Normalisation statistics of one member from its (N, F) validation errors.

    ``z`` with ``scope="member"``: every feature is divided by the std of the
    member's window error (mean over features); ``scope="feature"``: each by
    the std of its own error.  Stds are floored at ``floor``.  ``rank`` is per feature.
    """
    errors = np.asarray(errors, np.float64)
    if scope not in ("feature", "member") or (method == "rank" and scope != "feature"):
        raise ValueError(f"normalisation {method!r} has no scope {scope!r}")
    if method == "z" and scope == "member":
        return Norm("z", std=np.full(errors.shape[1], max(float(errors.mean(axis=1).std()), floor)), scope="member")
    if method == "z":
        return Norm("z", std=np.maximum(errors.std(axis=0), floor))
    if method == "rank":
        q = np.quantile(errors, np.linspace(0.0, 1.0, n_quantiles), axis=0)
        return Norm("rank", quantiles=np.maximum.accumulate(q, axis=0))
    raise ValueError(f"unknown normalisation {method!r} (known: {', '.join(NORM_METHODS)})")


def combine(weights: Sequence[float], norms: Sequence[Norm], errors: Sequence[np.ndarray]) -> np.ndarray:
    """(N, F) weighted sum of the normalised (N, F) member errors."""
    return np.sum([w * z.apply(e) for w, z, e in zip(weights, norms, errors)], axis=0)
