"""One PCA: the principal subspace of scaled rows, used by the ``pca`` baseline and the ensemble's PCA member."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PCA:
    """The subspace keeping ``variance`` of the training variance: ``mean`` (F,), ``components`` (k, F)."""

    mean: np.ndarray
    components: np.ndarray

    @classmethod
    def fit(cls, scaled: np.ndarray, variance: float = 0.95) -> PCA:
        """Fit on (T, F) scaled rows (NaN read as 0); keeps the fewest components reaching ``variance``."""
        if not 0 < variance <= 1:
            raise ValueError(f"pca: variance must be in (0, 1], got {variance}")
        z = np.nan_to_num(np.asarray(scaled, np.float64))
        mean = z.mean(axis=0)
        _, s, vt = np.linalg.svd(z - mean, full_matrices=False)
        var = s**2
        share = np.cumsum(var) / var.sum() if var.sum() > 0 else np.ones_like(var)
        k = min(int(np.searchsorted(share, variance - 1e-12) + 1), len(vt))
        return cls(mean, vt[:k])

    @property
    def rank(self) -> int:
        return len(self.components)

    @property
    def projection(self) -> np.ndarray:
        """P = V^T V (F, F): the reconstruction is ``x P + mean (I - P)``."""
        return self.components.T @ self.components

    def errors(self, scaled: np.ndarray) -> np.ndarray:
        """(T, F) squared reconstruction error of each feature."""
        r = np.asarray(scaled, np.float64) - self.mean
        return (r - (r @ self.components.T) @ self.components) ** 2
