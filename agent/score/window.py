"""Sliding windows: a ring buffer for the daemon and a pure batch function for offline use."""

from __future__ import annotations

import numpy as np


def make_windows(x: np.ndarray, size: int, step: int = 1) -> np.ndarray:
    """Return all windows of ``size`` consecutive rows.

    Parameters
    ----------
    x : ndarray of shape (T, F)
    size : window length W
    step : stride between window starts

    Returns
    -------
    ndarray of shape (N, W, F) with N = (T - W) // step + 1, a read-only view.
    Window i covers rows i*step .. i*step+W-1, so it "ends" at row i*step+W-1.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected (T, F) array, got shape {x.shape}")
    if size < 1 or step < 1:
        raise ValueError("size and step must be >= 1")
    if len(x) < size:
        return np.empty((0, size, x.shape[1]), dtype=x.dtype)
    v = np.lib.stride_tricks.sliding_window_view(x, size, axis=0)  # (N, F, W)
    return v.transpose(0, 2, 1)[::step]


class RingWindow:
    """Fixed-size window of the most recent rows, oldest first.

    Preallocated so that a steady-state push does not allocate (the agent runs
    for months; every allocation on the hot path is a chance to fragment).
    """

    def __init__(self, size: int, n_features: int) -> None:
        self.size = size
        self.n_features = n_features
        self._buf = np.full((size, n_features), np.nan, dtype=np.float32)
        self._count = 0

    def push(self, row: np.ndarray) -> None:
        self._buf[:-1] = self._buf[1:]
        self._buf[-1] = row
        self._count = min(self._count + 1, self.size)

    def clear(self) -> None:
        self._buf.fill(np.nan)
        self._count = 0

    @property
    def full(self) -> bool:
        return self._count == self.size

    @property
    def fill_ratio(self) -> float:
        return self._count / self.size

    def view(self) -> np.ndarray:
        """The (W, F) window, oldest row first (a view: copy before keeping it)."""
        return self._buf
