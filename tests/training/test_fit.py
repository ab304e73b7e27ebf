"""fit -> convert -> bundle: the agent's scorer reproduces the Keras model, thresholds match the agent."""

from __future__ import annotations

import numpy as np
import pytest

from agent.calibrate.fit import z_thresholds
from agent.model.bundle import load_bundle
from agent.model.loaded import load_model
from agent.score.scoring import feature_errors
from agent.score.window import make_windows
from training.fit import FitOptions, fit_bundle
from training.models import ARCHITECTURES
from training.thresholds import compute_thresholds

TINY_WINDOW, TINY_FEATURES = 8, ("a", "b", "c", "d", "e")  # as the tiny_fits fixture in conftest.py
# Squared errors of float32 outputs that agree to ~1e-6: anything above 1e-5 is a real mismatch
ERROR_TOLERANCE = 1e-5


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_agent_scorer_reproduces_keras_errors(arch: str, tiny_fits: dict, make_sine) -> None:
    r = tiny_fits[arch]
    loaded = load_model(r.bundle)
    assert loaded.bundle.tail == 3 and loaded.bundle.architecture == arch
    raw = make_windows(make_sine(150, seed=7), TINY_WINDOW)  # unseen data
    scaled = loaded.bundle.scaler.transform(raw).astype(np.float32)
    want = feature_errors(scaled, r.keras_model.predict(scaled, verbose=0), tail=3)
    got = loaded.scorer.errors(raw)
    assert got.shape == (len(raw), len(TINY_FEATURES))
    assert np.max(np.abs(got - want)) < ERROR_TOLERANCE
    assert want.max() > 1e-3  # the comparison is not between two near-zero arrays


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_bundle_records_training_and_conversion(arch: str, tiny_fits: dict) -> None:
    r = tiny_fits[arch]
    b = load_bundle(r.bundle)
    meta = b.meta
    assert b.features == TINY_FEATURES and b.window == TINY_WINDOW and b.kind == "autoencoder"
    assert meta["model"]["size_bytes"] == r.model_bytes == b.model_path.stat().st_size < 1_000_000
    assert meta["model"]["inference_us"] > 0 and meta["model"]["fixed_batch"] == ARCHITECTURES[arch].recurrent
    conv = meta["conversion"]
    assert conv["ops"] == "builtin-only" and not any(op.startswith("Flex") for op in conv["op_names"])
    assert conv["parity_max_abs_diff"] == r.parity_max_diff <= conv["tolerance"] == 1e-4
    tr = meta["training"]
    assert tr["command"] == "pytest" and tr["machine"] == "sine" and tr["seed"] == 0
    assert 1 <= tr["epochs"] == r.epochs <= 2 and tr["options"]["tail"] == 3
    assert tr["val_loss"] == r.val_loss and np.isfinite(tr["train_loss"])
    assert tr["tensorflow"] and tr["keras"]
    assert (b.feature_thresholds >= FitOptions().feature_floor).all()


def test_thresholds_are_the_agents_validation_errors(tiny_fits: dict, sine_data: np.ndarray) -> None:
    r = tiny_fits["dense"]
    loaded = load_model(r.bundle)
    n_val = round(len(sine_data) * FitOptions().val_fraction)
    errors = loaded.scorer.errors(make_windows(sine_data[-n_val:], TINY_WINDOW))
    b = loaded.bundle
    # a z-score bundle: T = max(POT on the validation window errors, anchor); every feature F x T
    assert b.scaler.method == "zscore" and b.error_cap == FitOptions().error_cap
    assert b.anchor is not None and b.anchor > 0
    want, per, details = z_thresholds(errors, FitOptions().pot_q, b.anchor)  # the agent's own rule
    assert b.threshold.value == pytest.approx(want, rel=1e-9) and want >= b.anchor
    assert b.threshold.params["kind"] == details["threshold_kind"]
    np.testing.assert_allclose(b.feature_thresholds, len(b.features) * b.threshold.value, rtol=1e-12)
    assert (errors <= FitOptions().error_cap).all()


def test_feature_thresholds_have_a_positive_floor() -> None:
    rng = np.random.default_rng(0)
    errors = np.column_stack([rng.exponential(0.01, 2000), np.zeros(2000), np.full(2000, 1e-9)])
    opt = FitOptions(feature_floor=1e-4)
    overall, values, doc = compute_thresholds(errors, opt)
    assert overall.method == "pot" and overall.value > 0
    assert values[0] > 0.01 and values[1] == values[2] == 1e-4
    assert doc["floored"] == 2 and doc["values"] == values.tolist() and doc["method"] == "pot"


def test_quantile_thresholds() -> None:
    errors = np.random.default_rng(1).exponential(0.01, (1000, 2))
    overall, values, doc = compute_thresholds(errors, FitOptions(threshold="quantile", quantile_q=0.99))
    assert overall.method == "quantile" == doc["method"]
    assert overall.value == pytest.approx(np.quantile(errors.mean(axis=1), 0.99))
    np.testing.assert_allclose(values, np.quantile(errors, 0.99, axis=0))


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"tail": 31}, "tail"),
        ({"threshold": "best_f1"}, "threshold"),
        ({"epochs": 0}, "epochs"),
        ({"feature_floor": 0.0}, "feature_floor"),
    ],
)
def test_bad_options_are_refused(kw: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        FitOptions(**kw)


def test_feature_names_must_match_columns(sine_data: np.ndarray, tmp_path) -> None:
    with pytest.raises(ValueError, match="expected \\(T, 4\\)"):
        fit_bundle(
            sine_data,
            arch="dense",
            out=tmp_path,
            options=FitOptions(window=8),
            feature_names=("a", "b", "c", "d"),
            provenance={},
        )
