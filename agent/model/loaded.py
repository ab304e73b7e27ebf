"""A verified model: bundle, interpreter(s) and scorer, checked together before serving.

Built on :mod:`agent.model.bundle` (schema, hashes) and :mod:`agent.model.predictors`
(interpreters); what the agent, replay, score and evaluation load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.model.bundle import Bundle, BundleError, load_bundle
from agent.model.predictors import EnsemblePredictor, TFLitePredictor
from agent.score.scoring import Scorer
from agent.score.snapshot import ModelInfo


def check_shapes(bundle: Bundle, predictor: TFLitePredictor) -> None:
    """Refuse a model whose tensors do not match what bundle.json declares."""
    n = len(bundle.features)
    w = bundle.spec().input_length
    if predictor.input_shape[1:] != (w, n):
        raise BundleError(
            f"model input shape {predictor.input_shape} does not match bundle window/features (batch, {w}, {n})"
        )
    want = (w, n) if bundle.kind == "autoencoder" else (n,)
    if predictor.output_shape[1:] != want:
        expected = ", ".join(map(str, want))
        raise BundleError(f"model output shape {predictor.output_shape} does not match expected (batch, {expected})")


@dataclass(frozen=True)
class LoadedModel:
    """A verified bundle with its interpreter and scorer, ready to serve."""

    bundle: Bundle
    scorer: Scorer
    runtime: str


def load_model(path: Path | str, num_threads: int = 1) -> LoadedModel:
    """Verify a bundle completely (JSON, hash, interpreter, shapes, a test inference)."""
    bundle = load_bundle(path)
    try:
        return _verified(bundle, num_threads)
    except BundleError:
        raise
    except (ValueError, RuntimeError, LookupError, TypeError) as exc:
        # A flatbuffer whose hash matches but whose content is corrupt fails in odd places:
        # undecodable tensor names, missing shape entries, "Input tensor lacks data" at the first invoke.
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BundleError(f"{bundle.model_path.name}: unusable TFLite model: {msg}") from None


def _verified(bundle: Bundle, num_threads: int) -> LoadedModel:
    predictor: EnsemblePredictor | TFLitePredictor
    if bundle.members:  # an ensemble: one interpreter per member behind one predictor
        predictor = EnsemblePredictor.load(bundle.members, len(bundle.features), num_threads)
    else:
        predictor = TFLitePredictor(bundle.model_path, num_threads=num_threads, sha256=bundle.sha256)
        check_shapes(bundle, predictor)
    scorer = Scorer(bundle.spec(), predictor)
    probe = scorer.errors(np.tile(bundle.scaler.typical, (1, bundle.window, 1)))
    if not np.isfinite(probe).all():
        raise BundleError("model produces NaN/Inf on a test window")
    return LoadedModel(bundle, scorer, predictor.runtime)


def model_info(model: LoadedModel) -> ModelInfo:
    b = model.bundle
    return ModelInfo(b.model_id, b.architecture, b.window, b.sha256, b.features)
