"""The Grafana dashboard is well-formed and every query in it is valid PromQL.

PromQL syntax is checked cheaply with the real promtool: each expression
becomes a recording rule in a temporary rules file for ``promtool check
rules``. ``packaging_helpers.dashboard_queries`` is the single place that
extracts the expressions (with Grafana variables substituted), so an
end-to-end test can run the very same list against a live Prometheus.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from packaging_helpers import (
    EXPORTER_METRICS,
    GRAFANA_DASHBOARD,
    dashboard_queries,
    metric_names,
)


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(GRAFANA_DASHBOARD.read_text())


def panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_identity(dashboard: dict) -> None:
    assert dashboard["uid"] == "host-anomaly-exporter"
    assert dashboard["id"] is None, "an exported id breaks import into another Grafana"
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names == ["datasource", "job", "instance"]


def test_panels_use_the_datasource_variable(dashboard: dict) -> None:
    for panel in panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert 'job="$job"' in target["expr"], panel["title"]


def test_layout_has_unique_ids_and_no_overlap(dashboard: dict) -> None:
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_required_views_exist(dashboard: dict) -> None:
    by_type: dict[str, list[str]] = {}
    for panel in panels(dashboard):
        by_type.setdefault(panel["type"], []).append(" ".join(t["expr"] for t in panel["targets"]))
    assert any("host_anomaly_feature_score" in e for e in by_type["heatmap"])
    assert any("host_anomaly_model_info" in e for e in by_type["table"])
    score = next(p for p in panels(dashboard) if p["title"].startswith("Anomaly score"))
    steps = score["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == 1, "the score panel marks the threshold 1"


def test_every_exporter_metric_is_shown(dashboard: dict) -> None:
    used = set().union(*(metric_names(e) for _, e in dashboard_queries(dashboard)))
    assert used <= EXPORTER_METRICS, f"unknown metric names: {used - EXPORTER_METRICS}"
    assert used == EXPORTER_METRICS, f"not on the dashboard: {EXPORTER_METRICS - used}"


def test_no_variable_left_after_substitution(dashboard: dict) -> None:
    for where, expr in dashboard_queries(dashboard):
        assert "$" not in expr, where


def test_queries_are_valid_promql(dashboard: dict, promtool: str, tmp_path: Path) -> None:
    queries = dashboard_queries(dashboard)
    assert len(queries) >= 15
    rules = [{"record": f"dashboard:query_{i}:check", "expr": expr} for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_promql_check_catches_a_typo(promtool: str, tmp_path: Path) -> None:
    """The cheap check is real: a broken expression fails it."""
    path = tmp_path / "bad.yml"
    rule = {"record": "dashboard:bad:check", "expr": "sum by (instance (up)"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "bad", "rules": [rule]}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
