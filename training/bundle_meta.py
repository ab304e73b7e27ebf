"""What every bundle written by training shares: provenance, scaler document, model id, and ``FitResult``."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.model.bundle import Threshold
from training.data import Split
from training.models import versions
from training.options import FitOptions


@dataclass(frozen=True)
class FitResult:
    """What :func:`training.fit.fit_bundle` measured while writing a bundle."""

    bundle: Path
    seconds: float
    epochs: int
    train_loss: float
    val_loss: float
    parity_max_diff: float
    model_bytes: int
    inference_us: float
    threshold: Threshold
    feature_thresholds: np.ndarray  # (F,)
    keras_model: Any = field(default=None, repr=False, compare=False)  # the trained (rolled) model(s)


def recorded_data_dir(data_dir: Path | str, cwd: Path | str | None = None) -> str:
    """``data_dir`` as a bundle records it: relative to ``cwd`` (default: the working directory), so bundle.json
    never carries the training machine's absolute paths (``make`` trains from the repository root on
    ``../shared/data/smd``)."""
    base = Path(cwd if cwd is not None else Path.cwd()).resolve()
    return Path(os.path.relpath(Path(data_dir).resolve(), base)).as_posix()


def provenance_doc(rows: np.ndarray, split: Split, provenance: dict[str, Any], opt: FitOptions) -> dict[str, Any]:
    """The ``training`` fields every bundle shares (data, split sizes, options, versions)."""
    return {
        **provenance,
        "rows": len(rows),
        "train_rows": len(split.train_raw),
        "val_rows": len(split.val_raw),
        "data_sha256": hashlib.sha256(np.ascontiguousarray(rows).tobytes()).hexdigest(),
        "seed": opt.seed,
        "options": dataclasses.asdict(opt),
        **versions(),
    }


def scaler_doc(split: Split) -> dict[str, Any]:
    return split.scaler.to_doc()


def model_id(prefix: str, provenance: dict[str, Any], now: datetime, sha256: str) -> str:
    """``<arch>-<machine>-<UTC time>-<sha256 prefix>``: readable and unique per bundle."""
    return f"{prefix}-{provenance.get('machine', 'data')}-{now:%Y%m%dT%H%M%SZ}-{sha256[:8]}"
