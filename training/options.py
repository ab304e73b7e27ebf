"""Training options (``FitOptions``): every field is recorded in ``bundle.json`` ``training.options``."""

from __future__ import annotations

from dataclasses import dataclass

from agent.score.scoring import ERROR_CAP, FEATURE_ERROR_FLOOR
from training.models import arch_spec

ENSEMBLE_NORMS = ("z", "z_feature", "rank")  # training.ensemble: z = one std per member


@dataclass(frozen=True)
class FitOptions:
    """Training knobs; every field is recorded in ``bundle.json`` ``training.options``."""

    window: int = 30
    latent: int | None = None  # None: the architecture's default
    epochs: int = 40  # upper bound; early stopping usually ends sooner
    batch_size: int = 64
    seed: int = 0
    val_fraction: float = 0.2  # taken from the END of the series
    stride: int = 1  # step between training windows (validation: always 1)
    patience: int = 4
    learning_rate: float = 1e-3
    max_train_seconds: float | None = None  # stop after the epoch that crosses this budget
    tail: int | None = None  # score = error of the last `tail` steps; None = the whole window (docs/detection.md)
    scaling: str = "zscore"  # "zscore" (robust, floored; docs/detection.md) or "minmax" (format-1 bundles)
    error_cap: float | None = ERROR_CAP  # zscore: per-feature error ceiling (bounded contributions)
    threshold: str = "pot"  # "pot" or "quantile" (overall and per-feature)
    pot_q: float = 1e-3
    pot_level: float = 0.98
    quantile_q: float = 0.995
    feature_floor: float = FEATURE_ERROR_FLOOR  # squared scaled error: 1 % of a feature's training range
    parity_tolerance: float = 1e-4
    parity_windows: int = 256
    verbose: int = 2  # keras: 2 = one line per epoch
    members: str = "dense,pca"  # ensemble only: comma-separated member architectures (training.ensemble)
    ensemble_norm: str = "z"  # ensemble only: "z" (one std per member), "z_feature" (per feature) or "rank"
    pca_variance: float = 0.95  # ensemble "pca" member: share of the training variance kept

    def __post_init__(self) -> None:
        if self.threshold not in ("pot", "quantile"):
            raise ValueError(f"threshold must be 'pot' or 'quantile', got {self.threshold!r}")
        if self.scaling not in ("zscore", "minmax"):
            raise ValueError(f"scaling must be 'zscore' or 'minmax', got {self.scaling!r}")
        if self.error_cap is not None and self.error_cap <= 0:
            raise ValueError("error_cap must be > 0")
        if self.tail is not None and not 1 <= self.tail <= self.window:
            raise ValueError(f"tail must be in 1..window ({self.window}), got {self.tail}")
        if self.epochs < 1 or self.batch_size < 1 or self.stride < 1:
            raise ValueError("epochs, batch_size and stride must be >= 1")
        if self.feature_floor <= 0:
            raise ValueError("feature_floor must be > 0")
        if self.ensemble_norm not in ENSEMBLE_NORMS:
            raise ValueError(f"ensemble_norm must be one of {', '.join(ENSEMBLE_NORMS)}, got {self.ensemble_norm!r}")
        if not 0 < self.pca_variance <= 1:
            raise ValueError(f"pca_variance must be in (0, 1], got {self.pca_variance}")


def default_window(arch: str) -> int:
    """The architecture's default window (input length); the ensemble's is that of its default dense member."""
    return arch_spec("dense" if arch == "ensemble" else arch).window
