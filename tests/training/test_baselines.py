"""Baselines: hand-computed PCA residuals, Mahalanobis against sklearn, outliers rank first, the detector protocol."""

from __future__ import annotations

import numpy as np
import pytest

from training import thresholds
from training.baselines import BASELINES, IForestBaseline, MahalanobisBaseline, PCABaseline, make_baseline
from training.detector import Scores


def _line() -> np.ndarray:
    t = np.linspace(0, 1, 101)
    return np.stack([t, t], axis=1)  # min 0, max 1: the scaler is the identity


def test_pca_hand_computed() -> None:
    b = PCABaseline(variance=0.9, val_fraction=0).fit(_line())
    assert b.components_.shape == (1, 2)
    s = b.score_series(np.array([[1.0, 0.0], [1.0, 1.0], [0.2, 0.2]]))
    score, fs = s.score, s.feature_scores
    # (1, 0) - mean (.5, .5) = (.5, -.5) is orthogonal to (1, 1): all of it is error
    assert fs[0] == pytest.approx([0.25, 0.25])
    assert score == pytest.approx([0.25, 0.0, 0.0], abs=1e-12)


def test_pca_feature_scores_average_to_score() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6))
    b = PCABaseline().fit(x)
    r = b.score_series(x[:50] + 3)
    s, fs = r.score, r.feature_scores
    assert s == pytest.approx(fs.mean(axis=1))
    assert (fs >= 0).all()


def test_mahalanobis_matches_sklearn_and_contributions_sum() -> None:
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(1)
    x = rng.multivariate_normal([0, 0, 0], [[1, 0.8, 0], [0.8, 1, 0], [0, 0, 1]], size=2000)
    b = MahalanobisBaseline(val_fraction=0).fit(x)
    test = x[:100]
    r = b.score_series(test)
    s, fs = r.score, r.feature_scores
    z = b.scaler_.transform(x)
    want = LedoitWolf().fit(z).mahalanobis(b.scaler_.transform(test))
    assert s == pytest.approx(want, rel=1e-6)
    assert fs.sum(axis=1) == pytest.approx(s)


def test_mahalanobis_constant_feature_is_fine() -> None:
    rng = np.random.default_rng(2)
    x = np.c_[rng.normal(size=(300, 2)), np.full(300, 5.0)]  # constant column: singular sample covariance
    s = MahalanobisBaseline().fit(x).score_series(x).score
    assert np.isfinite(s).all()


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_outliers_score_highest(name: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1000, 5))
    x[:, 1] = x[:, 0] + 0.05 * rng.normal(size=1000)  # a correlation to break
    test = rng.normal(size=(200, 5))
    test[:, 1] = test[:, 0]
    if name == "iforest":  # trees see axis-aligned extremes, not broken correlations
        test[[10, 50, 150]] = 3.5
    else:
        test[[10, 50, 150], 1] = test[[10, 50, 150], 0] + 3.0
    b = make_baseline(name).fit(x)
    r = b.score_series(test)
    s, fs = r.score, r.feature_scores
    assert s.shape == (200,)
    assert set(np.argsort(-s)[:3]) == {10, 50, 150}
    if name == "iforest":
        assert fs is None
    else:
        assert fs.shape == (200, 5)
        assert np.argmax(fs[10]) in (0, 1)  # the broken pair carries the blame


def test_iforest_is_deterministic() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 3))
    a = IForestBaseline(seed=7).fit(x).score_series(x).score
    b = IForestBaseline(seed=7).fit(x).score_series(x).score
    assert (a == b).all()


def test_errors_name_the_problem() -> None:
    with pytest.raises(RuntimeError, match="fit"):
        PCABaseline().score_series(np.ones((3, 2)))
    with pytest.raises(ValueError, match="features"):
        PCABaseline().fit(_line()).score_series(np.ones((3, 5)))
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baseline("knn")
    with pytest.raises(ValueError, match=r"\(T, F\)"):
        PCABaseline().fit(np.ones(5))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_detector_protocol_threshold_on_held_out_rows(name: str) -> None:
    """fit() = model on the first 80 % + POT on the scores of the held-out 20 %, as evaluate has always done."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, 4))
    det = make_baseline(name, seed=0).fit(x)
    ref = make_baseline(name, seed=0, val_fraction=0).fit(x[:480])
    want = thresholds.pot(ref.score_series(x[480:]).score)
    assert det.threshold == pytest.approx(want.value) and det.threshold_method == want.method
    s = det.score_series(x[:10])
    assert isinstance(s, Scores) and s.score.shape == (10,) and s.feature_scores_normalised is None
    assert det.info()["threshold_params"] == want.params and det.info()["fit_seconds"] >= 0


def test_no_held_out_rows_means_no_threshold() -> None:
    det = PCABaseline(val_fraction=0).fit(_line())
    assert np.isnan(det.threshold) and det.threshold_method == "none"
    with pytest.raises(ValueError, match="val_fraction"):
        PCABaseline(val_fraction=1.0)
