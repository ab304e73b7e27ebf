"""Predictors: the TFLite interpreter behind one model, and an ensemble's members behind one.

The only module that imports an interpreter.  ``ai_edge_litert`` is preferred
(maintained, numpy 2); ``tflite_runtime`` is the fallback when only it is
installed.  Both expose the same ``Interpreter`` API.  Both predictors satisfy
:class:`agent.score.scoring.Predictor`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.model.ensemble import combine
from agent.model.fields import BundleError
from agent.model.members import Member
from agent.score.scoring import Predictor, feature_errors

# Dynamic-batch models run big batches in chunks of this many windows: the
# interpreter's arena grows to the largest batch it has seen and never shrinks
# (one 256-window batch, e.g. during host calibration, kept ~8 MB resident for
# the agent's lifetime), and 32-64 windows per invoke is also the fastest per
# window (bench: 4.4 µs vs 5.3 µs at 256 and 19 µs at 4096 for the dense model).
MAX_BATCH = 64


def interpreter_class() -> tuple[Any, Any, str]:
    """(Interpreter, OpResolverType, runtime name) of the installed interpreter."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        return Interpreter, OpResolverType, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter, OpResolverType

        return Interpreter, OpResolverType, "tflite_runtime"
    except ImportError:
        raise BundleError("no TFLite interpreter installed (pip install ai-edge-litert)") from None


class TFLitePredictor:
    """Runs a builtin-ops-only .tflite model on (N, W, F) float32 batches.

    Models converted with a fixed batch (LSTM/GRU without Select-TF ops) run one
    window per invoke; dynamic-batch models are resized to the batch.
    """

    def __init__(self, model_path: Path, num_threads: int = 1, sha256: str | None = None) -> None:
        cls, resolver, self.runtime = interpreter_class()
        # Run from a private copy, not the file: the interpreter would mmap it, so a bundle rewritten in
        # place (cp, an in-place write) would change the running model or truncate it under us (SIGBUS).
        try:
            content = Path(model_path).read_bytes()
        except OSError as exc:
            raise BundleError(f"{Path(model_path).name}: cannot read: {exc.strerror or exc}") from None
        if sha256 is not None and hashlib.sha256(content).hexdigest() != sha256.lower():
            raise BundleError(f"{Path(model_path).name}: changed while loading (sha256 no longer matches)")
        try:
            # Without the default XNNPACK delegate: it prints "INFO: Created TensorFlow Lite XNNPACK delegate
            # for CPU." on stderr for every interpreter (every command, every reload) and costs ~1.2 MB RSS;
            # the builtin kernels are slower per invoke (µs per window), nothing at one window per interval.
            self._interp = cls(
                model_content=content,
                num_threads=num_threads,
                experimental_op_resolver_type=resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
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


class EnsemblePredictor:
    """The members as one :class:`~agent.score.scoring.Predictor`: (N, W, F) scaled windows -> pseudo-reconstruction.

    ``predict(x)`` returns ``x + sqrt(e)`` (float64, every row) where ``e`` (N, F) is
    the combined member error, so ``Scorer`` (autoencoder, tail 1) computes ``e``.
    """

    def __init__(
        self, members: tuple[Member, ...], predictors: Sequence[Predictor], n_features: int, runtime: str = ""
    ) -> None:
        if len(members) != len(predictors) or not members:
            raise ValueError("one predictor per member is needed")
        self.members, self.predictors, self.n_features, self.runtime = members, predictors, n_features, runtime
        self.window = max(m.window for m in members)

    @classmethod
    def load(cls, members: tuple[Member, ...], n_features: int, num_threads: int = 1) -> EnsemblePredictor:
        """Open every member with the TFLite interpreter and check its tensor shapes."""
        preds = []
        for m in members:
            p = TFLitePredictor(m.path, num_threads=num_threads, sha256=m.sha256)
            want_in = (m.input_length, n_features)
            want_out = (m.window, n_features) if m.kind == "autoencoder" else (n_features,)
            if p.input_shape[1:] != want_in or p.output_shape[1:] != want_out:
                raise BundleError(
                    f"{m.file}: tensors {p.input_shape} -> {p.output_shape} do not match the member "
                    f"(batch, {want_in[0]}, {n_features}) -> (batch, {', '.join(map(str, want_out))})"
                )
            preds.append(p)
        return cls(members, preds, n_features, preds[0].runtime)

    def member_errors(self, x: np.ndarray) -> list[np.ndarray]:
        """Raw per-feature errors (N, F) of each member on scaled (N, W, F) windows, W >= every member window."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 3 or x.shape[1] < self.window or x.shape[2] != self.n_features:
            raise ValueError(f"expected (N, >={self.window}, {self.n_features}) windows, got {x.shape}")
        out = []
        for m, p in zip(self.members, self.predictors):
            xm = x[:, x.shape[1] - m.window :]
            if m.kind == "forecaster":
                out.append(feature_errors(xm[:, -1], p.predict(xm[:, :-1]), 1))
            else:
                out.append(feature_errors(xm, p.predict(xm), m.tail))
        return out

    def combined_errors(self, x: np.ndarray) -> np.ndarray:
        """(N, F) weighted sum of the normalised member errors."""
        return combine([m.weight for m in self.members], [m.norm for m in self.members], self.member_errors(x))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch, np.float64)
        return x + np.sqrt(np.maximum(self.combined_errors(batch), 0.0))[:, None, :]
