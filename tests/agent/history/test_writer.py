"""agent.history.writer (writer) and training.history (reader): format, rotation, bound, failures, gaps."""

from __future__ import annotations

import builtins
import errno
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.history.writer import HistoryWriter, format_cell, format_row
from training.history import (
    HistoryData,
    fill_short_runs,
    grid_positions,
    load_history,
    load_history_segments,
    parse_rows,
    to_training_array,
)

FEATS = ("cpu_r", "load_1", "total_mem")


class Clock:
    def __init__(self, t: float = 1_700_000_000.0, step: float = 60.0) -> None:
        self.t, self.step = t, step

    def __call__(self) -> float:
        t = self.t
        self.t += self.step
        return t


def writer(tmp_path: Path, **kw: Any) -> HistoryWriter:
    args: dict[str, Any] = dict(max_bytes=1 << 20, rows_per_file=100, clock=Clock(), interval=60.0, hostname="h1")
    args.update(kw)
    return HistoryWriter(tmp_path / "hist", FEATS, None, **args)


def sets(d: Path) -> list[str]:
    return sorted(p.stem for p in d.glob("history-*.txt"))


def test_cells_are_compact_and_round_trip() -> None:
    assert [format_cell(v) for v in (0.0, 3.0, -2.0, 0.1, 1e-5, 16e9, np.nan, np.inf)] == [
        "0",
        "3",
        "-2",
        "0.1",
        "1e-05",
        "16000000000",
        "",
        "",
    ]
    assert format_row(np.array([0.25, np.nan, 7.0])) == "0.25,,7\n"
    assert np.array_equal(parse_rows("0.25,,7\n1,2,3\n", 3), [[0.25, np.nan, 7], [1, 2, 3]], equal_nan=True)


def test_read_back_equals_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(25, 3)) * np.array([1, 1e3, 1e10])
    x[3, 1] = np.nan
    x[7] = np.nan
    with writer(tmp_path, rows_per_file=10) as w:
        assert all(w.append(r) for r in x)
    h = load_history(tmp_path / "hist")
    assert h.features == FEATS and h.units == ("ratio", "", "bytes") and h.interval == 60.0
    assert np.array_equal(h.values, x, equal_nan=True)  # bit-exact: repr round-trips
    assert np.array_equal(h.timestamps, 1_700_000_000.0 + 60.0 * np.arange(25))
    assert len(h.files) == 3 and h.skipped == ()


def test_sidecar_contents_and_layout(tmp_path: Path) -> None:
    w = writer(tmp_path, rows_per_file=4)
    for i in range(6):
        w.append(np.array([0.5, i, 8.0]))
    d = tmp_path / "hist"
    first, second = sets(d)
    assert first == "history-20231114T221320Z"  # UTC stamp of 1_700_000_000
    meta = json.loads((d / f"{first}.json").read_text())
    assert meta["features"] == list(FEATS) and meta["units"] == ["ratio", "", "bytes"]
    assert meta["hostname"] == "h1" and meta["interval_seconds"] == 60.0
    assert (meta["rows"], meta["complete"], meta["missing_value"]) == (4, True, "empty cell")
    assert meta["first_timestamp"] == 1_700_000_000.0 and meta["last_timestamp"] == 1_700_000_180.0
    assert (d / f"{first}.txt").read_text() == "0.5,0,8\n0.5,1,8\n0.5,2,8\n0.5,3,8\n"
    assert (d / f"{first}.ts").read_text().splitlines()[:2] == ["1700000000.000", "1700000060.000"]
    live = json.loads((d / f"{second}.json").read_text())
    assert (live["rows"], live["complete"]) == (0, False)  # rewritten only on rotation and close
    w.close()
    assert json.loads((d / f"{second}.json").read_text())["rows"] == 2
    assert not list(d.glob("*.tmp"))


def test_disk_use_stays_bounded_and_oldest_go_first(tmp_path: Path) -> None:
    max_bytes = 6000
    w = writer(tmp_path, max_bytes=max_bytes, rows_per_file=20)
    d = tmp_path / "hist"
    worst = 0
    for i in range(400):
        assert w.append(np.array([0.123456, i, 17179869184.0]))
        on_disk = sum(p.stat().st_size for p in d.iterdir())
        worst = max(worst, on_disk)
        assert w.disk_usage() == on_disk
    assert worst <= max_bytes
    h = load_history(d)
    assert h.values[-1, 1] == 399 and h.values[0, 1] > 0  # old rows were deleted, newest kept
    assert np.array_equal(np.diff(h.values[:, 1]), np.ones(len(h.values) - 1))  # no hole in what is kept


def test_byte_cap_rotates_even_below_rows_per_file(tmp_path: Path) -> None:
    w = writer(tmp_path, max_bytes=4000, rows_per_file=1_000_000)
    for i in range(200):
        w.append(np.array([0.5, i, 1.0]))
    assert len(sets(tmp_path / "hist")) >= 2


def test_earlier_runs_count_towards_the_bound(tmp_path: Path) -> None:
    w1 = writer(tmp_path, max_bytes=5000, rows_per_file=10)
    for i in range(50):
        w1.append(np.array([0.5, i, 1.0]))
    w1.close()
    w2 = writer(tmp_path, max_bytes=5000, rows_per_file=10, clock=Clock(1_800_000_000.0))
    for i in range(50):
        w2.append(np.array([0.5, 1000 + i, 1.0]))
    d = tmp_path / "hist"
    assert sum(p.stat().st_size for p in d.iterdir()) <= 5000
    assert load_history(d).values[-1, 1] == 1049


def test_feature_change_starts_a_new_file(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.append(np.array([0.1, 1, 2]))
    w.set_features(FEATS)  # same schema: same file
    w.append(np.array([0.2, 1, 2]))
    w.set_features(("cpu_r", "mem_u"))
    w.append(np.array([0.3, 0.4]))
    w.close()
    d = tmp_path / "hist"
    assert len(sets(d)) == 2
    h = load_history(d)  # default: the newest schema
    assert h.features == ("cpu_r", "mem_u") and h.values.tolist() == [[0.3, 0.4]]
    assert len(h.skipped) == 1 and "other features" in h.skipped[0]
    assert load_history(d, FEATS).values.shape == (2, 3)
    with pytest.raises(ValueError, match="3 values, the schema has 2"):
        w.append(np.zeros(3))


def test_directory_that_cannot_exist_then_recovers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "hist"
    blocker.write_text("a file where the directory should be")
    w = writer(tmp_path)
    with caplog.at_level(logging.WARNING, "agent.history.writer"):
        assert w.append(np.array([0.1, 1, 2])) is False
        assert w.append(np.array([0.1, 2, 2])) is False
    assert w.errors == 2
    assert len([r for r in caplog.records if "failed" in r.message]) == 1  # once per streak
    blocker.unlink()
    assert w.append(np.array([0.1, 3, 2])) is True
    w.close()
    assert load_history(blocker).values[:, 1].tolist() == [3]


def test_enospc_mid_write_is_counted_and_recovers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = {"on": False}
    real_open = builtins.open

    class FullFile:
        def __init__(self, f: Any) -> None:
            self._f = f

        def write(self, s: str) -> int:
            if full["on"]:
                self._f.write(s[: len(s) // 2])  # a torn line, as a real full disk leaves
                self._f.flush()
                raise OSError(errno.ENOSPC, "No space left on device")
            return self._f.write(s)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._f, name)

        def __enter__(self) -> FullFile:
            return self

        def __exit__(self, *exc: object) -> None:
            self._f.close()

    def fake_open(path: Any, mode: str = "r", *a: Any, **kw: Any) -> Any:
        if full["on"] and any(c in mode for c in "xwa"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return FullFile(real_open(path, mode, *a, **kw))

    monkeypatch.setattr("agent.history.writer.open", fake_open, raising=False)
    w = writer(tmp_path)
    assert w.append(np.array([0.1, 1, 2]))
    full["on"] = True
    assert [w.append(np.array([0.1, i, 2])) for i in (2, 3, 4)] == [False, False, False]
    assert w.errors == 3
    full["on"] = False
    assert w.append(np.array([0.1, 5, 2])) and w.append(np.array([0.1, 6, 2]))
    w.close()
    h = load_history(tmp_path / "hist")
    assert h.values[:, 1].tolist() == [1, 5, 6]  # the torn row is dropped, nothing glued to it
    assert len(h.files) == 2


def test_torn_and_unpaired_rows_are_dropped(tmp_path: Path) -> None:
    w = writer(tmp_path)
    for i in range(3):
        w.append(np.array([0.1, i, 2]))
    w.close()
    d = tmp_path / "hist"
    stem = sets(d)[0]
    with open(d / f"{stem}.txt", "a") as f:
        f.write("0.1,3,2\n0.1,4")  # a row without timestamp, then a torn row
    assert load_history(d).values[:, 1].tolist() == [0, 1, 2]
    (d / f"{stem}.txt").write_text("0.1,0,2\n0.1,x,2\n")
    with pytest.raises(FileNotFoundError, match="non-numeric cell"):
        load_history(d)


# --- training/history: gaps ------------------------------------------------------------------
def hd(values: list[list[float]], ts: list[float]) -> HistoryData:
    return HistoryData(np.array(values, dtype=float), np.array(ts, dtype=float), ("a", "b"), ("", ""), 60.0, (), ())


def test_grid_positions() -> None:
    assert grid_positions(np.array([0, 60, 125, 300, 330, 1000.0]), 60).tolist() == [0, 1, 2, 5, 6, 17]


def test_fill_short_runs_only_after_a_value_and_up_to_the_limit() -> None:
    n = np.nan
    x = np.array([[n, 1], [1, n], [n, n], [n, 4], [5, n]], dtype=float)
    out = fill_short_runs(x, 2)
    # col 0: leading NaN stays, run of 2 after 1 filled; col 1: run of 2 filled, trailing run of 1 filled
    assert np.array_equal(out, [[n, 1], [1, 1], [1, 1], [1, 4], [5, 4]], equal_nan=True)
    assert np.array_equal(fill_short_runs(x, 1)[:, 0], [n, 1, n, n, 5], equal_nan=True)


def test_to_training_array_fills_short_gaps_and_splits_long_ones() -> None:
    n = np.nan
    # t:    0     60      120       (gap of 2 rows)  300     360       (gap of 9 rows) 960    1020   1080
    vals = [[1, n], [2, 20], [3, 30], [6, 60], [7, n], [8, 80], [9, 90], [10, 100]]
    ts = [0, 60, 120, 300, 360, 960, 1020, 1080]
    segs = to_training_array(hd(vals, ts), max_gap_rows=2)
    # first row dropped (leading NaN in b); rows at 180 and 240 forward-filled from 120; [7, NaN] filled to 60
    assert [s.tolist() for s in segs] == [
        [[2, 20], [3, 30], [3, 30], [3, 30], [6, 60], [7, 60]],
        [[8, 80], [9, 90], [10, 100]],
    ]
    assert [len(s) for s in to_training_array(hd(vals, ts), max_gap_rows=1)] == [2, 2, 3]
    assert [len(s) for s in to_training_array(hd(vals, ts), max_gap_rows=2, min_rows=4)] == [6]


def test_long_nan_run_splits_the_segment() -> None:
    n = np.nan
    vals = [[1, 1], [2, n], [3, n], [4, n], [5, 5], [6, 6]]
    segs = to_training_array(hd(vals, [0, 60, 120, 180, 240, 300]), max_gap_rows=2)
    assert [s.tolist() for s in segs] == [[[1, 1]], [[5, 5], [6, 6]]]


def test_load_history_segments(tmp_path: Path) -> None:
    w = writer(tmp_path, clock=Clock(0.0, 60.0))
    for i in range(10):
        w.append(np.array([0.5, i, 1.0]), timestamp=i * 60.0 + (600 if i >= 5 else 0))
    w.close()
    segs, names = load_history_segments(tmp_path / "hist", max_gap_rows=3)
    assert names == FEATS and [len(s) for s in segs] == [5, 5]
    segs, _ = load_history_segments(tmp_path / "hist", max_gap_rows=10)
    assert [len(s) for s in segs] == [20] and segs[0][5:15, 1].tolist() == [4] * 10
