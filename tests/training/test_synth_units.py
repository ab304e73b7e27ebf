"""training.synth_units: hosts in real units, with incidents the noise floors do not erase."""

from __future__ import annotations

import numpy as np

from agent.collect.features import SMD38_NAMES, noise_floor
from training.synth_units import DAY, generate

IDX = {name: j for j, name in enumerate(SMD38_NAMES)}


def test_deterministic_plausible_units() -> None:
    a, b = generate(3), generate(3)
    assert np.array_equal(a.rows, b.rows) and np.array_equal(a.labels, b.labels)
    assert a.rows.shape == (21 * DAY, len(SMD38_NAMES)) and (a.rows >= 0).all()
    for ratio in ("cpu_r", "mem_u", "mem_u_e", "disk_u"):
        assert a.rows[:, IDX[ratio]].max() <= 1.0
    normal = a.labels == 0
    cpu, load = a.rows[normal, IDX["cpu_r"]].mean(), a.rows[normal, IDX["load_1"]].mean()
    assert 0.5 * cpu * a.cpus < load < 2 * cpu * a.cpus  # load in cores
    assert np.median(a.rows[normal, IDX["eth1_fi"]]) > 1e4 and np.median(a.rows[normal, IDX["disk_wb"]]) > 1e4
    assert np.ptp(np.diff(a.timestamps)) == 0 and a.timestamps[1] - a.timestamps[0] == 60


def test_a_daily_rhythm_and_noise_above_the_floors() -> None:
    h = generate(4)
    normal = h.labels == 0
    hour = (h.timestamps % 86400) // 3600
    cpu = h.rows[:, IDX["cpu_r"]]
    assert np.median(cpu[normal & (hour == 13)]) > 1.5 * np.median(cpu[normal & (hour == 2)])
    for f in ("cpu_r", "disk_wb", "eth1_fi", "tcp_tw"):
        x = h.rows[normal, IDX[f]]
        assert np.std(np.diff(x)) > noise_floor(f, float(np.median(x)), h.cpus) / 3, f


def test_labels_cover_the_incidents_after_the_quiet_days_and_each_stands_out_of_its_noise() -> None:
    h = generate(3)
    lab = np.zeros(len(h.labels), np.int8)
    incidents = [e for e in h.events if e.labelled]
    for e in incidents:
        lab[e.start : e.end] = 1
    assert np.array_equal(lab, h.labels)
    assert min(e.start for e in incidents) >= 8 * DAY
    lengths = [e.end - e.start for e in incidents]
    assert min(lengths) < 5 <= max(lengths) and len(incidents) >= 20
    normal = h.labels == 0
    med = np.median(h.rows[normal], axis=0)
    q25, q75 = np.percentile(h.rows[normal], [25, 75], axis=0)
    for e in incidents:
        peaks = [
            np.abs(h.rows[e.start : e.end, IDX[f]] - med[IDX[f]]).max()
            / max(noise_floor(f, med[IDX[f]], h.cpus), (q75[IDX[f]] - q25[IDX[f]]) / 1.349)
            for f in e.features
        ]
        assert max(peaks) > 3, (e, peaks)


def test_seasonal_hosts_run_their_jobs_unlabelled_and_one_off_schedule_backup_labelled() -> None:
    h = generate(2, seasonal=True)
    backups = [e for e in h.events if e.kind == "nightly_backup"]
    assert len(backups) >= 20 and not any(e.labelled for e in backups)
    assert all(h.labels[e.start : e.end].sum() == 0 for e in backups)
    off = [e for e in h.events if e.kind == "offschedule_backup"]
    assert len(off) == 1 and off[0].labelled and h.labels[off[0].start : off[0].end].all()
    batches = [e for e in h.events if e.kind == "monday_batch"]
    assert batches and all(((h.timestamps[e.start] // 86400) + 3) % 7 == 0 for e in batches)
