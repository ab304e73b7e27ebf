"""training.synth_host: a normal host in real units, with a rhythm and noise at or above the agent's floors."""

from __future__ import annotations

import numpy as np

from agent.collect.features import SMD38_NAMES, noise_floor
from training.synth_host import ar, noise_scale, normal, rhythm


def test_ar_is_the_recursion_it_claims() -> None:
    innov = np.array([[1.0], [0.0], [0.0], [2.0]])
    assert ar(innov, np.array([0.5])).ravel().tolist() == [1.0, 0.5, 0.25, 2.125]


def test_rhythm_peaks_at_13_utc_on_weekdays_and_is_weaker_at_weekends() -> None:
    monday = 1_789_948_800.0  # 2026-09-21 00:00 UTC, a Monday
    r = rhythm(np.array([monday + 13 * 3600, monday + 2 * 3600, monday + 5 * 86400 + 13 * 3600]))
    assert r[0] > 0.99 and r[1] < 0.01 and 0.3 < r[2] < 0.4


def test_every_feature_in_units_and_noise_never_below_the_floor() -> None:
    ts = 1_790_000_000.0 + 60.0 * np.arange(3 * 1440)
    cols = normal(ts, 4, np.random.default_rng(0))
    assert set(SMD38_NAMES) - {"load_5", "load_15"} <= set(cols)
    assert 0 < np.median(cols["cpu_r"]) < 1 and np.median(cols["total_mem"]) >= 8 * 2**30
    assert np.median(cols["eth1_fi"]) > 1e5  # bytes per second
    for name, x in cols.items():
        assert noise_scale(x, name, 4) >= noise_floor(name, float(np.median(x)), 4)
