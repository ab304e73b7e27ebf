"""The recent rows a live host recalibrates from (docs/detection.md "Recalibration").

A warm-up day does not represent the weeks after it: gauges drift, load
shifts.  After the first calibration the agent keeps the last
``capacity`` raw rows (7 days at one a minute by default) with a flag for
rows it scored anomalous, and refits scaler and threshold from them every
day.  Anomalous rows are left out of the *scaler* fit (an incident must not
become the new normal) once the ring spans its whole capacity and as long as
they are a minority; the threshold always sees every row.

The ring is float32 (1.5 MB for 10080 x 38) and saved as a plain ``.npz``
(no pickles) next to the calibration state, atomically.
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MAX_EXCLUDED_SHARE = 0.25  # more anomalous rows than this: accept the new normal rather than fight it


class RecentRows:
    """A fixed-size ring of (row, anomalous) in arrival order."""

    def __init__(self, capacity: int, n_features: int) -> None:
        if capacity < 1 or n_features < 1:
            raise ValueError("RecentRows: capacity and n_features must be >= 1")
        self.capacity = capacity
        self.n_features = n_features
        # allocated at the first row: a min-max bundle, which never recalibrates, pays nothing
        self._rows = np.empty((0, n_features), np.float32)
        self._anomalous = np.zeros(0, bool)
        self._n = 0  # rows held
        self._next = 0  # slot of the next row

    def __len__(self) -> int:
        return self._n

    @property
    def full(self) -> bool:
        return self._n == self.capacity

    def append(self, row: np.ndarray, anomalous: bool = False) -> None:
        if not len(self._rows):
            self._rows = np.full((self.capacity, self.n_features), np.nan, np.float32)
            self._anomalous = np.zeros(self.capacity, bool)
        self._rows[self._next] = row
        self._anomalous[self._next] = anomalous
        self._next = (self._next + 1) % self.capacity
        self._n = min(self._n + 1, self.capacity)

    def extend(self, rows: np.ndarray) -> None:
        for r in np.asarray(rows)[-self.capacity :]:
            self.append(r)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows float64 (n, F), anomalous (n,)) oldest first."""
        if not self._n:
            return np.empty((0, self.n_features)), np.zeros(0, bool)
        order = (np.arange(self._n) + (self._next - self._n)) % self.capacity
        return self._rows[order].astype(np.float64), self._anomalous[order].copy()

    def scaler_mask(self) -> np.ndarray:
        """Rows the scaler may learn from: all, minus the anomalous ones when the ring is full and they are few."""
        _, anomalous = self.arrays()
        share = float(anomalous.mean()) if len(anomalous) else 0.0
        if self.full and 0 < share <= MAX_EXCLUDED_SHARE:
            return ~anomalous
        return np.ones(len(anomalous), bool)

    # -- persistence --------------------------------------------------------
    def save(self, path: Path) -> None:
        rows, anomalous = self.arrays()
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, rows=rows.astype(np.float32), anomalous=anomalous)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, capacity: int, n_features: int) -> RecentRows:
        """The ring saved at ``path``; an empty one when it is absent or does not fit (logged, never fatal)."""
        ring = cls(capacity, n_features)
        try:
            with np.load(path, allow_pickle=False) as doc:
                rows, anomalous = doc["rows"], doc["anomalous"]
            if rows.ndim != 2 or rows.shape[1] != n_features or anomalous.shape != (len(rows),):
                raise ValueError(f"shape {rows.shape} does not fit {n_features} features")
        except FileNotFoundError:
            return ring
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("calibration: recent rows %s unusable (%s); starting from the calibration rows", path, exc)
            return ring
        for r, a in zip(rows[-capacity:], anomalous[-capacity:]):
            ring.append(r, bool(a))
        return ring
