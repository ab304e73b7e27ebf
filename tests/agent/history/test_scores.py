"""agent.history.scores: the score ring is bounded, survives a restart, keeps everything across a clock jump."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from agent.history.scores import ScoreHistory

FEATURES = ("cpu_r", "load_1", "mem_u", "disk_u")


def fill(ring: ScoreHistory, n: int, t0: float = 1_800_000_000.0, step: float = 60.0) -> None:
    for i in range(n):
        ring.append(t0 + i * step, 0.1 * i, i % 7 == 0, [("cpu_r", 0.5), ("mem_u", 0.3), ("disk_u", 0.2)])


def test_bounded_by_count_oldest_dropped_and_under_half_a_megabyte() -> None:
    ring = ScoreHistory(100, FEATURES)
    fill(ring, 250)
    t, s, a = ring.arrays()
    assert len(ring) == 100 and len(t) == 100
    assert np.all(np.diff(t) > 0) and s[0] == pytest.approx(15.0)  # entries 150..249 kept
    day = ScoreHistory(1440, tuple(f"f{i}" for i in range(38)))
    assert day.nbytes < 0.5 * 2**20
    e = ring.entries()[-1]
    assert e.top == (("cpu_r", 0.5), ("mem_u", pytest.approx(0.3)), ("disk_u", pytest.approx(0.2)))


def test_survives_a_restart_and_a_torn_or_foreign_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "scores.npz"
    ring = ScoreHistory(50, FEATURES, path, save_every=10)
    fill(ring, 35)  # saved at 10, 20, 30: the last 5 only in memory
    assert ScoreHistory(50, FEATURES, path).entries() == ring.entries()[:30]
    ring.save()  # at shutdown
    back = ScoreHistory(50, FEATURES, path)
    assert back.entries() == ring.entries() and len(back) == 35
    smaller = ScoreHistory(20, FEATURES, path)
    assert smaller.entries() == ring.entries()[-20:]
    path.write_bytes(b"PK\x03\x04 not a zip")
    assert len(ScoreHistory(50, FEATURES, path)) == 0  # logged, starts empty, never fatal


def test_a_clock_jump_drops_nothing_and_queries_filter_by_time() -> None:
    ring = ScoreHistory(100, FEATURES)
    fill(ring, 10, t0=2_000_000_000.0)
    fill(ring, 10, t0=1_999_990_000.0)  # NTP stepped the clock back almost 3 hours
    assert len(ring) == 20
    assert [e.time for e in ring.entries()][:10] == [2_000_000_000.0 + 60 * i for i in range(10)]
    assert len(ring.entries(since=2_000_000_000.0)) == 10
    assert len(ring.entries(until=1_999_999_999.0)) == 10


def test_a_bundle_with_other_features_keeps_the_entries_and_the_contributors_it_still_has(tmp_path: Path) -> None:
    path = tmp_path / "scores.npz"
    ring = ScoreHistory(10, FEATURES, path)
    fill(ring, 3)
    ring.rebind(("disk_u", "cpu_r", "new"))
    assert [c for c, _ in ring.entries()[0].top] == ["cpu_r", "disk_u"]
    ring.save()
    other = ScoreHistory(10, ("mem_u", "cpu_r"), path)
    assert [c for c, _ in other.entries()[0].top] == ["cpu_r"] and len(other) == 3


def test_a_refused_save_is_counted_and_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "scores.npz"
    ring = ScoreHistory(10, FEATURES, path, save_every=2)

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    fill(ring, 4)
    assert ring.save_errors == 2 and len(ring) == 4 and not path.exists()
    monkeypatch.undo()
    assert ring.save() and len(ScoreHistory(10, FEATURES, path)) == 4
