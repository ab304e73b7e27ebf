"""numpy's default ('linear') quantile, bit for bit, without ``np.unique``.

``np.quantile``/``np.nanpercentile`` and ``np.unique`` call ``np.ma.is_masked``,
which imports ``numpy.ma``: 1.2 MB that a long-lived agent would hold from its
first calibration on, for one check that never applies to its plain arrays.
"""

from __future__ import annotations

import math

import numpy as np


def quantile(x: np.ndarray, q: float) -> float:
    """``np.quantile(x, q)`` of 1-D finite ``x`` (linear interpolation between the order statistics)."""
    x = np.asarray(x, np.float64).ravel()
    n = x.size
    if n == 0:
        raise ValueError("quantile of an empty array")
    virtual = (n - 1) * q  # numpy's virtual index for 'linear'
    if virtual >= n - 1:
        return float(x.max())
    lo = math.floor(virtual)
    part = np.partition(x, [lo, lo + 1])
    a, b = float(part[lo]), float(part[lo + 1])
    gamma = virtual - lo
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma  # numpy's _lerp, exact at both ends


def nanpercentile_columns(x: np.ndarray, pct: float) -> np.ndarray:
    """``np.nanpercentile(x, pct, axis=0)`` of (T, F) ``x``; NaN for an all-NaN column."""
    x = np.asarray(x, np.float64)
    q = pct / 100
    out = np.full(x.shape[1], np.nan)
    for j in range(x.shape[1]):
        col = x[:, j]
        col = col[~np.isnan(col)]
        if col.size:
            out[j] = quantile(col, q)
    return out


def unique_sorted(x: np.ndarray) -> np.ndarray:
    """``np.unique(x)`` of finite 1-D ``x``: sorted distinct values."""
    s = np.sort(np.asarray(x).ravel())
    return s[np.concatenate(([True], s[1:] != s[:-1]))] if s.size else s
