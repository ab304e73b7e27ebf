"""agent.calibrate.profile: local-time slots (DST), the robust profile, its shrinkage, clamp and document."""

from __future__ import annotations

import json
import warnings
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from support.rhythm import BERLIN, DAY, berlin_ts, nightly_rows

from agent.calibrate.profile import column_medians, fit_profile, local_seconds, profile_from_doc, slots

FEATURES = ("cpu_r", "disk_wb")


def test_slots_follow_the_local_wall_clock_across_dst() -> None:
    before = berlin_ts("2026-10-24T02:05:00")  # CEST
    after = berlin_ts("2026-10-26T02:05:00")  # CET: one hour later in UTC
    assert after - before == 2 * DAY + 3600
    s = slots(np.array([before, after]), BERLIN, 10, weekly=False)
    assert s[0] == s[1] == 12  # 02:00-02:10 is the 13th 10-minute slot of the day
    monday = slots(np.array([berlin_ts("2026-10-26T09:00:00")]), BERLIN, 60, weekly=True)
    assert monday[0] == 9  # Monday is day 0
    assert slots(np.array([berlin_ts("2026-10-28T14:00:00")]), BERLIN, 60, weekly=True)[0] == 2 * 24 + 14


def test_column_medians_match_nanmedian() -> None:
    x = np.random.default_rng(1).normal(size=(41, 5))
    x[3, 1] = np.nan
    x[:, 4] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(column_medians(x), np.nanmedian(x, axis=0), equal_nan=True)


def test_profile_removes_the_nightly_job_and_keeps_other_times() -> None:
    x, t = nightly_rows(7)
    p = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, shrinkage_rows=10)
    assert not p.weekly and p.offset.shape == (144, 2)
    job = berlin_ts("2026-10-12T02:05:00")
    out = p.apply(np.array([1.0, 11.0]), float(local_seconds(np.array([job]), BERLIN)[0]))
    # 70 rows per slot: 70/80 of the +10 deviation is removed
    assert out[1] == pytest.approx(11 - 10 * 70 / 80, abs=0.1)
    assert out[0] == pytest.approx(1.0, abs=0.05)
    noon = float(local_seconds(np.array([berlin_ts("2026-10-12T12:00:00")]), BERLIN)[0])
    np.testing.assert_allclose(p.apply(np.array([1.0, 11.0]), noon), [1.0, 11.0], atol=0.05)


def test_shrinkage_towards_the_global_median() -> None:
    x, t = nightly_rows(7)
    loose = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, shrinkage_rows=0)
    tight = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, shrinkage_rows=1000)
    assert loose.offset[12, 1] == pytest.approx(10, abs=0.1)
    assert 0 < tight.offset[12, 1] < 1


def test_profile_document_round_trip() -> None:
    x, t = nightly_rows(7)
    p = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, 10)
    q = profile_from_doc(json.loads(json.dumps(p.to_doc())))
    np.testing.assert_allclose(q.offset, p.offset, atol=1e-6)
    assert (q.features, q.tz, q.weekly, q.rows) == (p.features, p.tz, p.weekly, p.rows)
    with pytest.raises(ValueError):
        profile_from_doc({**p.to_doc(), "offset": [[0.0]]})


def test_a_dst_change_does_not_move_the_learned_job() -> None:
    """Learned in CEST, applied after the change to CET: the job at 02:00 CET is still removed."""
    x, t = nightly_rows(8, start="2026-10-16T00:00:00")  # the history spans the change on 2026-10-25
    s = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, 10)
    utc = fit_profile(x, t, FEATURES, "UTC", 10, False, 10)
    after = berlin_ts("2026-10-27T02:05:00")
    job = np.array([1.0, 11.0])
    assert s.apply(job, float(local_seconds(np.array([after]), BERLIN)[0]))[1] < 3
    assert utc.apply(job, float(local_seconds(np.array([after]), ZoneInfo("UTC"))[0]))[1] > 5


def test_clamp_never_pushes_a_row_past_the_overall_median() -> None:
    x, t = nightly_rows(7)
    p = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, shrinkage_rows=0)
    local = float(local_seconds(np.array([berlin_ts("2026-10-12T02:05:00")]), BERLIN)[0])
    skipped = np.array([1.0, 1.0])  # the backup did not run tonight
    assert p.apply(skipped, local, clamp=False)[1] == pytest.approx(1 - 10, abs=0.2)  # a dip: a new anomaly
    assert p.apply(skipped, local)[1] == pytest.approx(1.0)  # clamped: nothing to remove, nothing removed
    assert p.apply(np.array([1.0, 11.0]), local)[1] == pytest.approx(1.0, abs=0.2)


def test_weekly_slots_shrink_towards_the_daily_profile() -> None:
    """Two weeks: a weekly slot has 20 rows, but the nightly job is learned from all 140 of its time of day."""
    x, t = nightly_rows(14)
    weekly = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, True, shrinkage_rows=10)
    daily = fit_profile(x, t, FEATURES, "Europe/Berlin", 10, False, shrinkage_rows=10)
    tuesday_0200 = 144 + 12
    # 20/30 of the slot's own +10 and 10/30 of the daily 9.3 (shrunk towards 0 instead: only 6.7)
    assert weekly.offset[tuesday_0200, 1] == pytest.approx(20 / 30 * 10 + 10 / 30 * daily.offset[12, 1], abs=0.2)
    assert daily.offset[12, 1] == pytest.approx(10 * 140 / 150, abs=0.2)
