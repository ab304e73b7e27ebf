"""``anomaly-train evaluate``: honest detection and interpretation figures per machine.

Every model is a detector (:mod:`training.detector`) and goes through one
path: fitted on the machine's training rows, then scores its test rows.
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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.history.smd import Machine, load_machine
from agent.model.bundle import ARCHITECTURES
from agent.score.alerts import alert_figures
from training import metrics as M
from training.baselines import BASELINES, VAL_FRACTION, make_baseline
from training.bundle_detector import BundleDetector
from training.data import feature_names_for
from training.delay import detection_delays
from training.detector import Detector
from training.options import FitOptions, default_window
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
HIT_P = (1.0, 1.5)
VUS_MAX_BUFFER = 100  # same for every model so VUS-PR compares; ~ SMD event lengths


@dataclass(frozen=True)
class ModelScores:
    """One model's output on one machine's test rows."""

    score: np.ndarray  # (T,), NaN where no score
    feature_scores: np.ndarray | None  # (T, F) ranking used for HitRate
    threshold: float  # flag score > threshold (1.0 for bundles: scores are normalised)
    threshold_method: str
    info: dict[str, Any]
    feature_scores_normalised: np.ndarray | None = None  # a second ranking (bundles: error over own threshold)


def row_interval(data_dir: Path | str, machine: str, default: float = 60.0) -> float:
    """Seconds between rows: an importer's sidecar ``timestamps.step`` when present, else SMD's minute."""
    path = Path(data_dir) / "train" / f"{machine}.json"
    if not path.is_file():
        return default
    step = (json.loads(path.read_text(encoding="utf-8")).get("timestamps") or {}).get("step")
    return float(step) if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0 else default


def detector_for(
    name: str,
    m: Machine,
    data_dir: Path,
    bundles_dir: Path,
    epochs: int | None,
    fit_overrides: dict[str, Any],
    seed: int = 0,
) -> Detector:
    """An unfitted detector for ``name``: a baseline, or a bundle kept in ``bundles_dir/<name>/<machine>``."""
    if name in BASELINES:
        return make_baseline(name, seed=seed)
    assert m.train is not None
    kw: dict[str, Any] = {"window": default_window(name), "verbose": 0, **fit_overrides}
    if epochs is not None:
        kw["epochs"] = epochs
    prov = {
        "data_dir": str(Path(data_dir).resolve()),
        "machine": m.name,
        "split": "train",
        "command": "anomaly-train evaluate",
    }
    return BundleDetector(
        name, bundles_dir / name / m.name, FitOptions(**kw), feature_names_for(data_dir, m.name, m.train.shape[1]), prov
    )


def model_scores(det: Detector, m: Machine) -> ModelScores:
    """Fit ``det`` on the machine's training rows and score its test rows: the one path of every model."""
    assert m.train is not None and m.test is not None
    det.fit(m.train)
    t0 = time.monotonic()
    s = det.score_series(m.test)
    info = {**det.info(), "score_seconds": round(time.monotonic() - t0, 2)}
    return ModelScores(
        s.score, s.feature_scores, det.threshold, det.threshold_method, info, s.feature_scores_normalised
    )


def machine_metrics(
    s: ModelScores,
    labels: np.ndarray,
    dims: Sequence[frozenset[int]],
    mask: np.ndarray,
    vus_max_buffer: int,
    interval_seconds: float = 60.0,
) -> dict[str, Any]:
    """Every figure for one model on one machine, on the rows in ``mask`` (rows ``interval_seconds`` apart)."""
    score, y = s.score[mask], labels[mask]
    kept = [d for d, k in zip(dims, mask) if k]
    out: dict[str, Any] = {
        "best_f1": M.best_f1(score, y).as_dict(),
        "at_threshold": {**M.at_threshold(score, y, s.threshold), "method": s.threshold_method},
        "auc_pr": M.auc_pr(score, y),
        "vus_pr": M.vus_pr(score, y, max_buffer=vus_max_buffer),
        "event_f1": M.event_f1(score, y).as_dict(),
        "pa_f1_inflated": M.pa_f1(score, y).as_dict(),
        "detection_delay": detection_delays(score, y, s.threshold, interval_seconds).as_dict(),
        "alerts": alert_level(s, labels, mask, interval_seconds),
    }
    for p in HIT_P:
        key = f"hitrate@{round(p * 100)}"
        out[key] = None if s.feature_scores is None else M.hit_rate(s.feature_scores[mask], kept, p, y)
        if s.feature_scores_normalised is not None:
            out[f"{key}_normalised"] = M.hit_rate(s.feature_scores_normalised[mask], kept, p, y)
    out["info"] = dict(s.info)
    return out


def alert_level(s: ModelScores, labels: np.ndarray, mask: np.ndarray, interval_seconds: float) -> dict[str, Any]:
    """What a pager sees (:func:`agent.score.alerts.alert_figures`): the shipped rule, five consecutive scores above
    the model's shipped threshold (> 1 for a bundle's normalised score), on the whole test series with the
    rows outside ``mask`` unscored (they break a run and count for no normal day)."""
    score = np.where(mask, s.score, np.nan)
    return alert_figures(score, labels, rows_per_day=86400.0 / interval_seconds, level=s.threshold).to_dict()


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


def _run(args: argparse.Namespace) -> int:
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
    p.add_argument("--data", type=Path, required=True, help="SMD root (train/, test/, test_label/, ...)")
    p.add_argument("--machines", default=None, help="comma-separated machine names (default: every test/ file)")
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
