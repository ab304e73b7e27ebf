"""agent.calibrate.recent: the ring of recent rows a live host recalibrates from, its scaler mask and its file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.calibrate.recent import MAX_EXCLUDED_SHARE, RecentRows


def _ring(capacity: int, values: list[float], anomalous: frozenset[int] | set[int] = frozenset()) -> RecentRows:
    ring = RecentRows(capacity, 1)
    for i, v in enumerate(values):
        ring.append(np.array([v]), i in anomalous)
    return ring


def test_ring_keeps_the_last_rows_oldest_first() -> None:
    ring = _ring(3, [1, 2, 3, 4, 5], {3})
    rows, anomalous = ring.arrays()
    assert len(ring) == 3 and ring.full
    assert rows[:, 0].tolist() == [3.0, 4.0, 5.0] and anomalous.tolist() == [False, True, False]
    assert rows.dtype == np.float64


def test_extend_keeps_only_what_fits() -> None:
    ring = RecentRows(2, 1)
    ring.extend(np.arange(5.0).reshape(5, 1))
    assert ring.arrays()[0][:, 0].tolist() == [3.0, 4.0] and not ring.arrays()[1].any()


def test_scaler_mask_leaves_out_a_minority_of_anomalous_rows_once_full() -> None:
    assert _ring(8, [1] * 4, {0}).scaler_mask().all()  # not full yet: every row
    assert _ring(8, [1] * 8, {0}).scaler_mask().tolist() == [False] + [True] * 7
    many = set(range(int(8 * MAX_EXCLUDED_SHARE) + 1))  # more than the share: accept the new normal
    assert _ring(8, [1] * 8, many).scaler_mask().all()


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "recent.npz"
    _ring(4, [1, 2, 3, 4, 5], {4}).save(path)
    back = RecentRows.load(path, 4, 1)
    rows, anomalous = back.arrays()
    assert rows[:, 0].tolist() == [2.0, 3.0, 4.0, 5.0] and anomalous.tolist() == [False, False, False, True]
    assert not (tmp_path / "recent.npz.tmp").exists()
    assert RecentRows.load(path, 2, 1).arrays()[0][:, 0].tolist() == [4.0, 5.0]  # a smaller ring keeps the newest


def test_load_of_a_missing_or_unfit_file_is_an_empty_ring(tmp_path: Path) -> None:
    assert len(RecentRows.load(tmp_path / "absent.npz", 4, 1)) == 0
    path = tmp_path / "recent.npz"
    _ring(4, [1, 2]).save(path)
    assert len(RecentRows.load(path, 4, 3)) == 0  # another feature count
    path.write_bytes(b"not npz")
    assert len(RecentRows.load(path, 4, 1)) == 0


@pytest.mark.parametrize(("capacity", "n"), [(0, 1), (1, 0)])
def test_sizes_below_one_are_refused(capacity: int, n: int) -> None:
    with pytest.raises(ValueError):
        RecentRows(capacity, n)


def test_a_file_that_is_not_an_npz_starts_an_empty_ring_instead_of_stopping_the_agent(tmp_path: Path) -> None:
    path = tmp_path / "recent.npz"
    path.write_bytes(b"PK\x03\x04 torn")  # zipfile.BadZipFile is neither OSError nor ValueError
    assert len(RecentRows.load(path, 10, 2)) == 0
