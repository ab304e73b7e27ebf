"""``anomaly-train fit --arch ensemble``: train members, normalise their errors, write an ensemble bundle.

Members (``FitOptions.members``, e.g. ``"dense,pca"`` or ``"dense:2,lstm_forecaster,pca"`` with
optional weights, normalised to sum 1) share one time split and one scaler:

- a neural member (autoencoder or forecaster) is trained, converted and
  parity-checked exactly as ``fit`` does it (:func:`training.train.train_network`);
- ``pca`` is the principal subspace keeping ``pca_variance`` of the scaled
  training variance (:class:`training.pca.PCA`, the same as the ``pca``
  baseline), written as a one-layer Keras model with fixed weights
  (:func:`training.models.pca_model`), ``x -> x P + mean (I - P)`` with
  ``P = V^T V`` per row (window 1), converted to a builtin ``FULLY_CONNECTED``
  op, so the agent needs no scikit-learn.

On the validation split the agent's own :class:`agent.model.predictors.EnsemblePredictor`
computes every member's raw errors; their normalisation is fitted there
(``ensemble_norm``: ``z`` = one std per member, the default; ``z_feature`` =
one std per feature, which lets a feature that hardly varied in validation
dominate at test time; ``rank`` = per-feature empirical CDF; see
:mod:`agent.model.ensemble`), and the thresholds are set on the
combined errors by :class:`agent.score.scoring.Scorer`, as ``fit`` does for one model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.model.ensemble import Norm, fit_norm
from agent.model.members import Member, members_digest
from agent.model.predictors import EnsemblePredictor
from agent.model.write import write_ensemble
from agent.score.scoring import AnyScaler, Scorer, ScoringSpec, model_io
from agent.score.window import make_windows
from training.bundle_meta import FitResult, model_id, provenance_doc, scaler_doc
from training.convert import Converted, convert, inference_us, parity
from training.data import Split, split_scale_window
from training.models import ARCHITECTURES, FORECASTERS, pca_model, span
from training.options import FitOptions
from training.pca import PCA as PCAFit
from training.thresholds import compute_thresholds
from training.train import train_network

PCA = "pca"


def parse_members(text: str) -> list[tuple[str, float]]:
    """``"dense:2,pca"`` -> [("dense", 2/3), ("pca", 1/3)]; refuses unknown or repeated members."""
    known = (*ARCHITECTURES, *FORECASTERS, PCA)
    out: list[tuple[str, float]] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        name, _, w = part.partition(":")
        if name not in known:
            raise ValueError(f"unknown ensemble member {name!r} (known: {', '.join(known)})")
        if name in (n for n, _ in out):
            raise ValueError(f"ensemble member {name!r} is listed twice")
        try:
            weight = float(w) if w else 1.0
        except ValueError:
            raise ValueError(f"ensemble member {part!r}: weight must be a number") from None
        if not weight > 0:
            raise ValueError(f"ensemble member {part!r}: weight must be > 0")
        out.append((name, weight))
    if len(out) < 2:
        raise ValueError(f"an ensemble needs at least two members, got {text!r}")
    total = sum(w for _, w in out)
    return [(n, w / total) for n, w in out]


def pca_projection(scaled_train: np.ndarray, variance: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean (F,), projection P = V^T V (F, F) and rank k of the subspace keeping ``variance`` of (T, F) rows."""
    pca = PCAFit.fit(scaled_train, variance)
    return pca.mean, pca.projection, pca.rank


def _pca_member(
    train_raw: np.ndarray, scaler: AnyScaler, opt: FitOptions, path: Path
) -> tuple[dict[str, Any], Converted]:
    mean, proj, k = pca_projection(scaler.transform(train_raw), opt.pca_variance)
    model = pca_model(mean, proj)
    conv = convert(model, "dense")  # not recurrent: dynamic batch, converted as is
    path.write_bytes(conv.tflite)
    probe = scaler.transform(train_raw[-min(len(train_raw), opt.parity_windows) :]).astype(np.float32)[:, None, :]
    diff = parity(model, path, probe, opt.parity_tolerance)
    info = {"components": k, "variance": opt.pca_variance, "parity_max_abs_diff": diff, "op_names": list(conv.ops)}
    return info, conv


def fit_ensemble(
    train: np.ndarray, *, out: Path, options: FitOptions, feature_names: tuple[str, ...], provenance: dict[str, Any]
) -> FitResult:
    """Train every member on raw (T, F) ``train``, fit the normalisations and thresholds, write the bundle.

    Returns a :class:`training.bundle_meta.FitResult` (``keras_model``: member name -> Keras model).
    """
    t0 = time.monotonic()
    # members share one min-max scaler (their norms are fitted on it); z-score is for single models
    opt, n = replace(options, scaling="minmax", error_cap=None), len(feature_names)
    chosen = parse_members(opt.members)
    spans = {name: 1 if name == PCA else span(name, opt.window) for name, _ in chosen}
    window = max(max(spans.values()), 2)
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    trained: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    split: Split | None = None
    with tempfile.TemporaryDirectory(prefix="anomaly-ensemble-") as tmp:
        paths = []
        for i, (name, weight) in enumerate(chosen):
            path = Path(tmp) / f"member-{i}.tflite"
            if name == PCA:
                split = split or split_scale_window(train, window, opt.val_fraction, opt.stride)
                info, conv = _pca_member(split.train_raw, split.scaler, opt, path)
                kind, tail, rec = "autoencoder", 1, {"architecture": PCA, **info}
            else:
                tr, split_m = train_network(name, train, opt, path)
                if split is not None and split.scaler.to_doc() != split_m.scaler.to_doc():
                    raise RuntimeError("ensemble members were scaled differently")  # same split by construction
                split = split or split_m
                conv, kind = tr.converted, tr.kind
                tail = (opt.tail or 1) if kind == "autoencoder" else 1
                trained[name] = tr.model
                rec = {
                    "architecture": name,
                    "epochs": len(tr.history["loss"]),
                    "best_epoch": tr.best + 1,
                    **tr.losses,
                    "seconds": round(tr.seconds, 1),
                    "params": int(tr.model.count_params()),
                    "parity_max_abs_diff": tr.parity,
                    "op_names": list(conv.ops),
                    "history": tr.history_doc(),
                }
            paths.append(path)
            blobs.append(conv.tflite)
            records.append(rec)
            entries.append(
                {
                    "architecture": name,
                    "kind": kind,
                    "window": spans[name],
                    "tail": tail,
                    "weight": weight,
                    "input_shape": [1 if conv.fixed_batch else -1, spans[name] - (kind == "forecaster"), n],
                }
            )
        assert split is not None
        members = tuple(
            Member(
                f"member-{i}",
                p,
                hashlib.sha256(blob).hexdigest(),
                e["architecture"],
                e["kind"],
                e["window"],
                e["tail"],
                e["weight"],
                Norm("z", std=np.ones(n)),
            )
            for i, (p, e, blob) in enumerate(zip(paths, entries, blobs))
        )
        spec = ScoringSpec(tuple(feature_names), window, "autoencoder", split.scaler, 1, 1.0, np.ones(n))
        raw_val = make_windows(split.val_raw, window)
        # the agent's own member errors on validation fix the normalisations ...
        raw_errors = EnsemblePredictor.load(members, n).member_errors(model_io(spec, raw_val)[0])
        method, scope = {"z": ("z", "member"), "z_feature": ("z", "feature"), "rank": ("rank", "feature")}[
            opt.ensemble_norm
        ]
        norms = [fit_norm(e, method, opt.feature_floor, scope=scope) for e in raw_errors]
        members = tuple(dataclasses.replace(m, norm=z) for m, z in zip(members, norms))
        # ... and the agent's scorer on the combined errors sets the thresholds
        predictor = EnsemblePredictor.load(members, n)
        errors = Scorer(spec, predictor).errors(raw_val)
        us = _inference_us(predictor, model_io(spec, raw_val[:200])[0])
        member_us = [
            round(inference_us(p, e["window"] - (e["kind"] == "forecaster"), n, repeats=200), 1)
            for p, e in zip(paths, entries)
        ]
    overall, fvalues, fdoc = compute_thresholds(errors, opt)
    for e, z, u, rec, raw in zip(entries, norms, member_us, records, raw_errors):
        e["norm"] = z.to_doc()
        e["inference_us"] = u
        rec["val_error_mean"] = float(raw.mean())

    digest = members_digest(
        [
            (f"member-{i}-{e['architecture']}.tflite", hashlib.sha256(b).hexdigest())
            for i, (e, b) in enumerate(zip(entries, blobs))
        ]
    )
    now = datetime.now(UTC)
    neural = [r for r in records if "epochs" in r]
    meta: dict[str, Any] = {
        "model_id": model_id("ensemble", provenance, now, digest),
        "created": now.isoformat(timespec="seconds"),
        "architecture": "ensemble",
        "kind": "autoencoder",
        "window": window,
        "features": list(feature_names),
        "scaler": scaler_doc(split),
        "score": {
            "tail": 1,
            "reduction": f"sum over members of weight x {opt.ensemble_norm}-normalised member "
            "error per feature (each member: its own tail/forecast), then mean over features",
        },
        "threshold": {"value": overall.value, "method": overall.method, "params": overall.params},
        "feature_thresholds": fdoc,
        "model": {
            "input_shape": [-1, window, n],
            "inference_us": round(us, 1),
            "params": int(sum(m.count_params() for m in trained.values()))
            + sum(n * n + n for name, _ in chosen if name == PCA),
        },
        "training": {
            **provenance_doc(train, split, provenance, opt),
            "members": records,
            "epochs": sum(r["epochs"] for r in neural),
            **({"train_loss": neural[0]["train_loss"], "val_loss": neural[0]["val_loss"]} if neural else {}),
            "seconds": round(time.monotonic() - t0, 1),
        },
        "conversion": {
            "parity_max_abs_diff": max(r["parity_max_abs_diff"] for r in records),
            "tolerance": opt.parity_tolerance,
            "ops": "builtin-only",
            "op_names": sorted({op for r in records for op in r["op_names"]}),
        },
    }
    write_ensemble(Path(out), list(zip(entries, blobs)), meta)
    first = neural[0] if neural else {"train_loss": float("nan"), "val_loss": float("nan")}
    return FitResult(
        Path(out),
        time.monotonic() - t0,
        sum(r["epochs"] for r in neural),
        first["train_loss"],
        first["val_loss"],
        meta["conversion"]["parity_max_abs_diff"],
        sum(len(b) for b in blobs),
        us,
        overall,
        fvalues,
        trained,
    )


def _inference_us(predictor: EnsemblePredictor, windows: np.ndarray, repeats: int = 300) -> float:
    """Median µs of one single-window ``predict`` (every member, normalisation, combination): what
    :func:`training.convert.inference_us` measures for a single model."""
    if len(windows) == 0:
        return float("nan")
    for w in windows[:5]:
        predictor.predict(w[None])
    times = []
    for i in range(repeats):
        w = windows[i % len(windows)][None]
        t0 = time.perf_counter()
        predictor.predict(w)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


__all__ = ["PCA", "fit_ensemble", "parse_members", "pca_projection"]
