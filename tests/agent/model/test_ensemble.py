"""Ensemble bundles on the agent side (no TensorFlow): member checks, normalisation, the scorer path."""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support import DEMO_DATA, StartAgent, http_get

from agent.cli import main as agent_main
from agent.history.smd import format_rows, load_machine
from agent.model.bundle import BundleError, load_bundle
from agent.model.ensemble import Norm, fit_norm, rank_normalise
from agent.model.loaded import LoadedModel, load_model
from agent.model.members import Member, members_digest
from agent.model.predictors import EnsemblePredictor
from agent.model.write import write_ensemble
from agent.score.scoring import Scaler, Scorer, ScoringSpec

F = 3


class Shift:
    """A fake member: reconstructs/forecasts every value ``+ delta``, so its squared error is ``delta**2``."""

    def __init__(self, delta: np.ndarray, forecaster: bool = False) -> None:
        self.delta, self.forecaster = np.asarray(delta, np.float32), forecaster

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return (batch[:, -1] if self.forecaster else batch) + self.delta


def member(name: str, kind: str, window: int, weight: float, norm: Norm, tail: int = 1) -> Member:
    return Member(name, Path(name), "", name, kind, window, tail, weight, norm)


# -- pure parts ------------------------------------------------------------------------------------------------------


def test_combined_error_is_the_weighted_sum_of_normalised_member_errors() -> None:
    ae = member("ae", "autoencoder", 4, 0.25, Norm("z", std=np.array([1.0, 2.0, 4.0])))
    fc = member("fc", "forecaster", 3, 0.75, Norm("z", std=np.array([0.5, 0.5, 0.5])))
    pred = EnsemblePredictor((ae, fc), [Shift([0.1, 0.2, 0.3]), Shift([0.4, 0.0, 0.2], forecaster=True)], F)
    # rows constant in time: the fake forecaster's "last input row + delta" is then "target + delta"
    x = np.repeat(np.random.default_rng(0).random((5, 1, F), dtype=np.float32), 4, axis=1)
    # by hand: ae error = delta^2 / std, forecaster error = delta^2 / std
    want = 0.25 * np.array([0.01, 0.04, 0.09]) / [1, 2, 4] + 0.75 * np.array([0.16, 0.0, 0.04]) / 0.5
    np.testing.assert_allclose(pred.combined_errors(x), np.tile(want, (5, 1)), rtol=1e-6)
    # the unchanged Scorer (autoencoder, tail 1) turns the pseudo-reconstruction back into exactly that error
    spec = ScoringSpec(("a", "b", "c"), 4, "autoencoder", Scaler(np.zeros(F), np.ones(F), 2.0), 1, 1.0, np.ones(F))
    got = Scorer(spec, pred).errors(x.astype(np.float64))
    np.testing.assert_allclose(got, np.tile(want, (5, 1)), rtol=1e-6)
    s = Scorer(spec, pred).score_window(x[0].astype(np.float64))
    assert s.raw_error == pytest.approx(want.mean(), rel=1e-6)
    np.testing.assert_allclose(s.contributions, want / want.sum(), rtol=1e-6)


def test_shorter_members_see_the_newest_rows() -> None:
    seen = []

    class Spy:
        def predict(self, batch: np.ndarray) -> np.ndarray:
            seen.append(batch.copy())
            return batch

    m = member("ae", "autoencoder", 2, 1.0, Norm("z", std=np.ones(F)))
    x = np.arange(4 * F, dtype=np.float32).reshape(1, 4, F)
    EnsemblePredictor((m, replace(m, file="ae2", window=4)), [Spy(), Spy()], F).member_errors(x)
    np.testing.assert_array_equal(seen[0], x[:, 2:])
    np.testing.assert_array_equal(seen[1], x)


def test_z_norm_per_feature_or_per_member() -> None:
    e = np.c_[np.linspace(0, 1, 11), np.zeros(11)]
    z = fit_norm(e, "z", floor=1e-3)
    assert z.scope == "feature" and z.std[0] == pytest.approx(np.std(np.linspace(0, 1, 11))) and z.std[1] == 1e-3
    m = fit_norm(e, "z", floor=1e-3, scope="member")  # the std of the window error (mean over features)
    np.testing.assert_allclose(m.std, [np.std(np.linspace(0, 0.5, 11))] * 2)
    assert m.to_doc()["scope"] == "member"
    with pytest.raises(ValueError, match="no scope 'member'"):
        fit_norm(e, "rank", scope="member")


def test_rank_norm_is_the_cdf_then_grows_linearly() -> None:
    e = np.linspace(0.0, 1.0, 101)[:, None]  # quantiles equal the values
    r = fit_norm(e, "rank", n_quantiles=11)
    assert r.quantiles.shape == (11, 1)
    got = rank_normalise(np.array([[0.0], [0.25], [1.0], [1.5]]), r.quantiles)[:, 0]
    # CDF 0, 0.25, 1; above the top: 1 + slope of the top decile (0.1 per 0.1) * 0.5
    np.testing.assert_allclose(got, [0.0, 0.25, 1.0, 1.5])
    constant = fit_norm(np.zeros((50, 1)), "rank")
    assert rank_normalise(np.array([[0.0]]), constant.quantiles)[0, 0] == 0.0
    assert rank_normalise(np.array([[1e-3]]), constant.quantiles)[0, 0] > 1.0


def test_digest_depends_on_files_and_hashes_in_order() -> None:
    a = members_digest([("m0", "aa"), ("m1", "bb")])
    assert a != members_digest([("m1", "bb"), ("m0", "aa")]) and a != members_digest([("m0", "aa"), ("m1", "bc")])
    assert a == hashlib.sha256(b"m0\0aa\nm1\0bb\n").hexdigest()


# -- a real ensemble from the shipped default model (TFLite, no TensorFlow) -----------------------------------------


def tail_one(model: LoadedModel) -> LoadedModel:
    """The single model scored as its ensemble members are: last step, no per-feature cap."""
    return replace(model, scorer=Scorer(replace(model.scorer.spec, tail=1, error_cap=None), model.scorer.predictor))


@pytest.fixture
def ensemble(default_bundle: Path, tmp_path: Path) -> Path:
    """Two members built from the default dense model: weights 0.25/0.75, z scales 1 and 2 per feature."""
    meta = json.loads((default_bundle / "bundle.json").read_text())
    model = (default_bundle / "model.tflite").read_bytes()
    n = len(meta["features"])
    doc = {k: meta[k] for k in ("model_id", "created", "features", "scaler", "feature_thresholds", "threshold")}
    doc.update(architecture="ensemble", kind="autoencoder", window=meta["window"], score={"tail": 1})
    members = [
        (
            {
                "architecture": "dense",
                "kind": "autoencoder",
                "window": meta["window"],
                "tail": 1,
                "weight": w,
                "norm": {"method": "z", "std": [s] * n},
            },
            model,
        )
        for w, s in ((0.25, 1.0), (0.75, 2.0))
    ]
    return write_ensemble(tmp_path / "ens", members, doc)


def test_ensemble_loads_and_scores_through_the_scorer(ensemble: Path, default_bundle: Path) -> None:
    single, ens = tail_one(load_model(default_bundle)), load_model(ensemble)
    b = ens.bundle
    assert b.architecture == "ensemble" and len(b.members) == 2 and ens.runtime
    assert [m.file for m in b.members] == ["member-0-dense.tflite", "member-1-dense.tflite"]
    assert b.sha256 == members_digest(b.members) == b.meta["model"]["sha256"]
    x = np.random.default_rng(1).random((60, len(b.features)))
    e = single.scorer.errors(np.lib.stride_tricks.sliding_window_view(x, b.window, axis=0).transpose(0, 2, 1))
    s1, s2 = single.scorer.score_series(x), ens.scorer.score_series(x)
    # same model twice: 0.25 e / 1 + 0.75 e / 2 = 0.625 e
    np.testing.assert_allclose(s2.feature_errors[b.window - 1 :], 0.625 * e, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(s2.raw_error[b.window - 1 :], 0.625 * s1.raw_error[b.window - 1 :], rtol=1e-5)
    assert np.isnan(s2.score[: b.window - 1]).all()


def _rewrite(path: Path, fn) -> None:  # a doc mutator
    doc = json.loads((path / "bundle.json").read_text())
    fn(doc)
    (path / "bundle.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["members"][1].update(sha256="0" * 64), "member-1-dense.tflite: sha256 mismatch"),
        (lambda d: d["members"][0].update(file="../model.tflite"), "resolves outside the bundle directory"),
        (lambda d: d["members"][1].update(file="member-0-dense.tflite"), "listed twice"),
        (lambda d: d["members"][0].update(weight=0), "weight must be a finite number > 0"),
        (lambda d: d["members"][0].update(window=31), "window must be in 1..30"),
        (lambda d: d["members"][0]["norm"].update(std=[1.0] * 3), r"norm\.std' must be a list of 38 numbers"),
        (lambda d: d["members"][0]["norm"].update(method="minmax"), "norm.method must be one of z, rank"),
        (lambda d: d["members"][0]["norm"].update(scope="window"), "norm.scope must be 'feature' or 'member'"),
        (lambda d: d["members"][0].update(architecture="ensemble"), "cannot be a member"),
        (lambda d: d.update(members=[]), "'members' must be a list of 1..8"),
        (lambda d: d.update(window=40), "window 40 must equal the longest member window"),
        (lambda d: d["score"].update(tail=2), "scored as kind 'autoencoder' with score.tail 1"),
        (lambda d: d["model"].update(sha256="f" * 64), "model.sha256 is not the digest of the members"),
    ],
)
def test_bad_ensembles_are_refused(ensemble: Path, mutate, message: str) -> None:
    _rewrite(ensemble, mutate)
    with pytest.raises(BundleError, match=message):
        load_bundle(ensemble)


def test_missing_and_symlinked_members_are_refused(ensemble: Path, tmp_path: Path) -> None:
    victim = ensemble / "member-1-dense.tflite"
    outside = tmp_path / "elsewhere.tflite"
    shutil.copy(victim, outside)
    victim.unlink()
    with pytest.raises(BundleError, match="member-1-dense.tflite: member model file missing"):
        load_bundle(ensemble)
    os.symlink(outside, victim)
    with pytest.raises(BundleError, match="resolves outside the bundle directory"):
        load_bundle(ensemble)


def test_member_tensors_must_match_the_declared_member(ensemble: Path) -> None:
    _rewrite(ensemble, lambda d: d["members"][1].update(kind="forecaster"))  # an autoencoder declared a forecaster
    with pytest.raises(BundleError, match="member-1-dense.tflite: tensors .* do not match the member"):
        load_model(ensemble)


def test_single_model_bundles_are_unchanged(default_bundle: Path) -> None:
    b = load_bundle(default_bundle)
    assert b.members == () and b.model_path.name == "model.tflite"
    doc = json.loads((default_bundle / "bundle.json").read_text())
    bad = copy.deepcopy(doc)
    del bad["model"]["file"]
    (default_bundle / "bundle.json").write_text(json.dumps(bad))
    with pytest.raises(BundleError, match="missing field 'model.file'"):
        load_bundle(default_bundle)


def test_a_rebuilt_scorer_with_another_scaler_runs_the_ensemble(ensemble: Path, default_bundle: Path) -> None:
    """Host calibration re-creates ``Scorer(replace(spec, scaler=host), scorer.predictor)``: that path works too."""
    single, ens = tail_one(load_model(default_bundle)), load_model(ensemble)
    n = len(ens.bundle.features)
    host = Scaler(np.zeros(n), np.full(n, 2.0), 2.0)
    x = np.random.default_rng(2).random((5, ens.bundle.window, n)) * 2
    want = Scorer(replace(single.scorer.spec, scaler=host), single.scorer.predictor).errors(x)
    got = Scorer(replace(ens.scorer.spec, scaler=host), ens.scorer.predictor).errors(x)
    np.testing.assert_allclose(got, 0.625 * want, rtol=1e-5, atol=1e-12)


def test_replay_and_score_run_the_ensemble(ensemble: Path, agent_process: StartAgent, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    rows = tmp_path / "rows.txt"
    test = load_machine(DEMO_DATA, "machine-1-6", splits=("test",)).test
    rows.write_text(format_rows(test[4600:4700]))
    assert agent_main(["score", "--bundle", str(ensemble), "--input", str(rows), "--output", str(out)]) == 0
    table = list(csv.reader(out.open()))
    assert len(table) == 101 and table[30][0] and not table[29][0]  # window 30: the 30th row is the first score

    agent = agent_process(
        [
            "replay",
            "--data",
            str(DEMO_DATA),
            "--machine",
            "machine-1-6",
            "--speed",
            "200",
            "--start",
            "4600",
            "--end",
            "4700",
            "--bundle",
            str(ensemble),
        ]
    )
    agent.wait_ready("/healthz", timeout=60)
    status, body = http_get(agent.url + "/metrics")
    text = body.decode()
    info = re.search(r"^host_anomaly_model_info\{(.*)\} 1\.0$", text, re.M).group(1)
    digest = load_bundle(ensemble).sha256
    assert 'architecture="ensemble"' in info and f'sha256="{digest}"' in info
    assert re.search(r"^host_anomaly_score [0-9.e+-]+$", text, re.M)
