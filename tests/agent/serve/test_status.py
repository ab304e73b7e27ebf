"""/healthz and /model documents: pure functions of snapshot, model, calibrator and clock."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import DEFAULT_BUNDLE

from agent.buildinfo import version
from agent.calibrate.calibrator import Calibrator
from agent.model.loaded import LoadedModel, load_model
from agent.score.scoring import WindowScore
from agent.score.snapshot import Snapshot
from agent.serve.status import by_feature, health_doc, model_doc

SCORE = WindowScore(score=0.5, raw_error=0.05, feature_scores=np.zeros(3), contributions=np.zeros(3))


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    return load_model(str(DEFAULT_BUNDLE))


@pytest.mark.parametrize(
    ("snap", "now", "status"),
    [
        (Snapshot(), 100.0, "warming_up"),
        (Snapshot(result=SCORE, scored_at=100.0), 100.0 + 180.0, "ok"),  # 3 intervals of 60 s: still fresh
        (Snapshot(result=SCORE, scored_at=100.0), 100.0 + 181.0, "stale"),
    ],
)
def test_health_states(model: LoadedModel, snap: Snapshot, now: float, status: str) -> None:
    ok, doc = health_doc(snap, model, None, 60.0, now)
    assert (ok, doc["status"]) == (status == "ok", status)
    assert doc["max_age_seconds"] == 180.0 and doc["model_id"] == model.bundle.model_id


def test_health_floor_of_two_seconds_and_calibrating(model: LoadedModel, tmp_path: Path) -> None:
    ok, doc = health_doc(Snapshot(result=SCORE, scored_at=10.0), model, None, 0.01, 11.5)
    assert ok and doc["max_age_seconds"] == 2.0 and doc["last_score_age_seconds"] == 1.5
    b = model.bundle
    cal = Calibrator(b.features, b.window, 50, 0.01, tmp_path / "cal.json", b.sha256)
    ok, doc = health_doc(Snapshot(result=SCORE, scored_at=10.0), model, cal, 60.0, 10.0)
    assert not ok and doc["status"] == "calibrating"


def test_model_doc(model: LoadedModel, tmp_path: Path) -> None:
    doc = model_doc(model, None, 123.0, {"accepted": 1, "rejected": 0})
    assert doc["sha256"] == model.bundle.sha256 and doc["loaded_at"] == "1970-01-01T00:02:03Z"
    assert doc["calibration"] == {"enabled": False, "state": "off"} and doc["reloads"] == {"accepted": 1, "rejected": 0}
    assert (doc["model_id"], doc["features"]) == (model.bundle.model_id, list(model.bundle.features))
    b = model.bundle
    cal = Calibrator(b.features, b.window, 50, 0.01, tmp_path / "cal.json", b.sha256)
    c = model_doc(model, cal, 0.0, {})["calibration"]
    assert c["enabled"] and c["progress"] == 0.0 and c["result"] is None and c["target_rows"] == cal.target_rows
    assert (c["state"], c["rows"]) == ("calibrating", 0)


def test_model_doc_pairs_every_per_feature_value_with_its_name(model: LoadedModel, tmp_path: Path) -> None:
    b = model.bundle
    names = list(b.features)
    bundle = model_doc(model, None, 0.0, {})["bundle"]
    for key in ("min", "max") if b.scaler.method == "minmax" else ("center", "scale"):
        assert list(bundle["scaler"][key]) == names
        assert list(bundle["scaler"][key].values()) == b.meta["scaler"][key]
    assert bundle["feature_thresholds"]["values"] == dict(zip(names, b.meta["feature_thresholds"]["values"]))
    assert bundle["training"] == b.meta["training"]  # not per feature: left as it is
    cal = Calibrator(b.features, b.window, 50, 0.01, tmp_path / "cal.json", b.sha256, clock=lambda: 1764087605.0)
    rng = np.random.default_rng(0)
    for _ in range(cal.target_rows):
        cal.observe(rng.uniform(0, 1, len(names)))
    cal.calibrate(lambda scaler, w: rng.uniform(0, 0.01, (len(w), len(names))))
    c = model_doc(model, cal, 1764087600.5, {})
    assert c["loaded_at"] == "2025-11-25T16:20:00Z"
    r = c["calibration"]["result"]
    assert (c["calibration"]["state"], c["calibration"]["rows"]) == ("calibrated", cal.target_rows)
    assert r["calibrated_at"] == "2025-11-25T16:20:05Z"
    assert list(r["scaler"]["min"]) == names and list(r["scaler"]["max"]) == names
    assert r["feature_thresholds"] == dict(zip(names, cal.result.feature_thresholds.tolist()))
    json.dumps(c, allow_nan=False)  # strict JSON


def test_by_feature_names_lists_and_quantile_rows() -> None:
    names = ("a", "b")
    doc = {"std": [1.0, 2.0], "quantiles": [[0, 1], [2, 3], [4, 5]], "other": [1, 2, 3], "names": ["x", "y"]}
    assert by_feature(doc, names) == {
        "std": {"a": 1.0, "b": 2.0},
        "quantiles": {"a": [0, 2, 4], "b": [1, 3, 5]},
        "other": [1, 2, 3],
        "names": ["x", "y"],
    }


def test_health_doc_has_score_contributors_errors_and_build(model: LoadedModel) -> None:
    n = len(model.bundle.features)
    shares = np.zeros(n)
    shares[[3, 0]] = [0.7, 0.3]
    fs = np.arange(n, dtype=float)
    res = WindowScore(score=2.5, raw_error=0.1, feature_scores=fs, contributions=shares)
    snap = Snapshot(result=res, scored_at=1764087600.0, collector_errors={"snmp": 2, "cpu": 0}, replay_label=1)
    ok, doc = health_doc(snap, model, None, 60.0, 1764087612.0)
    names = model.bundle.features
    assert ok and doc["score"] == 2.5 and doc["anomalous"] is True
    assert doc["last_score_at"] == "2025-11-25T16:20:00Z" and doc["last_score_age_seconds"] == 12.0
    assert doc["top_contributors"] == [
        {"feature": names[3], "share": 0.7, "feature_score": 3.0},
        {"feature": names[0], "share": 0.3, "feature_score": 0.0},
    ]
    assert doc["collector_errors"] == {"snmp": 2, "cpu": 0} and doc["calibration_state"] == "off"
    assert doc["version"] == version() and doc["revision"] and doc["replay_label"] == 1
    ok, doc = health_doc(Snapshot(), model, None, 60.0, 0.0)
    assert (doc["score"], doc["last_score_at"], doc["top_contributors"]) == (None, None, [])
