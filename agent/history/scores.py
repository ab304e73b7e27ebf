"""The last day of scores: a bounded ring of (time, score, anomalous, top contributors), kept across restarts.

The landing page draws it, ``/api/v1/history`` serves it and ``anomaly-agent
explain`` reads it, so the on-call sees when an alert started and which metric
led without Prometheus at hand.  ``capacity`` entries (1440 = 24 h at one a
minute) in arrival order: bounded by count, never by time, so a clock jump
(NTP step, DST is not one: times are unix seconds) drops nothing; queries by
time filter the entries.  Columns are numpy arrays (31 bytes an entry:
45 KB for a day), saved as a plain ``.npz`` (no pickles) beside the
calibration state every ``save_every`` entries and at shutdown, atomically.
Contributors are stored as indices into the feature names saved with them,
so a bundle with other features reloads the names it can and drops the rest.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TOP = 3  # contributors kept per entry
FILE = "scores.npz"


@dataclass(frozen=True)
class Entry:
    time: float  # unix seconds
    score: float
    anomalous: bool
    top: tuple[tuple[str, float], ...]  # (feature, share), largest first


class ScoreHistory:
    """A fixed-size ring of entries, oldest first; see the module docstring."""

    def __init__(self, capacity: int, features: Sequence[str], path: Path | None = None, save_every: int = 10) -> None:
        if capacity < 1 or save_every < 1:
            raise ValueError("ScoreHistory: capacity and save_every must be >= 1")
        self.capacity, self.path, self.save_every = capacity, path, save_every
        self._set_features(tuple(features))
        self._time = np.zeros(capacity, np.float64)
        self._score = np.zeros(capacity, np.float32)
        self._anomalous = np.zeros(capacity, bool)
        self._top = np.full((capacity, TOP), -1, np.int16)  # index into features, -1 = none
        self._share = np.zeros((capacity, TOP), np.float32)
        self._n = self._next = self._unsaved = 0
        self.save_errors = 0
        self._lock = threading.Lock()  # the sampling job appends while HTTP threads read
        if path is not None:
            self._load(path)

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self._time, self._score, self._anomalous, self._top, self._share))

    def rebind(self, features: Sequence[str]) -> None:
        """A bundle with other features: keep the entries, re-index the contributors it still has."""
        with self._lock:
            self._rebind(tuple(features))

    def _rebind(self, features: tuple[str, ...]) -> None:
        if features == self.features:
            return
        where = {f: i for i, f in enumerate(features)}
        remap = np.array([where.get(f, -1) for f in self.features] + [-1], np.int16)
        self._top = remap[self._top]  # -1 indexes the trailing -1
        self._set_features(features)

    def _set_features(self, features: tuple[str, ...]) -> None:
        """The feature names and their index (name -> position) that :meth:`append` looks contributors up in."""
        self.features = features
        self._where = {f: j for j, f in enumerate(features)}

    def append(self, t: float, score: float, anomalous: bool, top: Sequence[tuple[str, float]]) -> None:
        with self._lock:
            self._append(t, score, anomalous, top)
        if self.path is not None and self._unsaved >= self.save_every:
            self.save()

    def _append(self, t: float, score: float, anomalous: bool, top: Sequence[tuple[str, float]]) -> None:
        i = self._next
        self._time[i], self._score[i], self._anomalous[i] = t, score, anomalous
        self._top[i], self._share[i] = -1, 0.0
        where = self._where
        for k, (name, share) in enumerate(list(top)[:TOP]):
            if name in where and math.isfinite(share):
                self._top[i, k], self._share[i, k] = where[name], share
        self._next = (i + 1) % self.capacity
        self._n = min(self._n + 1, self.capacity)
        self._unsaved += 1

    def _order(self) -> np.ndarray:
        return (np.arange(self._n) + (self._next - self._n)) % self.capacity

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, scores float64, anomalous) oldest first."""
        with self._lock:
            o = self._order()
            return self._time[o].copy(), self._score[o].astype(np.float64), self._anomalous[o].copy()

    def entries(self, since: float | None = None, until: float | None = None) -> list[Entry]:
        """Entries oldest first, those with ``since <= time <= until`` when given."""
        with self._lock:
            return self._entries(since, until)

    def _entries(self, since: float | None, until: float | None) -> list[Entry]:
        out = []
        for i in self._order():
            t = float(self._time[i])
            if (since is not None and t < since) or (until is not None and t > until):
                continue
            top = tuple(
                (self.features[j], float(s))
                for j, s in zip(self._top[i], self._share[i])
                if 0 <= j < len(self.features)
            )
            out.append(Entry(t, float(self._score[i]), bool(self._anomalous[i]), top))
        return out

    # -- persistence ------------------------------------------------------------------------------
    def save(self) -> bool:
        """Write the ring atomically; False (counted, logged once per streak) when the disk refuses."""
        if self.path is None:
            return True
        with self._lock:  # a consistent copy (45 KB a day); the disk is written outside the lock
            o = self._order()
            cols = {
                "time": self._time[o],
                "score": self._score[o],
                "anomalous": self._anomalous[o],
                "top": self._top[o],
                "share": self._share[o],
                "features": np.array(self.features, dtype=str),
            }
            self._unsaved = 0
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, **cols)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            if not self.save_errors:
                log.warning("score history: cannot save %s (kept in memory, retried): %s", self.path, exc)
            self.save_errors += 1
            return False
        return True

    def _load(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as doc:
                cols = {k: doc[k] for k in ("time", "score", "anomalous", "top", "share", "features")}
            n = len(cols["time"])
            if cols["top"].shape != (n, TOP) or cols["share"].shape != (n, TOP) or cols["score"].shape != (n,):
                raise ValueError("columns of different lengths")
            if n and not (int(cols["top"].min()) >= -1 and int(cols["top"].max()) < len(cols["features"])):
                raise ValueError("contributor indices outside the saved feature names")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("score history: %s unusable (%s); starting empty", path, exc)
            return
        saved = tuple(str(f) for f in cols["features"])
        keep = slice(max(0, n - self.capacity), n)
        k = len(cols["time"][keep])
        self._time[:k], self._score[:k], self._anomalous[:k] = (
            cols["time"][keep],
            cols["score"][keep],
            cols["anomalous"][keep],
        )
        self._top[:k], self._share[:k] = cols["top"][keep], cols["share"][keep]
        self._n, self._next = k, k % self.capacity
        wanted = self.features
        self._set_features(saved)
        self._rebind(wanted)
