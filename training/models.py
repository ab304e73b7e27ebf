"""The training network, one home: architectures, Keras builders and the training loop.

Keras window autoencoders: (batch, W, F) -> (batch, W, F), MSE loss, Adam.

Three architectures, all small enough that the converted model stays well
under 1 MB and one window runs in well under 300 µs on one core:

``dense``
    flatten -> Dense -> Dense(latent) -> Dense -> Dense(W*F) -> reshape.
``lstm``
    LSTM encoder -> Dense(latent) -> RepeatVector(W) -> LSTM decoder ->
    TimeDistributed(Dense(F)).
``conv_bigru``
    Conv1D feature extraction -> Bidirectional GRU encoder -> Dense(latent) ->
    RepeatVector(W) -> GRU decoder -> Conv1DTranspose back to F channels.

One forecaster, (batch, W, F) -> (batch, F), the next row after the window:

``lstm_forecaster``
    LSTM(64) -> Dense(F), added to the window's last row (a residual: the
    network learns the change, and "no change" is its starting point).  Its
    bundle has ``kind: "forecaster"`` and ``window = W + 1`` (input + target).

``unroll`` and ``batch_size`` exist for conversion: recurrent layers with a
dynamic batch only convert with Select-TF ops, so :mod:`training.convert`
builds an unrolled clone with batch 1 that has exactly the same weights.

``pca_model`` is the ensemble's PCA member as a one-layer Keras model with
fixed weights; :func:`train` is the one training loop (early stopping on the
validation pairs, optional time budget) used by ``fit``, ``tune`` and ensembles.
Keras loads TensorFlow, so it is imported inside the functions that need it:
``anomaly-train --help`` and the light commands never load it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # keras loads TensorFlow: import it only when a model is built
    import keras

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchSpec:
    """Registry entry: defaults and whether conversion needs a fixed batch."""

    name: str
    window: int
    latent: int
    recurrent: bool  # needs the unrolled, batch-1 clone for builtin-only conversion
    summary: str
    kind: str = "autoencoder"  # "forecaster": predicts the row after its (window) input rows


ARCHITECTURES: dict[str, ArchSpec] = {
    "dense": ArchSpec("dense", 30, 16, False, "fully connected window AE (flatten -> 64 -> latent -> 64)"),
    "lstm": ArchSpec("lstm", 30, 16, True, "LSTM(48) encoder -> latent -> RepeatVector -> LSTM(48) decoder"),
    "conv_bigru": ArchSpec(
        "conv_bigru", 30, 16, True, "Conv1D(32) + BiGRU(24) encoder -> latent -> GRU(32) + Conv1DTranspose decoder"
    ),
}
# Next-row predictors: kept apart from the autoencoders because their output is (B, F), not a window.
FORECASTERS: dict[str, ArchSpec] = {
    "lstm_forecaster": ArchSpec(
        "lstm_forecaster",
        30,
        64,
        True,
        "LSTM(64) over the last W rows -> Dense(F) + last row (next-row forecast)",
        "forecaster",
    ),
}
DEFAULT_ARCH = "dense"


def arch_spec(arch: str) -> ArchSpec:
    """Look up an autoencoder or forecaster entry; raises ValueError naming the known ones."""
    spec = ARCHITECTURES.get(arch) or FORECASTERS.get(arch)
    if spec is None:
        raise ValueError(f"unknown architecture {arch!r} (known: {', '.join([*ARCHITECTURES, *FORECASTERS])})")
    return spec


def _dense(x: keras.KerasTensor, window: int, n_features: int, latent: int) -> keras.KerasTensor:
    from keras import layers

    h = layers.Flatten(name="flatten")(x)
    h = layers.Dense(64, activation="relu", name="enc_dense")(h)
    h = layers.Dense(latent, activation="relu", name="latent")(h)
    h = layers.Dense(64, activation="relu", name="dec_dense")(h)
    h = layers.Dense(window * n_features, name="dec_out")(h)
    return layers.Reshape((window, n_features), name="reshape")(h)


def _lstm(x: keras.KerasTensor, window: int, n_features: int, latent: int, unroll: bool) -> keras.KerasTensor:
    from keras import layers

    h = layers.LSTM(48, unroll=unroll, name="enc_lstm")(x)
    h = layers.Dense(latent, activation="tanh", name="latent")(h)
    h = layers.RepeatVector(window, name="repeat")(h)
    h = layers.LSTM(48, return_sequences=True, unroll=unroll, name="dec_lstm")(h)
    return layers.TimeDistributed(layers.Dense(n_features), name="dec_out")(h)


def _conv_bigru(x: keras.KerasTensor, window: int, n_features: int, latent: int, unroll: bool) -> keras.KerasTensor:
    from keras import layers

    h = layers.Conv1D(32, 3, padding="same", activation="relu", name="enc_conv")(x)
    h = layers.Bidirectional(layers.GRU(24, unroll=unroll), name="enc_bigru")(h)
    h = layers.Dense(latent, activation="tanh", name="latent")(h)
    h = layers.RepeatVector(window, name="repeat")(h)
    h = layers.GRU(32, return_sequences=True, unroll=unroll, name="dec_gru")(h)
    return layers.Conv1DTranspose(n_features, 3, padding="same", name="dec_out")(h)


def _lstm_forecaster(x: keras.KerasTensor, window: int, n_features: int, units: int, unroll: bool) -> keras.KerasTensor:
    from keras import layers

    h = layers.LSTM(units, unroll=unroll, name="lstm")(x)
    delta = layers.Dense(n_features, name="delta")(h)
    # last input row as (B, F): Cropping1D + Reshape convert to builtin slice/reshape ops
    last = layers.Reshape((n_features,), name="last_row")(layers.Cropping1D((window - 1, 0), name="crop")(x))
    return layers.Add(name="forecast")([last, delta])


def build_model(
    arch: str,
    window: int,
    n_features: int,
    latent: int | None = None,
    unroll: bool = False,
    batch_size: int | None = None,
    learning_rate: float = 1e-3,
) -> keras.Model:
    """Build and compile one autoencoder or forecaster.

    Parameters
    ----------
    arch : a key of :data:`ARCHITECTURES` or :data:`FORECASTERS`
    window, n_features : input shape (batch, window, n_features)
    latent : bottleneck width (forecaster: LSTM units; architecture default when None)
    unroll : unroll recurrent layers (for builtin-only TFLite conversion)
    batch_size : fix the batch dimension (None = dynamic)

    Returns
    -------
    keras.Model compiled with Adam and MSE, mapping (B, W, F) -> (B, W, F)
    (autoencoder) or (B, W, F) -> (B, F) (forecaster).
    """
    import keras

    spec = arch_spec(arch)
    if window < 2 or n_features < 1:
        raise ValueError(f"window must be >= 2 and n_features >= 1, got {window}, {n_features}")
    latent = spec.latent if latent is None else latent
    if latent < 1:
        raise ValueError(f"latent must be >= 1, got {latent}")
    x = keras.Input(shape=(window, n_features), batch_size=batch_size, name="window")
    if arch == "dense":
        y = _dense(x, window, n_features, latent)
    elif arch == "lstm":
        y = _lstm(x, window, n_features, latent, unroll)
    elif arch == "lstm_forecaster":
        y = _lstm_forecaster(x, window, n_features, latent, unroll)
    else:
        y = _conv_bigru(x, window, n_features, latent, unroll)
    model = keras.Model(x, y, name=arch if spec.kind == "forecaster" else f"{arch}_ae")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


def pca_model(mean: np.ndarray, projection: np.ndarray) -> keras.Model:
    """Keras (B, 1, F) -> (B, 1, F): reconstruction ``x P + mean (I - P)`` from a principal subspace, fixed weights.

    ``projection`` is ``P = V^T V`` of :class:`training.pca.PCA`; one ``Dense`` layer converts to a builtin
    ``FULLY_CONNECTED`` op, so the agent runs the PCA member without scikit-learn.
    """
    import keras

    n = len(mean)
    x = keras.Input(shape=(1, n), name="window")
    dense = keras.layers.Dense(n, name="pca_projection")
    model = keras.Model(x, dense(x), name="pca_member")
    dense.set_weights([projection.astype(np.float32), (mean - mean @ projection).astype(np.float32)])
    return model


# -- training --------------------------------------------------------------------------------------------------


class TrainOptions(Protocol):
    """The :class:`training.options.FitOptions` fields the training loop reads."""

    @property
    def epochs(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def patience(self) -> int: ...
    @property
    def max_train_seconds(self) -> float | None: ...
    @property
    def verbose(self) -> int: ...


def pairs(windows: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Training pairs from scaled (N, S, F) windows: (x, x) for an autoencoder, (rows :-1, row -1) for a forecaster."""
    if kind == "forecaster":
        return windows[:, :-1], windows[:, -1]
    return windows, windows


def span(arch: str, window: int) -> int:
    """Rows one score consumes (the bundle's ``window``): the model input, plus the target row for a forecaster."""
    return window + 1 if arch_spec(arch).kind == "forecaster" else window


def set_seed(seed: int) -> None:
    """Seed Python, numpy and the Keras backend (reproducible weights and shuffles)."""
    import keras

    keras.utils.set_random_seed(seed)


def versions() -> dict[str, str]:
    """TensorFlow and Keras versions, recorded in every bundle."""
    import keras
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "keras": keras.__version__}


def _time_budget(seconds: float) -> Any:
    """Keras callback that stops after the epoch crossing ``seconds`` (built lazily: Keras loads TensorFlow)."""
    import keras

    class TimeBudget(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            self.t0 = time.monotonic()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if time.monotonic() - self.t0 > seconds:
                log.info("training time budget of %.0f s used up after epoch %d", seconds, epoch + 1)
                self.model.stop_training = True

    return TimeBudget()


def train(
    model: keras.Model, xy: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], opt: TrainOptions
) -> dict[str, list[float]]:
    """Fit with early stopping on the validation pairs (best weights restored); returns the Keras history."""
    import keras

    callbacks: list[Any] = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=opt.patience, restore_best_weights=True)
    ]
    if opt.max_train_seconds:
        callbacks.append(_time_budget(opt.max_train_seconds))
    history: dict[str, list[float]] = model.fit(
        xy[0],
        xy[1],
        validation_data=val,
        epochs=opt.epochs,
        batch_size=opt.batch_size,
        shuffle=True,
        callbacks=callbacks,
        verbose=opt.verbose,
    ).history
    return history
