"""A bundle behind the detector protocol (:mod:`training.detector`).

``fit`` trains a bundle with :func:`training.fit.fit_bundle` (or reuses the
one already at ``path``); ``score_series`` runs it through
:func:`agent.model.loaded.load_model` and the agent's ``Scorer`` on the TFLite model,
so evaluation and reports measure the shipped artefact.  Scores are normalised
by the bundle's threshold, so the detector's threshold is 1.0; the feature
scores that HitRate ranks are the agent's top-contributor shares, and the
per-threshold-normalised feature scores are kept as a second ranking.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from agent.model.bundle import BUNDLE_FILE
from agent.model.loaded import LoadedModel, load_model
from training.detector import Scores
from training.fit import fit_bundle
from training.options import FitOptions

log = logging.getLogger(__name__)


class BundleDetector:
    threshold = 1.0  # scores are the raw error over the bundle's threshold

    def __init__(
        self,
        arch: str,
        path: Path,
        options: FitOptions | None = None,
        feature_names: tuple[str, ...] = (),
        provenance: dict[str, Any] | None = None,
    ) -> None:
        self.name, self.path, self.options = arch, Path(path), options or FitOptions()
        self.feature_names, self.provenance = tuple(feature_names), provenance or {}
        self.model: LoadedModel | None = None
        self._info: dict[str, Any] = {"bundle": str(self.path)}

    @classmethod
    def load(cls, path: Path | str) -> BundleDetector:
        """An existing bundle, ready to score (nothing is trained)."""
        model = load_model(path)
        det = cls(model.bundle.architecture, Path(path), feature_names=model.bundle.features)
        det.model = model
        return det

    def fit(self, train: np.ndarray) -> BundleDetector:
        """Train a bundle on ``train`` into ``path``, or reuse the bundle already there; then load it."""
        if (self.path / BUNDLE_FILE).is_file():
            log.info("%s: reusing bundle %s", self.name, self.path)
            self._info["reused"] = True
        else:
            log.info("%s: training into %s (%s)", self.name, self.path, self.options)
            r = fit_bundle(
                train,
                arch=self.name,
                out=self.path,
                options=self.options,
                feature_names=self.feature_names,
                provenance=self.provenance,
            )
            self._info.update(reused=False, fit_seconds=round(r.seconds, 1), epochs=r.epochs, val_loss=r.val_loss)
        self.model = load_model(self.path)
        if self.feature_names and self.model.bundle.features != self.feature_names:
            raise ValueError(f"{self.path}: bundle features do not match the {len(self.feature_names)} data columns")
        return self

    @property
    def loaded(self) -> LoadedModel:
        if self.model is None:
            raise RuntimeError(f"{self.name}: call fit() (or BundleDetector.load) before scoring")
        return self.model

    @property
    def threshold_method(self) -> str:
        return self.loaded.bundle.threshold.method

    def score_series(self, x: np.ndarray) -> Scores:
        s = self.loaded.scorer.score_series(x)
        return Scores(s.score, s.contributions, s.feature_scores)

    def info(self) -> dict[str, Any]:
        b = self.loaded.bundle
        raw = b.meta.get("training")
        trained: dict[str, Any] = raw if isinstance(raw, dict) else {}
        return {
            **self._info,
            "window": b.window,
            "tail": b.tail,
            "raw_threshold": b.threshold.value,
            "model_id": b.model_id,
            "train_seconds": trained.get("seconds"),
            "train_epochs": trained.get("epochs"),
        }
