"""``anomaly-train evaluate``: honest detection and interpretation figures per machine.

Every model is a detector (:mod:`training.detector`) and goes through one
path (:mod:`training.machine_scores`): fitted on the machine's training rows,
then scores its test rows.
Neural models are :class:`training.bundle_detector.BundleDetector`: a bundle
trained per machine with :func:`training.fit.fit_bundle` (or reused from
``--bundles-dir/<model>/<machine>/``) and scored through
:func:`agent.model.loaded.load_model`, the TFLite path the agent runs, so the figures
are those of the shipped artefact.  Baselines (:mod:`training.baselines`) are
fitted on the same training rows in the same run.

Every model of a machine is measured on the same rows: those where all models
have a score (the first ``window - 1`` rows have none for window models).
Metric definitions: docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.history.smd import load_machine
from agent.model.bundle import ARCHITECTURES
from training import metrics as M
from training.baselines import BASELINES, VAL_FRACTION
from training.frontier_report import ranking_text, save_figure
from training.machine_scores import HIT_P, ModelScores, detector_for, machine_metrics, model_scores, row_interval
from training.options import FitOptions
from training.tables import format_tables, write_json

log = logging.getLogger(__name__)

DEFAULT_MODELS = (
    "conv_bigru",
    "lstm",
    "dense",
    "lstm_forecaster",
    "ensemble",
    "pca",
    "iforest",
    "mahalanobis",
    "ocsvm",
)
VUS_MAX_BUFFER = 100  # same for every model so VUS-PR compares; ~ SMD event lengths


def _mean(items: list[Any]) -> Any:
    """Mean of numeric leaves over machines (NaN/None ignored); thresholds and info are skipped."""
    first = items[0]
    if isinstance(first, dict):
        return {
            k: _mean([d.get(k) for d in items]) for k in first if k not in ("threshold", "info", "method", "delays_s")
        }
    vals = [float(v) for v in items if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def evaluate_machine(
    data_dir: Path,
    machine: str,
    models: Sequence[str],
    bundles_dir: Path,
    epochs: int | None,
    fit_overrides: dict[str, Any],
    vus_max_buffer: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Every model's figures on one machine, measured on the rows where all models have a score."""
    m = load_machine(data_dir, machine)
    if m.train is None or m.test is None or m.labels is None:
        raise FileNotFoundError(f"{machine}: evaluation needs train/, test/ and test_label/ files under {data_dir}")
    if m.labels.sum() == 0:
        raise ValueError(f"{machine}: test_label holds no anomaly, nothing to evaluate")
    dims = M.interpretation_dims(m.interpretation or [], len(m.test))
    scores: dict[str, ModelScores] = {}
    for name in models:
        log.info("%s: scoring %s", machine, name)
        scores[name] = model_scores(detector_for(name, m, data_dir, bundles_dir, epochs, fit_overrides, seed), m)
    mask = np.logical_and.reduce([np.isfinite(s.score) for s in scores.values()])
    interval = row_interval(data_dir, machine)
    common = {
        "rows": int(mask.sum()),
        "rows_skipped": int((~mask).sum()),
        "interval_seconds": interval,
        "anomaly_ratio": float(m.labels[mask].mean()),
        "events": int(len(M.segments(m.labels[mask]))),
        "anomalies_skipped": int(m.labels[~mask].sum()),
    }
    out = {}
    for name, s in scores.items():
        out[name] = {**machine_metrics(s, m.labels, dims, mask, vus_max_buffer, interval), "data": common}
    return out


def evaluate(
    data_dir: Path | str,
    machines: Sequence[str],
    models: Sequence[str] = DEFAULT_MODELS,
    *,
    bundles_dir: Path | str | None = None,
    epochs: int | None = None,
    fit_overrides: dict[str, Any] | None = None,
    vus_max_buffer: int = VUS_MAX_BUFFER,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate ``models`` on ``machines`` of an SMD directory; returns the JSON-ready document."""
    unknown = [n for n in models if n not in BASELINES and n not in ARCHITECTURES]
    if unknown or not models:
        raise ValueError(
            f"unknown model(s) {', '.join(unknown) or '(none given)'}; known: {', '.join((*ARCHITECTURES, *BASELINES))}"
        )
    data_dir = Path(data_dir)
    results: dict[str, dict[str, Any]] = {name: {"machines": {}} for name in models}
    with tempfile.TemporaryDirectory(prefix="anomaly-eval-") as tmp:  # bundles live here without --bundles-dir
        for machine in machines:
            per_model = evaluate_machine(
                data_dir, machine, models, Path(bundles_dir or tmp), epochs, fit_overrides or {}, vus_max_buffer, seed
            )
            for name, res in per_model.items():
                if bundles_dir is None and "bundle" in res["info"]:
                    res["info"]["bundle"] = None  # a temporary directory: nothing to point at
                results[name]["machines"][machine] = res
    for r in results.values():
        r["mean"] = _mean(list(r["machines"].values()))
    return {
        "kind": "anomaly-train evaluate",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_dir": str(data_dir.resolve()),
        "machines": list(machines),
        "models": list(models),
        "settings": {
            "vus_max_buffer": vus_max_buffer,
            "hitrate_p": list(HIT_P),
            "epochs": epochs,
            "fit_overrides": fit_overrides or {},
            "seed": seed,
            "baseline_val_fraction": VAL_FRACTION,
            "flag_rule": "score > threshold; bundles: normalised score > 1.0; baselines: POT on held-out train",
        },
        "notes": {
            "pa_f1_inflated": "point-adjusted F1 credits a whole label segment for one flagged point; "
            "random scores reach high values on SMD. Shown only next to the honest figures."
        },
        "results": results,
    }


def parse_fit_option(text: str) -> tuple[str, Any]:
    """``key=value`` for a :class:`training.fit.FitOptions` field, value coerced by JSON then as text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _frontier(args: argparse.Namespace) -> int:
    doc = json.loads(Path(args.frontier).read_text(encoding="utf-8"))
    print(ranking_text(doc))
    if args.frontier_plot is not None:
        print(f"figure      {save_figure(doc, args.frontier_plot)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.frontier is not None:
        return _frontier(args)
    if args.data is None:
        raise ValueError("--data is required (or --frontier FILE)")
    machines = (
        [s for s in args.machines.split(",") if s]
        if args.machines
        else sorted(p.name.removesuffix(".gz").removesuffix(".txt") for p in (Path(args.data) / "test").iterdir())
    )
    models = [s for s in args.models.split(",") if s]
    overrides = dict(args.fit_option or [])
    if overrides:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(FitOptions)}
        if unknown:
            raise ValueError(f"unknown --fit-option key(s): {', '.join(sorted(unknown))}")
    doc = evaluate(
        args.data,
        machines,
        models,
        bundles_dir=args.bundles_dir,
        epochs=args.epochs,
        fit_overrides=overrides,
        vus_max_buffer=args.vus_max_buffer,
        seed=args.seed,
    )
    if args.out:
        write_json(doc, Path(args.out))
    print(format_tables(doc))
    return 0


def register(subparsers: Any) -> None:
    """Add ``evaluate`` to the ``anomaly-train`` subcommands."""
    p = subparsers.add_parser(
        "evaluate",
        help="score models and baselines on SMD test data (honest metrics)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--data", type=Path, default=None, help="SMD root (train/, test/, test_label/, ...); required")
    p.add_argument("--machines", default=None, help="comma-separated machine names (default: every test/ file)")
    p.add_argument(
        "--frontier",
        type=Path,
        default=None,
        help="instead: print the candidates' alert-level frontier from bench/frontier.py's JSON",
    )
    p.add_argument("--frontier-plot", type=Path, default=None, help="with --frontier: also write the figure (PNG)")
    p.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help=f"comma-separated architectures and baselines ({', '.join(BASELINES)})",
    )
    p.add_argument("--out", type=Path, default=None, help="write the JSON document here")
    p.add_argument(
        "--bundles-dir",
        type=Path,
        default=None,
        help="reuse/keep bundles in DIR/<model>/<machine>/ (default: train into a temporary directory)",
    )
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs for models trained here (default: fit's)")
    p.add_argument(
        "--fit-option",
        action="append",
        type=parse_fit_option,
        metavar="KEY=VALUE",
        help="override a FitOptions field for models trained here (repeatable), e.g. tail=5",
    )
    p.add_argument("--vus-max-buffer", type=int, default=VUS_MAX_BUFFER, help="VUS-PR buffer lengths 0..L")
    p.add_argument("--seed", type=int, default=0, help="seed for IsolationForest")
    p.set_defaults(func=_run)
