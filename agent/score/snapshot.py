"""The immutable state the exporter reads: one ``Snapshot`` replaced per sampling cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.score.scoring import WindowScore


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    architecture: str
    window: int
    sha256: str
    features: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    """What the last cycle produced.  ``result`` is None until the first score."""

    model: ModelInfo | None = None
    result: WindowScore | None = None
    scored_at: float | None = None  # unix seconds of the last score
    fill_ratio: float = 0.0
    calibration_ratio: float = 1.0  # 1.0 when calibrated or calibration is off
    replay_label: int | None = None
    collector_errors: dict[str, int] = field(default_factory=dict)
    scoring_errors: int = 0
    cycles_skipped: int = 0
    state_errors: dict[str, int] = field(default_factory=dict)
    reloads: dict[str, int] = field(default_factory=lambda: {"accepted": 0, "rejected": 0})
    rollbacks: int = 0  # new bundles rolled back after scoring far worse than the previous one
    probation: bool = False  # a new bundle is scoring beside the previous one (rollback possible)
    extra: dict[str, Any] = field(default_factory=dict)
