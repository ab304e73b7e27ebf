"""`anomaly-train fit --history`: a host-specific bundle from the agent's own recorded history."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from agent.calibrate.recipe import needs_calibration
from agent.collect.features import SMD38_NAMES
from agent.history.writer import HistoryWriter
from agent.model.loaded import load_model
from training.cli import main
from training.synth import generate


def test_fit_from_recorded_history_with_a_gap(tmp_path: Path) -> None:
    data = generate(train_rows=400, test_rows=200, n_anomalies=0, seed=3)
    hist = tmp_path / "history"
    writer = HistoryWriter(hist, SMD38_NAMES, interval=60.0)
    t = 1_700_000_000.0
    for i, row in enumerate(data.train):
        if 200 <= i < 210:  # agent down for 10 minutes: a long gap splits the series
            t += 60
            continue
        values = row.copy()
        if i % 50 == 7:
            values[3] = np.nan  # an unreadable source: forward-filled
        assert writer.append(values, t)
        t += 60
    writer.close()

    out = tmp_path / "bundle"
    assert (
        main(["fit", "--history", str(hist), "--out", str(out), "--arch", "dense", "--epochs", "1", "--window", "10"])
        == 0
    )
    doc = json.loads((out / "bundle.json").read_text())
    assert doc["training"]["host_specific"] is True
    assert doc["training"]["segments"] == 2 and doc["training"]["rows"] == 390
    assert "--history" in doc["training"]["command"]
    assert needs_calibration(doc)  # z-score: the host still calibrates and recalibrates it daily
    model = load_model(out)
    assert model.bundle.features == SMD38_NAMES
    assert np.isfinite(model.scorer.score_series(data.test).score[9:]).all()
