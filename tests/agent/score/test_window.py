"""agent.score.window: the batch windowing function and the daemon's ring buffer."""

from __future__ import annotations

import numpy as np
import pytest

from agent.score.window import RingWindow, make_windows


def test_make_windows_shape_order_and_stride() -> None:
    x = np.arange(20, dtype=np.float64).reshape(10, 2)  # row i = (2i, 2i+1)
    w = make_windows(x, 4)
    assert w.shape == (7, 4, 2)
    assert np.array_equal(w[0], x[0:4]) and np.array_equal(w[-1], x[6:10])  # window i ends at row i + W - 1
    s = make_windows(x, 4, step=3)
    assert s.shape == (3, 4, 2) and np.array_equal(s[1], x[3:7])


def test_make_windows_is_a_read_only_view() -> None:
    x = np.zeros((6, 3))
    w = make_windows(x, 2)
    assert np.shares_memory(w, x)
    with pytest.raises(ValueError):
        w[0, 0, 0] = 1.0


def test_make_windows_shorter_than_one_window_is_empty() -> None:
    w = make_windows(np.ones((3, 5), dtype=np.float32), 4)
    assert w.shape == (0, 4, 5) and w.dtype == np.float32


@pytest.mark.parametrize(("x", "size", "step"), [(np.ones(5), 2, 1), (np.ones((5, 2)), 0, 1), (np.ones((5, 2)), 2, 0)])
def test_make_windows_refuses_bad_arguments(x: np.ndarray, size: int, step: int) -> None:
    with pytest.raises(ValueError):
        make_windows(x, size, step)


def test_ring_window_keeps_the_last_rows_oldest_first() -> None:
    ring = RingWindow(3, 2)
    assert not ring.full and ring.fill_ratio == 0.0 and np.isnan(ring.view()).all()
    for i in range(5):
        ring.push(np.array([i, 10 * i]))
    assert ring.full and ring.fill_ratio == 1.0
    assert ring.view().tolist() == [[2, 20], [3, 30], [4, 40]]


def test_ring_window_fill_ratio_and_clear() -> None:
    ring = RingWindow(4, 1)
    ring.push(np.array([1.0]))
    assert ring.fill_ratio == 0.25 and not ring.full
    assert ring.view()[-1, 0] == 1.0
    ring.clear()
    assert ring.fill_ratio == 0.0 and np.isnan(ring.view()).all()


def test_ring_window_push_reuses_its_buffer() -> None:
    # the agent pushes a row every interval for months: the hot path must not allocate
    ring = RingWindow(3, 2)
    buf = ring.view()
    for i in range(10):
        ring.push(np.array([i, i]))
    assert ring.view() is buf and buf.dtype == np.float32
