"""Thresholds: hand-computed cases, a known distribution, fallbacks, JSON-able params."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from training import thresholds as th


def test_quantile_hand_computed() -> None:
    t = th.quantile(np.arange(1, 1001, dtype=float), q=0.5)
    assert t.value == pytest.approx(500.5)
    assert t.method == "quantile"
    assert t.params == {"q": 0.5, "n": 1000}


def test_quantile_ignores_nan_and_floors_zero() -> None:
    t = th.quantile(np.array([np.nan, 0.0, 0.0]), q=0.9)
    assert t.value == th.FLOOR > 0


def test_pot_exponential_close_to_true_quantile() -> None:
    rng = np.random.default_rng(0)
    q = 1e-3
    t = th.pot(rng.exponential(1.0, 100_000), q=q, level=0.98)
    true = -math.log(q)  # P(X > x) = exp(-x)
    assert t.method == "pot" and t.params["fallback"] is None
    assert abs(t.value - true) / true < 0.05
    assert abs(t.params["gpd"]["gamma"]) < 0.1  # exponential tail: shape ~ 0


def test_pot_uniform_has_bounded_tail() -> None:
    rng = np.random.default_rng(1)
    t = th.pot(rng.uniform(0, 1, 50_000), q=1e-3, level=0.98)
    assert t.params["gpd"]["gamma"] < -0.5  # light, bounded tail
    assert 0.99 < t.value <= 1.001


def test_pot_formula_matches_params() -> None:
    rng = np.random.default_rng(2)
    t = th.pot(rng.lognormal(0, 1, 20_000), q=1e-3, level=0.98)
    p = t.params
    g, s = p["gpd"]["gamma"], p["gpd"]["sigma"]
    r = p["q"] * p["n"] / p["n_excess"]
    assert t.value == pytest.approx(p["t"] + s / g * (r ** (-g) - 1))
    assert p["n_excess"] == pytest.approx(0.02 * 20_000, abs=2)


def test_pot_gamma_zero_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(th, "fit_gpd", lambda excess: (0.0, 2.0, "exponential"))
    x = np.arange(1000, dtype=float)
    t = th.pot(x, q=1e-3, level=0.9)
    p = t.params
    assert t.value == pytest.approx(p["t"] - 2.0 * math.log(1e-3 * 1000 / p["n_excess"]))


def test_pot_fallback_few_excesses() -> None:
    x = np.arange(100, dtype=float)  # level 0.98 leaves 2 excesses
    t = th.pot(x, q=1e-3, level=0.98)
    assert "excesses" in t.params["fallback"]
    assert t.value == pytest.approx(np.quantile(x, 1 - 1e-3))


def test_pot_fallback_q_above_excess_share() -> None:
    x = np.arange(1000, dtype=float)
    t = th.pot(x, q=0.05, level=0.98)  # 5% target is below the 98% level
    assert "under t" in t.params["fallback"]
    assert t.value == pytest.approx(np.quantile(x, 0.95))


@pytest.mark.parametrize("value", [0.0, 3.0])
def test_pot_constant_scores_finite_positive(value: float) -> None:
    t = th.pot(np.full(5000, value))
    assert math.isfinite(t.value) and t.value > 0
    assert t.params["fallback"]


def test_pot_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="level"):
        th.pot(np.ones(10), level=1.5)
    with pytest.raises(ValueError, match="q"):
        th.pot(np.ones(10), q=0)
    with pytest.raises(ValueError, match="no finite"):
        th.pot(np.full(10, np.nan))


def test_best_f1_hand_computed() -> None:
    # cuts 0.8: P1 R.5 F.667 | 0.4: F.5 | 0.35: P2/3 R1 F.8 | 0.1: F.667
    t = th.best_f1(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    assert t.method == "best_f1"
    assert t.params["f1"] == pytest.approx(0.8)
    assert t.value == pytest.approx(0.225)  # halfway between 0.35 and 0.1


def test_best_f1_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="shape"):
        th.best_f1(np.ones(3), np.ones(4))


def test_params_are_json() -> None:
    rng = np.random.default_rng(3)
    x = rng.exponential(1.0, 5000)
    for t in (th.pot(x), th.quantile(x), th.best_f1(x, (x > 3).astype(int))):
        json.dumps(t.params)
