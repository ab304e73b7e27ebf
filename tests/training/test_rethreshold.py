"""`anomaly-train threshold`: best-F1 threshold on labelled validation rows, model untouched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from support import DEFAULT_BUNDLE, DEMO_DATA

from agent.model.loaded import load_model
from training import metrics
from training.cli import main


def test_best_f1_threshold_on_labelled_rows(tmp_path: Path) -> None:
    out = tmp_path / "b"
    assert (
        main(
            [
                "threshold",
                "--bundle",
                str(DEFAULT_BUNDLE),
                "--data",
                str(DEMO_DATA),
                "--machine",
                "machine-1-6",
                "--rows",
                ":6000",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    before = json.loads((DEFAULT_BUNDLE / "bundle.json").read_text())
    after = json.loads((out / "bundle.json").read_text())
    assert after["threshold"]["method"] == "best_f1"
    assert after["threshold"]["params"]["rows"] == [0, 6000]
    assert after["threshold"]["params"]["previous"]["value"] == before["threshold"]["value"]
    assert after["model"]["sha256"] == before["model"]["sha256"]
    assert after["feature_thresholds"] == before["feature_thresholds"]
    # the shipped flag rule (score > 1) now reproduces the best point-wise F1 on those rows
    model = load_model(out)
    m_test = np.loadtxt(DEMO_DATA / "test" / "machine-1-6.txt.gz", delimiter=",")[:6000]
    labels = np.loadtxt(DEMO_DATA / "test_label" / "machine-1-6.txt.gz")[:6000]
    s = model.scorer.score_series(m_test).score
    ok = np.isfinite(s)
    f1_at_1 = metrics.at_threshold(s[ok], labels[ok], 1.0)["f1"]
    assert abs(f1_at_1 - after["threshold"]["params"]["f1"]) < 1e-9
    shipped = s[ok] * after["threshold"]["value"] / before["threshold"]["value"]  # the POT-normalised score
    assert f1_at_1 >= metrics.at_threshold(shipped, labels[ok], 1.0)["f1"] - 1e-9
