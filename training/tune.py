"""``anomaly-train tune``: Optuna search of a model's options on the END of the training data, never the test labels.

Every trial trains the Keras model on the first part of ``train`` (early
stopping on the held-out end, as ``fit``) and is judged on that held-out
end with one of two unsupervised objectives:

``injection`` (default, maximised)
    Synthetic anomalies are injected into copies of validation windows (a
    spike on the newest row, or a level shift over the newest 2-10 rows, on
    1-3 features, +-0.3..1.0 of the scaled range; fixed seed, so every trial
    sees the same ones).  Objective = AUC-ROC of the agent's window error
    (``feature_errors`` with the trial's tail, mean over features) between
    the injected windows and every clean validation window: how well the
    model separates fresh, obvious faults from normal data.  Unlike a loss,
    it can rank windows, tails and capacities against each other.
``val_error`` (minimised)
    Mean window error of the clean validation windows, as the agent computes
    it (the freshest ``tail`` rows).  Favours capacity: use it to tune
    training options (learning rate, batch size) at a fixed shape.

One trial (training, injection, objective) is :func:`training.tune_trial.run_trial`.
The best options are then trained again by :func:`training.fit.fit_bundle`
(full epochs, conversion, parity, thresholds) into ``--out``; the search
record (space, every trial's parameters and value, the best) is stored in
the bundle's ``training.tuning`` (the report shows it) and in ``OUT/tuning.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from training.bundle_meta import recorded_data_dir
from training.data import feature_names_for, load_train
from training.fit import fit_bundle
from training.models import ARCHITECTURES, FORECASTERS, arch_spec
from training.options import FitOptions, default_window
from training.tune_trial import run_trial

log = logging.getLogger(__name__)

OBJECTIVES: dict[str, Literal["maximize", "minimize"]] = {"injection": "maximize", "val_error": "minimize"}
OBJECTIVE_DOCS = {
    "injection": "AUC-ROC of the window error between synthetic faults injected into validation windows "
    "(spike or 2-10 row level shift on 1-3 features, +-0.3..1.0 scaled) and the clean windows",
    "val_error": "mean window error (freshest `tail` rows) of the clean validation windows",
}
WINDOWS = (10, 20, 30, 45, 60)
TAILS = (1, 3, 5)


def search_space(arch: str, objective: str) -> dict[str, Any]:
    """Optuna distributions per option (recorded in the tuning record as plain JSON)."""
    space: dict[str, Any] = {"window": list(WINDOWS), "learning_rate": [1e-4, 3e-3, "log"], "batch_size": [32, 64, 128]}
    if arch_spec(arch).kind == "forecaster":
        space["latent"] = [32, 64, 96]  # LSTM units
    else:
        space["latent"] = [4, 8, 16, 32]
        if objective == "injection":  # the loss does not depend on the tail: only injection can choose it
            space["tail"] = list(TAILS)
    return space


def suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, spec in space.items():
        if len(spec) == 3 and spec[2] == "log":
            out[name] = trial.suggest_float(name, spec[0], spec[1], log=True)
        else:
            out[name] = trial.suggest_categorical(name, spec)
    return out


def tune(
    train: np.ndarray,
    arch: str,
    base: FitOptions,
    *,
    trials: int = 20,
    timeout: float | None = None,
    objective: str = "injection",
    seed: int = 0,
) -> dict[str, Any]:
    """Run the Optuna study; returns the JSON-ready record (best options under ``best["options"]``)."""
    import optuna

    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if arch == "ensemble":
        raise ValueError("tune searches one architecture; tune the members, then fit the ensemble")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = search_space(arch, objective)
    study = optuna.create_study(direction=OBJECTIVES[objective], sampler=optuna.samplers.TPESampler(seed=seed))
    records: list[dict[str, Any]] = []

    def objective_fn(trial: Any) -> float:
        params = suggest(trial, space)
        t0 = time.monotonic()
        value, facts = run_trial(train, arch, replace(base, **params), objective)
        for k, v in facts.items():
            trial.set_user_attr(k, v)
        log.info(
            "trial %d: %s = %.5g (%s) in %.0f s",
            trial.number,
            objective,
            value,
            ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()),
            time.monotonic() - t0,
        )
        return value

    t0 = time.monotonic()
    study.optimize(objective_fn, n_trials=trials, timeout=timeout, catch=(ValueError,))
    for t in study.trials:
        done_at, started = t.datetime_complete, t.datetime_start
        secs = (done_at - started).total_seconds() if done_at and started else None
        records.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "params": t.params,
                "seconds": None if secs is None else round(secs, 1),
                "facts": t.user_attrs,
            }
        )
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not done:
        raise ValueError(f"no trial completed ({len(study.trials)} tried): see the log")
    best = study.best_trial
    return {
        "objective": objective,
        "direction": OBJECTIVES[objective],
        "objective_doc": OBJECTIVE_DOCS[objective],
        "arch": arch,
        "trials_requested": trials,
        "timeout_s": timeout,
        "seconds": round(time.monotonic() - t0, 1),
        "sampler": f"TPESampler(seed={seed})",
        "optuna": optuna.__version__,
        "space": space,
        "validation": f"last {base.val_fraction:.0%} of the training rows (test data never read)",
        "base_options": {"epochs": base.epochs, "patience": base.patience, "max_train_seconds": base.max_train_seconds},
        "best": {"number": best.number, "value": best.value, "params": best.params},
        "trials": records,
    }


def _command(args: argparse.Namespace) -> str:
    """The tune command line with every option explicit (the bundle records it)."""
    parts = [
        "anomaly-train",
        "tune",
        "--data",
        str(args.data),
        "--machine",
        args.machine,
        "--arch",
        args.arch,
        "--out",
        str(args.out),
        "--trials",
        str(args.trials),
        "--objective",
        args.objective,
        "--trial-epochs",
        str(args.trial_epochs),
        "--stride",
        str(args.stride),
        "--epochs",
        str(args.epochs),
        "--seed",
        str(args.seed),
    ]
    if args.timeout is not None:
        parts += ["--timeout", str(args.timeout)]
    if args.trial_seconds is not None:
        parts += ["--trial-seconds", str(args.trial_seconds)]
    return shlex.join(parts)


def _run(args: argparse.Namespace) -> int:
    train, _ = load_train(args.data, args.machine)
    names = feature_names_for(args.data, args.machine, train.shape[1])
    base = FitOptions(
        window=default_window(args.arch),
        epochs=args.trial_epochs,
        seed=args.seed,
        verbose=0,
        max_train_seconds=args.trial_seconds,
        stride=args.stride,
    )
    rec = tune(
        train, args.arch, base, trials=args.trials, timeout=args.timeout, objective=args.objective, seed=args.seed
    )
    best = replace(base, **rec["best"]["params"], epochs=args.epochs, max_train_seconds=None, stride=1, verbose=2)
    rec["best"]["options"] = {
        k: getattr(best, k) for k in ("window", "latent", "learning_rate", "batch_size", "tail", "epochs")
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tuning.json").write_text(json.dumps(rec, indent=1) + "\n", encoding="utf-8")
    print(
        f"search      {len(rec['trials'])} trials in {rec['seconds']:.0f} s; best trial {rec['best']['number']}: "
        f"{rec['objective']} = {rec['best']['value']:.5g} with {rec['best']['params']}"
    )
    prov = {
        "data_dir": recorded_data_dir(args.data),
        "machine": args.machine,
        "split": "train",
        "command": _command(args),
        "argv": shlex.join(sys.argv),
        "tuning": rec,
    }
    r = fit_bundle(train, arch=args.arch, out=out, options=best, feature_names=names, provenance=prov)
    print(f"bundle      {r.bundle} ({r.epochs} epochs, val loss {r.val_loss:.3g}, threshold {r.threshold.value:.4g})")
    print(f"record      {out / 'tuning.json'}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``tune`` to the ``anomaly-train`` subcommands."""
    p = subparsers.add_parser(
        "tune",
        help="search model options with Optuna on the end of train, fit the best",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--data", type=Path, required=True, help="SMD root (only train/ is read)")
    p.add_argument("--machine", required=True)
    p.add_argument("--arch", choices=[*ARCHITECTURES, *FORECASTERS], default="dense")
    p.add_argument("--out", type=Path, required=True, help="bundle directory to write (plus tuning.json)")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after S seconds")
    p.add_argument("--objective", choices=list(OBJECTIVES), default="injection")
    p.add_argument("--trial-epochs", type=int, default=10, help="maximum epochs per trial (early stopping)")
    p.add_argument("--trial-seconds", type=float, default=None, help="training budget per trial")
    p.add_argument("--stride", type=int, default=1, help="step between training windows in trials (2+ is faster)")
    p.add_argument("--epochs", type=int, default=40, help="maximum epochs for the final bundle")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run)
