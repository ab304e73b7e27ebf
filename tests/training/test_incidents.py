"""training.incidents: runs above the threshold, merged across short gaps, ranked, with their shares."""

from __future__ import annotations

import numpy as np
import pytest

from training.incidents import find_incidents, find_runs


def test_runs_are_half_open_and_nan_is_below() -> None:
    score = np.array([0.5, 1.5, 2.0, 0.9, np.nan, 1.1, 1.0, 3.0])
    assert find_runs(score).tolist() == [[1, 3], [5, 6], [7, 8]]  # 1.0 itself is not above 1.0
    assert find_runs(score, threshold=1.05).tolist() == [[1, 3], [5, 6], [7, 8]]
    assert find_runs(np.zeros(4)).shape == (0, 2)


def test_short_gaps_are_bridged() -> None:
    score = np.array([2.0, 0.0, 2.0, 0.0, 0.0, 2.0])
    assert find_runs(score, merge_gap=1).tolist() == [[0, 3], [5, 6]]
    assert find_runs(score, merge_gap=2).tolist() == [[0, 6]]


def _case() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[frozenset[int]]]:
    score = np.array([0.0, 3.0, 0.0, 1.5, 1.5, 1.5, 1.5, 0.0])  # run A: peak 3 area 2; run B: peak 1.5 area 2
    contributions = np.tile([0.25, 0.75], (8, 1))
    contributions[1] = [1.0, 0.0]
    labels = np.array([0, 0, 0, 0, 1, 0, 0, 0])
    dims = [frozenset[int]() for _ in range(8)]
    dims[4] = frozenset({1})
    return score, contributions, labels, dims


def test_incidents_carry_peak_area_labels_shares_and_truth() -> None:
    score, contributions, labels, dims = _case()
    a, b = sorted(find_incidents(score, contributions, labels, dims, n=5), key=lambda i: i.start)
    assert (a.start, a.end, a.duration, a.peak, a.peak_row, a.area) == (1, 2, 1, 3.0, 1, 2.0)
    assert not a.labelled and a.truth == frozenset() and a.shares.tolist() == [1.0, 0.0]
    assert (b.start, b.end, b.peak_row) == (3, 7, 3) and b.area == pytest.approx(2.0)
    assert b.labelled and b.truth == frozenset({1}) and b.shares.tolist() == [0.25, 0.75]


def test_ranking_by_area_or_peak_and_the_top_n() -> None:
    score, contributions, labels, dims = _case()
    by_area = find_incidents(score, contributions, labels, dims, n=2, rank_by="area")
    assert [i.start for i in by_area] == [1, 3]  # equal area: the higher peak first
    by_peak = find_incidents(score, contributions, labels, dims, n=1, rank_by="peak")
    assert [i.start for i in by_peak] == [1]
    with pytest.raises(ValueError, match="rank_by"):
        find_incidents(score, contributions, labels, dims, n=1, rank_by="length")
