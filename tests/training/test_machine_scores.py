"""training.machine_scores: one model's figures on one machine (hand-made scores), its detector and row interval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.history.smd import Machine
from training import machine_scores as ms
from training.bundle_detector import BundleDetector


def test_random_scores_machine_metrics() -> None:
    rng = np.random.default_rng(0)
    labels = np.zeros(3000, dtype=int)
    labels[500:800] = labels[2000:2300] = 1
    s = ms.ModelScores(rng.uniform(size=3000), None, 0.99, "quantile", {})
    r = ms.machine_metrics(s, labels, [frozenset()] * 3000, np.ones(3000, bool), vus_max_buffer=5)
    assert r["pa_f1_inflated"]["f1"] > 0.6 > r["best_f1"]["f1"]
    assert r["auc_pr"] < 0.3
    assert r["hitrate@100"] is None


def test_alert_level_figures_use_the_shipped_threshold_and_the_mask() -> None:
    labels = np.zeros(2880, dtype=int)
    labels[1000:1010] = 1  # one incident, alerted 4 samples after its start
    score = np.zeros(2880)
    score[1000:1010] = 3.0  # above a baseline's threshold of 2
    score[100:105] = 3.0  # on rows outside the mask: unscored, so no alert
    score[200:205] = 3.0  # one false alert
    mask = np.ones(2880, bool)
    mask[:150] = False
    s = ms.ModelScores(score, None, 2.0, "pot", {})
    a = ms.machine_metrics(s, labels, [frozenset()] * 2880, mask, vus_max_buffer=2, interval_seconds=60.0)["alerts"]
    assert a["false_alerts"] == 1 and a["incidents_alerted"] == 1 and a["median_delay_samples"] == 4
    assert a["normal_days"] == pytest.approx((2880 - 150 - 10) / 1440)
    assert a["false_alerts_per_day"] == pytest.approx(1 / a["normal_days"])
    assert a["long_incident_recall"] == 1.0


def test_row_interval_reads_the_importers_sidecar(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    assert ms.row_interval(tmp_path, "m") == 60.0  # SMD: a row a minute
    (tmp_path / "train" / "m.json").write_text(json.dumps({"timestamps": {"step": 15}}))
    assert ms.row_interval(tmp_path, "m") == 15.0
    (tmp_path / "train" / "m.json").write_text(json.dumps({"timestamps": {"step": True}}))
    assert ms.row_interval(tmp_path, "m") == 60.0


def test_a_bundle_detector_records_the_data_dir_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "work" / "data" / "smd"
    data.mkdir(parents=True)
    m = Machine("m-1", train=np.zeros((10, 3)), test=None, labels=None, interpretation=None)
    monkeypatch.chdir(tmp_path / "work")
    det = ms.detector_for("dense", m, data, tmp_path / "bundles", 1, {})
    assert isinstance(det, BundleDetector)
    assert det.provenance["data_dir"] == "data/smd" and det.provenance["machine"] == "m-1"
