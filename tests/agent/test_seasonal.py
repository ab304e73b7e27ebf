"""agent.seasonal: local-time slots (DST), the robust profile, its state file and the agent's hook."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from agent.config import Config, ConfigError, SeasonalConfig, parse_config
from agent.history import HistoryWriter
from agent.seasonal import (
    STATE_FILE,
    Seasonal,
    column_medians,
    fit_profile,
    history_start,
    local_seconds,
    profile_from_doc,
    seasonal_for,
    slots,
)

BERLIN = ZoneInfo("Europe/Berlin")
FEATURES = ("cpu_r", "disk_wb")
DAY = 86400.0


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


def _nightly(
    days: int, start: str = "2026-10-05T00:00:00", step: float = 60.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Rows every minute: noise around (1, 1) and disk_wb + 10 every night 02:00-02:20 local (Berlin)."""
    rng = np.random.default_rng(seed)
    t = _ts(start) + step * np.arange(int(days * DAY / step))
    x = 1 + rng.normal(0, 0.1, (len(t), 2))
    local = local_seconds(t, BERLIN) % DAY
    x[(local >= 7200) & (local < 7200 + 1200), 1] += 10
    return x, t


def test_slots_follow_the_local_wall_clock_across_dst() -> None:
    before = _ts("2026-10-24T02:05:00")  # CEST
    after = _ts("2026-10-26T02:05:00")  # CET: one hour later in UTC
    assert after - before == 2 * DAY + 3600
    s = slots(np.array([before, after]), BERLIN, 10, weekly=False)
    assert s[0] == s[1] == 12  # 02:00-02:10 is the 13th 10-minute slot of the day
    monday = slots(np.array([_ts("2026-10-26T09:00:00")]), BERLIN, 60, weekly=True)
    assert monday[0] == 9  # Monday is day 0
    assert slots(np.array([_ts("2026-10-28T14:00:00")]), BERLIN, 60, weekly=True)[0] == 2 * 24 + 14


def test_column_medians_match_nanmedian() -> None:
    x = np.random.default_rng(1).normal(size=(41, 5))
    x[3, 1] = np.nan
    x[:, 4] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(column_medians(x), np.nanmedian(x, axis=0), equal_nan=True)


def test_profile_removes_the_nightly_job_and_keeps_other_times() -> None:
    x, t = _nightly(7)
    p = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, shrinkage_rows=10)
    assert not p.weekly and p.offset.shape == (144, 2)
    job = _ts("2026-10-12T02:05:00")
    out = p.apply(np.array([1.0, 11.0]), float(local_seconds(np.array([job]), BERLIN)[0]))
    # 70 rows per slot: 70/80 of the +10 deviation is removed
    assert out[1] == pytest.approx(11 - 10 * 70 / 80, abs=0.1)
    assert out[0] == pytest.approx(1.0, abs=0.05)
    noon = float(local_seconds(np.array([_ts("2026-10-12T12:00:00")]), BERLIN)[0])
    np.testing.assert_allclose(p.apply(np.array([1.0, 11.0]), noon), [1.0, 11.0], atol=0.05)


def test_shrinkage_towards_the_global_median() -> None:
    x, t = _nightly(7)
    loose = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, shrinkage_rows=0)
    tight = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, shrinkage_rows=1000)
    assert loose.offset[12, 1] == pytest.approx(10, abs=0.1)
    assert 0 < tight.offset[12, 1] < 1


def test_profile_document_round_trip() -> None:
    x, t = _nightly(7)
    p = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, 10)
    q = profile_from_doc(json.loads(json.dumps(p.to_doc())))
    np.testing.assert_allclose(q.offset, p.offset, atol=1e-6)
    assert (q.features, q.tz, q.weekly, q.rows) == (p.features, p.tz, p.weekly, p.rows)
    with pytest.raises(ValueError):
        profile_from_doc({**p.to_doc(), "offset": [[0.0]]})


def _record(directory: Path, x: np.ndarray, t: np.ndarray) -> None:
    with HistoryWriter(directory, FEATURES, max_bytes=1 << 30, hostname="test") as w:
        for row, ts in zip(x, t):
            w.append(row, float(ts))


def test_runtime_learns_after_min_history_persists_and_reloads(tmp_path: Path) -> None:
    x, t = _nightly(8)
    hist = tmp_path / "history"
    _record(hist, x, t)
    assert history_start(hist) == pytest.approx(t[0])
    cfg = SeasonalConfig(timezone="Europe/Berlin")
    state = tmp_path / STATE_FILE
    s = Seasonal(cfg, FEATURES, hist, state)
    job = np.array([1.0, 11.0])
    six_days = t[0] + 6 * DAY + 2 * 3600 + 300
    assert s.apply(job, six_days) is job and not s.active  # less than min_history_days: scores as today
    nightly = _ts("2026-10-13T02:05:00")
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


def test_a_dst_change_does_not_move_the_learned_job(tmp_path: Path) -> None:
    """Learned in CEST, applied after the change to CET: the job at 02:00 CET is still removed."""
    x, t = _nightly(8, start="2026-10-16T00:00:00")  # the history spans the change on 2026-10-25
    s = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, 10)
    utc = fit_profile(x, t, FEATURES, "UTC", 10, False, 10)
    after = _ts("2026-10-27T02:05:00")
    job = np.array([1.0, 11.0])
    assert s.apply(job, float(local_seconds(np.array([after]), BERLIN)[0]))[1] < 3
    assert utc.apply(job, float(local_seconds(np.array([after]), ZoneInfo("UTC"))[0]))[1] > 5


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
    x, t = _nightly(8)
    hist = tmp_path / "history"
    _record(hist, x, t)
    s = Seasonal(SeasonalConfig(timezone="Europe/Berlin"), FEATURES, hist, tmp_path / STATE_FILE)
    now = float(t[-1]) + 60
    assert s.maybe_learn(now) and s.profile is not None and s.profile.learned_at == now
    assert not s.maybe_learn(now + 3 * 3600)  # history recording stalled: not relearned every hour
    assert s.maybe_learn(now + 25 * 3600)


def test_clamp_never_pushes_a_row_past_the_overall_median() -> None:
    x, t = _nightly(7)
    p = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, shrinkage_rows=0)
    local = float(local_seconds(np.array([_ts("2026-10-12T02:05:00")]), BERLIN)[0])
    skipped = np.array([1.0, 1.0])  # the backup did not run tonight
    assert p.apply(skipped, local, clamp=False)[1] == pytest.approx(1 - 10, abs=0.2)  # a dip: a new anomaly
    assert p.apply(skipped, local)[1] == pytest.approx(1.0)  # clamped: nothing to remove, nothing removed
    assert p.apply(np.array([1.0, 11.0]), local)[1] == pytest.approx(1.0, abs=0.2)


def test_the_repeated_hour_of_the_dst_change_is_left_alone(tmp_path: Path) -> None:
    x, t = _nightly(8)
    hist = tmp_path / "history"
    _record(hist, x, t)
    s = Seasonal(SeasonalConfig(timezone="Europe/Berlin", clamp=False), FEATURES, hist, tmp_path / STATE_FILE)
    first = _ts("2026-10-25T02:05:00")  # fold=0: CEST, the job runs
    second = first + 3600  # the same wall-clock time again, CET: cron does not run the job twice
    assert datetime.fromtimestamp(second, BERLIN).strftime("%H:%M") == "02:05"
    job, quiet = np.array([1.0, 11.0]), np.array([1.0, 1.0])
    assert s.apply(job, first)[1] < 3
    assert s.apply(quiet, second) is quiet
    assert s.apply(quiet, second + 3600)[1] == pytest.approx(1.0, abs=0.2)  # 03:05 CET: profiled again


def test_weekly_slots_shrink_towards_the_daily_profile() -> None:
    """Two weeks: a weekly slot has 20 rows, but the nightly job is learned from all 140 of its time of day."""
    x, t = _nightly(14)
    weekly = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, True, shrinkage_rows=10)
    daily = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, shrinkage_rows=10)
    tuesday_0200 = 144 + 12
    # 20/30 of the slot's own +10 and 10/30 of the daily 9.3 (shrunk towards 0 instead: only 6.7)
    assert weekly.offset[tuesday_0200, 1] == pytest.approx(20 / 30 * 10 + 10 / 30 * daily.offset[12, 1], abs=0.2)
    assert daily.offset[12, 1] == pytest.approx(10 * 140 / 150, abs=0.2)
