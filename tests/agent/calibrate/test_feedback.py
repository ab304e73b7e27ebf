"""Operator feedback: scoring.ignore_features / feature_weights in the scorer, the cycle and check-config."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support import DEFAULT_BUNDLE

from agent.calibrate.feedback import WeightedScorer, weight_vector, weighted
from agent.cli import EXIT_CONFIG, main
from agent.config import Config, ConfigError, ScoringConfig, parse_config
from agent.model.loaded import load_model


@pytest.fixture(scope="module")
def scorer():  # type: ignore[no-untyped-def]
    return load_model(str(DEFAULT_BUNDLE)).scorer


def test_weight_vector() -> None:
    names = ("a", "b", "c")
    assert weight_vector(names, ScoringConfig()) is None
    w = weight_vector(names, ScoringConfig(ignore_features=("b",), feature_weights={"c": 0.5}))
    np.testing.assert_array_equal(w, [1.0, 0.0, 0.5])


def test_ignored_feature_leaves_score_and_contributions(scorer) -> None:  # type: ignore[no-untyped-def]
    f = scorer.spec.features
    rng = np.random.default_rng(0)
    window = rng.uniform(0, 1, (scorer.spec.window, len(f)))
    window[-5:, f.index("disk_wb")] = 3.0  # the feature the operator says is noise
    plain = scorer.score_window(window)
    assert weighted(scorer, ScoringConfig()) is scorer
    w = weighted(scorer, ScoringConfig(ignore_features=("disk_wb",)))
    assert isinstance(w, WeightedScorer)
    res = w.score_window(window)
    i = f.index("disk_wb")
    assert res.feature_scores[i] == 0 and res.contributions[i] == 0
    assert res.score < plain.score
    others = np.delete(np.arange(len(f)), i)
    np.testing.assert_allclose(res.feature_scores[others], plain.feature_scores[others], rtol=1e-6)
    series = w.score_series(np.vstack([window, window]))
    assert np.nanmax(series.contributions[:, i]) == 0
    double = weighted(scorer, ScoringConfig(feature_weights={"disk_wb": 2.0})).score_window(window)
    assert double.feature_scores[i] == pytest.approx(2 * plain.feature_scores[i], rel=1e-6)


def test_config_names_unknown_features_and_bad_weights() -> None:
    cfg = {
        "model": {"bundle": str(DEFAULT_BUNDLE)},
        "scoring": {"ignore_features": ["disk_wbb"], "feature_weights": {"cpu_r": -1, "nope": 1}},
    }
    with pytest.raises(ConfigError) as err:
        parse_config(cfg)
    text = str(err.value)
    assert "scoring.ignore_features: 'disk_wbb' is not a feature of the bundle" in text
    assert "scoring.feature_weights: 'nope' is not a feature of the bundle" in text
    assert "scoring.feature_weights.cpu_r: must be a finite number >= 0" in text
    with pytest.raises(ConfigError, match="scoring.feature_weights.cpu_r: must be a number"):
        parse_config({"scoring": {"feature_weights": {"cpu_r": "high"}}}, check_files=False)
    ok = parse_config(
        {
            "model": {"bundle": str(DEFAULT_BUNDLE)},
            "scoring": {"ignore_features": ["disk_wb"], "feature_weights": {"cpu_r": 0.5}},
        }
    )
    assert ok.scoring == ScoringConfig(("disk_wb",), {"cpu_r": 0.5})
    assert replace(Config(), scoring=ok.scoring).scoring.feature_weights == {"cpu_r": 0.5}


def test_check_config_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(f"model:\n  bundle: {DEFAULT_BUNDLE}\nscoring:\n  ignore_features: [not_a_feature]\n")
    assert main(["check-config", str(bad)]) == EXIT_CONFIG
    assert "scoring.ignore_features: 'not_a_feature'" in capsys.readouterr().err
    good = tmp_path / "good.yml"
    good.write_text(f"model:\n  bundle: {DEFAULT_BUNDLE}\nscoring:\n  ignore_features: [so, si]\n")
    assert main(["check-config", str(good)]) == 0
