"""``TFLitePredictor`` runs big batches in chunks of ``MAX_BATCH`` (found by the memory benchmark).

The interpreter's arena grows to the largest batch it has run and keeps that
memory; chunking bounds it without changing any output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.model.predictors import MAX_BATCH, TFLitePredictor

MODEL = Path(__file__).resolve().parents[2] / "models" / "default" / "model.tflite"

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="models/default is not there yet")


def test_big_batch_equals_window_by_window_and_keeps_the_arena_small() -> None:
    p = TFLitePredictor(MODEL)
    if p.fixed_batch:
        pytest.skip("the default model has a fixed batch: chunking does not apply")
    _, w, f = p.input_shape
    x = np.random.default_rng(3).random((2 * MAX_BATCH + 7, w, f), dtype=np.float32)
    got = p.predict(x)
    assert got.shape == (len(x), *p.output_shape[1:])
    assert p._batch <= MAX_BATCH  # the interpreter never saw the whole batch
    one = np.concatenate([p.predict(x[i : i + 1]) for i in (0, MAX_BATCH, len(x) - 1)])
    np.testing.assert_allclose(got[[0, MAX_BATCH, len(x) - 1]], one, rtol=1e-5, atol=1e-6)
