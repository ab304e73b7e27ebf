"""Pure scoring functions against hand-computed values, with a fake predictor."""

import numpy as np
import pytest

from agent.score.scoring import Scaler, Scorer, ScoringSpec, contributions, feature_errors, impute, top_k
from agent.score.window import RingWindow, make_windows


class Identity:
    def predict(self, batch: np.ndarray) -> np.ndarray:
        return batch


class Zeros:
    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros_like(batch)


def spec(**kw: object) -> ScoringSpec:
    base = dict(
        features=("a", "b"),
        window=3,
        kind="autoencoder",
        scaler=Scaler(np.zeros(2), np.array([1.0, 2.0]), clip=2.0),
        tail=1,
        threshold=0.5,
        feature_thresholds=np.array([0.25, 1.0]),
    )
    base.update(kw)
    return ScoringSpec(**base)  # type: ignore[arg-type]


def test_scaler_constant_feature_and_clip() -> None:
    s = Scaler(np.array([0.0, 5.0]), np.array([10.0, 5.0]), clip=1.0)
    np.testing.assert_allclose(
        s.transform(np.array([[5.0, 5.0], [100.0, 7.0], [-50.0, 3.0]])), [[0.5, 0.0], [2.0, 2.0], [-1.0, -1.0]]
    )


def test_feature_errors_tail() -> None:
    target = np.zeros((1, 3, 2))
    out = np.array([[[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]])
    np.testing.assert_allclose(feature_errors(target, out, 1), [[1.0, 1.0]])
    np.testing.assert_allclose(feature_errors(target, out, 3), [[2 / 3, 5 / 3]])
    np.testing.assert_allclose(feature_errors(np.zeros((1, 2)), np.array([[3.0, 1.0]]), 1), [[9.0, 1.0]])


def test_contributions_and_top_k() -> None:
    c = contributions(np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(c, [[0.25, 0.75, 0.0], [0, 0, 0]])
    assert top_k(c[0], ("x", "y", "z"), 2) == [("y", 0.75), ("x", 0.25)]


def test_window_score_normalised_by_thresholds() -> None:
    scorer = Scorer(spec(), Zeros())
    # last row scaled: a = 0.5, b = 1.0/2 = 0.5 -> errors 0.25, 0.25; raw = 0.25
    res = scorer.score_window(np.array([[0, 0], [0, 0], [0.5, 1.0]]))
    assert res.raw_error == pytest.approx(0.25)
    assert res.score == pytest.approx(0.5)
    np.testing.assert_allclose(res.feature_scores, [1.0, 0.25])
    np.testing.assert_allclose(res.contributions, [0.5, 0.5])
    assert not res.anomalous
    assert Scorer(spec(), Identity()).score_window(np.ones((3, 2))).score == 0.0


def test_forecaster_uses_last_row_as_target() -> None:
    class Mean:
        def predict(self, batch: np.ndarray) -> np.ndarray:
            return batch.mean(axis=1)

    s = Scorer(spec(kind="forecaster", window=3, scaler=Scaler(np.zeros(2), np.ones(2))), Mean())
    res = s.score_window(np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 1.0]]))
    np.testing.assert_allclose(res.feature_scores * [0.25, 1.0], [1.0, 0.0])


def test_nan_imputed_forward_then_zero() -> None:
    w = np.array([[[np.nan, 1.0], [0.5, np.nan], [np.nan, np.nan]]])
    np.testing.assert_allclose(impute(w), [[[0.0, 1.0], [0.5, 1.0], [0.5, 1.0]]])


def test_score_series_matches_score_window() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((10, 2))
    scorer = Scorer(spec(tail=2), Zeros())
    series = scorer.score_series(x, batch=3)
    assert np.isnan(series.score[:2]).all()
    for t in range(2, 10):
        assert series.score[t] == pytest.approx(scorer.score_window(x[t - 2 : t + 1]).score)


def test_make_windows_and_ring() -> None:
    x = np.arange(12.0).reshape(6, 2)
    w = make_windows(x, 4, step=2)
    assert w.shape == (2, 4, 2)
    np.testing.assert_array_equal(w[1], x[2:6])
    ring = RingWindow(4, 2)
    for row in x:
        ring.push(row)
    assert ring.full and ring.fill_ratio == 1.0
    np.testing.assert_array_equal(ring.view(), x[2:])
    ring.clear()
    assert ring.fill_ratio == 0.0
