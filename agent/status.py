"""The JSON documents of ``/healthz`` and ``/model``: pure functions of the agent's state."""
from __future__ import annotations

from typing import Any

from agent.calibration import Calibrator
from agent.model import LoadedModel
from agent.snapshot import Snapshot


def health_doc(snap: Snapshot, model: LoadedModel, calibrator: Calibrator | None, interval: float,
               now: float) -> tuple[bool, dict[str, Any]]:
    """(healthy, document): healthy only while scores are fresh (within 3 intervals, at least 2 s)."""
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
    return status == "ok", {
        "status": status,
        "last_score_age_seconds": age,
        "max_age_seconds": max_age,
        "window_fill_ratio": snap.fill_ratio,
        "calibration_progress_ratio": snap.calibration_ratio,
        "model_id": model.bundle.model_id,
    }


def model_doc(model: LoadedModel, calibrator: Calibrator | None, loaded_at: float,
              reloads: dict[str, int]) -> dict[str, Any]:
    """The bundle in use, where it came from, its reloads and the host calibration."""
    b = model.bundle
    calibration: dict[str, Any] = {"enabled": calibrator is not None}
    if calibrator is not None:
        calibration.update(progress=calibrator.progress, target_rows=calibrator.target_rows,
                           result=calibrator.result.to_doc() if calibrator.result else None)
    return {"path": str(b.path), "runtime": model.runtime, "loaded_at": loaded_at,
            "sha256": b.sha256, "reloads": dict(reloads), "calibration": calibration, "bundle": b.meta}
