"""A host with a nightly job, for the seasonal-profile tests: rows at Berlin wall-clock times."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from agent.calibrate.profile import local_seconds

BERLIN = ZoneInfo("Europe/Berlin")
DAY = 86400.0


def berlin_ts(text: str) -> float:
    """Unix time of the Berlin wall-clock time ``text`` (ISO, e.g. "2026-10-25T02:05:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


def nightly_rows(
    days: int, start: str = "2026-10-05T00:00:00", step: float = 60.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Rows every minute: noise around (1, 1) and disk_wb + 10 every night 02:00-02:20 local (Berlin)."""
    rng = np.random.default_rng(seed)
    t = berlin_ts(start) + step * np.arange(int(days * DAY / step))
    x = 1 + rng.normal(0, 0.1, (len(t), 2))
    local = local_seconds(t, BERLIN) % DAY
    x[(local >= 7200) & (local < 7200 + 1200), 1] += 10
    return x, t
