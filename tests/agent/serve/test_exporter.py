"""The custom collector: every family from a snapshot, top-k series come and go."""

from collections.abc import Iterable

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from agent.score.scoring import WindowScore
from agent.score.snapshot import ModelInfo, Snapshot
from agent.serve.exporter import AnomalyCollector, SnapshotCache

NAMES = ("cpu_r", "load_1", "mem_u")
INFO = ModelInfo("m1", "dense", 30, "ab" * 32, NAMES)


def registry_for(snap: Snapshot, k: int = 2) -> tuple[CollectorRegistry, list[Snapshot]]:
    holder = [snap]
    reg = CollectorRegistry(auto_describe=False)
    reg.register(AnomalyCollector(lambda: holder[0], top_k=k))
    return reg, holder


def result(contrib: list[float], score: float = 1.5) -> WindowScore:
    c = np.array(contrib)
    return WindowScore(score=score, raw_error=score * 0.1, feature_scores=c * 3, contributions=c)


def test_families_and_values() -> None:
    snap = Snapshot(
        model=INFO,
        result=result([0.6, 0.3, 0.1]),
        scored_at=1000.0,
        fill_ratio=1.0,
        replay_label=1,
        collector_errors={"snmp": 2},
    )
    reg, _ = registry_for(snap)
    g = reg.get_sample_value
    assert g("host_anomaly_score") == 1.5
    assert g("host_anomaly_anomalous") == 1.0
    assert g("host_anomaly_feature_score", {"feature": "load_1"}) == pytest.approx(0.9)
    assert g("host_anomaly_feature_contribution_ratio", {"feature": "mem_u"}) == 0.1
    assert g("host_anomaly_top_contributor", {"rank": "1", "feature": "cpu_r"}) == 0.6
    assert g("host_anomaly_top_contributor", {"rank": "2", "feature": "load_1"}) == 0.3
    assert g("host_anomaly_top_contributor", {"rank": "3", "feature": "mem_u"}) is None
    assert (
        g("host_anomaly_model_info", {"model_id": "m1", "architecture": "dense", "window": "30", "sha256": "ab" * 32})
        == 1.0
    )
    assert g("host_anomaly_last_score_timestamp_seconds") == 1000.0
    assert g("host_anomaly_window_fill_ratio") == 1.0
    assert g("host_anomaly_replay_label") == 1.0
    assert g("host_anomaly_collector_errors_total", {"source": "snmp"}) == 2.0
    assert g("host_anomaly_model_reloads_total", {"result": "rejected"}) == 0.0


def test_feature_leaving_top_k_leaves_output() -> None:
    reg, holder = registry_for(Snapshot(model=INFO, result=result([0.6, 0.3, 0.1])))
    assert b'feature="load_1",rank="2"' in generate_latest(reg)
    holder[0] = Snapshot(model=INFO, result=result([0.2, 0.1, 0.7]))
    text = generate_latest(reg).decode()
    assert 'host_anomaly_top_contributor{feature="load_1"' not in text
    assert 'host_anomaly_top_contributor{feature="mem_u",rank="1"} 0.7' in text


def test_warming_up_exports_no_score() -> None:
    reg, _ = registry_for(Snapshot(model=INFO, fill_ratio=0.5))
    assert reg.get_sample_value("host_anomaly_score") is None
    assert reg.get_sample_value("host_anomaly_window_fill_ratio") == 0.5
    assert reg.get_sample_value("host_anomaly_replay_label") is None


def test_snapshot_cache_builds_families_once_per_snapshot() -> None:
    calls = []

    class Counting(AnomalyCollector):
        def families(self, snap: Snapshot) -> Iterable[Metric]:
            calls.append(snap)
            return super().families(snap)

    holder = [Snapshot(model=INFO, result=result([0.6, 0.3, 0.1]))]
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCache(Counting(lambda: holder[0]), lambda: holder[0]))
    first = generate_latest(reg)
    assert generate_latest(reg) == first and len(calls) == 1  # a second scrape reuses the families
    holder[0] = Snapshot(model=INFO, result=result([0.2, 0.1, 0.7]))
    assert b'host_anomaly_top_contributor{feature="mem_u",rank="1"} 0.7' in generate_latest(reg)
    assert len(calls) == 2


def test_per_feature_families_can_be_dropped() -> None:
    """exporter.per_feature_metrics: false keeps score, anomalous, top-k and health, drops 2 series per feature."""
    snap = Snapshot(model=INFO, result=result([0.6, 0.3, 0.1]), scored_at=1000.0, fill_ratio=1.0)
    reg = CollectorRegistry(auto_describe=False)
    reg.register(AnomalyCollector(lambda: snap, top_k=2, per_feature=False))
    g = reg.get_sample_value
    assert g("host_anomaly_score") == 1.5 and g("host_anomaly_anomalous") == 1.0
    assert g("host_anomaly_top_contributor", {"rank": "1", "feature": "cpu_r"}) == 0.6
    assert g("host_anomaly_feature_score", {"feature": "load_1"}) is None
    assert g("host_anomaly_feature_contribution_ratio", {"feature": "mem_u"}) is None
    assert g("host_anomaly_model_reloads_total", {"result": "unreachable"}) == 0.0
    full, _ = registry_for(snap)
    lines = [x for x in generate_latest(full).decode().splitlines() if x and not x.startswith("#")]
    lean = [x for x in generate_latest(reg).decode().splitlines() if x and not x.startswith("#")]
    assert len(lines) - len(lean) == 2 * len(NAMES)
