"""``anomaly-train fit``: train a model, convert it, check parity, set thresholds, write a bundle.

Thresholds are computed on the validation windows by the agent's own
:class:`agent.score.scoring.Scorer` running the converted TFLite model, so the
numbers in ``bundle.json`` are exactly the errors the agent will compute.

The parts live next door: options in :mod:`training.options`, data
preparation in :mod:`training.data`, the network and its training loop in
:mod:`training.models` and :mod:`training.train`, thresholds in
:mod:`training.thresholds`, the shared bundle fields in
:mod:`training.bundle_meta`, ensembles in :mod:`training.ensemble`, and the
command line in :mod:`training.fit_cli`.
"""

from __future__ import annotations

import hashlib
import logging
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
from training.ensemble import fit_ensemble
from training.models import set_seed
from training.options import FitOptions
from training.thresholds import ANCHOR_WINDOWS, compute_thresholds, z_bundle_thresholds
from training.train import train_network

log = logging.getLogger(__name__)

__all__ = ["FitOptions", "FitResult", "fit_bundle"]


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
