"""agent.score.explain: rank in the day, and each leading feature against the scaler's normal."""

from __future__ import annotations

import numpy as np
import pytest
from support import DEFAULT_BUNDLE

from agent.model.loaded import load_model
from agent.score.explain import explain_window, rank_in
from agent.score.scoring import Scorer, ZScaler


def test_rank_counts_higher_scores_and_ignores_missing_ones() -> None:
    day = np.array([0.1, 0.5, np.nan, 2.0, 0.5])
    assert rank_in(3.0, day) == (1, 4)
    assert rank_in(0.5, day) == (2, 4)
    assert rank_in(0.05, day) == (5, 4)
    assert rank_in(1.0, np.array([])) == (1, 1)


def test_the_feature_far_from_its_centre_leads_with_its_z_in_its_own_units() -> None:
    model = load_model(str(DEFAULT_BUNDLE))
    spec = model.scorer.spec
    n = len(spec.features)
    centre, scale = np.full(n, 10.0), np.full(n, 2.0)
    scorer = Scorer(spec.__class__(**{**spec.__dict__, "scaler": ZScaler(centre, scale)}), model.scorer.predictor)
    window = np.full((spec.window, n), 10.0)
    j = spec.features.index("mem_u")
    window[-8:, j] = 26.0  # 8 sigma above its centre for the last 8 samples
    doc = explain_window(scorer, window, np.array([0.1, 0.2, 0.3]), top=3)
    lead = doc["features"][0]
    assert lead["feature"] == "mem_u" and lead["value"] == 26.0
    assert (lead["centre"], lead["scale"], lead["z"]) == (10.0, 2.0, pytest.approx(8.0))
    assert len(doc["features"]) == 3 and doc["scaler"] == "zscore" and doc["of"] == 4
    assert sum(f["share"] for f in doc["features"]) <= 1.0 + 1e-9
    assert doc["tiers"] == {}  # neither fast nor metric tier configured
