"""The JSON documents of ``/healthz`` and ``/model``: pure functions of the agent's state.

Times are ISO 8601 UTC strings (``2026-11-25T16:20:05Z``); every per-feature
value is keyed by its feature name (``{"cpu_r": 0.47, ...}``), so neither
document needs the feature list beside it to be read.  The landing page and
``anomaly-agent status`` render these two documents (:mod:`agent.serve.page`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from agent.buildinfo import revision, version
from agent.calibrate.calibrator import Calibrator
from agent.config import ModelConfig
from agent.model.loaded import LoadedModel
from agent.model.rollback import RollbackLog
from agent.score.scoring import top_k
from agent.score.snapshot import Snapshot

TOP_K = 5  # contributors listed in /healthz (the exporter's sampling.top_k default)


def iso(t: float | None) -> str | None:
    """Unix seconds as ISO 8601 UTC, to the second (``None`` stays ``None``)."""
    if t is None or not math.isfinite(t):
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@lru_cache(maxsize=1)
def build() -> dict[str, str]:
    """Version and revision, read once (a metadata lookup and a file read)."""
    return {"version": version(), "revision": revision()}


def calibration_state(calibrator: Calibrator | None) -> str:
    """``off`` (no calibration: replay, host-specific min-max bundle, disabled), else the calibrator's own state
    when it names one (e.g. ``provisional``), else ``calibrated`` or ``calibrating``."""
    if calibrator is None:
        return "off"
    state = getattr(calibrator, "state", None)
    if isinstance(state, str):
        return state
    return "calibrated" if calibrator.calibrated else "calibrating"


def collected_rows(calibrator: Calibrator) -> int:
    """Warm-up rows collected so far (``progress`` is rows / (target + 1) until calibrated)."""
    if calibrator.calibrated:
        return calibrator.result.rows if calibrator.result is not None else calibrator.target_rows
    return round(calibrator.progress * (calibrator.target_rows + 1))


def health_doc(
    snap: Snapshot, model: LoadedModel, calibrator: Calibrator | None, interval: float, now: float, top: int = TOP_K
) -> tuple[bool, dict[str, Any]]:
    """(healthy, document): healthy only while scores are fresh (within 3 intervals, at least 2 s).

    Beside the status: the last score, its time and top contributors (feature,
    share of the window error, feature score), the collector errors per source,
    the calibration state and the build.
    """
    max_age = max(3 * interval, 2.0)
    age = None if snap.scored_at is None else now - snap.scored_at
    if calibrator is not None and not calibrator.calibrated:
        status = "calibrating"
    elif snap.result is None:
        status = "warming_up"
    elif age is not None and age > max_age:
        status = "stale"
    else:
        status = "ok"
    res = snap.result
    names = snap.model.features if snap.model is not None else model.bundle.features
    contributors = []
    if res is not None and len(names) == len(res.contributions):
        index = {n: i for i, n in enumerate(names)}
        contributors = [
            {"feature": name, "share": share, "feature_score": float(res.feature_scores[index[name]])}
            for name, share in top_k(res.contributions, names, top)
            if share > 0
        ]
    doc: dict[str, Any] = {
        "status": status,
        "score": None if res is None else float(res.score),
        "anomalous": None if res is None else bool(res.anomalous),
        "last_score_at": iso(snap.scored_at),
        "last_score_age_seconds": age,
        "max_age_seconds": max_age,
        "top_contributors": contributors,
        "window_fill_ratio": snap.fill_ratio,
        "calibration_state": calibration_state(calibrator),
        "calibration_progress_ratio": snap.calibration_ratio,
        "collector_errors": dict(snap.collector_errors),
        "model_id": model.bundle.model_id,
        **build(),
    }
    if snap.replay_label is not None:
        doc["replay_label"] = snap.replay_label
    return status == "ok", doc


def model_doc(
    model: LoadedModel, calibrator: Calibrator | None, loaded_at: float, reloads: dict[str, int]
) -> dict[str, Any]:
    """The bundle in use, where it came from, its reloads and the host calibration, per feature by name."""
    b = model.bundle
    names = b.features
    calibration: dict[str, Any] = {"enabled": calibrator is not None, "state": calibration_state(calibrator)}
    if calibrator is not None:
        calibration.update(
            progress=calibrator.progress,
            rows=collected_rows(calibrator),
            target_rows=calibrator.target_rows,
            result=calibration_result_doc(calibrator.result.to_doc(), names) if calibrator.result is not None else None,
        )
    return {
        "model_id": b.model_id,
        "architecture": b.architecture,
        "window": b.window,
        "features": list(names),
        "path": str(b.path),
        "runtime": model.runtime,
        "sha256": b.sha256,
        "loaded_at": iso(loaded_at),
        "reloads": dict(reloads),
        "calibration": calibration,
        **build(),
        "bundle": bundle_doc(b.meta, names),
    }


def calibration_result_doc(doc: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A calibration result document with its time in ISO 8601 and every per-feature list keyed by feature."""
    out = by_feature(doc, names)
    if "calibrated_at" in out:
        out["calibrated_at"] = (
            iso(out["calibrated_at"]) if isinstance(out["calibrated_at"], (int, float)) else out["calibrated_at"]
        )
    return out


def bundle_doc(meta: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``bundle.json`` with its per-feature parts (scaler, feature thresholds, ensemble norms) keyed by feature.

    Only those parts: elsewhere a list as long as the feature list is not per feature (a training history).
    """
    out = dict(meta)
    for key in ("scaler", "feature_thresholds"):
        if key in out:
            out[key] = by_feature(out[key], names)
    if isinstance(out.get("members"), list):
        out["members"] = [
            {**m, "norm": by_feature(m["norm"], names)} if isinstance(m, dict) and "norm" in m else m
            for m in out["members"]
        ]
    return out


def _numbers(v: Any) -> bool:
    return isinstance(v, list) and all(
        x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in v
    )


def by_feature(doc: Any, names: tuple[str, ...]) -> Any:
    """``doc`` with every list of ``len(names)`` numbers turned into ``{feature: number}`` and every
    list of such rows (quantiles) into ``{feature: [column]}``; everything else as it is."""
    n = len(names)
    if isinstance(doc, dict):
        return {k: by_feature(v, names) for k, v in doc.items()}
    if isinstance(doc, list):
        if len(doc) == n and _numbers(doc):
            return dict(zip(names, doc))
        if doc and all(isinstance(r, list) and len(r) == n and _numbers(r) for r in doc):
            return {name: [r[j] for r in doc] for j, name in enumerate(names)}
        return [by_feature(v, names) for v in doc]
    return doc


def rollback_doc(cfg: ModelConfig, log: RollbackLog, count: int) -> dict[str, Any]:
    """``/model``'s ``rollback``: the rule, the probation under way and the bundles rolled back (newest last)."""
    p = log.probation
    return {
        "hours": cfg.rollback_hours,
        "factor": cfg.rollback_factor,
        "min_above": cfg.rollback_min_above,
        "rollbacks": count,
        "probation": None
        if p is None
        else {
            "model_id": p.model_id,
            "sha256": p.sha256,
            "previous_model_id": p.previous_model_id,
            "previous_sha256": p.previous_sha256,
            "started": iso(p.started),
            "until": iso(p.until),
            "samples": p.samples,
            "above": p.above,
            "previous_above": p.previous_above,
        },
        "rolled_back": [
            {
                "model_id": r.model_id,
                "sha256": r.sha256,
                "at": iso(r.at),
                "reason": r.reason,
                "restored_model_id": r.restored_model_id,
                "restored_sha256": r.restored_sha256,
            }
            for r in log.rolled_back
        ],
    }
