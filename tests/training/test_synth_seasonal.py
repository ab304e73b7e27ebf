"""anomaly-train synth --seasonal: scheduled jobs on the local wall clock, written as the agent's history."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from agent.history.reader import load_recorded
from training.cli import main
from training.synth_seasonal import BACKUP, generate, scheduled_runs

BERLIN = ZoneInfo("Europe/Berlin")


def _local(t: float) -> datetime:
    return datetime.fromtimestamp(t, BERLIN)


def test_jobs_keep_their_local_time_across_dst() -> None:
    t0 = datetime(2026, 10, 19, tzinfo=BERLIN).timestamp()
    runs = scheduled_runs(t0, t0 + 14 * 86400, BERLIN)
    backups = [s for j, s in runs if j.name == "nightly_backup"]
    batches = [s for j, s in runs if j.name == "monday_batch"]
    assert len(backups) == 14 and len(batches) == 2
    assert all((_local(s).hour, _local(s).minute) == (2, 0) for s in backups)
    assert all(_local(s).weekday() == 0 and _local(s).hour == 9 for s in batches)
    gaps = np.diff(backups)
    assert sorted(set(gaps)) == [86400, 86400 + 3600]  # the night of 2026-10-25 is an hour longer


def test_generate_labels_the_off_schedule_anomalies_only() -> None:
    host = generate(days=18, seed=3)
    names = [e.name for e in host.events]
    assert names.count("nightly_backup") == 18 and names.count("monday_batch") == 3
    off = [e for e in host.events if e.anomaly]
    assert [e.name for e in off] == ["offschedule_backup", "memory_leak"]
    wed = _local(off[0].start)
    assert (wed.weekday(), wed.hour, wed.minute) == (2, 14, 0)
    assert wed.timestamp() >= host.timestamps[0] + 14 * 86400  # after the learning period
    # labels cover exactly the anomalies; the scheduled runs are normal
    labelled = host.timestamps[host.labels == 1]
    assert len(labelled) == 20 + 30
    assert all(any(e.start <= t < e.end for e in off) for t in labelled)
    # the off-schedule burst has the backup's shape: the same features rise
    i = int(np.searchsorted(host.timestamps, off[0].start)) + 10
    j = int(np.searchsorted(host.timestamps, next(e.start for e in host.events if e.name == "nightly_backup"))) + 10
    cols = [host.features.index(f) for f in BACKUP]
    base = np.median(host.values[:, cols], axis=0)
    assert (host.values[i, cols] - base > 0.15).all() and (host.values[j, cols] - base > 0.15).all()


def test_cli_writes_the_agents_history_format(tmp_path: Path) -> None:
    assert main(["synth", "--seasonal", "--out", str(tmp_path), "--machine", "s1", "--days", "15"]) == 0
    out = tmp_path / "s1"
    host = generate(days=15)
    rec = load_recorded(out / "history", host.features)
    np.testing.assert_allclose(rec.values, host.values, rtol=1e-12)
    np.testing.assert_allclose(rec.timestamps, host.timestamps, atol=1e-3)
    assert rec.interval == 60
    labels = np.array([int(v) for v in (out / "labels.txt").read_text().split()])
    np.testing.assert_array_equal(labels, host.labels)
    with open(out / "events.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(host.events) and rows[0]["start_local"].startswith("2026-10-05T02:00:00+02:00")


def test_plain_synth_still_writes_smd(tmp_path: Path) -> None:
    assert (
        main(
            [
                "synth",
                "--out",
                str(tmp_path),
                "--machine",
                "m",
                "--train-rows",
                "200",
                "--test-rows",
                "200",
                "--anomalies",
                "1",
            ]
        )
        == 0
    )
    assert (tmp_path / "train" / "m.txt").is_file()


def test_an_alert_belongs_to_the_event_it_fired_inside_before_one_that_just_ended() -> None:
    from training.synth_seasonal import Event, fires_by_event

    backup = Event("nightly_backup", 7200.0, 8400.0, False)
    leak = Event("memory_leak", 10800.0, 12600.0, True)
    assert fires_by_event(np.array([10840.0, 9000.0, 30000.0]), (backup, leak)) == [
        "memory_leak",
        "nightly_backup",
        "other",
    ]
