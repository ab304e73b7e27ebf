"""Simple point-wise baselines shown next to every model (DESIGN.md "Evaluation, honestly").

Each implements :class:`training.detector.Detector`: ``fit(train (T, F))`` fits
the model on the first ``1 - val_fraction`` of the rows and sets a POT
threshold (:func:`training.thresholds.pot`) on the scores of the held-out end,
as ``fit`` does for bundles; ``score_series(x (T, F))`` returns
:class:`~training.detector.Scores` (score (T,), feature_scores (T, F) or None),
higher = more anomalous.  Each baseline scales its input with
:meth:`agent.score.scoring.Scaler.fit` on its training rows, exactly like the
autoencoders, and scores one row at a time (no window): what is left for the
models to beat is the temporal context.

- ``pca``: squared reconstruction error from the principal subspace that keeps
  ``variance`` of the training variance (:class:`training.pca.PCA`, the same
  subspace as the ensemble's PCA member); per feature: that feature's error.
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

scikit-learn is imported when a model that needs it is fitted.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from agent.score.scoring import SCALER_CLIP, Scaler
from training.detector import Scores
from training.pca import PCA
from training.thresholds import pot

VAL_FRACTION = 0.2  # held-out end of the training rows for the POT threshold, like fit


def _rows(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{what} must be a non-empty (T, F) array, got shape {x.shape}")
    return np.nan_to_num(x, nan=0.0)


class Baseline:
    """The detector protocol around a point-wise model: scaling, the held-out threshold, timing.

    Subclasses implement ``_fit_scaled(z)`` and ``_score_scaled(z) -> (score, feature_scores or None)``.
    """

    name = "base"
    scaler_: Scaler | None = None

    def __init__(self, val_fraction: float = VAL_FRACTION) -> None:
        if not 0 <= val_fraction < 1:
            raise ValueError(f"{self.name}: val_fraction must be in [0, 1), got {val_fraction}")
        self.val_fraction = val_fraction
        self.threshold = float("nan")  # no held-out rows: no threshold
        self.threshold_method = "none"
        self.threshold_params: dict[str, Any] = {}
        self.fit_seconds = 0.0

    def fit(self, train: np.ndarray) -> Baseline:
        """Fit on the first part of ``train``; POT threshold on the scores of the held-out end."""
        t0 = time.monotonic()
        train = _rows(train, f"{self.name}: training data")
        n_val = int(round(len(train) * self.val_fraction))
        fit_rows = train[: len(train) - n_val]
        self.scaler_ = Scaler.fit(fit_rows, clip=SCALER_CLIP)
        self._fit_scaled(self.scaler_.transform(fit_rows))
        if n_val:
            th = pot(self.score_series(train[len(train) - n_val :]).score)
            self.threshold, self.threshold_method, self.threshold_params = th.value, th.method, th.params
        self.fit_seconds = time.monotonic() - t0
        return self

    def score_series(self, x: np.ndarray) -> Scores:
        if self.scaler_ is None:
            raise RuntimeError(f"{self.name}: call fit() before score_series()")
        x = _rows(x, f"{self.name}: data")
        if x.shape[1] != len(self.scaler_.low):
            raise ValueError(f"{self.name}: data has {x.shape[1]} features, fitted on {len(self.scaler_.low)}")
        score, fs = self._score_scaled(self.scaler_.transform(x))
        return Scores(score, fs)

    def info(self) -> dict[str, Any]:
        return {"fit_seconds": round(self.fit_seconds, 2), "threshold_params": self.threshold_params}

    def _fit_scaled(self, z: np.ndarray) -> None:
        raise NotImplementedError

    def _score_scaled(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError


class PCABaseline(Baseline):
    name = "pca"

    def __init__(self, variance: float = 0.95, val_fraction: float = VAL_FRACTION) -> None:
        if not 0 < variance <= 1:
            raise ValueError(f"pca: variance must be in (0, 1], got {variance}")
        super().__init__(val_fraction)
        self.variance = variance

    def _fit_scaled(self, z: np.ndarray) -> None:
        self.pca_ = PCA.fit(z, self.variance)

    @property
    def components_(self) -> np.ndarray:
        return self.pca_.components  # (k, F)

    def _score_scaled(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        err = self.pca_.errors(z)  # (T, F)
        return err.mean(axis=1), err


class IForestBaseline(Baseline):
    name = "iforest"

    def __init__(self, n_estimators: int = 100, seed: int = 0, val_fraction: float = VAL_FRACTION) -> None:
        super().__init__(val_fraction)
        self.n_estimators = n_estimators
        self.seed = seed

    def _fit_scaled(self, z: np.ndarray) -> None:
        from sklearn.ensemble import IsolationForest

        self.model_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.seed, n_jobs=1).fit(z)

    def _score_scaled(self, z: np.ndarray) -> tuple[np.ndarray, None]:
        return -self.model_.score_samples(z), None


class MahalanobisBaseline(Baseline):
    name = "mahalanobis"

    def _fit_scaled(self, z: np.ndarray) -> None:
        from sklearn.covariance import LedoitWolf

        lw = LedoitWolf().fit(z)
        self.mean_ = lw.location_
        self.precision_ = np.linalg.pinv(lw.covariance_, hermitian=True)

    def _score_scaled(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = z - self.mean_
        contrib = r * (r @ self.precision_)  # (T, F); row sums = squared distance
        return contrib.sum(axis=1), contrib


class OCSVMBaseline(Baseline):
    name = "ocsvm"

    def __init__(self, nu: float = 0.01, max_samples: int = 4000, val_fraction: float = VAL_FRACTION) -> None:
        if not 0 < nu <= 1:
            raise ValueError(f"ocsvm: nu must be in (0, 1], got {nu}")
        if max_samples < 10:
            raise ValueError(f"ocsvm: max_samples must be >= 10, got {max_samples}")
        super().__init__(val_fraction)
        self.nu = nu
        self.max_samples = max_samples

    def _fit_scaled(self, z: np.ndarray) -> None:
        from sklearn.svm import OneClassSVM

        pick = np.unique(np.linspace(0, len(z) - 1, min(self.max_samples, len(z))).astype(int))
        sub = z[pick]
        var = float(sub.var())
        self.gamma_ = 1.0 / (sub.shape[1] * var) if var > 0 else 1.0  # sklearn's gamma="scale"
        self.samples_ = len(pick)
        self.model_ = OneClassSVM(kernel="rbf", gamma=self.gamma_, nu=self.nu).fit(sub)

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

    def _score_scaled(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return -self.model_.decision_function(z), self._attribution(z)


BASELINES: dict[str, type[Baseline]] = {
    "pca": PCABaseline,
    "iforest": IForestBaseline,
    "mahalanobis": MahalanobisBaseline,
    "ocsvm": OCSVMBaseline,
}
# what `anomaly-train report` draws by default: the cheap three (ocsvm on request, --baselines)
REPORT_BASELINES = ("pca", "iforest", "mahalanobis")


def make_baseline(name: str, seed: int = 0, val_fraction: float = VAL_FRACTION) -> Baseline:
    """A fresh, unfitted baseline by name."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r} (known: {', '.join(BASELINES)})")
    if name == "iforest":
        return IForestBaseline(seed=seed, val_fraction=val_fraction)
    return BASELINES[name](val_fraction=val_fraction)
