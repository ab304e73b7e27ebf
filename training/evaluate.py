"""``anomaly-train evaluate``: honest detection and interpretation figures per machine.

Neural models are trained per machine with :func:`training.fit.fit_bundle` (or
an existing bundle in ``--bundles-dir/<model>/<machine>/`` is reused) and the
test split is scored through :func:`agent.model.load_model` — the TFLite path
the agent runs — so the figures are those of the shipped artefact.  Baselines
(:mod:`training.baselines`) are fitted on the same training rows in the same run.

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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agent.smd import Machine, load_machine
from training import metrics as M
from training.baselines import BASELINES, make_baseline

log = logging.getLogger(__name__)

DEFAULT_MODELS = ("conv_bigru", "lstm", "dense", "lstm_forecaster", "ensemble", "pca", "iforest", "mahalanobis",
                  "ocsvm")
HIT_P = (1.0, 1.5)
VUS_MAX_BUFFER = 100  # same for every model so VUS-PR compares; ~ SMD event lengths
VAL_FRACTION = 0.2  # baselines: threshold on the held-out end of train, like fit


@dataclass(frozen=True)
class ModelScores:
    """One model's output on one machine's test rows."""

    score: np.ndarray  # (T,), NaN where no score
    feature_scores: np.ndarray | None  # (T, F) ranking used for HitRate
    threshold: float  # flag score > threshold (1.0 for bundles: scores are normalised)
    threshold_method: str
    info: dict[str, Any]


def row_interval(data_dir: Path | str, machine: str, default: float = 60.0) -> float:
    """Seconds between rows: an importer's sidecar ``timestamps.step`` when present, else SMD's minute."""
    path = Path(data_dir) / "train" / f"{machine}.json"
    if not path.is_file():
        return default
    step = (json.loads(path.read_text(encoding="utf-8")).get("timestamps") or {}).get("step")
    return float(step) if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0 else default


def baseline_scores(name: str, m: Machine, seed: int = 0, val_fraction: float = VAL_FRACTION) -> ModelScores:
    """Fit on the first part of train, POT threshold on the held-out end, score test."""
    from training.thresholds import pot

    assert m.train is not None and m.test is not None
    t0 = time.monotonic()
    n_val = int(round(len(m.train) * val_fraction))
    model = make_baseline(name, seed=seed).fit(m.train[: len(m.train) - n_val])
    th = pot(model.score_series(m.train[len(m.train) - n_val :])[0])
    fit_s = time.monotonic() - t0
    t0 = time.monotonic()
    score, fs = model.score_series(m.test)
    info = {"fit_seconds": round(fit_s, 2), "score_seconds": round(time.monotonic() - t0, 2), "threshold_params": th.params}
    return ModelScores(score, fs, th.value, th.method, info)


def bundle_scores(
    arch: str, m: Machine, data_dir: Path, bundles_dir: Path | None, epochs: int | None, fit_overrides: dict[str, Any]
) -> ModelScores:
    """Train (or reuse) a bundle for ``arch`` on ``m.train`` and score ``m.test`` through the agent's loader."""
    from agent.model import load_model

    assert m.train is not None and m.test is not None
    from training.fit import feature_names_for

    names = feature_names_for(data_dir, m.name, m.train.shape[1])
    with tempfile.TemporaryDirectory(prefix="anomaly-eval-") as tmp:
        path = (bundles_dir or Path(tmp)) / arch / m.name
        info: dict[str, Any] = {"bundle": str(path) if bundles_dir else None}
        if (path / "bundle.json").is_file():
            log.info("%s/%s: reusing bundle %s", arch, m.name, path)
            info["reused"] = True
        else:
            from training.fit import FitOptions, default_window, fit_bundle

            kw: dict[str, Any] = {"window": default_window(arch), "verbose": 0, **fit_overrides}
            if epochs is not None:
                kw["epochs"] = epochs
            opt = FitOptions(**kw)
            log.info("%s/%s: training (%s)", arch, m.name, ", ".join(f"{k}={v}" for k, v in kw.items()))
            prov = {"data_dir": str(Path(data_dir).resolve()), "machine": m.name, "split": "train",
                    "command": "anomaly-train evaluate"}
            r = fit_bundle(m.train, arch=arch, out=path, options=opt, feature_names=names, provenance=prov)
            info.update(reused=False, fit_seconds=round(r.seconds, 1), epochs=r.epochs, val_loss=r.val_loss)
        loaded = load_model(path)
        if loaded.bundle.features != names:
            raise ValueError(f"{path}: bundle features do not match the {len(names)} data columns")
        t0 = time.monotonic()
        s = loaded.scorer.score_series(m.test)
        b = loaded.bundle
        trained = b.meta.get("training") if isinstance(b.meta.get("training"), dict) else {}
        info.update(score_seconds=round(time.monotonic() - t0, 2), window=b.window, tail=b.tail,
                    raw_threshold=b.threshold.value, model_id=b.model_id,
                    train_seconds=trained.get("seconds"), train_epochs=trained.get("epochs"))
        # HitRate ranks the agent's top contributors (share of the raw error); the
        # per-threshold-normalised feature scores are kept as a second ranking.
        info["_feature_scores_normalised"] = s.feature_scores
        return ModelScores(s.score, s.contributions, 1.0, b.threshold.method, info)


def machine_metrics(
    s: ModelScores, labels: np.ndarray, dims: Sequence[frozenset[int]], mask: np.ndarray, vus_max_buffer: int,
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
        "detection_delay": M.detection_delays(score, y, s.threshold, interval_seconds).as_dict(),
    }
    for p in HIT_P:
        key = f"hitrate@{round(p * 100)}"
        out[key] = None if s.feature_scores is None else M.hit_rate(s.feature_scores[mask], kept, p, y)
        norm = s.info.get("_feature_scores_normalised")
        if norm is not None:
            out[f"{key}_normalised"] = M.hit_rate(norm[mask], kept, p, y)
    out["info"] = {k: v for k, v in s.info.items() if not k.startswith("_")}
    return out


def _mean(items: list[Any]) -> Any:
    """Mean of numeric leaves over machines (NaN/None ignored); thresholds and info are skipped."""
    first = items[0]
    if isinstance(first, dict):
        return {k: _mean([d.get(k) for d in items]) for k in first
                if k not in ("threshold", "info", "method", "delays_s")}
    vals = [float(v) for v in items if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


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
    from agent.bundle import ARCHITECTURES

    unknown = [n for n in models if n not in BASELINES and n not in ARCHITECTURES]
    if unknown or not models:
        raise ValueError(f"unknown model(s) {', '.join(unknown) or '(none given)'}; "
                         f"known: {', '.join((*ARCHITECTURES, *BASELINES))}")
    data_dir = Path(data_dir)
    bdir = Path(bundles_dir) if bundles_dir else None
    results: dict[str, dict[str, Any]] = {name: {"machines": {}} for name in models}
    for machine in machines:
        m = load_machine(data_dir, machine)
        if m.train is None or m.test is None or m.labels is None:
            raise FileNotFoundError(f"{machine}: evaluation needs train/, test/ and test_label/ files under {data_dir}")
        if m.labels.sum() == 0:
            raise ValueError(f"{machine}: test_label holds no anomaly, nothing to evaluate")
        dims = M.interpretation_dims(m.interpretation or [], len(m.test))
        scores: dict[str, ModelScores] = {}
        for name in models:
            log.info("%s: scoring %s", machine, name)
            if name in BASELINES:
                scores[name] = baseline_scores(name, m, seed)
            else:
                scores[name] = bundle_scores(name, m, data_dir, bdir, epochs, fit_overrides or {})
        mask = np.logical_and.reduce([np.isfinite(s.score) for s in scores.values()])
        interval = row_interval(data_dir, machine)
        common = {"rows": int(mask.sum()), "rows_skipped": int((~mask).sum()), "interval_seconds": interval,
                  "anomaly_ratio": float(m.labels[mask].mean()), "events": int(len(M.segments(m.labels[mask]))),
                  "anomalies_skipped": int(m.labels[~mask].sum())}
        for name, s in scores.items():
            res = machine_metrics(s, m.labels, dims, mask, vus_max_buffer, interval)
            res["data"] = common
            results[name]["machines"][machine] = res
    for r in results.values():
        r["mean"] = _mean(list(r["machines"].values()))
    return {
        "kind": "anomaly-train evaluate",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_dir": str(data_dir.resolve()),
        "machines": list(machines),
        "models": list(models),
        "settings": {"vus_max_buffer": vus_max_buffer, "hitrate_p": list(HIT_P), "epochs": epochs,
                     "fit_overrides": fit_overrides or {}, "seed": seed, "baseline_val_fraction": VAL_FRACTION,
                     "flag_rule": "score > threshold; bundles: normalised score > 1.0; baselines: POT on held-out train"},
        "notes": {"pa_f1_inflated": "point-adjusted F1 credits a whole label segment for one flagged point; "
                  "random scores reach high values on SMD. Shown only next to the honest figures."},
        "results": results,
    }


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


COLUMNS = (("bestF1", "best_f1.f1"), ("P", "best_f1.precision"), ("R", "best_f1.recall"),
           ("F1@thr", "at_threshold.f1"), ("P@thr", "at_threshold.precision"), ("R@thr", "at_threshold.recall"),
           ("FPR@thr", "at_threshold.fpr"), ("AUC-PR", "auc_pr"), ("VUS-PR", "vus_pr"), ("evF1", "event_f1.f1"),
           ("PA-F1*", "pa_f1_inflated.f1"), ("HR@100", "hitrate@100"), ("HR@150", "hitrate@150"),
           ("Det5m", "detection_delay.detected_within_5min"))


def _get(d: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None  # type: ignore[assignment]
    return d


def format_tables(doc: dict[str, Any]) -> str:
    """Plain-text tables: one per machine, then the mean over machines."""
    res = doc["results"]
    blocks = [(m, {name: res[name]["machines"][m] for name in res}) for m in doc["machines"]]
    blocks.append((f"mean over {len(doc['machines'])} machines", {name: res[name]["mean"] for name in res}))
    width = max(len(n) for n in res) + 2
    lines = []
    for title, rows in blocks:
        lines.append(f"== {title}")
        lines.append("model".ljust(width) + "".join(h.rjust(8) for h, _ in COLUMNS))
        for name, r in rows.items():
            cells = [_get(r, key) for _, key in COLUMNS]
            lines.append(name.ljust(width) + "".join(
                ("n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}").rjust(8) for v in cells))
        lines.append("")
    lines.append("PA-F1* is point-adjusted F1: inflated (a random score reaches high values), never a headline. "
                 "Det5m: share of events flagged (at the shipped threshold) within 5 minutes of their start.")
    return "\n".join(lines)


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(doc), indent=2, allow_nan=False) + "\n", encoding="utf-8")


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
    machines = [s for s in args.machines.split(",") if s] if args.machines else sorted(
        p.name.removesuffix(".gz").removesuffix(".txt") for p in (Path(args.data) / "test").iterdir())
    models = [s for s in args.models.split(",") if s]
    overrides = dict(args.fit_option or [])
    if overrides:
        from training.fit import FitOptions

        unknown = set(overrides) - {f.name for f in dataclasses.fields(FitOptions)}
        if unknown:
            raise ValueError(f"unknown --fit-option key(s): {', '.join(sorted(unknown))}")
    doc = evaluate(args.data, machines, models, bundles_dir=args.bundles_dir, epochs=args.epochs,
                   fit_overrides=overrides, vus_max_buffer=args.vus_max_buffer, seed=args.seed)
    if args.out:
        write_json(doc, Path(args.out))
    print(format_tables(doc))
    return 0


def register(subparsers: Any) -> None:
    """Add ``evaluate`` to the ``anomaly-train`` subcommands."""
    p = subparsers.add_parser("evaluate", help="score models and baselines on SMD test data (honest metrics)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="SMD root (train/, test/, test_label/, ...)")
    p.add_argument("--machines", default=None, help="comma-separated machine names (default: every test/ file)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help=f"comma-separated architectures and baselines ({', '.join(BASELINES)})")
    p.add_argument("--out", type=Path, default=None, help="write the JSON document here")
    p.add_argument("--bundles-dir", type=Path, default=None,
                   help="reuse/keep bundles in DIR/<model>/<machine>/ (default: train into a temporary directory)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs for models trained here (default: fit's)")
    p.add_argument("--fit-option", action="append", type=parse_fit_option, metavar="KEY=VALUE",
                   help="override a FitOptions field for models trained here (repeatable), e.g. tail=5")
    p.add_argument("--vus-max-buffer", type=int, default=VUS_MAX_BUFFER, help="VUS-PR buffer lengths 0..L")
    p.add_argument("--seed", type=int, default=0, help="seed for IsolationForest")
    p.set_defaults(func=_run)
