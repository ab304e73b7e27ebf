"""agent.model.loaded: a bundle verified with its interpreter before it serves (shapes, hash, a first inference)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from agent.model.bundle import BundleError, load_bundle
from agent.model.loaded import check_shapes, load_model
from agent.model.predictors import TFLitePredictor


def test_default_bundle_loads_and_scores(default_bundle: Path) -> None:
    model = load_model(default_bundle)
    b = model.bundle
    assert model.runtime in ("ai_edge_litert", "tflite_runtime")
    window = np.random.default_rng(0).uniform(0.2, 0.4, (b.window, len(b.features)))
    result = model.scorer.score_window(window)
    assert np.isfinite(result.score) and result.score >= 0


@dataclass
class _Shapes:
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


def _predictor(input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> TFLitePredictor:
    return cast(TFLitePredictor, _Shapes(input_shape, output_shape))  # check_shapes reads the two shapes only


def test_check_shapes_names_what_differs(default_bundle: Path) -> None:
    b = load_bundle(default_bundle)
    w, n = b.spec().input_length, len(b.features)
    out = (1, w, n) if b.kind == "autoencoder" else (1, n)
    check_shapes(b, _predictor((1, w, n), out))
    with pytest.raises(BundleError, match="does not match bundle window/features"):
        check_shapes(b, _predictor((1, w + 1, n), out))
    with pytest.raises(BundleError, match="model output shape .* does not match expected"):
        check_shapes(b, _predictor((1, w, n), (1, 3)))


def test_a_hash_matching_but_corrupt_model_is_a_bundle_error(default_bundle: Path) -> None:
    doc = json.loads((default_bundle / "bundle.json").read_text())
    model = default_bundle / doc["model"]["file"]
    model.write_bytes(b"TFL3" + bytes(200))  # not a flatbuffer the interpreter can use
    doc["model"]["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    doc["model"]["size_bytes"] = model.stat().st_size
    (default_bundle / "bundle.json").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="model.tflite: (cannot load|unusable) TFLite model"):
        load_model(default_bundle)
