"""``lstm_forecaster``: next-row LSTM, builtin-only unrolled conversion, bundle kind "forecaster", agent thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.calibrate.fit import z_thresholds
from agent.model.bundle import load_bundle
from agent.model.loaded import load_model
from agent.model.predictors import TFLitePredictor
from agent.score.scoring import feature_errors
from agent.score.window import make_windows
from training.convert import convert, inference_clone, parity
from training.fit import FitOptions, fit_bundle
from training.models import ARCHITECTURES, FORECASTERS, arch_spec, build_model, pairs, span

W, F = 8, 5
NAMES = ("a", "b", "c", "d", "e")


def test_registry_keeps_forecasters_apart() -> None:
    spec = arch_spec("lstm_forecaster")
    assert spec.kind == "forecaster" and spec.recurrent and "lstm_forecaster" not in ARCHITECTURES
    assert set(FORECASTERS) == {"lstm_forecaster"} and span("lstm_forecaster", W) == W + 1 and span("dense", W) == W


def test_pairs_split_input_and_target() -> None:
    w = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    x, y = pairs(w, "forecaster")
    assert x.shape == (2, 2, 2) and y.shape == (2, 2)
    np.testing.assert_array_equal(y, w[:, -1])
    assert pairs(w, "autoencoder")[0] is w


def test_untrained_forecast_starts_at_no_change() -> None:
    model = build_model("lstm_forecaster", W, F, latent=6)
    assert model.input_shape == (None, W, F) and model.output_shape == (None, F)
    for layer in model.layers:  # zero the network: only the residual path (the last row) is left
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    x = np.random.default_rng(0).random((3, W, F), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), x[:, -1], atol=1e-7)


def test_unrolled_conversion_matches_keras(tmp_path: Path) -> None:
    model = build_model("lstm_forecaster", W, F, latent=6)
    clone = inference_clone(model, "lstm_forecaster", 6)
    assert clone.input_shape == (1, W, F)
    conv = convert(model, "lstm_forecaster", 6)
    assert conv.fixed_batch and not any(op.startswith("Flex") or op == "CUSTOM" for op in conv.ops)
    path = tmp_path / "f.tflite"
    path.write_bytes(conv.tflite)
    pred = TFLitePredictor(path)
    assert pred.input_shape == (1, W, F) and pred.output_shape == (1, F)
    assert parity(model, path, np.random.default_rng(1).random((5, W, F), dtype=np.float32)) < 1e-5


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory, sine_data: np.ndarray):
    opt = FitOptions(window=W, latent=8, epochs=3, batch_size=32, verbose=0, parity_windows=64)
    out = tmp_path_factory.mktemp("forecaster")
    return fit_bundle(
        sine_data,
        arch="lstm_forecaster",
        out=out,
        options=opt,
        feature_names=NAMES,
        provenance={"machine": "sine", "command": "pytest"},
    )


def test_bundle_is_a_forecaster(fitted) -> None:
    b = load_bundle(fitted.bundle)
    assert b.architecture == "lstm_forecaster" and b.kind == "forecaster" and b.window == W + 1 and b.tail == 1
    assert b.meta["model"]["input_shape"] == [1, W, F] and b.meta["model"]["fixed_batch"] is True
    assert b.meta["conversion"]["parity_max_abs_diff"] <= 1e-4
    assert b.meta["training"]["options"]["window"] == W


def test_agent_scorer_reproduces_keras_forecast_errors(fitted, make_sine) -> None:
    loaded = load_model(fitted.bundle)
    raw = make_windows(make_sine(120, seed=5), W + 1)
    scaled = loaded.bundle.scaler.transform(raw).astype(np.float32)
    want = feature_errors(scaled[:, -1], fitted.keras_model.predict(scaled[:, :-1], verbose=0), 1)
    got = loaded.scorer.errors(raw)
    assert got.shape == (len(raw), F) and np.max(np.abs(got - want)) < 1e-5 and want.max() > 1e-4
    s = loaded.scorer.score_series(make_sine(120, seed=5))
    assert np.isnan(s.score[:W]).all() and np.isfinite(s.score[W:]).all()  # the first score needs W + 1 rows
    np.testing.assert_allclose(s.contributions[W:].sum(axis=1), 1.0)


def test_thresholds_are_pot_on_the_agents_validation_errors(fitted, sine_data: np.ndarray) -> None:
    loaded = load_model(fitted.bundle)
    n_val = round(len(sine_data) * FitOptions().val_fraction)
    errors = loaded.scorer.errors(make_windows(sine_data[-n_val:], W + 1))
    b = loaded.bundle
    want, _, _ = z_thresholds(errors, FitOptions().pot_q, b.anchor)  # the agent's own rule
    assert b.threshold.value == pytest.approx(want, rel=1e-9)
    np.testing.assert_allclose(b.feature_thresholds, F * b.threshold.value, rtol=1e-12)


def test_a_jump_scores_above_normal(fitted, make_sine) -> None:
    x = make_sine(200, seed=9)
    x[150, 2] += 40.0  # a spike four times the feature's amplitude
    s = load_model(fitted.bundle).scorer.score_series(x)
    # a residual forecaster misses twice: the jump up at 150, and at 151 the fall it predicted would not come
    assert set(np.argsort(-np.nan_to_num(s.score, nan=-1))[:2]) == {150, 151}
    assert s.score[150] > 1.0 and np.argmax(s.contributions[150]) == 2


def test_cli_fit_arch_lstm_forecaster(tmp_path: Path, make_sine) -> None:
    from agent.history.smd import format_rows
    from training.cli import main

    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "m.txt").write_text(format_rows(make_sine(300)))
    out = tmp_path / "b"
    assert (
        main(
            [
                "fit",
                "--data",
                str(tmp_path),
                "--machine",
                "m",
                "--out",
                str(out),
                "--arch",
                "lstm_forecaster",
                "--window",
                "6",
                "--latent",
                "4",
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    b = load_bundle(out)
    assert b.kind == "forecaster" and b.window == 7 and "--arch lstm_forecaster" in b.meta["training"]["command"]
