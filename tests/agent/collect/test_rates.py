"""Rate maths (agent.collect.rates): deltas per device, derived formulas, resets and missing baselines."""

from __future__ import annotations

import math

import pytest

from agent.collect.rates import INTERVAL_FEATURES, deltas, feature_values


def test_deltas_over_devices_in_both_readings_and_none_on_a_reset() -> None:
    prev = {"a": {"x": 1.0}, "b": {"x": 5.0}}
    assert deltas(prev, {"a": {"x": 4.0}, "b": {"x": 5.0}, "new": {"x": 9.0}}, "x") == [3.0, 0.0]
    assert deltas(prev, {"a": {"x": 0.0}}, "x") is None
    assert deltas(prev, {"c": {"x": 1.0}}, "x") == []


def test_plain_rate_gauge_and_first_reading() -> None:
    features = ("si", "so")
    first, reset = feature_values(features, ({}, {"": {"si": 10, "so": 0}}), None, 0.0)
    assert math.isnan(first["si"]) and math.isnan(first["so"]) and reset == []
    got, reset = feature_values(features, ({}, {"": {"si": 30, "so": 5}}), ({}, {"": {"si": 10, "so": 0}}), 10.0)
    assert got == {"si": 2.0, "so": 0.5} and reset == []
    gauges, _ = feature_values(("load_1",), ({"load_1": 0.5}, {}), None, 0.0)
    assert gauges == {"load_1": 0.5} and "load_1" not in INTERVAL_FEATURES


def test_reset_gives_nan_and_is_reported() -> None:
    got, reset = feature_values(("si", "so"), ({}, {"": {"si": 5, "so": 9}}), ({}, {"": {"si": 10, "so": 0}}), 10.0)
    assert math.isnan(got["si"]) and got["so"] == 0.9 and reset == ["si"]


def test_derived_cpu_and_disk_formulas() -> None:
    prev = ({}, {"": {"busy": 100, "idle": 900}})
    got, _ = feature_values(("cpu_r",), ({}, {"": {"busy": 400, "idle": 1600}}), prev, 10.0)
    assert got["cpu_r"] == pytest.approx(0.3)
    idle, _ = feature_values(("cpu_r",), prev, prev, 10.0)  # no tick elapsed: no ratio
    assert math.isnan(idle["cpu_r"])
    d0 = {
        "sda": {"io_ticks": 0, "disk_r": 0, "disk_w": 0, "write_ms": 0, "weighted_ms": 0},
        "sdb": {"io_ticks": 0, "disk_r": 0, "disk_w": 0, "write_ms": 0, "weighted_ms": 0},
    }
    d1 = {
        "sda": {"io_ticks": 12000, "disk_r": 10, "disk_w": 10, "write_ms": 200, "weighted_ms": 5000},
        "sdb": {"io_ticks": 1000, "disk_r": 0, "disk_w": 0, "write_ms": 0, "weighted_ms": 5000},
    }
    got, _ = feature_values(("disk_u", "disk_q", "disk_svc", "disk_wa"), ({}, d1), ({}, d0), 10.0)
    assert got["disk_u"] == 1.0  # the busiest disk, capped at 1
    assert got["disk_q"] == 1.0 and got["disk_svc"] == pytest.approx(13 / 20) and got["disk_wa"] == 0.02
    quiet, _ = feature_values(("disk_svc", "disk_wa"), ({}, d0), ({}, d0), 10.0)
    assert quiet == {"disk_svc": 0.0, "disk_wa": 0.0}  # no completed I/O: 0 s, as iostat
