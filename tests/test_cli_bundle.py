"""Offline scoring and bad bundles through the real CLI; hot reload keeps the old model when the new one is bad."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from support import AGENT, DEMO_DATA, ROOT, StartAgent, http_get, sample_value, wait_for

from agent.history import smd
from agent.model.loaded import load_model


def run_agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AGENT, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def rewrite(bundle: Path, **changes: object) -> None:
    doc = json.loads((bundle / "bundle.json").read_text())
    doc.update(changes)
    (bundle / "bundle.json").write_text(json.dumps(doc))


def test_score_writes_one_row_per_input_row(tmp_path: Path, default_bundle: Path) -> None:
    x = smd.load_rows(DEMO_DATA / "test" / "machine-1-6.txt")[:300]
    inp = tmp_path / "in.txt"
    inp.write_text(smd.format_rows(x))
    out = tmp_path / "out.csv"
    proc = run_agent("score", "--bundle", str(default_bundle), "--input", str(inp), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(out.open()))
    model = load_model(default_bundle)
    w = model.bundle.window
    assert rows[0] == ["score", "anomalous", *model.bundle.features]
    assert len(rows) == 1 + 300
    assert all(c == "" for c in rows[w - 1])  # row w-2 (0-indexed data) has no full window
    assert rows[w][0] != ""
    # the CSV holds exactly what the daemon's scorer computes
    expected = model.scorer.score_series(smd.load_rows(inp))
    got = np.array([float(r[0]) for r in rows[w:]])
    np.testing.assert_allclose(got, expected.score[w - 1 :], rtol=1e-5)
    assert {r[1] for r in rows[w:]} <= {"0", "1"}


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "damage, message",
    [
        ("hash", "sha256 mismatch"),
        ("features", "does not match bundle window/features"),
        ("truncated", "cannot load TFLite model"),
        ("truncated-unhashed", "sha256 mismatch"),
    ],
)
def test_bad_bundle_is_refused_with_a_clear_error(default_bundle: Path, damage: str, message: str) -> None:
    b = default_bundle
    doc = json.loads((b / "bundle.json").read_text())
    model = b / "model.tflite"
    if damage == "hash":
        rewrite(b, model={**doc["model"], "sha256": "0" * 64})
    elif damage == "features":
        n = len(doc["features"]) - 1
        rewrite(
            b,
            features=doc["features"][:n],
            scaler={k: v[:n] if isinstance(v, list) else v for k, v in doc["scaler"].items()},
            feature_thresholds={**doc["feature_thresholds"], "values": doc["feature_thresholds"]["values"][:n]},
        )
    else:
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
        if damage == "truncated":
            rewrite(b, model={**doc["model"], "sha256": _hash(model)})
    proc = run_agent(
        "score", "--bundle", str(b), "--input", str(DEMO_DATA / "test" / "machine-1-6.txt"), "--output", "/dev/null"
    )
    assert proc.returncode == 2
    assert "bad model bundle" in proc.stderr and message in proc.stderr, proc.stderr


def _metric(url: str, name: str, **labels: str) -> float | None:
    return sample_value(http_get(url + "/metrics")[1], name, **labels)


def test_sighup_rejects_bad_bundle_and_keeps_serving(agent_process: StartAgent, default_bundle: Path) -> None:
    agent = agent_process(
        [
            "replay",
            "--data",
            str(DEMO_DATA),
            "--machine",
            "machine-1-6",
            "--speed",
            "100",
            "--loop",
            "--bundle",
            str(default_bundle),
        ]
    )
    agent.wait_ready("/healthz", timeout=60)
    old_sha = json.loads(http_get(agent.url + "/model")[1])["sha256"]
    good = (default_bundle / "model.tflite").read_bytes()
    (default_bundle / "model.tflite").write_bytes(good[:1000])  # broken: hash mismatch
    os.kill(agent.proc.pid, signal.SIGHUP)
    wait_for(lambda: _metric(agent.url, "host_anomaly_model_reloads_total", result="rejected") == 1.0)
    assert json.loads(http_get(agent.url + "/model")[1])["sha256"] == old_sha
    before = _metric(agent.url, "host_anomaly_last_score_timestamp_seconds")
    wait_for(lambda: (_metric(agent.url, "host_anomaly_last_score_timestamp_seconds") or 0) > (before or 0))
    (default_bundle / "model.tflite").write_bytes(good)
    os.kill(agent.proc.pid, signal.SIGHUP)
    wait_for(lambda: _metric(agent.url, "host_anomaly_model_reloads_total", result="accepted") == 1.0)
    assert http_get(agent.url + "/healthz")[0] == 200
    assert "rejected" in agent.log.read_text()
