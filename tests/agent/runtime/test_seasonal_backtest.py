"""End to end: a seasonal synthetic host through ``anomaly-agent backtest --history`` (the live cycle).

Four weeks in Europe/Berlin from 2026-10-05 (``anomaly-train synth --seasonal``):
a nightly backup at 02:00, a Monday batch at 09:00, the end of daylight
saving on 2026-10-25, and in week three the backup's own shape on a
Wednesday at 14:00.  After the two-week learning period, with
``seasonal.timezone: Europe/Berlin``, no scheduled run alerts (also after
the DST change) and the off-schedule burst does.  Slow (~2-5 min): the
figures with the profile off are in ``bench/results/seasonal.json``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from support import DEFAULT_BUNDLE

from agent.cli import main
from agent.score.alerts import alert_fires
from training.synth_seasonal import fires_by_event, generate, read_events, write_history

pytestmark = pytest.mark.slow
LEARN_DAYS = 14
DST_END = 1792890000.0  # 2026-10-25 01:00 UTC


def test_scheduled_jobs_stop_alerting_and_the_off_schedule_burst_alerts(tmp_path: Path) -> None:
    history = write_history(tmp_path / "host", generate(28, anomaly_after_days=LEARN_DAYS), "synth")
    cfg = tmp_path / "agent.yml"
    # the synthetic rows are SMD-scaled (0-1), not in host units: noise floors as a share of the range
    cfg.write_text("calibration:\n  noise_floors: range\nseasonal:\n  timezone: Europe/Berlin\n")
    out = tmp_path / "scores.csv"
    assert (
        main(
            [
                "backtest",
                "--bundle",
                str(DEFAULT_BUNDLE),
                "--history",
                str(history),
                "--output",
                str(out),
                "--config.file",
                str(cfg),
                "--state-dir",
                str(tmp_path / "state"),
            ]
        )
        == 0
    )
    assert (tmp_path / "state" / "seasonal.json").is_file()  # the profile was learned and kept
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    ts = np.array([float(r["timestamp"]) for r in rows])
    score = np.array([float(r["score"]) if r["score"] else np.nan for r in rows])
    fires = alert_fires(score)
    events = read_events(history.parent / "events.csv")
    after = ts[fires] >= ts[0] + LEARN_DAYS * 86400
    names = [n for n, a in zip(fires_by_event(ts[fires], events), after) if a]
    assert "nightly_backup" not in names and "monday_batch" not in names, names
    assert "offschedule_backup" in names
    nightly_after_dst = [e for e in events if e.name == "nightly_backup" and e.start > DST_END]
    assert len(nightly_after_dst) >= 7  # the nights after the change were in the evaluation, and quiet
