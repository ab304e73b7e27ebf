"""TFLite execution: the only module that imports an interpreter.

``ai_edge_litert`` is preferred (maintained, numpy 2); ``tflite_runtime`` is the
fallback when only it is installed.  Both expose the same ``Interpreter`` API.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.bundle import Bundle, BundleError, load_bundle
from agent.scoring import Scorer

log = logging.getLogger(__name__)

# Dynamic-batch models run big batches in chunks of this many windows: the
# interpreter's arena grows to the largest batch it has seen and never shrinks
# (one 256-window batch, e.g. during host calibration, kept ~8 MB resident for
# the agent's lifetime), and 32-64 windows per invoke is also the fastest per
# window (bench: 4.4 µs vs 5.3 µs at 256 and 19 µs at 4096 for the dense model).
MAX_BATCH = 64


def _interpreter_class() -> tuple[Any, str]:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]

        return Interpreter, "tflite_runtime"
    except ImportError:
        raise BundleError("no TFLite interpreter installed (pip install ai-edge-litert)") from None


class TFLitePredictor:
    """Runs a builtin-ops-only .tflite model on (N, W, F) float32 batches.

    Models converted with a fixed batch (LSTM/GRU without Select-TF ops) run one
    window per invoke; dynamic-batch models are resized to the batch.
    """

    def __init__(self, model_path: Path, num_threads: int = 1, sha256: str | None = None) -> None:
        cls, self.runtime = _interpreter_class()
        # Run from a private copy, not the file: the interpreter would mmap it, so a bundle rewritten in
        # place (cp, an in-place write) would change the running model or truncate it under us (SIGBUS).
        try:
            content = Path(model_path).read_bytes()
        except OSError as exc:
            raise BundleError(f"{Path(model_path).name}: cannot read: {exc.strerror or exc}") from None
        if sha256 is not None and hashlib.sha256(content).hexdigest() != sha256.lower():
            raise BundleError(f"{Path(model_path).name}: changed while loading (sha256 no longer matches)")
        try:
            self._interp = cls(model_content=content, num_threads=num_threads)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "custom op" in msg.lower() or "flex" in msg.lower():
                msg = f"model needs non-builtin (Select-TF/custom) ops: {msg}"
            raise BundleError(f"{model_path.name}: cannot load TFLite model: {msg}") from None
        inputs = self._interp.get_input_details()
        outputs = self._interp.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise BundleError(f"{model_path.name}: expected 1 input and 1 output, got {len(inputs)}/{len(outputs)}")
        self._in = inputs[0]
        self._out = outputs[0]
        self.input_shape = tuple(int(d) for d in self._in["shape"])
        self.output_shape = tuple(int(d) for d in self._out["shape"])
        sig = self._in.get("shape_signature")
        self.fixed_batch = sig is None or len(sig) == 0 or int(sig[0]) != -1
        self._batch = self.input_shape[0]

    def _run(self, x: np.ndarray) -> np.ndarray:
        if not self.fixed_batch and x.shape[0] != self._batch:
            self._interp.resize_tensor_input(self._in["index"], list(x.shape))
            self._interp.allocate_tensors()
            self._batch = x.shape[0]
        self._interp.set_tensor(self._in["index"], x)
        self._interp.invoke()
        return self._interp.get_tensor(self._out["index"]).copy()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if not self.fixed_batch:
            if x.shape[0] <= MAX_BATCH:
                return self._run(x)
            return np.concatenate([self._run(x[i : i + MAX_BATCH]) for i in range(0, x.shape[0], MAX_BATCH)])
        b = self.input_shape[0]
        if x.shape[0] == b:
            return self._run(x)
        outs = []
        for i in range(0, x.shape[0], b):
            chunk = x[i : i + b]
            pad = b - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), np.float32)])
            outs.append(self._run(chunk)[: b - pad])
        return np.concatenate(outs)


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
        raise BundleError(f"model output shape {predictor.output_shape} does not match expected (batch, {', '.join(map(str, want))})")


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
    predictor: Any
    if bundle.members:  # an ensemble: one interpreter per member behind one predictor (agent/ensemble.py)
        from agent.ensemble import EnsembleError, EnsemblePredictor

        try:
            predictor = EnsemblePredictor.load(bundle.members, len(bundle.features), num_threads)
        except EnsembleError as exc:
            raise BundleError(str(exc)) from None
    else:
        predictor = TFLitePredictor(bundle.model_path, num_threads=num_threads, sha256=bundle.sha256)
        check_shapes(bundle, predictor)
    scorer = Scorer(bundle.spec(), predictor)
    probe = scorer.errors(np.tile(bundle.scaler.low, (1, bundle.window, 1)))
    if not np.isfinite(probe).all():
        raise BundleError("model produces NaN/Inf on a test window")
    return LoadedModel(bundle, scorer, predictor.runtime)
