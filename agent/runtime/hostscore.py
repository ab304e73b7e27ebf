"""The scorer a host runs: the model's, with the host's calibration, the fast tier and operator weights.

Shared by the cycle's calibration, recalibration and model swaps (:mod:`agent.runtime.cycle`).
"""

from __future__ import annotations

from dataclasses import replace

from agent.calibrate.calibrator import Calibrator, scorer_errors_fn
from agent.calibrate.feedback import weighted
from agent.calibrate.fit import FastTier
from agent.config import Config
from agent.model.loaded import LoadedModel
from agent.score.scoring import Scorer


def fast_tier(cfg: Config, model: LoadedModel, calibrator: Calibrator | None) -> FastTier | None:
    """(tail, errors_fn) of the fast tier when ``scoring.fast_samples`` is on for a calibrated z-score
    autoencoder; None otherwise (min-max bundles keep their per-feature thresholds only)."""
    n, spec = cfg.scoring.fast_samples, model.scorer.spec
    if not n or calibrator is None or calibrator.recipe is None or spec.kind != "autoencoder":
        return None
    tail = min(n, spec.window)
    return tail, scorer_errors_fn(model.scorer, tail)


def host_scorer(cfg: Config, model: LoadedModel, calibrator: Calibrator | None) -> Scorer:
    """The model's scorer, with the host's scaler and thresholds (both tiers) once calibrated."""
    scorer = model.scorer
    if calibrator is not None and calibrator.calibrated:
        tier = fast_tier(cfg, model, calibrator)
        spec = scorer.spec if tier is None else replace(scorer.spec, fast_tail=tier[0])
        scorer = Scorer(calibrator.apply(spec, metric=cfg.scoring.metric_tier), scorer.predictor)
    return weighted(scorer, cfg.scoring)  # operator feedback: ignored/weighted features
