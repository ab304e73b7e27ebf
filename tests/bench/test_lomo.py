"""bench.lomo: one ``--quick`` run end to end (its helpers: test_lomo_tables.py, test_lomo_live.py)."""

from __future__ import annotations

import json
from pathlib import Path

from support import run_module


def test_quick_run_writes_the_document(tmp_path: Path) -> None:
    out = tmp_path / "lomo.json"
    proc = run_module("bench.lomo", "--quick", "--out", str(out), "--cache", str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["kind"] == "bench.lomo" and doc["settings"]["quick"] is True
    assert set(doc["per_host"]) == set(doc["live"]) == {"synth-1", "synth-2"}
    for r in doc["per_host"].values():
        assert 0 <= r["default"]["best_f1"]["f1"] <= 1 and 0 <= r["pca"]["auc_pr"] <= 1
    for r in doc["live"].values():
        a = r["fleet"]["all"]
        assert r["fleet"]["scored"] > 0 and a["incidents"] == 3 and a["false_alerts_per_day"] is not None
    assert doc["fleets"]["synth-1"]["machines"] == ["synth-2"]
    for r in doc["live"].values():  # the per-host bundle through the same backtest, figures on the test split
        assert set(r) == {"per-host", "fleet"} and r["per-host"]["test_part"]["incidents"] == 3
        assert 0 <= r["per-host"]["test_pointwise"]["auc_pr"] <= 1 and r["fleet"]["calibration_seconds"] > 0
    comp = doc["comparison"]["all"]
    assert set(comp["hosts"]) == {"synth-1", "synth-2"} and set(comp["worst"]) == {"per-host", "fleet"}
    assert doc["cost"]["per-host"]["bundles"] == 2 and doc["cost"]["per-host"]["train_seconds"] > 0
    assert "== (a) per host" in proc.stdout and "== (b) live path" in proc.stdout
    assert "TEST split only" in proc.stdout and "== cost beside quality" in proc.stdout and "wall time" in proc.stdout
