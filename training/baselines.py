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
- ``ocsvm``: scikit-learn ``OneClassSVM`` (RBF kernel, ``gamma="scale"``,
  ``nu=0.01``) fitted on an evenly spaced subsample of at most 4,000 training
  rows: the kernel SVM costs O(n^2) to fit, and even spacing keeps every part
  of the series (a random subsample would too, but not reproducibly across
  seeds); score = -decision_function; per feature: the kernel-weighted
  squared distance to the support vectors, ``gamma * sum_i w_i (x_j - s_ij)^2``
  with ``w_i`` proportional to ``alpha_i K(x, s_i)`` (the support vectors that
  carry the decision at x), which sums to the weighted squared distance.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from agent.scoring import SCALER_CLIP, Scaler


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


class OCSVMBaseline(_Scaled):
    name = "ocsvm"

    def __init__(self, nu: float = 0.01, max_samples: int = 4000) -> None:
        if not 0 < nu <= 1:
            raise ValueError(f"ocsvm: nu must be in (0, 1], got {nu}")
        if max_samples < 10:
            raise ValueError(f"ocsvm: max_samples must be >= 10, got {max_samples}")
        self.nu = nu
        self.max_samples = max_samples

    def fit(self, train: np.ndarray) -> "OCSVMBaseline":
        from sklearn.svm import OneClassSVM

        z = self._fit_scale(train)
        pick = np.unique(np.linspace(0, len(z) - 1, min(self.max_samples, len(z))).astype(int))
        sub = z[pick]
        var = float(sub.var())
        self.gamma_ = 1.0 / (sub.shape[1] * var) if var > 0 else 1.0  # sklearn's gamma="scale"
        self.samples_ = len(pick)
        self.model_ = OneClassSVM(kernel="rbf", gamma=self.gamma_, nu=self.nu).fit(sub)
        return self

    def _attribution(self, z: np.ndarray, block: int = 256) -> np.ndarray:
        """(T, F) kernel-weighted squared distances to the support vectors, per feature."""
        sv = self.model_.support_vectors_  # (S, F)
        log_a = np.log(np.maximum(self.model_.dual_coef_[0], 1e-300))
        out = np.empty_like(z)
        for i in range(0, len(z), block):
            d = (z[i : i + block, None, :] - sv[None]) ** 2  # (B, S, F)
            logw = log_a - self.gamma_ * d.sum(axis=2)
            w = np.exp(logw - logw.max(axis=1, keepdims=True))  # softmax: stable when K(x, s) underflows
            w /= w.sum(axis=1, keepdims=True)
            out[i : i + block] = self.gamma_ * np.einsum("bs,bsf->bf", w, d)
        return out

    def score_series(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = self._scale(x)
        return -self.model_.decision_function(z), self._attribution(z)


BASELINES: dict[str, type] = {"pca": PCABaseline, "iforest": IForestBaseline, "mahalanobis": MahalanobisBaseline,
                              "ocsvm": OCSVMBaseline}
# what `anomaly-train report` draws by default: the cheap three (ocsvm on request, --baselines)
REPORT_BASELINES = ("pca", "iforest", "mahalanobis")


def make_baseline(name: str, seed: int = 0) -> Baseline:
    """A fresh, unfitted baseline by name."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r} (known: {', '.join(BASELINES)})")
    return IForestBaseline(seed=seed) if name == "iforest" else BASELINES[name]()
