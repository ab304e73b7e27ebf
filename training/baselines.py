"""Simple point-wise baselines shown next to every model (DESIGN.md "Evaluation, honestly").

pyod-like API: ``fit(train (T, F))`` then ``score_series(test (T, F))`` returns
``(score (T,), feature_scores (T, F) or None)``, higher = more anomalous.  Each
baseline scales its input with :meth:`agent.scoring.Scaler.fit` on the
training rows, exactly like the autoencoders, and scores one row at a time
(no window): what is left for the models to beat is the temporal context.

- ``pca``: squared reconstruction error from the principal subspace that keeps
  ``variance`` of the training variance; per feature: that feature's error.
- ``iforest``: IsolationForest, score = -score_samples; no per-feature score.
- ``mahalanobis``: squared Mahalanobis distance under a Ledoit-Wolf shrunk
  covariance; per feature: its additive contribution
  ``r_j * (P r)_j`` (r = x - mean, P = precision), which sums to the distance.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from agent.scoring import Scaler

SCALER_CLIP = 2.0  # same clip as training.data, so scaled inputs match the models'


class Baseline(Protocol):
    name: str

    def fit(self, train: np.ndarray) -> "Baseline": ...

    def score_series(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]: ...


def _rows(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{what} must be a non-empty (T, F) array, got shape {x.shape}")
    return np.nan_to_num(x, nan=0.0)


class _Scaled:
    """Shared scaler handling: fit on train, apply everywhere, check widths."""

    name = "base"
    scaler_: Scaler | None = None

    def _fit_scale(self, train: np.ndarray) -> np.ndarray:
        train = _rows(train, f"{self.name}: training data")
        self.scaler_ = Scaler.fit(train, clip=SCALER_CLIP)
        return self.scaler_.transform(train)

    def _scale(self, x: np.ndarray) -> np.ndarray:
        if self.scaler_ is None:
            raise RuntimeError(f"{self.name}: call fit() before score_series()")
        x = _rows(x, f"{self.name}: data")
        if x.shape[1] != len(self.scaler_.low):
            raise ValueError(f"{self.name}: data has {x.shape[1]} features, fitted on {len(self.scaler_.low)}")
        return self.scaler_.transform(x)


class PCABaseline(_Scaled):
    name = "pca"

    def __init__(self, variance: float = 0.95) -> None:
        if not 0 < variance <= 1:
            raise ValueError(f"pca: variance must be in (0, 1], got {variance}")
        self.variance = variance

    def fit(self, train: np.ndarray) -> "PCABaseline":
        z = self._fit_scale(train)
        self.mean_ = z.mean(axis=0)
        _, s, vt = np.linalg.svd(z - self.mean_, full_matrices=False)
        var = s**2
        share = np.cumsum(var) / var.sum() if var.sum() > 0 else np.ones_like(var)
        k = int(np.searchsorted(share, self.variance - 1e-12) + 1)
        self.components_ = vt[: min(k, len(vt))]  # (k, F)
        return self

    def score_series(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = self._scale(x) - self.mean_
        err = (r - (r @ self.components_.T) @ self.components_) ** 2  # (T, F)
        return err.mean(axis=1), err


class IForestBaseline(_Scaled):
    name = "iforest"

    def __init__(self, n_estimators: int = 100, seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.seed = seed

    def fit(self, train: np.ndarray) -> "IForestBaseline":
        from sklearn.ensemble import IsolationForest

        z = self._fit_scale(train)
        self.model_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.seed, n_jobs=1).fit(z)
        return self

    def score_series(self, x: np.ndarray) -> tuple[np.ndarray, None]:
        return -self.model_.score_samples(self._scale(x)), None


class MahalanobisBaseline(_Scaled):
    name = "mahalanobis"

    def fit(self, train: np.ndarray) -> "MahalanobisBaseline":
        from sklearn.covariance import LedoitWolf

        z = self._fit_scale(train)
        lw = LedoitWolf().fit(z)
        self.mean_ = lw.location_
        self.precision_ = np.linalg.pinv(lw.covariance_, hermitian=True)
        return self

    def score_series(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = self._scale(x) - self.mean_
        contrib = r * (r @ self.precision_)  # (T, F); row sums = squared distance
        return contrib.sum(axis=1), contrib


BASELINES: dict[str, type] = {"pca": PCABaseline, "iforest": IForestBaseline, "mahalanobis": MahalanobisBaseline}


def make_baseline(name: str, seed: int = 0) -> Baseline:
    """A fresh, unfitted baseline by name."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r} (known: {', '.join(BASELINES)})")
    return IForestBaseline(seed=seed) if name == "iforest" else BASELINES[name]()
