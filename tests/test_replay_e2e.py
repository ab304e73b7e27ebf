"""End to end: the agent replays SMD data with the shipped model; /metrics is scraped over HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from support import DEMO_DATA, StartAgent, families, http_get

CONTRACT = {
    "host_anomaly_score": "gauge",
    "host_anomaly_anomalous": "gauge",
    "host_anomaly_feature_score": "gauge",
    "host_anomaly_feature_contribution_ratio": "gauge",
    "host_anomaly_top_contributor": "gauge",
    "host_anomaly_model_info": "gauge",
    "host_anomaly_last_score_timestamp_seconds": "gauge",
    "host_anomaly_scoring_duration_seconds": "histogram",
    "host_anomaly_window_fill_ratio": "gauge",
    "host_anomaly_collector_errors": "counter",
    "host_anomaly_model_reloads": "counter",
    "host_anomaly_replay_label": "gauge",
}


def scrape(url: str) -> dict[str, object]:
    status, body = http_get(url + "/metrics")
    assert status == 200
    return families(body)


def test_replay_serves_every_family_and_scores_anomalies_higher(
    agent_process: StartAgent, default_bundle: Path
) -> None:
    # Rows 4300..5400 of machine-1-6 hold the long labelled anomaly 4647..5044.
    agent = agent_process(
        [
            "replay",
            "--data",
            str(DEMO_DATA),
            "--machine",
            "machine-1-6",
            "--speed",
            "250",
            "--start",
            "4300",
            "--end",
            "5400",
            "--bundle",
            str(default_bundle),
            "--exit-at-end",
        ]
    )
    agent.wait_ready("/healthz", timeout=60)
    families = scrape(agent.url)
    for name, typ in CONTRACT.items():
        assert name in families, f"{name} missing from /metrics"
        assert families[name].type == typ, (name, families[name].type)
    bundle = json.loads((default_bundle / "bundle.json").read_text())
    n = len(bundle["features"])
    fs = families["host_anomaly_feature_score"].samples
    assert len(fs) == n and {s.labels["feature"] for s in fs} == set(bundle["features"])
    shares = [s.value for s in families["host_anomaly_feature_contribution_ratio"].samples]
    assert len(shares) == n and abs(sum(shares) - 1.0) < 1e-6
    top = families["host_anomaly_top_contributor"].samples
    assert 1 <= len(top) <= 5 and sorted(int(s.labels["rank"]) for s in top) == list(range(1, len(top) + 1))
    info = families["host_anomaly_model_info"].samples[0].labels
    assert info["sha256"] == bundle["model"]["sha256"] and info["window"] == str(bundle["window"])

    scores: dict[int, list[float]] = {0: [], 1: []}
    deadline = time.monotonic() + 60
    while agent.proc.poll() is None and time.monotonic() < deadline:
        try:
            f = scrape(agent.url)
        except OSError:
            break
        score = f["host_anomaly_score"].samples[0].value
        label = int(f["host_anomaly_replay_label"].samples[0].value)
        scores[label].append(score)
        time.sleep(0.03)
    assert len(scores[1]) >= 20 and len(scores[0]) >= 20, {k: len(v) for k, v in scores.items()}
    assert np.mean(scores[1]) > np.mean(scores[0]), (np.mean(scores[1]), np.mean(scores[0]))
    assert agent.proc.wait(timeout=30) == 0, "--exit-at-end should stop cleanly with status 0"


def test_healthz_and_model_endpoints(agent_process: StartAgent, default_bundle: Path) -> None:
    agent = agent_process(
        [
            "replay",
            "--data",
            str(DEMO_DATA),
            "--machine",
            "machine-1-6",
            "--speed",
            "200",
            "--bundle",
            str(default_bundle),
        ]
    )
    agent.wait_ready("/", timeout=60)
    status, body = http_get(agent.url + "/model")
    doc = json.loads(body)
    assert status == 200 and doc["bundle"]["model_id"] and doc["runtime"] in ("ai_edge_litert", "tflite_runtime")
    agent.wait_ready("/healthz", timeout=30)
    health = json.loads(http_get(agent.url + "/healthz")[1])
    assert health["status"] == "ok" and health["window_fill_ratio"] == 1.0
    assert http_get(agent.url + "/nope")[0] == 404
    assert b"/metrics" in http_get(agent.url + "/")[1]
    assert agent.stop() == 0, "SIGTERM should stop cleanly with status 0"
