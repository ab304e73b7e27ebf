"""/healthz and /model documents: pure functions of snapshot, model, calibrator and clock."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.calibration import Calibrator
from agent.model import LoadedModel, load_model
from agent.scoring import WindowScore
from agent.snapshot import Snapshot
from agent.status import health_doc, model_doc
from support import DEFAULT_BUNDLE

SCORE = WindowScore(score=0.5, raw_error=0.05, feature_scores=np.zeros(3), contributions=np.zeros(3))


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    return load_model(str(DEFAULT_BUNDLE))


@pytest.mark.parametrize(("snap", "now", "status"), [
    (Snapshot(), 100.0, "warming_up"),
    (Snapshot(result=SCORE, scored_at=100.0), 100.0 + 180.0, "ok"),  # 3 intervals of 60 s: still fresh
    (Snapshot(result=SCORE, scored_at=100.0), 100.0 + 181.0, "stale"),
])
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
    assert doc["sha256"] == model.bundle.sha256 and doc["loaded_at"] == 123.0
    assert doc["calibration"] == {"enabled": False} and doc["reloads"] == {"accepted": 1, "rejected": 0}
    b = model.bundle
    cal = Calibrator(b.features, b.window, 50, 0.01, tmp_path / "cal.json", b.sha256)
    c = model_doc(model, cal, 0.0, {})["calibration"]
    assert c["enabled"] and c["progress"] == 0.0 and c["result"] is None and c["target_rows"] == cal.target_rows
