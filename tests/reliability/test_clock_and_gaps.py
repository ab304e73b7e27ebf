"""The agent under clock jumps and long gaps (suspend/resume), with injected ``clock``/``monotonic`` and a real model.

A gap longer than ``max_gap_intervals`` on the monotonic clock clears the
window: fill ratio drops, no score is exported until the window has refilled
with post-gap rows only, and the last-score timestamp stays where it was so
staleness is visible.  A backwards jump is treated as a gap.  The wall clock
only stamps scores and history rows: jumps there never stop scoring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from rel_support import HALF, Clock, ListSource, make_agent, make_bundle, value

from agent.history.writer import HistoryWriter
from agent.model.loaded import LoadedModel, load_model
from agent.runtime.cycle import Agent

W = 30
INTERVAL = 60.0


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model(make_bundle(tmp_path_factory.mktemp("m") / "b", HALF))


def run(agent: Agent, mono: Clock, wall: Clock, n: int, step: float = INTERVAL) -> None:
    for _ in range(n):
        mono.now += step
        wall.now += step
        agent.cycle()


def warm(model: LoadedModel) -> tuple[Agent, CollectorRegistry, Clock, Clock, ListSource]:
    mono, wall = Clock(1000.0), Clock()
    source = ListSource()
    agent, reg = make_agent(model, source, interval=INTERVAL, max_gap=3.0, clock=wall, monotonic=mono)
    run(agent, mono, wall, W)
    assert value(reg, "host_anomaly_window_fill_ratio") == 1.0 and value(reg, "host_anomaly_score") is not None
    return agent, reg, mono, wall, source


@pytest.mark.parametrize(
    "jump",
    [4 * INTERVAL, 8 * 3600.0, 30 * 86400.0, -INTERVAL, -86400.0],
    ids=["gap-4-intervals", "suspend-8h", "suspend-30d", "monotonic-back-1", "monotonic-back-1d"],
)
def test_gap_resets_the_window_and_hides_the_stale_score(model: LoadedModel, jump: float) -> None:
    agent, reg, mono, wall, source = warm(model)
    stamp = value(reg, "host_anomaly_last_score_timestamp_seconds")
    mono.now += jump
    wall.now += max(jump, 0)
    agent.cycle()
    assert value(reg, "host_anomaly_window_fill_ratio") == pytest.approx(1 / W)
    assert value(reg, "host_anomaly_score") is None and value(reg, "host_anomaly_anomalous") is None
    assert value(reg, "host_anomaly_last_score_timestamp_seconds") == stamp  # staleness stays visible
    assert agent.health()[0] is False and agent.health()[1]["status"] == "warming_up"
    run(agent, mono, wall, W - 2)
    assert value(reg, "host_anomaly_score") is None  # W-1 post-gap rows: still not a full window
    rows_before = source.count
    run(agent, mono, wall, 1)
    assert value(reg, "host_anomaly_window_fill_ratio") == 1.0
    # the score is that of the last W rows, all after the gap
    assert source.count == rows_before + 1
    expected = agent.scorer.score_window(agent.window.view()).score
    assert value(reg, "host_anomaly_score") == pytest.approx(expected)
    assert value(reg, "host_anomaly_last_score_timestamp_seconds") == wall.now
    assert value(reg, "host_anomaly_scoring_errors_total") == 0.0


@pytest.mark.parametrize("late", [1.5, 2.9], ids=["late-1.5-intervals", "late-2.9-intervals"])
def test_late_sample_within_max_gap_keeps_the_window(model: LoadedModel, late: float) -> None:
    agent, reg, mono, wall, _ = warm(model)
    run(agent, mono, wall, 1, step=late * INTERVAL)
    assert value(reg, "host_anomaly_window_fill_ratio") == 1.0 and value(reg, "host_anomaly_score") is not None


@pytest.mark.parametrize(
    "jump", [-3600.0, -86400.0 * 365, 86400.0 * 365 * 10], ids=["wall-back-1h", "wall-back-1y", "wall-forward-10y"]
)
def test_wall_clock_jump_never_stops_scoring(model: LoadedModel, jump: float) -> None:
    agent, reg, mono, wall, _ = warm(model)
    wall.now += jump
    run(agent, mono, wall, 3)
    assert value(reg, "host_anomaly_last_score_timestamp_seconds") == wall.now
    assert value(reg, "host_anomaly_window_fill_ratio") == 1.0  # the monotonic clock decides gaps
    assert value(reg, "host_anomaly_scoring_errors_total") == 0.0
    ok, doc = agent.health()
    assert ok and doc["last_score_age_seconds"] == 0.0


@pytest.mark.parametrize("stamp", [1e12, float("nan"), -1e18], ids=["year-33658", "nan-time", "before-epoch"])
def test_absurd_wall_clock_with_history_counts_state_errors_and_keeps_scoring(
    model: LoadedModel, tmp_path: Path, stamp: float
) -> None:
    """History files are named after the wall clock; a time no calendar can show fails history only."""
    mono, wall = Clock(1000.0), Clock(stamp)
    history = HistoryWriter(tmp_path / "history", model.bundle.features, interval=INTERVAL)
    agent, reg = make_agent(model, ListSource(), interval=INTERVAL, clock=wall, monotonic=mono, history=history)
    for _ in range(W + 2):
        mono.now += INTERVAL
        agent.cycle()
    assert value(reg, "host_anomaly_scoring_errors_total") == 0.0
    assert value(reg, "host_anomaly_score") is not None
    assert value(reg, "host_anomaly_state_errors_total", kind="history_write") == W + 2
    wall.now = 1_700_000_000.0  # the clock is fixed: history records again
    agent.cycle()
    assert value(reg, "host_anomaly_state_errors_total", kind="history_write") == W + 2
    assert history.rows_written == 1


def test_replay_mode_never_resets_on_scheduling_hiccups(model: LoadedModel) -> None:
    """``replay`` sets max_gap_intervals to 1e9: rows carry their own time."""
    mono, wall = Clock(1000.0), Clock()
    agent, reg = make_agent(model, ListSource(), interval=0.01, max_gap=1e9, clock=wall, monotonic=mono)
    run(agent, mono, wall, W, step=0.01)
    mono.now += 3600
    agent.cycle()
    assert value(reg, "host_anomaly_window_fill_ratio") == 1.0 and value(reg, "host_anomaly_score") is not None


def test_nan_rows_from_a_dead_collector_are_scored_finitely(model: LoadedModel) -> None:
    """Every source unreadable: rows of NaN are imputed, the score stays finite."""
    mono, wall = Clock(1000.0), Clock()
    source = ListSource()
    agent, reg = make_agent(model, source, interval=INTERVAL, clock=wall, monotonic=mono)
    run(agent, mono, wall, W)
    source.rng = _NaNRng()
    run(agent, mono, wall, W + 5)
    assert np.isfinite(value(reg, "host_anomaly_score"))


class _NaNRng:
    def uniform(self, lo: float, hi: float, n: int) -> np.ndarray:
        return np.full(n, np.nan)
