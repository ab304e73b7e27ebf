"""The one detector protocol of training: baselines and bundles are scored, evaluated and reported alike.

A detector is fitted on raw training rows (T, F), then scores any raw (T, F)
series into :class:`Scores`: a window score per row (NaN where it has none,
e.g. before the first full window) and, when it can say, each feature's part
of it.  ``threshold`` is the unsupervised threshold it ships: flag ``score >
threshold``.  Implementations: :mod:`training.baselines` (point-wise, POT on
held-out training rows) and :class:`training.bundle_detector.BundleDetector`
(a bundle through the agent's scorer; scores normalised, threshold 1.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Scores:
    """A detector's output on a (T, F) series; higher = more anomalous."""

    score: np.ndarray  # (T,) window score, NaN where there is none
    feature_scores: np.ndarray | None  # (T, F) each feature's part of the score (HitRate ranks it); None: not known
    feature_scores_normalised: np.ndarray | None = None  # (T, F) per-feature score over its own threshold (bundles)


class Detector(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def threshold(self) -> float:
        """Flag ``score > threshold``; set by :meth:`fit`."""
        ...

    @property
    def threshold_method(self) -> str: ...

    def fit(self, train: np.ndarray) -> Detector:
        """Fit on raw (T, F) training rows (and set the threshold); returns self."""
        ...

    def score_series(self, x: np.ndarray) -> Scores:
        """Score every row of a raw (T, F) series."""
        ...

    def info(self) -> dict[str, Any]:
        """Facts for the evaluation record (JSON-ready): fit time, threshold parameters, bundle, ..."""
        ...
