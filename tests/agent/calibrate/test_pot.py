"""POT in numpy: known tails, the GPD fit itself, degenerate inputs, JSON-able params."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from agent.calibrate import pot


@pytest.mark.parametrize(
    ("name", "draw", "true_quantile", "gamma"),
    [
        # P(X > x) = exp(-x): 1-q quantile -log q, GPD shape 0
        ("exponential", lambda r: r.exponential(1.0, 100_000), -math.log(1e-3), 0.0),
        # classic Pareto(alpha=3), P(X > x) = x^-3 for x >= 1: quantile q^(-1/3), shape 1/3
        ("pareto", lambda r: r.pareto(3.0, 100_000) + 1.0, 1e-3 ** (-1 / 3), 1 / 3),
        # standard normal: 1-q quantile 3.0902, light tail (shape slightly < 0 at finite levels)
        ("normal", lambda r: r.normal(0.0, 1.0, 100_000), 3.090232, -0.07),
    ],
)
def test_known_distributions(name: str, draw, true_quantile: float, gamma: float) -> None:
    value, params = pot.pot_threshold(draw(np.random.default_rng(0)), q=1e-3, level=0.98)
    assert params["fallback"] is None, name
    assert abs(value - true_quantile) / true_quantile < 0.05, (name, value, true_quantile)
    assert params["gpd"]["gamma"] == pytest.approx(gamma, abs=0.1)


def test_uniform_tail_is_bounded() -> None:
    value, params = pot.pot_threshold(np.random.default_rng(1).uniform(0, 1, 50_000), q=1e-3)
    assert params["gpd"]["gamma"] == pytest.approx(-1.0, abs=0.05)  # uniform excesses: GPD shape -1
    assert 0.99 < value <= 1.001


def test_fit_matches_closed_form_likelihood_maximum() -> None:
    """The Grimshaw fit beats every nearby (gamma, sigma) on the exact GPD likelihood."""
    rng = np.random.default_rng(2)
    g0, s0 = 0.2, 1.5
    y = s0 / g0 * ((1 - rng.uniform(size=5000)) ** -g0 - 1)  # inverse-CDF GPD sample
    gamma, sigma, how = pot.fit_gpd(y)
    assert how == "grimshaw"
    assert gamma == pytest.approx(g0, abs=0.05) and sigma == pytest.approx(s0, rel=0.07)
    best = pot.gpd_loglik(y, gamma, sigma)
    for dg, ds in [(0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01), (0.01, 0.01), (-0.01, -0.01)]:
        assert pot.gpd_loglik(y, gamma + dg, sigma * (1 + ds)) <= best + 1e-9


def test_exponential_excesses_pick_the_exponential_or_tiny_gamma() -> None:
    y = np.random.default_rng(3).exponential(2.0, 20_000)
    gamma, sigma, _ = pot.fit_gpd(y)
    assert abs(gamma) < 0.03 and sigma == pytest.approx(2.0, rel=0.05)


def test_formula_matches_params() -> None:
    value, p = pot.pot_threshold(np.random.default_rng(4).lognormal(0, 1, 20_000))
    g, s = p["gpd"]["gamma"], p["gpd"]["sigma"]
    r = p["q"] * p["n"] / p["n_excess"]
    assert value == pytest.approx(p["t"] + s / g * (r ** (-g) - 1))


def test_gamma_zero_limit_with_injected_fit() -> None:
    x = np.arange(1000, dtype=float)
    value, p = pot.pot_threshold(x, q=1e-3, level=0.9, fit=lambda e: (0.0, 2.0, "exponential"))
    assert value == pytest.approx(p["t"] - 2.0 * math.log(1e-3 * 1000 / p["n_excess"]))


@pytest.mark.parametrize("value", [0.0, 3.0, -5.0])
def test_constant_scores_finite_positive(value: float) -> None:
    v, p = pot.pot_threshold(np.full(5000, value))
    assert math.isfinite(v) and v > 0
    assert "excesses" in p["fallback"]
    assert v == (value if value > 0 else pot.FLOOR)


def test_too_few_points_use_empirical_quantile() -> None:
    x = np.arange(100, dtype=float)  # level 0.98 leaves 2 excesses
    v, p = pot.pot_threshold(x)
    assert "excesses" in p["fallback"]
    assert v == pytest.approx(np.quantile(x, 1 - 1e-3)) == p["empirical_quantile"]
    v1, _ = pot.pot_threshold(np.array([0.5]))
    assert v1 == 0.5


def test_q_above_excess_share_falls_back() -> None:
    x = np.arange(1000, dtype=float)
    v, p = pot.pot_threshold(x, q=0.05, level=0.98)
    assert "under t" in p["fallback"] and v == pytest.approx(np.quantile(x, 0.95))


def test_constant_excesses_fall_back() -> None:
    x = np.concatenate([np.zeros(900), np.full(100, 7.0)])
    v, p = pot.pot_threshold(x, q=1e-3, level=0.85)  # t = 0, every excess is exactly 7
    assert "constant" in p["fallback"] and v == 7.0


def test_nan_and_inf_are_ignored() -> None:
    x = np.random.default_rng(5).exponential(1.0, 20_000)
    dirty = np.concatenate([x, [np.nan] * 500, [np.inf, -np.inf]])
    assert pot.pot_threshold(dirty)[0] == pot.pot_threshold(x)[0]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="level"):
        pot.pot_threshold(np.ones(10), level=1.0)
    with pytest.raises(ValueError, match="q must"):
        pot.pot_threshold(np.ones(10), q=0)
    with pytest.raises(ValueError, match="no finite"):
        pot.pot_threshold(np.full(10, np.nan))


def test_params_are_strict_json() -> None:
    rng = np.random.default_rng(6)
    for x in (rng.exponential(1, 5000), np.ones(50), rng.uniform(0, 1, 5000)):
        json.dumps(pot.pot_threshold(x)[1], allow_nan=False)


def test_error_thresholds_floor_and_details() -> None:
    rng = np.random.default_rng(7)
    errors = np.column_stack([rng.exponential(1.0, 3000), np.zeros(3000), np.full(3000, np.nan)])
    window, per, details = pot.error_thresholds(errors, q=1e-3, floor=1e-4)
    assert per[0] == pytest.approx(-math.log(1e-3), rel=0.1)
    assert per[1] == per[2] == 1e-4  # all-zero column and all-NaN column get the floor
    assert details["features_floored"] == 2 and details["feature_fallbacks"] == 2
    assert window == 1e-4 and details["window_floored"]  # every row's mean is NaN -> floor
    json.dumps(details, allow_nan=False)


def test_fit_work_is_bounded_for_an_agent() -> None:
    """100k scores: the GPD fit sees only the ~2% excesses over t, on a grid of at most 240 points.

    What keeps it cheap is checked here; how long it takes is a benchmark's
    business, not a unit test's (no wall-clock limit on a shared machine).
    """
    x = np.random.default_rng(8).exponential(1.0, 100_000)
    _, params = pot.pot_threshold(x)
    assert params["fallback"] is None and params["n_excess"] <= 0.021 * x.size
    assert pot._grid(x[x > params["t"]] - params["t"]).size <= 240
