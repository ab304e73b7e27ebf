"""``anomaly-train fit`` on the command line: the SMD or history source, the options, the recorded command.

:func:`training.fit.fit_bundle` does the work; this module turns the
arguments into its inputs: the training rows of one machine, of several (a
fleet model) or of an agent's recorded history, the feature names, the
:class:`training.options.FitOptions`, and the provenance stored under
``training`` in bundle.json, whose ``data_dir`` is
:func:`training.bundle_meta.recorded_data_dir` (relative, never the training
machine's absolute path) and whose ``command`` rebuilds the bundle with every
option explicit.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from training.bundle_meta import recorded_data_dir
from training.data import feature_names_for, history_train, load_train
from training.fit import fit_bundle
from training.models import ARCHITECTURES, DEFAULT_ARCH, FORECASTERS
from training.options import ENSEMBLE_NORMS, FitOptions, default_window


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
            "data_dir": recorded_data_dir(args.data),
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
