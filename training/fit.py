"""``anomaly-train fit``: train a model, convert it, check parity, set thresholds, write a bundle.

Thresholds are computed on the validation windows by the agent's own
:class:`agent.score.scoring.Scorer` running the converted TFLite model, so the
numbers in ``bundle.json`` are exactly the errors the agent will compute.

The parts live next door: options in :mod:`training.options`, data
preparation in :mod:`training.data`, the network and its training loop in
:mod:`training.models` and :mod:`training.train`, thresholds in
:mod:`training.thresholds`, the shared bundle fields in
:mod:`training.bundle_meta`, ensembles in :mod:`training.ensemble`.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.model.predictors import TFLitePredictor
from agent.model.write import write_bundle
from agent.score.scoring import Scorer, ScoringSpec
from agent.score.window import make_windows
from training.bundle_meta import FitResult, model_id, provenance_doc, scaler_doc
from training.convert import inference_us
from training.data import feature_names_for, history_train, load_train
from training.ensemble import fit_ensemble
from training.models import ARCHITECTURES, DEFAULT_ARCH, FORECASTERS, set_seed
from training.options import ENSEMBLE_NORMS, FitOptions, default_window
from training.thresholds import ANCHOR_WINDOWS, compute_thresholds, z_bundle_thresholds
from training.train import train_network

log = logging.getLogger(__name__)

__all__ = ["FitOptions", "FitResult", "fit_bundle", "register"]


def fit_bundle(
    train: np.ndarray | list[np.ndarray],
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
    t0 = time.monotonic()
    opt, n = options, len(feature_names)
    fleet = [np.asarray(t, np.float64) for t in train] if isinstance(train, list) else None
    rows = np.concatenate(fleet) if fleet else np.asarray(train, np.float64)
    if rows.ndim != 2 or rows.shape[1] != n:
        raise ValueError(f"training data has shape {rows.shape}, expected (T, {n}) for the feature names")
    if fleet and (arch == "ensemble" or opt.scaling != "zscore"):
        raise ValueError("a model of several machines (fleet) is a single z-score model, not an ensemble or min-max")
    data: np.ndarray | list[np.ndarray] = fleet if fleet else rows
    set_seed(opt.seed)
    if arch == "ensemble":
        return fit_ensemble(rows, out=Path(out), options=opt, feature_names=tuple(feature_names), provenance=provenance)
    with tempfile.TemporaryDirectory(prefix="anomaly-fit-") as tmp:
        path = Path(tmp) / "model.tflite"
        units = bool(provenance.get("host_specific"))  # raw host rows: floors in feature units
        tr, split = train_network(arch, data, opt, path, units=units)
        conv, hist = tr.converted, tr.history
        # a forecast has one row: nothing to average; an autoencoder scores the whole window by default
        tail = (opt.tail or tr.span) if tr.kind == "autoencoder" else 1
        zscore = opt.scaling == "zscore"
        cap = opt.error_cap if zscore else None
        # the agent's own scorer on the converted model: thresholds match what hosts compute
        spec = ScoringSpec(
            tuple(feature_names),
            tr.span,
            tr.kind,  # type: ignore[arg-type]
            split.scaler,
            tail,
            1.0,
            np.ones(n),
            cap,
        )
        predictor = TFLitePredictor(path)
        val_parts, train_parts = [], []
        for part in (split, *split.others):  # a fleet model: every machine with its own scaler
            scorer = Scorer(replace(spec, scaler=part.scaler), predictor)
            val_parts.append(scorer.errors(make_windows(part.val_raw, tr.span)))
            if zscore:
                windows = make_windows(part.train_raw, tr.span)
                k = min(len(windows), ANCHOR_WINDOWS // (1 + len(split.others)))
                train_parts.append(scorer.errors(windows[np.unique(np.linspace(0, len(windows) - 1, k).astype(int))]))
        errors = np.concatenate(val_parts)
        train_errors = np.concatenate(train_parts) if zscore else None
        us = inference_us(path, opt.window, n)
    if train_errors is not None:
        overall, fvalues, fdoc = z_bundle_thresholds(errors, train_errors, opt)
    else:
        overall, fvalues, fdoc = compute_thresholds(errors, opt)

    sha = hashlib.sha256(conv.tflite).hexdigest()
    now = datetime.now(UTC)
    losses = tr.losses
    reduction = (
        "squared error averaged over the last `tail` steps, capped per feature at `error_cap`, then "
        "averaged over features"
        if tr.kind == "autoencoder"
        else "squared error of the forecast of the newest row, averaged over features"
    )
    meta: dict[str, Any] = {
        "model_id": model_id(arch, provenance, now, sha),
        "created": now.isoformat(timespec="seconds"),
        "architecture": arch,
        "kind": tr.kind,
        "window": tr.span,
        "features": list(feature_names),
        "scaler": scaler_doc(split),
        "score": {"tail": tail, "reduction": reduction, **({"error_cap": cap} if cap is not None else {})},
        "threshold": {
            "value": overall.value,
            "method": overall.method,
            "params": overall.params,
            **({"anchor": overall.params["anchor"]} if zscore else {}),
        },
        "feature_thresholds": fdoc,
        "model": {
            "input_shape": [1 if conv.fixed_batch else -1, opt.window, n],
            "fixed_batch": conv.fixed_batch,
            "params": int(tr.model.count_params()),
            "inference_us": round(us, 1),
        },
        "training": {
            **provenance_doc(rows, split, provenance, opt),
            "epochs": len(hist["loss"]),
            "best_epoch": tr.best + 1,
            **losses,
            "history": tr.history_doc(),
            "seconds": round(tr.seconds, 1),
        },
        "conversion": {
            "parity_max_abs_diff": tr.parity,
            "tolerance": opt.parity_tolerance,
            "parity_windows": tr.parity_windows,
            "ops": "builtin-only",
            "op_names": list(conv.ops),
            "recurrent_unrolled_batch1": conv.fixed_batch,
        },
    }
    write_bundle(Path(out), conv.tflite, meta)
    return FitResult(
        Path(out),
        time.monotonic() - t0,
        len(hist["loss"]),
        losses["train_loss"],
        losses["val_loss"],
        tr.parity,
        len(conv.tflite),
        us,
        overall,
        fvalues,
        tr.model,
    )


def _command(args: argparse.Namespace, opt: FitOptions) -> str:
    """The command line with every option explicit, so it rebuilds this bundle even if defaults change."""
    source = ["--history", str(args.history)] if args.history else ["--data", str(args.data), "--machine", args.machine]
    parts = [
        "anomaly-train",
        "fit",
        *source,
        "--out",
        str(args.out),
        "--arch",
        args.arch,
        "--epochs",
        str(opt.epochs),
        "--window",
        str(opt.window),
        "--batch-size",
        str(opt.batch_size),
        "--seed",
        str(opt.seed),
        "--val-fraction",
        str(opt.val_fraction),
        "--stride",
        str(opt.stride),
        "--patience",
        str(opt.patience),
        "--threshold",
        opt.threshold,
        "--scaling",
        opt.scaling,
    ]
    if opt.tail is not None:
        parts += ["--tail", str(opt.tail)]
    if args.arch == "ensemble":
        parts += ["--members", opt.members, "--ensemble-norm", opt.ensemble_norm]
    if opt.latent is not None:
        parts += ["--latent", str(opt.latent)]
    if opt.max_train_seconds:
        parts += ["--max-train-seconds", str(opt.max_train_seconds)]
    return shlex.join(parts)


def _run(args: argparse.Namespace) -> int:
    train: np.ndarray | list[np.ndarray]
    if args.history:
        train, names, source = history_train(args.history, args.window or default_window(args.arch))
    else:
        if not (args.data and args.machine):
            raise ValueError("give --data and --machine (SMD layout) or --history (an agent's recorded history)")
        machines = [m.strip() for m in args.machine.split(",") if m.strip()]
        loaded = [load_train(args.data, m)[0] for m in machines]
        names = feature_names_for(args.data, machines[0], loaded[0].shape[1])
        if any(x.shape[1] != len(names) for x in loaded):
            raise ValueError("--machine: every machine of a fleet model needs the same columns")
        train = loaded if len(loaded) > 1 else loaded[0]
        fleet = {"fleet_machines": machines} if len(machines) > 1 else {}
        source = {
            "data_dir": str(Path(args.data).resolve()),
            "machine": args.machine if len(machines) == 1 else f"fleet{len(machines)}",
            "split": "train",
            **fleet,
        }
    opt = FitOptions(
        window=args.window or default_window(args.arch),
        latent=args.latent,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        val_fraction=args.val_fraction,
        stride=args.stride,
        patience=args.patience,
        max_train_seconds=args.max_train_seconds,
        tail=args.tail,
        threshold=args.threshold,
        scaling=args.scaling,
        members=args.members,
        ensemble_norm=args.ensemble_norm,
    )
    provenance = {**source, "command": _command(args, opt), "argv": shlex.join(sys.argv)}
    r = fit_bundle(train, arch=args.arch, out=args.out, options=opt, feature_names=names, provenance=provenance)
    top = np.argsort(-r.feature_thresholds)[:3]
    print(f"bundle      {r.bundle}")
    print(
        f"time        {r.seconds:.1f} s ({r.epochs} epochs), train loss {r.train_loss:.3g}, val loss {r.val_loss:.3g}"
    )
    print(f"parity      max |keras - tflite| = {r.parity_max_diff:.2g} (tolerance {opt.parity_tolerance:g})")
    print(f"model       {r.model_bytes} bytes, {r.inference_us:.0f} µs per window (1 thread)")
    print(
        f"threshold   {r.threshold.value:.4g} ({r.threshold.method}); per-feature {r.feature_thresholds.min():.3g}"
        f"..{r.feature_thresholds.max():.3g}, largest: " + ", ".join(names[i] for i in top)
    )
    return 0


def register(subparsers: Any) -> None:
    """Add ``fit`` to the ``anomaly-train`` subcommands."""
    d = FitOptions()
    p = subparsers.add_parser(
        "fit",
        help="train a model on one SMD machine and write a bundle",
        description="Train an autoencoder, a forecaster or an ensemble on one SMD machine, "
        "convert it to TFLite (builtin ops), check parity, set thresholds on validation "
        "windows and write a verified bundle.",
    )
    p.add_argument("--data", type=Path, help="SMD root (train/, test/, ...)")
    p.add_argument(
        "--machine",
        help="machine name, e.g. machine-1-6; several, comma-separated, train one fleet "
        "model (each machine z-scored by its own statistics)",
    )
    p.add_argument(
        "--history",
        type=Path,
        help="train a host-specific bundle from an agent's recorded history "
        "directory (<state_directory>/history) instead of --data/--machine",
    )
    p.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    p.add_argument("--arch", choices=[*ARCHITECTURES, *FORECASTERS, "ensemble"], default=DEFAULT_ARCH)
    p.add_argument("--epochs", type=int, default=d.epochs, help="maximum epochs (early stopping)")
    p.add_argument(
        "--window",
        type=int,
        default=None,
        help="window length, a forecaster's input length (default: the architecture's)",
    )
    p.add_argument("--latent", type=int, default=None, help="bottleneck width (default: the architecture's)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--val-fraction", type=float, default=d.val_fraction, help="validation share, from the end")
    p.add_argument("--stride", type=int, default=d.stride, help="step between training windows")
    p.add_argument("--patience", type=int, default=d.patience, help="early-stopping patience (epochs)")
    p.add_argument("--max-train-seconds", type=float, default=None, help="stop training after this budget")
    p.add_argument("--tail", type=int, default=d.tail, help="score the last K steps of each window (default: all)")
    p.add_argument(
        "--scaling",
        choices=["zscore", "minmax"],
        default=d.scaling,
        help="input scaling (docs/detection.md); minmax gives format-1 bundles",
    )
    p.add_argument("--threshold", choices=["pot", "quantile"], default=d.threshold)
    p.add_argument(
        "--members", default=d.members, help="ensemble: comma-separated members (autoencoders, lstm_forecaster, pca)"
    )
    p.add_argument(
        "--ensemble-norm",
        choices=list(ENSEMBLE_NORMS),
        default=d.ensemble_norm,
        help="ensemble: how member errors are made comparable (docs/breadth.md)",
    )
    p.set_defaults(func=_run)
