"""Operator feedback on the score: ignored features and per-feature weights (``scoring:`` in the config).

``scoring.ignore_features`` and ``scoring.feature_weights`` become one weight
vector in the bundle's feature order (unnamed features 1, ignored ones 0)
that :class:`WeightedScorer` multiplies into the per-feature errors before
the window reduction: an ignored feature adds nothing to the score,
has a per-feature score of 0 and no contribution.  Thresholds are not
touched (the bundle and the host calibration stay valid); calibration runs
on the unweighted model.  Reference: ``docs/feedback.md``.
"""

from __future__ import annotations

import numpy as np

from agent.config import ScoringConfig
from agent.score.scoring import Scorer


def weight_vector(features: tuple[str, ...], cfg: ScoringConfig) -> np.ndarray | None:
    """(F,) weights for ``features``, None when every weight is 1 (scoring unchanged).

    Names the bundle lacks are ignored here; ``check-config`` reports them.
    """
    w = np.array([0.0 if f in cfg.ignore_features else float(cfg.feature_weights.get(f, 1.0)) for f in features])
    return None if np.all(w == 1.0) else w


class WeightedScorer(Scorer):
    """A :class:`~agent.score.scoring.Scorer` whose per-feature errors are multiplied by ``weights`` (F,).

    Every score (window, per feature, contributions) is computed from
    :meth:`errors_at`, so the weights act before the window reduction.
    """

    def __init__(self, scorer: Scorer, weights: np.ndarray) -> None:
        super().__init__(scorer.spec, scorer.predictor)
        self.weights = np.asarray(weights, np.float64)

    def errors_at(self, raw_windows: np.ndarray, tails: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        return tuple(e * self.weights for e in super().errors_at(raw_windows, tails))


def weighted(scorer: Scorer, cfg: ScoringConfig) -> Scorer:
    """``scorer`` with the configured weights on its per-feature errors (the same scorer when there are none)."""
    w = weight_vector(scorer.spec.features, cfg)
    return scorer if w is None else WeightedScorer(scorer, w)
