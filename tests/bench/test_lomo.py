"""bench.lomo: the summary and target helpers on hand-made figures, and one ``--quick`` run end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import lomo

ROOT = Path(__file__).resolve().parents[2]


def _host(f1: float, ap: float, hr: float) -> dict[str, float | dict[str, float]]:
    return {"best_f1": {"f1": f1}, "auc_pr": ap, "hitrate@150": hr}


def test_summary_spread_and_min_margin() -> None:
    rows = {
        "a": {"default": _host(0.8, 0.7, 0.6), "pca": _host(0.6, 0.6, 0.6)},
        "b": {"default": _host(0.5, 0.5, 0.4), "pca": _host(0.6, 0.4, 0.5)},
    }
    s = lomo.per_host_summary(rows)
    assert s["bestF1"]["default"]["mean"] == pytest.approx(0.65)
    assert s["bestF1"]["margin"]["min"] == pytest.approx(-0.1) and s["bestF1"]["worst_host"] == "b"
    assert s["AUC-PR"]["margin"]["min"] == pytest.approx(0.1) and s["HR@150"]["worst_host"] == "b"
    assert s["bestF1"]["default"]["std"] == pytest.approx(0.15)


def test_targets_need_every_machine_and_the_pager_budget() -> None:
    per = {
        "m1": {"default": _host(0.70, 0.70, 0.6), "pca": _host(0.60, 0.60, 0.6)},
        "m2": {"default": _host(0.70, 0.70, 0.6), "pca": _host(0.68, 0.60, 0.6)},
    }
    live = {"m1": {"fleet": {"all": {"false_alerts_per_day": 0.1, "incident_recall": 0.8}}}}
    lines = lomo.targets(per, live, ["m1", "m2"])
    assert lines[0].startswith("PASS m1") and lines[1].startswith("FAIL m2") and lines[2].startswith("PASS m1 live")


def test_quick_run_writes_the_document(tmp_path: Path) -> None:
    out = tmp_path / "lomo.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.lomo", "--quick", "--out", str(out), "--cache", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
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
    assert "== (a) per host" in proc.stdout and "== (b) live path" in proc.stdout and "wall time" in proc.stdout
