"""Ensembles end to end: PCA as a TFLite member, normalisation from validation, thresholds, evaluate, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.history.smd import format_rows
from agent.model.bundle import load_bundle
from agent.model.ensemble import rank_normalise
from agent.model.loaded import load_model
from agent.model.predictors import TFLitePredictor
from agent.score.scoring import feature_errors
from agent.score.window import make_windows
from training import thresholds
from training.baselines import PCABaseline
from training.convert import convert
from training.ensemble import parse_members, pca_projection
from training.fit import FitOptions, fit_bundle
from training.models import pca_model

W = 8
NAMES = ("a", "b", "c", "d", "e")


def test_parse_members() -> None:
    assert parse_members("dense,pca") == [("dense", 0.5), ("pca", 0.5)]
    assert parse_members(" dense:3 , lstm_forecaster, pca:1 ") == [
        ("dense", 0.6),
        ("lstm_forecaster", 0.2),
        ("pca", 0.2),
    ]
    for text, msg in (
        ("dense", "at least two"),
        ("dense,knn", "unknown ensemble member 'knn'"),
        ("pca,pca", "listed twice"),
        ("dense:0,pca", "weight must be > 0"),
        ("dense:x,pca", "weight must be a number"),
        ("dense,ensemble", "unknown"),
    ):
        with pytest.raises(ValueError, match=msg):
            parse_members(text)


def test_pca_member_is_the_pca_baseline(sine_data: np.ndarray, tmp_path: Path) -> None:
    base = PCABaseline(0.9, val_fraction=0).fit(sine_data[:300])
    want = base.score_series(sine_data[300:]).feature_scores
    z = base.scaler_.transform(sine_data[:300])
    mean, proj, k = pca_projection(z, 0.9)
    assert k == len(base.components_)
    model = pca_model(mean, proj)
    x = base.scaler_.transform(sine_data[300:]).astype(np.float32)[:, None, :]  # (T, 1, F) windows of one row
    got = feature_errors(x, model.predict(x, verbose=0), 1)
    np.testing.assert_allclose(got, want, atol=1e-6)
    conv = convert(model, "dense")
    assert conv.ops == ("FULLY_CONNECTED",) or "FULLY_CONNECTED" in conv.ops
    (tmp_path / "p.tflite").write_bytes(conv.tflite)
    lite = feature_errors(x, TFLitePredictor(tmp_path / "p.tflite").predict(x), 1)
    np.testing.assert_allclose(lite, want, atol=1e-5)


@pytest.fixture(scope="module")
def dense_pca(tmp_path_factory: pytest.TempPathFactory, sine_data: np.ndarray):
    opt = FitOptions(
        window=W,
        latent=4,
        epochs=2,
        batch_size=32,
        verbose=0,
        parity_windows=64,
        members="dense:3,pca",
        pca_variance=0.7,
    )  # 4 of 5 components: the PCA member has an error to normalise
    return fit_bundle(
        sine_data,
        arch="ensemble",
        out=tmp_path_factory.mktemp("ens"),
        options=opt,
        feature_names=NAMES,
        provenance={"machine": "sine", "command": "pytest"},
    )


def _by_hand(r, raw_windows: np.ndarray, sine_data: np.ndarray):
    """Raw member errors computed without the agent: Keras dense + numpy PCA on the bundle's scaler."""
    b = load_bundle(r.bundle)
    x = b.scaler.transform(raw_windows).astype(np.float32)
    dense = feature_errors(x, r.keras_model["dense"].predict(x, verbose=0), 1)
    n_train = len(sine_data) - round(len(sine_data) * 0.2)
    variance = b.meta["training"]["options"]["pca_variance"]
    mean, proj, _ = pca_projection(b.scaler.transform(sine_data[:n_train]), variance)
    last = x[:, -1].astype(np.float64)
    pca = (last - ((last - mean) @ proj + mean)) ** 2
    return b, dense, pca


def test_ensemble_bundle_layout(dense_pca) -> None:
    b = load_bundle(dense_pca.bundle)
    assert b.architecture == "ensemble" and b.kind == "autoencoder" and b.window == W and b.tail == 1
    assert [(m.architecture, m.window, m.weight) for m in b.members] == [("dense", W, 0.75), ("pca", 1, 0.25)]
    assert all(m.norm.method == "z" and m.path.parent == dense_pca.bundle.resolve() for m in b.members)
    assert b.meta["model"]["size_bytes"] == dense_pca.model_bytes == sum(m.path.stat().st_size for m in b.members)
    tr = b.meta["training"]
    assert [m["architecture"] for m in tr["members"]] == ["dense", "pca"] and tr["options"]["members"] == "dense:3,pca"
    assert b.meta["conversion"]["parity_max_abs_diff"] <= 1e-4


def test_norms_are_validation_stds_and_the_agent_combines_by_hand(dense_pca, sine_data: np.ndarray, make_sine) -> None:
    n_val = round(len(sine_data) * 0.2)
    b, dense, pca = _by_hand(dense_pca, make_windows(sine_data[-n_val:], W), sine_data)
    # default "z": one std per member, that of its validation window error (mean over features)
    assert b.members[0].norm.scope == "member" and b.meta["members"][0]["norm"]["scope"] == "member"
    np.testing.assert_allclose(b.members[0].norm.std, np.full(5, dense.mean(axis=1).std()), rtol=1e-4)
    np.testing.assert_allclose(b.members[1].norm.std, np.full(5, pca.mean(axis=1).std()), rtol=1e-4)
    assert b.members[1].norm.std[0] > 1e-3  # not the floor
    raw = make_windows(make_sine(100, seed=3), W)  # unseen rows
    b, dense, pca = _by_hand(dense_pca, raw, sine_data)
    want = 0.75 * dense / b.members[0].norm.std + 0.25 * pca / b.members[1].norm.std
    got = load_model(dense_pca.bundle).scorer.errors(raw)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6)


def test_thresholds_are_pot_on_the_combined_validation_errors(dense_pca, sine_data: np.ndarray) -> None:
    loaded = load_model(dense_pca.bundle)
    n_val = round(len(sine_data) * 0.2)
    errors = loaded.scorer.errors(make_windows(sine_data[-n_val:], W))
    assert loaded.bundle.threshold.value == pytest.approx(thresholds.pot(errors.mean(axis=1)).value, rel=1e-12)
    s = loaded.scorer.score_series(sine_data[-n_val:])
    assert np.nanmax(s.score) < 3  # normal data stays near the threshold


def test_per_feature_z(tmp_path: Path, sine_data: np.ndarray) -> None:
    opt = FitOptions(
        window=W,
        latent=4,
        epochs=1,
        batch_size=32,
        verbose=0,
        parity_windows=32,
        members="dense,pca",
        ensemble_norm="z_feature",
        pca_variance=0.9,
    )
    r = fit_bundle(
        sine_data, arch="ensemble", out=tmp_path / "e", options=opt, feature_names=NAMES, provenance={"machine": "sine"}
    )
    n_val = round(len(sine_data) * 0.2)
    b, dense, pca = _by_hand(r, make_windows(sine_data[-n_val:], W), sine_data)
    assert b.members[0].norm.scope == "feature"
    np.testing.assert_allclose(b.members[0].norm.std, np.maximum(dense.std(axis=0), 1e-4), rtol=1e-3)
    np.testing.assert_allclose(b.members[1].norm.std, np.maximum(pca.std(axis=0), 1e-4), rtol=1e-3)
    assert (b.members[1].norm.std == 1e-4).all()  # 0.9 keeps every component of 5 sinusoids: no error, floored


def test_forecaster_member_with_rank_norm(tmp_path: Path, sine_data: np.ndarray, make_sine) -> None:
    opt = FitOptions(
        window=W,
        latent=4,
        epochs=1,
        batch_size=32,
        verbose=0,
        parity_windows=32,
        members="lstm_forecaster,pca",
        ensemble_norm="rank",
    )
    r = fit_bundle(
        sine_data, arch="ensemble", out=tmp_path / "e", options=opt, feature_names=NAMES, provenance={"machine": "sine"}
    )
    loaded = load_model(r.bundle)
    b = loaded.bundle
    assert b.window == W + 1 and [(m.kind, m.window, m.norm.method) for m in b.members] == [
        ("forecaster", W + 1, "rank"),
        ("autoencoder", 1, "rank"),
    ]
    # validation errors normalised by their own CDF spread over [0, 1]
    n_val = round(len(sine_data) * 0.2)
    x = b.scaler.transform(make_windows(sine_data[-n_val:], W + 1)).astype(np.float32)
    raw = loaded.scorer.predictor.member_errors(x)
    ranks = rank_normalise(raw[0], b.members[0].norm.quantiles)
    assert 0.4 < ranks.mean() < 0.6 and ranks.max() <= 1.0 + 1e-9
    spiky = make_sine(150, seed=4)
    spiky[120, 1] += 40.0
    s = loaded.scorer.score_series(spiky)
    assert int(np.nanargmax(s.score)) in (120, 121) and s.score[120] > 1.0


def _dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(2600)[:, None]
    x = 0.5 + 0.2 * np.sin(2 * np.pi * t / np.array([40.0, 65.0, 90.0])) + 0.01 * rng.normal(size=(2600, 3))
    test, labels = x[1600:].copy(), np.zeros(1000, int)
    test[400:430, 1] += 0.4
    labels[400:430] = 1
    for sub, text in (
        ("train", format_rows(x[:1600])),
        ("test", format_rows(test)),
        ("test_label", "".join(f"{v}\n" for v in labels)),
        ("interpretation_label", "400-430:2\n"),
    ):
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub / "m.txt").write_text(text)
    return root


def test_evaluate_and_cli_run_the_ensemble(tmp_path: Path) -> None:
    from training import evaluate as ev
    from training.cli import main

    data = _dataset(tmp_path / "data")
    doc = ev.evaluate(data, ["m"], ["ensemble", "pca"], epochs=1, fit_overrides={"window": 10}, vus_max_buffer=5)
    r = doc["results"]["ensemble"]["machines"]["m"]
    assert r["info"]["window"] == 10 and r["at_threshold"]["threshold"] == 1.0
    assert r["best_f1"]["f1"] > 0.5 and r["detection_delay"]["events"] == 1
    assert "ensemble" in ev.DEFAULT_MODELS and "lstm_forecaster" in ev.DEFAULT_MODELS
    out = tmp_path / "b"
    assert (
        main(
            [
                "fit",
                "--data",
                str(data),
                "--machine",
                "m",
                "--out",
                str(out),
                "--arch",
                "ensemble",
                "--members",
                "dense,pca",
                "--window",
                "10",
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    b = load_bundle(out)
    assert b.architecture == "ensemble" and "--members dense,pca" in b.meta["training"]["command"]
    assert b.features == ("f1", "f2", "f3")
