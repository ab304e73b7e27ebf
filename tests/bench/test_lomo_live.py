"""bench.lomo_live: point-wise figures of a live score and the cost read from bundle directories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import lomo_live as L


def test_pointwise_skips_unscored_rows() -> None:
    score = np.array([np.nan, 0.1, 0.9, 0.2, 0.8])
    labels = np.array([1, 0, 1, 0, 0])
    r = L.pointwise(score, labels)
    assert r["rows"] == 4 and r["auc_pr"] == pytest.approx(1.0) and r["best_f1"]["f1"] == pytest.approx(1.0)
    assert L.pointwise(score, np.zeros(5, np.int64))["auc_pr"] is None  # no anomaly: undefined


def _bundle(path: Path, seconds: float | None, size: int) -> Path:
    path.mkdir()
    training = {} if seconds is None else {"seconds": seconds}
    (path / "bundle.json").write_text(json.dumps({"training": training}))
    (path / "model.tflite").write_bytes(b"x" * size)
    return path


def test_cost_means_over_distinct_bundles(tmp_path: Path) -> None:
    a, b = _bundle(tmp_path / "a", 10.0, 100), _bundle(tmp_path / "b", 30.0, 100)
    fleet = _bundle(tmp_path / "fleet", None, 100)
    bundles = {"per-host": {"h1": a, "h2": b}, "fleet": {"h1": fleet, "h2": fleet}}
    lv = {h: {m: {"calibration_seconds": s} for m in bundles} for h, s in (("h1", 1.0), ("h2", 2.0))}
    c = L.cost(bundles, lv)
    assert c["per-host"]["train_seconds"] == 20.0 and c["per-host"]["bundles"] == 2
    assert c["per-host"]["bundles_per_round"].startswith("N")
    assert c["fleet"]["bundles"] == 1 and c["fleet"]["train_seconds"] is None
    assert c["fleet"]["train_seconds_source"].startswith("not recorded")
    assert c["fleet"]["calibration_seconds"] == 1.5 and c["fleet"]["bundle_bytes"] > 100
