"""agent.runtime.hostscore: the fast and per-metric tiers as configured, for a calibrated z-score host."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support import DEFAULT_BUNDLE

from agent.calibrate.calibrator import Calibrator, scorer_errors_fn
from agent.calibrate.recipe import host_recipe
from agent.config import Config
from agent.model.loaded import load_model
from agent.runtime.hostscore import fast_tier, host_scorer
from agent.score.scoring import Scorer


def test_fast_tier_off_when_configured_off_and_calibrated_with_its_own_threshold_when_on(tmp_path: Path) -> None:
    model = load_model(str(DEFAULT_BUNDLE))
    b = model.bundle
    cal = Calibrator(b.features, b.window, 60, 1e-3, tmp_path / "c.json", b.sha256, recipe=host_recipe(b, "range"))
    cfg = replace(
        Config(), scoring=replace(Config().scoring, fast_samples=0, metric_tier=False, threshold_multiplier=1.0)
    )
    assert fast_tier(cfg, model, cal) is None
    shipped = fast_tier(Config(), model, cal)
    assert shipped is not None and shipped[0] == 1  # shipped: the last sample
    on = replace(cfg, scoring=replace(cfg.scoring, fast_samples=5))
    tier = fast_tier(on, model, cal)
    assert tier is not None and tier[0] == 5
    rng = np.random.default_rng(0)
    for _ in range(cal.target_rows):
        cal.observe(rng.uniform(0.2, 0.4, len(b.features)))
    r = cal.calibrate(scorer_errors_fn(model.scorer), tier)
    assert r.fast_tail == 5 and r.fast_threshold is not None and r.fast_threshold > 0
    scorer = host_scorer(on, model, cal)
    assert scorer.spec.fast and scorer.spec.fast_threshold == r.fast_threshold
    res = scorer.score_window(rng.uniform(0.2, 0.4, (b.window, len(b.features))))
    assert res.fast_score is not None and res.window_score is not None
    assert res.score == max(res.fast_score, res.window_score)
    assert not host_scorer(cfg, model, cal).spec.fast  # configured off: the whole-window score alone


def test_metric_tier_runs_only_when_asked_and_names_the_metric_far_from_its_normal(tmp_path: Path) -> None:
    model = load_model(str(DEFAULT_BUNDLE))
    b = model.bundle
    # level floor 1 (one sigma squared): the mechanics, on a model that partly reconstructs the excursion
    recipe = host_recipe(b, "range", metric_floor=1.0)
    cal = Calibrator(b.features, b.window, 120, 1e-3, tmp_path / "c.json", b.sha256, recipe=recipe)
    fast = replace(
        Config(), scoring=replace(Config().scoring, fast_samples=5, metric_tier=False, threshold_multiplier=1.0)
    )
    both = replace(fast, scoring=replace(fast.scoring, metric_tier=True))
    rng = np.random.default_rng(1)
    for _ in range(cal.target_rows):
        cal.observe(rng.uniform(0.2, 0.4, len(b.features)))
    r = cal.calibrate(scorer_errors_fn(model.scorer), fast_tier(both, model, cal))
    assert r.metric_levels is not None and r.metric_levels.shape == (len(b.features),)
    assert r.metric_threshold is not None and r.metric_threshold >= 1.0
    assert not host_scorer(fast, model, cal).spec.metric  # calibrated, but not configured: two tiers
    scorer = host_scorer(both, model, cal)
    assert scorer.spec.metric
    window = rng.uniform(0.2, 0.4, (b.window, len(b.features)))
    quiet = scorer.score_window(window)
    assert quiet.metric_score is not None and quiet.score == max(
        quiet.window_score, quiet.fast_score, quiet.metric_score
    )
    j = b.features.index("cpu_r")
    window[-5:, j] = 0.95  # one metric far outside its calibrated range for the last five samples
    loud = scorer.score_window(window)
    assert loud.metric_score is not None and loud.metric_score > 1.0 and loud.score == loud.metric_score
    assert int(np.argmax(loud.contributions)) == j
    assert abs(float(loud.feature_scores.max()) - loud.score) < 1e-9  # the leading metric's score is the score


def test_the_threshold_multiplier_scales_every_tier_and_divides_the_score(tmp_path: Path) -> None:
    model = load_model(str(DEFAULT_BUNDLE))
    b = model.bundle
    cal = Calibrator(b.features, b.window, 120, 1e-3, tmp_path / "c.json", b.sha256, recipe=host_recipe(b, "range"))
    one = replace(Config(), scoring=replace(Config().scoring, threshold_multiplier=1.0))
    rng = np.random.default_rng(2)
    for _ in range(cal.target_rows):
        cal.observe(rng.uniform(0.2, 0.4, len(b.features)))
    cal.calibrate(scorer_errors_fn(model.scorer), fast_tier(one, model, cal))
    plain, shipped = host_scorer(one, model, cal).spec, host_scorer(Config(), model, cal).spec
    m = Config().scoring.threshold_multiplier
    assert m > 1 and shipped.metric and shipped.fast
    assert shipped.threshold == pytest.approx(m * plain.threshold)
    assert shipped.fast_threshold == pytest.approx(m * plain.fast_threshold)
    assert shipped.metric_threshold == pytest.approx(m * plain.metric_threshold)
    window = rng.uniform(0.2, 0.4, (b.window, len(b.features)))
    a, c = Scorer(plain, model.scorer.predictor), Scorer(shipped, model.scorer.predictor)
    assert c.score_window(window).score == pytest.approx(a.score_window(window).score / m)
