"""``anomaly-train fit``: train a model, convert it, check parity, set thresholds, write a bundle.

Thresholds are computed on the validation windows by the agent's own
:class:`agent.scoring.Scorer` running the converted TFLite model, so the
numbers in ``bundle.json`` are exactly the errors the agent will compute.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import shlex
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from agent.bundle import Threshold
from agent.bundle_write import write_bundle
from agent.predictors import TFLitePredictor
from agent.scoring import Scorer, ScoringSpec
from agent.window import make_windows

log = logging.getLogger(__name__)

ENSEMBLE_NORMS = ("z", "z_feature", "rank")  # training.ensemble: z = one std per member


@dataclass(frozen=True)
class FitOptions:
    """Training knobs; every field is recorded in ``bundle.json`` ``training.options``."""

    window: int = 30
    latent: int | None = None  # None: the architecture's default
    epochs: int = 40  # upper bound; early stopping usually ends sooner
    batch_size: int = 64
    seed: int = 0
    val_fraction: float = 0.2  # taken from the END of the series
    stride: int = 1  # step between training windows (validation: always 1)
    patience: int = 4
    learning_rate: float = 1e-3
    max_train_seconds: float | None = None  # stop after the epoch that crosses this budget
    tail: int = 1  # score = error of the last `tail` steps (1 = freshest row)
    threshold: str = "pot"  # "pot" or "quantile" (overall and per-feature)
    pot_q: float = 1e-3
    pot_level: float = 0.98
    quantile_q: float = 0.995
    feature_floor: float = 1e-4  # squared scaled error: 1 % of a feature's training range
    parity_tolerance: float = 1e-4
    parity_windows: int = 256
    verbose: int = 2  # keras: 2 = one line per epoch
    members: str = "dense,pca"  # ensemble only: comma-separated member architectures (training.ensemble)
    ensemble_norm: str = "z"  # ensemble only: "z" (one std per member), "z_feature" (per feature) or "rank"
    pca_variance: float = 0.95  # ensemble "pca" member: share of the training variance kept

    def __post_init__(self) -> None:
        if self.threshold not in ("pot", "quantile"):
            raise ValueError(f"threshold must be 'pot' or 'quantile', got {self.threshold!r}")
        if not 1 <= self.tail <= self.window:
            raise ValueError(f"tail must be in 1..window ({self.window}), got {self.tail}")
        if self.epochs < 1 or self.batch_size < 1 or self.stride < 1:
            raise ValueError("epochs, batch_size and stride must be >= 1")
        if self.feature_floor <= 0:
            raise ValueError("feature_floor must be > 0")
        if self.ensemble_norm not in ENSEMBLE_NORMS:
            raise ValueError(f"ensemble_norm must be one of {', '.join(ENSEMBLE_NORMS)}, got {self.ensemble_norm!r}")
        if not 0 < self.pca_variance <= 1:
            raise ValueError(f"pca_variance must be in (0, 1], got {self.pca_variance}")


@dataclass(frozen=True)
class FitResult:
    bundle: Path
    seconds: float
    epochs: int
    train_loss: float
    val_loss: float
    parity_max_diff: float
    model_bytes: int
    inference_us: float
    threshold: Threshold
    feature_thresholds: np.ndarray  # (F,)
    keras_model: Any = field(default=None, repr=False, compare=False)  # the trained (rolled) model


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


def _threshold(scores: np.ndarray, opt: FitOptions) -> Threshold:
    from training import thresholds

    if opt.threshold == "quantile":
        return thresholds.quantile(scores, opt.quantile_q)
    try:
        return thresholds.pot(scores, q=opt.pot_q, level=opt.pot_level)
    except ValueError as exc:  # POT could not be fitted: fall back to a high quantile, say so
        th = thresholds.quantile(scores, opt.quantile_q)
        return Threshold(th.value, "quantile", {**th.params, "pot_failed": str(exc)})


def compute_thresholds(errors: np.ndarray, opt: FitOptions) -> tuple[Threshold, np.ndarray, dict[str, Any]]:
    """Overall threshold on window errors and floored per-feature thresholds.

    Parameters
    ----------
    errors : (N, F) per-feature validation errors from :meth:`Scorer.errors`

    Returns
    -------
    (overall, per_feature (F,), feature_thresholds document for bundle.json)
    """
    overall = _threshold(errors.mean(axis=1), opt)
    per = [_threshold(errors[:, j], opt) for j in range(errors.shape[1])]
    values = np.array([max(t.value, opt.feature_floor) for t in per])
    doc = {
        "values": [float(v) for v in values],
        "method": opt.threshold,
        "floor": opt.feature_floor,
        "floored": int(sum(t.value < opt.feature_floor for t in per)),
        "fallbacks": int(sum(bool(t.params.get("fallback")) or t.method != opt.threshold for t in per)),
    }
    return overall, values, doc


def _train(model: Any, xy: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
           opt: FitOptions) -> dict[str, list[float]]:
    """Fit with early stopping on the validation pairs; returns the Keras history."""
    import keras

    callbacks: list[Any] = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=opt.patience, restore_best_weights=True)
    ]
    if opt.max_train_seconds:
        callbacks.append(_time_budget(opt.max_train_seconds))
    return model.fit(
        xy[0], xy[1], validation_data=val, epochs=opt.epochs,
        batch_size=opt.batch_size, shuffle=True, callbacks=callbacks, verbose=opt.verbose,
    ).history


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "keras": keras.__version__}


def pairs(windows: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Training pairs from scaled (N, S, F) windows: (x, x) for an autoencoder, (rows :-1, row -1) for a forecaster."""
    if kind == "forecaster":
        return windows[:, :-1], windows[:, -1]
    return windows, windows


def span(arch: str, window: int) -> int:
    """Rows one score consumes (the bundle's ``window``): the model input, plus the target row for a forecaster."""
    from training.models import arch_spec

    return window + 1 if arch_spec(arch).kind == "forecaster" else window


@dataclass(frozen=True)
class Trained:
    """One Keras network trained on a split, converted and parity-checked (``tflite`` written to ``path``)."""

    arch: str
    kind: str
    window: int  # input length
    span: int  # rows per score: window (+1 for a forecaster)
    latent: int
    model: Any  # keras.Model (rolled)
    converted: Any  # training.convert.Converted
    history: dict[str, list[float]]
    best: int  # 0-based epoch whose weights EarlyStopping restored
    parity: float
    parity_windows: int
    seconds: float

    @property
    def losses(self) -> dict[str, float]:
        return {"train_loss": float(self.history["loss"][self.best]),
                "val_loss": float(self.history["val_loss"][self.best])}


def train_network(arch: str, train: np.ndarray, opt: FitOptions, path: Path) -> tuple[Trained, Any]:
    """Split ``train`` (T, F), train ``arch`` on it, convert to ``path`` and check parity.

    Returns the :class:`Trained` record and the :class:`training.data.Split` (scaler, raw validation rows).
    """
    from training.convert import convert, parity
    from training.data import split_scale_window
    from training.models import arch_spec, build_model

    t0 = time.monotonic()
    spec = arch_spec(arch)
    latent = spec.latent if opt.latent is None else opt.latent
    rows = span(arch, opt.window)
    n = train.shape[1]
    split = split_scale_window(train, rows, opt.val_fraction, opt.stride)
    xy, val = pairs(split.x_train, spec.kind), pairs(split.x_val, spec.kind)
    log.info("%s: %d training pairs, %d validation pairs, input %d x %d features%s", arch, len(xy[0]),
             len(val[0]), opt.window, n, " -> next row" if spec.kind == "forecaster" else "")
    model = build_model(arch, opt.window, n, latent=latent, learning_rate=opt.learning_rate)
    hist = _train(model, xy, val, opt)
    best = int(np.argmin(hist["val_loss"]))  # EarlyStopping restored this epoch's weights
    seconds = time.monotonic() - t0
    log.info("%s: converting to TFLite (builtin ops only)", arch)
    conv = convert(model, arch, latent)
    Path(path).write_bytes(conv.tflite)
    pick = np.linspace(0, len(val[0]) - 1, min(opt.parity_windows, len(val[0]))).astype(int)
    diff = parity(model, Path(path), val[0][pick], opt.parity_tolerance)
    return Trained(arch, spec.kind, opt.window, rows, latent, model, conv, hist, best, diff, len(pick), seconds), split


def provenance_doc(train: np.ndarray, split: Any, provenance: dict[str, Any], opt: FitOptions) -> dict[str, Any]:
    """The ``training`` fields every bundle shares (data, split sizes, options, versions)."""
    return {
        **provenance,
        "rows": len(train), "train_rows": len(split.train_raw), "val_rows": len(split.val_raw),
        "data_sha256": hashlib.sha256(np.ascontiguousarray(train).tobytes()).hexdigest(),
        "seed": opt.seed, "options": dataclasses.asdict(opt), **_versions(),
    }


def scaler_doc(split: Any) -> dict[str, Any]:
    return {"method": "minmax", "min": split.scaler.low.tolist(), "max": split.scaler.high.tolist(),
            "clip": split.scaler.clip}


def fit_bundle(
    train: np.ndarray,
    *,
    arch: str,
    out: Path,
    options: FitOptions,
    feature_names: tuple[str, ...],
    provenance: dict[str, Any],
) -> FitResult:
    """Train on raw (T, F) rows and write a verified bundle to ``out``.

    ``arch`` is an autoencoder, a forecaster or ``"ensemble"`` (members from
    ``options.members``, see :mod:`training.ensemble`).  ``provenance`` (data
    dir, machine, command, ...) is stored under ``training`` in bundle.json
    next to what this function measures.
    """
    import keras

    from training.convert import inference_us

    t0 = time.monotonic()
    opt, n = options, len(feature_names)
    train = np.asarray(train, np.float64)
    if train.ndim != 2 or train.shape[1] != n:
        raise ValueError(f"training data has shape {train.shape}, expected (T, {n}) for the feature names")
    keras.utils.set_random_seed(opt.seed)
    if arch == "ensemble":
        from training.ensemble import fit_ensemble

        return fit_ensemble(train, out=Path(out), options=opt, feature_names=tuple(feature_names),
                            provenance=provenance)
    with tempfile.TemporaryDirectory(prefix="anomaly-fit-") as tmp:
        path = Path(tmp) / "model.tflite"
        tr, split = train_network(arch, train, opt, path)
        conv, hist = tr.converted, tr.history
        tail = opt.tail if tr.kind == "autoencoder" else 1  # a forecast has one row: nothing to average
        # the agent's own scorer on the converted model: thresholds match what hosts compute
        spec = ScoringSpec(tuple(feature_names), tr.span, tr.kind,  # type: ignore[arg-type]
                           split.scaler, tail, 1.0, np.ones(n))
        errors = Scorer(spec, TFLitePredictor(path)).errors(make_windows(split.val_raw, tr.span))
        us = inference_us(path, opt.window, n)
    overall, fvalues, fdoc = compute_thresholds(errors, opt)

    sha = hashlib.sha256(conv.tflite).hexdigest()
    now = datetime.now(timezone.utc)
    losses = tr.losses
    reduction = ("squared error averaged over the last `tail` steps, then features" if tr.kind == "autoencoder"
                 else "squared error of the forecast of the newest row, averaged over features")
    meta: dict[str, Any] = {
        "model_id": f"{arch}-{provenance.get('machine', 'data')}-{now:%Y%m%dT%H%M%SZ}-{sha[:8]}",
        "created": now.isoformat(timespec="seconds"),
        "architecture": arch,
        "kind": tr.kind,
        "window": tr.span,
        "features": list(feature_names),
        "scaler": scaler_doc(split),
        "score": {"tail": tail, "reduction": reduction},
        "threshold": {"value": overall.value, "method": overall.method, "params": overall.params},
        "feature_thresholds": fdoc,
        "model": {"input_shape": [1 if conv.fixed_batch else -1, opt.window, n], "fixed_batch": conv.fixed_batch,
                  "params": int(tr.model.count_params()), "inference_us": round(us, 1)},
        "training": {
            **provenance_doc(train, split, provenance, opt),
            "epochs": len(hist["loss"]), "best_epoch": tr.best + 1, **losses,
            "history": {k: [round(float(v), 8) for v in vs] for k, vs in hist.items()},
            "seconds": round(tr.seconds, 1),
        },
        "conversion": {"parity_max_abs_diff": tr.parity, "tolerance": opt.parity_tolerance,
                       "parity_windows": tr.parity_windows, "ops": "builtin-only", "op_names": list(conv.ops),
                       "recurrent_unrolled_batch1": conv.fixed_batch},
    }
    write_bundle(Path(out), conv.tflite, meta)
    return FitResult(Path(out), time.monotonic() - t0, len(hist["loss"]), losses["train_loss"], losses["val_loss"],
                     tr.parity, len(conv.tflite), us, overall, fvalues, tr.model)


def _command(args: argparse.Namespace, opt: FitOptions) -> str:
    """The command line with every option explicit, so it rebuilds this bundle even if defaults change."""
    source = ["--history", str(args.history)] if args.history else ["--data", str(args.data), "--machine", args.machine]
    parts = ["anomaly-train", "fit", *source, "--out", str(args.out),
             "--arch", args.arch, "--epochs", str(opt.epochs), "--window", str(opt.window), "--batch-size",
             str(opt.batch_size), "--seed", str(opt.seed), "--val-fraction", str(opt.val_fraction), "--stride",
             str(opt.stride), "--patience", str(opt.patience), "--tail", str(opt.tail), "--threshold", opt.threshold]
    if args.arch == "ensemble":
        parts += ["--members", opt.members, "--ensemble-norm", opt.ensemble_norm]
    if opt.latent is not None:
        parts += ["--latent", str(opt.latent)]
    if opt.max_train_seconds:
        parts += ["--max-train-seconds", str(opt.max_train_seconds)]
    return shlex.join(parts)


def history_train(directory: Path, window: int) -> tuple[np.ndarray, tuple[str, ...], dict[str, Any]]:
    """Training rows from an agent's recorded history (``<state_directory>/history``).

    Short gaps and NaN cells are forward-filled and long gaps split the series
    (:mod:`training.history`); segments shorter than two windows are dropped
    and the rest are joined, so only the few windows that straddle a join mix
    two segments.  The bundle is marked ``host_specific``: it was trained on
    this host's raw values, so the agent skips calibration for it.
    """
    from training.history import load_history_segments

    segments, names = load_history_segments(Path(directory), min_rows=2 * window)
    if not segments:
        raise ValueError(f"{directory}: no gap-free stretch of at least {2 * window} rows in the recorded history")
    train = np.concatenate(segments)
    source = {"history_dir": str(Path(directory).resolve()), "machine": socket.gethostname(), "split": "history",
              "host_specific": True, "segments": len(segments), "rows": int(len(train))}
    return train, tuple(names), source


def feature_names_for(data_dir: Path | str, machine: str, n_columns: int) -> tuple[str, ...]:
    """Names of a machine's columns: an importer's sidecar (``train/MACHINE.json``) when there is one,
    else SMD-38 for 38 columns and ``f1..fF`` otherwise (:func:`training.data.load_train`)."""
    from agent.features import SMD38_NAMES
    from training.importers import sidecar_features

    names = sidecar_features(Path(data_dir), machine)
    if names is None:
        return tuple(SMD38_NAMES) if n_columns == len(SMD38_NAMES) else tuple(f"f{i + 1}" for i in range(n_columns))
    if len(names) != n_columns:
        raise ValueError(f"{Path(data_dir) / 'train' / (machine + '.json')}: names {len(names)} features, "
                         f"the data has {n_columns} columns")
    return names


def default_window(arch: str) -> int:
    """The architecture's default window (input length); the ensemble's is that of its default dense member."""
    from training.models import arch_spec

    return arch_spec("dense" if arch == "ensemble" else arch).window


def _run(args: argparse.Namespace) -> int:
    from training.data import load_train

    if args.history:
        train, names, source = history_train(args.history, args.window or default_window(args.arch))
    else:
        if not (args.data and args.machine):
            raise ValueError("give --data and --machine (SMD layout) or --history (an agent's recorded history)")
        train, _ = load_train(args.data, args.machine)
        names = feature_names_for(args.data, args.machine, train.shape[1])
        source = {"data_dir": str(Path(args.data).resolve()), "machine": args.machine, "split": "train"}
    opt = FitOptions(
        window=args.window or default_window(args.arch), latent=args.latent, epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed, val_fraction=args.val_fraction, stride=args.stride,
        patience=args.patience, max_train_seconds=args.max_train_seconds, tail=args.tail, threshold=args.threshold,
        members=args.members, ensemble_norm=args.ensemble_norm,
    )
    provenance = {**source, "command": _command(args, opt), "argv": shlex.join(sys.argv)}
    r = fit_bundle(train, arch=args.arch, out=args.out, options=opt, feature_names=names, provenance=provenance)
    top = np.argsort(-r.feature_thresholds)[:3]
    print(f"bundle      {r.bundle}")
    print(f"time        {r.seconds:.1f} s ({r.epochs} epochs), "
          f"train loss {r.train_loss:.3g}, val loss {r.val_loss:.3g}")
    print(f"parity      max |keras - tflite| = {r.parity_max_diff:.2g} (tolerance {opt.parity_tolerance:g})")
    print(f"model       {r.model_bytes} bytes, {r.inference_us:.0f} µs per window (1 thread)")
    print(f"threshold   {r.threshold.value:.4g} ({r.threshold.method}); per-feature {r.feature_thresholds.min():.3g}"
          f"..{r.feature_thresholds.max():.3g}, largest: " + ", ".join(names[i] for i in top))
    return 0


def register(subparsers: Any) -> None:
    """Add ``fit`` to the ``anomaly-train`` subcommands."""
    from training.models import ARCHITECTURES, DEFAULT_ARCH, FORECASTERS  # light: no TensorFlow at module level

    d = FitOptions()
    p = subparsers.add_parser("fit", help="train a model on one SMD machine and write a bundle",
                              description="Train an autoencoder, a forecaster or an ensemble on one SMD machine, "
                              "convert it to TFLite (builtin ops), check parity, set thresholds on validation "
                              "windows and write a verified bundle.")
    p.add_argument("--data", type=Path, help="SMD root (train/, test/, ...)")
    p.add_argument("--machine", help="machine name, e.g. machine-1-6")
    p.add_argument("--history", type=Path, help="train a host-specific bundle from an agent's recorded history "
                   "directory (<state_directory>/history) instead of --data/--machine")
    p.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    p.add_argument("--arch", choices=[*ARCHITECTURES, *FORECASTERS, "ensemble"], default=DEFAULT_ARCH)
    p.add_argument("--epochs", type=int, default=d.epochs, help="maximum epochs (early stopping)")
    p.add_argument("--window", type=int, default=None,
                   help="window length, a forecaster's input length (default: the architecture's)")
    p.add_argument("--latent", type=int, default=None, help="bottleneck width (default: the architecture's)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--val-fraction", type=float, default=d.val_fraction, help="validation share, from the end")
    p.add_argument("--stride", type=int, default=d.stride, help="step between training windows")
    p.add_argument("--patience", type=int, default=d.patience, help="early-stopping patience (epochs)")
    p.add_argument("--max-train-seconds", type=float, default=None, help="stop training after this budget")
    p.add_argument("--tail", type=int, default=d.tail, help="score the last K steps of each window")
    p.add_argument("--threshold", choices=["pot", "quantile"], default=d.threshold)
    p.add_argument("--members", default=d.members,
                   help="ensemble: comma-separated members (autoencoders, lstm_forecaster, pca)")
    p.add_argument("--ensemble-norm", choices=list(ENSEMBLE_NORMS), default=d.ensemble_norm,
                   help="ensemble: how member errors are made comparable (docs/breadth.md)")
    p.set_defaults(func=_run)
