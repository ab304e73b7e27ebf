"""agent.calibrate.seasonal: the runtime (learning from the history, the state file, DST) and the agent's hook."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from support.rhythm import BERLIN, DAY, berlin_ts, nightly_rows

from agent.calibrate.seasonal import STATE_FILE, Seasonal, history_start, seasonal_for
from agent.config import Config, ConfigError, SeasonalConfig, parse_config
from agent.history.writer import HistoryWriter

FEATURES = ("cpu_r", "disk_wb")


def _record(directory: Path, x: np.ndarray, t: np.ndarray) -> None:
    with HistoryWriter(directory, FEATURES, max_bytes=1 << 30, hostname="test") as w:
        for row, ts in zip(x, t):
            w.append(row, float(ts))


def test_runtime_learns_after_min_history_persists_and_reloads(tmp_path: Path) -> None:
    x, t = nightly_rows(8)
    hist = tmp_path / "history"
    _record(hist, x, t)
    assert history_start(hist) == pytest.approx(t[0])
    cfg = SeasonalConfig(timezone="Europe/Berlin")
    state = tmp_path / STATE_FILE
    s = Seasonal(cfg, FEATURES, hist, state)
    job = np.array([1.0, 11.0])
    six_days = t[0] + 6 * DAY + 2 * 3600 + 300
    assert s.apply(job, six_days) is job and not s.active  # less than min_history_days: scores as today
    nightly = berlin_ts("2026-10-13T02:05:00")
    assert s.apply(job, nightly)[1] < 3 and s.active and state.is_file()
    again = Seasonal(cfg, FEATURES, hist, state)  # a restart reuses the saved profile without reading history
    assert again.active and again.profile is not None and not again.due(nightly + 3600)
    assert again.apply(job, nightly)[1] == pytest.approx(s.apply(job, nightly)[1])
    other = Seasonal(replace(cfg, timezone="UTC"), FEATURES, tmp_path / "none", state)
    assert not other.active  # settings changed: the saved profile is not used
    state.write_text("{not json")
    assert not Seasonal(cfg, FEATURES, tmp_path / "none", state).active  # corrupt: relearn, never fatal
    s.rebind(("cpu_r",))
    assert not s.active


def test_seasonal_for_wires_residual_thresholds_only_when_asked(tmp_path: Path) -> None:
    from agent.calibrate.recalibration import Recalibration

    rec = Recalibration(100, 2, tmp_path / "r.npz", 86400.0)
    cfg = Config()
    off = seasonal_for(cfg, FEATURES, tmp_path / "history", rec)
    assert off is not None and off.on_learned is None
    on_cfg = replace(cfg, seasonal=replace(cfg.seasonal, residual_thresholds=True))
    on = seasonal_for(on_cfg, FEATURES, tmp_path / "history", rec)
    assert on is not None and on.on_learned == rec.rebase and on.keep_rows == 100


def test_seasonal_for_needs_history_and_the_switch(tmp_path: Path) -> None:
    cfg = replace(Config(), state_directory=str(tmp_path))
    assert seasonal_for(cfg, FEATURES, None) is None
    assert seasonal_for(replace(cfg, seasonal=SeasonalConfig(enabled=False)), FEATURES, tmp_path) is None
    assert isinstance(seasonal_for(cfg, FEATURES, tmp_path / "history"), Seasonal)


def test_config_keys_are_checked() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"seasonal": {"timezone": "Mars/Olympus", "slot_minutes": 7, "colour": 1}}, check_files=False)
    text = str(err.value)
    assert "seasonal.colour: unknown key" in text and "seasonal.slot_minutes: must divide 60" in text
    with pytest.raises(ConfigError, match="seasonal.timezone: unknown IANA time zone"):
        parse_config({"seasonal": {"timezone": "Mars/Olympus"}})


def test_relearns_once_a_day_even_when_the_history_stops(tmp_path: Path) -> None:
    x, t = nightly_rows(8)
    hist = tmp_path / "history"
    _record(hist, x, t)
    s = Seasonal(SeasonalConfig(timezone="Europe/Berlin"), FEATURES, hist, tmp_path / STATE_FILE)
    now = float(t[-1]) + 60
    assert s.maybe_learn(now) and s.profile is not None and s.profile.learned_at == now
    assert not s.maybe_learn(now + 3 * 3600)  # history recording stalled: not relearned every hour
    assert s.maybe_learn(now + 25 * 3600)


def test_the_repeated_hour_of_the_dst_change_is_left_alone(tmp_path: Path) -> None:
    x, t = nightly_rows(8)
    hist = tmp_path / "history"
    _record(hist, x, t)
    s = Seasonal(SeasonalConfig(timezone="Europe/Berlin", clamp=False), FEATURES, hist, tmp_path / STATE_FILE)
    first = berlin_ts("2026-10-25T02:05:00")  # fold=0: CEST, the job runs
    second = first + 3600  # the same wall-clock time again, CET: cron does not run the job twice
    assert datetime.fromtimestamp(second, BERLIN).strftime("%H:%M") == "02:05"
    job, quiet = np.array([1.0, 11.0]), np.array([1.0, 1.0])
    assert s.apply(job, first)[1] < 3
    assert s.apply(quiet, second) is quiet
    assert s.apply(quiet, second + 3600)[1] == pytest.approx(1.0, abs=0.2)  # 03:05 CET: profiled again


def test_each_new_profile_hands_the_recent_rows_as_residuals_to_the_recalibration(tmp_path: Path) -> None:
    x, t = nightly_rows(8)
    hist = tmp_path / "history"
    _record(hist, x, t)
    got: list[np.ndarray] = []
    s = Seasonal(SeasonalConfig(timezone="Europe/Berlin"), FEATURES, hist, tmp_path / STATE_FILE)
    s.on_learned, s.keep_rows = got.append, 2880
    assert s.learn(float(t[-1]))
    assert len(got) == 1 and got[0].shape == (2880, 2)
    assert np.allclose(got[0], s.residuals(x[-2880:], t[-2880:]))
    job = x[-2880:, 1] > np.median(x[:, 1]) + 5  # the nightly jobs of the last two nights
    assert job.any() and (got[0][job, 1] < x[-2880:][job, 1]).all()  # each lost its slot's offset
