"""Keras -> TFLite (builtin ops only), then a parity check against the agent's predictor.

Recurrent layers with a dynamic batch only convert with Select-TF ops, which
the builtin-only interpreter on a host cannot run.  So the trained (rolled)
model is cloned with ``unroll=True, batch_size=1``, the weights are copied
(the outputs are identical: unrolling changes the graph, not the maths) and
the clone is converted.  The dense model keeps its dynamic batch.

Parity: held-back windows go through the Keras model and through
:class:`agent.model.predictors.TFLitePredictor` (exactly what the agent runs); the
largest absolute output difference must stay below a tolerance.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from agent.model.predictors import TFLitePredictor
from training.models import arch_spec, build_model

if TYPE_CHECKING:  # TensorFlow loads in to_tflite only: importing this module stays cheap
    import keras

PARITY_TOLERANCE = 1e-4  # float32 kernels differ in summation order; real bugs are >> 1e-3


class ParityError(RuntimeError):
    """The converted model does not reproduce the Keras model."""


@dataclass(frozen=True)
class Converted:
    tflite: bytes
    fixed_batch: bool
    ops: tuple[str, ...]  # TFLite op names in the flatbuffer


def inference_clone(model: keras.Model, arch: str, latent: int | None = None) -> keras.Model:
    """The model to convert: an unrolled batch-1 twin for recurrent archs, else ``model`` itself."""
    if not arch_spec(arch).recurrent:
        return model
    _, window, n_features = model.input_shape
    clone = build_model(arch, window, n_features, latent=latent, unroll=True, batch_size=1)
    clone.set_weights(model.get_weights())
    return clone


def to_tflite(model: keras.Model) -> bytes:
    """Convert with ``TFLITE_BUILTINS`` only; raises if any op would need Select-TF."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="anomaly-export-") as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return bytes(converter.convert())


def _op_names(tflite: bytes) -> tuple[str, ...]:
    from ai_edge_litert.interpreter import Interpreter  # the agent's interpreter, as a library

    interp = Interpreter(model_content=tflite)
    return tuple(sorted({d["op_name"] for d in interp._get_ops_details()}))


def convert(model: keras.Model, arch: str, latent: int | None = None) -> Converted:
    """Convert a trained model for the agent; refuses custom/Flex ops."""
    clone = inference_clone(model, arch, latent)
    tflite = to_tflite(clone)
    ops = _op_names(tflite)
    foreign = [op for op in ops if op.startswith("Flex") or op.upper() == "CUSTOM"]
    if foreign:
        raise ValueError(f"converted model uses non-builtin ops: {', '.join(foreign)}")
    return Converted(tflite, clone.input_shape[0] is not None, ops)


def keras_predict(model: keras.Model, windows: np.ndarray, batch: int = 512) -> np.ndarray:
    """Keras outputs for (N, W, F) windows, float32, in inference mode."""
    return np.asarray(model.predict(np.asarray(windows, np.float32), batch_size=batch, verbose=0))


def parity(model: keras.Model, tflite_path: Path, windows: np.ndarray, tolerance: float = PARITY_TOLERANCE) -> float:
    """Max |keras - tflite| over held-back (N, W, F) scaled windows; raises ParityError above ``tolerance``."""
    if len(windows) == 0:
        raise ValueError("parity check needs at least one window")
    want = keras_predict(model, windows)
    got = TFLitePredictor(Path(tflite_path)).predict(windows)
    diff = float(np.max(np.abs(want.astype(np.float64) - got.astype(np.float64))))
    if not diff <= tolerance:  # also catches NaN
        raise ParityError(f"TFLite output differs from Keras by {diff:.3g} (tolerance {tolerance:g})")
    return diff


def inference_us(tflite_path: Path, window: int, n_features: int, repeats: int = 500) -> float:
    """Median wall time of one single-window ``TFLitePredictor.predict`` on one thread, in µs."""
    predictor = TFLitePredictor(Path(tflite_path), num_threads=1)
    x = np.random.default_rng(0).random((1, window, n_features), dtype=np.float32)
    for _ in range(20):  # warm caches and the allocator
        predictor.predict(x)
    times = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        predictor.predict(x)
        times[i] = time.perf_counter() - t0
    return float(np.median(times) * 1e6)
