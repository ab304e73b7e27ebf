"""training.pca: the one PCA (baseline and ensemble member): rank by kept variance, reconstruction errors."""

from __future__ import annotations

import numpy as np
import pytest

from training.pca import PCA


def _plane(n: int = 400, seed: int = 0) -> np.ndarray:
    """Rows on a 2-D plane inside 4-D, plus a tiny noise."""
    rng = np.random.default_rng(seed)
    basis = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]) / np.sqrt(2)
    return rng.normal(size=(n, 2)) @ basis + 0.5 + 1e-4 * rng.normal(size=(n, 4))


def test_rank_is_the_fewest_components_reaching_the_variance() -> None:
    x = _plane()
    assert PCA.fit(x, 0.95).rank == 2
    assert PCA.fit(x, 1.0).rank == 4
    assert PCA.fit(np.column_stack([10 * x[:, 0], x[:, 1:]]), 0.5).rank == 1


def test_rows_in_the_subspace_reconstruct_and_others_do_not() -> None:
    x = _plane()
    pca = PCA.fit(x, 0.95)
    assert pca.errors(x).max() < 1e-6
    off = x[:5] + np.array([1.0, 0.0, -1.0, 0.0]) / np.sqrt(2)  # orthogonal to the plane
    err = pca.errors(off)
    assert err.shape == (5, 4) and np.allclose(err.sum(axis=1), 1.0, atol=1e-3)


def test_projection_is_symmetric_and_idempotent() -> None:
    p = PCA.fit(_plane(), 0.95).projection
    assert np.allclose(p, p.T) and np.allclose(p @ p, p)


def test_nan_reads_as_zero_and_constant_data_fits() -> None:
    x = _plane()
    x[0, 0] = np.nan
    assert np.isfinite(PCA.fit(x).components).all()
    const = PCA.fit(np.ones((10, 3)))
    assert np.allclose(const.errors(np.ones((2, 3))), 0.0)


@pytest.mark.parametrize("variance", [0.0, -0.1, 1.5])
def test_variance_outside_0_1_is_refused(variance: float) -> None:
    with pytest.raises(ValueError, match="variance must be in"):
        PCA.fit(_plane(), variance)
