"""The scorer a host runs: the model's, with the host's calibration, the fast tier and operator weights.

Shared by the cycle's calibration, recalibration and model swaps (:mod:`agent.runtime.cycle`).
"""

from __future__ import annotations

from dataclasses import replace

from agent.calibrate.calibrator import Calibrator
from agent.calibrate.feedback import weighted
from agent.calibrate.fit import FastTier, scorer_tiers_fn
from agent.config import Config
from agent.model.loaded import LoadedModel
from agent.score.scoring import Scorer, ScoringSpec


def fast_tier(cfg: Config, model: LoadedModel, calibrator: Calibrator | None) -> FastTier | None:
    """The fast tier (its tail; both tiers' errors from one inference) when ``scoring.fast_samples`` is on for a
    calibrated z-score autoencoder; None otherwise (min-max bundles keep their per-feature thresholds only)."""
    n, spec = cfg.scoring.fast_samples, model.scorer.spec
    if not n or calibrator is None or calibrator.recipe is None or spec.kind != "autoencoder":
        return None
    tail = min(n, spec.window)
    return FastTier(tail, scorer_tiers_fn(model.scorer, tail))


def host_scorer(cfg: Config, model: LoadedModel, calibrator: Calibrator | None) -> Scorer:
    """The model's scorer, with the host's scaler and thresholds (both tiers) once calibrated."""
    scorer = model.scorer
    if calibrator is not None and calibrator.calibrated:
        tier = fast_tier(cfg, model, calibrator)
        spec = scorer.spec if tier is None else replace(scorer.spec, fast_tail=tier.tail)
        spec = scaled(calibrator.apply(spec, metric=cfg.scoring.metric_tier), cfg.scoring.threshold_multiplier)
        scorer = Scorer(spec, scorer.predictor)
    return weighted(scorer, cfg.scoring)  # operator feedback: ignored/weighted features


def scaled(spec: ScoringSpec, m: float) -> ScoringSpec:
    """Every threshold of a host-calibrated ``spec`` times ``m`` (``scoring.threshold_multiplier``): the score
    divided by ``m``, so the frontier's chosen multiplier is where the shipped rule (score > 1) pages."""
    if m == 1.0:
        return spec
    return replace(
        spec,
        threshold=spec.threshold * m,
        feature_thresholds=spec.feature_thresholds * m,
        fast_threshold=None if spec.fast_threshold is None else spec.fast_threshold * m,
        metric_threshold=None if spec.metric_threshold is None else spec.metric_threshold * m,
    )
