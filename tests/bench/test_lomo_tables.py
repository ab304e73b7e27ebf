"""bench.lomo_tables: the per-host vs fleet comparison, the (a) summary and the targets on hand-made figures."""

from __future__ import annotations

from typing import Any

import pytest

from bench import lomo_tables as T


def _host(f1: float, ap: float, hr: float) -> dict[str, float | dict[str, float]]:
    return {"best_f1": {"f1": f1}, "auc_pr": ap, "hitrate@150": hr}


def _run(fa: float, recall: float, delay: float, ap: float) -> dict[str, Any]:
    part = {"false_alerts_per_day": fa, "incident_recall": recall, "long_incident_recall": recall}
    return {
        "test_part": {**part, "median_delay_samples": delay},
        "test_pointwise": {"auc_pr": ap, "best_f1": {"f1": ap + 0.1}},
    }


def test_comparison_mean_and_worst_host_per_model() -> None:
    live = {
        "a": {"per-host": _run(0.1, 0.5, 3.0, 0.6), "fleet": _run(0.3, 0.4, float("nan"), 0.5)},
        "b": {"per-host": _run(0.5, 0.2, 9.0, 0.2), "fleet": _run(0.2, 0.3, 4.0, 0.4)},
    }
    c = T.comparison(live, ["a", "b"])
    assert c["hosts"]["a"]["fleet"]["FA/day"] == 0.3 and "shipped" not in c["mean"]
    assert c["mean"]["per-host"]["FA/day"] == pytest.approx(0.3)
    assert c["worst"]["per-host"]["FA/day"] == {"value": 0.5, "host": "b"}  # most false alerts is worst
    assert c["worst"]["fleet"]["alerted"] == {"value": 0.3, "host": "b"}  # least recall is worst
    assert c["mean"]["fleet"]["delay"] == 4.0 and c["worst"]["fleet"]["delay"]["host"] == "b"  # NaN left out
    assert c["worst"]["per-host"]["bestF1"]["value"] == pytest.approx(0.3)
    text = T.format_comparison("== title", c)
    assert "worst host    per-host" in text and "fleet held-out" in text and "shipped" not in text


def test_cost_table_lists_the_models_given() -> None:
    cost = {
        "per-host": {
            "train_seconds": 20.0,
            "train_seconds_source": "bundle.json, mean of 3",
            "bundles_per_round": "N (one per host)",
            "bundle_bytes": 600000,
            "calibration_seconds": 0.5,
        }
    }
    text = T.format_cost(cost)
    assert "per-host" in text and "600000" in text and "fleet" not in text


def test_summary_spread_and_min_margin() -> None:
    rows = {
        "a": {"default": _host(0.8, 0.7, 0.6), "pca": _host(0.6, 0.6, 0.6)},
        "b": {"default": _host(0.5, 0.5, 0.4), "pca": _host(0.6, 0.4, 0.5)},
    }
    s = T.per_host_summary(rows)
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
    lines = T.targets(per, live, ["m1", "m2"])
    assert lines[0].startswith("PASS m1") and lines[1].startswith("FAIL m2") and lines[2].startswith("PASS m1 live")
