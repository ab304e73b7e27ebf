"""The shipped Prometheus rules and scrape examples pass the real promtool."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from packaging_helpers import EXPORTER_METRICS, PROMETHEUS_DIR, metric_names, require_tool


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60)


def test_check_rules(promtool: str) -> None:
    result = run([promtool, "check", "rules", "rules.yml"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def test_unit_tests_pass(promtool: str) -> None:
    result = run([promtool, "test", "rules", "rules_test.yml"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("config", ["scrape.yml", "scrape-tls.yml"])
def test_scrape_examples_are_valid(promtool: str, config: str) -> None:
    result = run([promtool, "check", "config", config])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert alerts == {
        "HostAnomaly",
        "HostAnomalyExporterDown",
        "HostAnomalyScoresStale",
        "HostAnomalyModelRejected",
        "HostAnomalyModelRolledBack",
    }
    tests = yaml.safe_load((PROMETHEUS_DIR / "rules_test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    silent = {
        case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if not case.get("exp_alerts")
    }
    assert fired == alerts, "every alert needs a case where it fires"
    assert "HostAnomaly" in silent, "HostAnomaly needs a case where it must not fire"


def test_broken_expectation_fails(promtool: str, tmp_path) -> None:
    """promtool really compares annotations: a wrong one must fail the run."""
    (tmp_path / "rules.yml").write_text((PROMETHEUS_DIR / "rules.yml").read_text())
    text = (PROMETHEUS_DIR / "rules_test.yml").read_text()
    broken = text.replace("retransegs (52%)", "retransegs (51%)")
    assert broken != text
    (tmp_path / "rules_test.yml").write_text(broken)
    result = subprocess.run(
        [promtool, "test", "rules", "rules_test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "retransegs (52%)" in result.stdout + result.stderr


def test_rules_use_only_exporter_metrics() -> None:
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())
    text = " ".join(
        r["expr"] + " " + " ".join(r.get("annotations", {}).values()) for g in rules["groups"] for r in g["rules"]
    )
    used = metric_names(text)
    assert used <= EXPORTER_METRICS, f"unknown metric names: {used - EXPORTER_METRICS}"


def test_quickstart_rules_are_the_scaled_rules(promtool: str) -> None:
    """rules-5s.yml (5 s sampling) is what scale_rules.py makes of rules.yml, and its own tests pass."""
    result = run(["python3", "scale_rules.py", "--interval", "5"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == (PROMETHEUS_DIR / "rules-5s.yml").read_text(), "regenerate rules-5s.yml"
    assert "for: 25s" in result.stdout
    checked = run([promtool, "test", "rules", "rules-5s_test.yml"])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_scaled_rules_for_a_minute_are_unchanged_but_the_header() -> None:
    result = run(["python3", "scale_rules.py", "--interval", "60"])
    body = result.stdout.split("\n", 1)[1]
    assert body == (PROMETHEUS_DIR / "rules.yml").read_text()


def test_maintenance_rules_and_their_unit_tests(promtool: str) -> None:
    """HostMaintenance (maintenance-rules.yml) fires from the textfile flag or the schedule (docs/feedback.md)."""
    result = run([promtool, "check", "rules", "maintenance-rules.yml"])
    assert result.returncode == 0 and "SUCCESS: 2 rules found" in result.stdout, result.stdout + result.stderr
    result = run([promtool, "test", "rules", "maintenance-rules_test.yml"])
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_alertmanager_maintenance_example() -> None:
    """The example inhibits HostAnomaly* by HostMaintenance on the same instance; amtool accepts it."""
    doc = yaml.safe_load((PROMETHEUS_DIR / "alertmanager-maintenance.yml").read_text())
    (rule,) = doc["inhibit_rules"]
    assert rule["source_matchers"] == ['alertname="HostMaintenance"', 'maintenance="true"']
    assert rule["equal"] == ["instance"]
    amtool = require_tool("amtool", "prometheus-alertmanager")
    result = run([amtool, "check-config", "alertmanager-maintenance.yml"])
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
