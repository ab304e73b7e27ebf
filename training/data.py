"""Training data: load an SMD machine, split in time order, fit the scaler, window.

The validation split is the END of the training series: windows never cross
the split and nothing is shuffled across it, so validation errors (and the
thresholds computed from them) come from data the model has not seen, as the
agent will see it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.features import SMD38_NAMES
from agent.scoring import SCALER_CLIP, Scaler
from agent.smd import load_machine
from agent.window import make_windows


@dataclass(frozen=True)
class Split:
    """Raw rows split in time order, the scaler fitted on the train part, and scaled windows.

    ``train_raw`` (T1, F) and ``val_raw`` (T2, F) are unscaled; ``x_train``
    (N1, W, F) and ``x_val`` (N2, W, F) are scaled float32 windows.
    """

    train_raw: np.ndarray
    val_raw: np.ndarray
    scaler: Scaler
    x_train: np.ndarray
    x_val: np.ndarray


def load_train(data_dir: Path, machine: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """The ``train`` split of one SMD machine (T, F) and its feature names.

    SMD files carry no header: 38 columns are the SMD-38 catalog, anything
    else gets generic names ``f1..fF``.
    """
    m = load_machine(Path(data_dir), machine, splits=("train",))
    if m.train is None:
        raise FileNotFoundError(f"no train/{machine}.txt under {data_dir}")
    n = m.train.shape[1]
    names = tuple(SMD38_NAMES) if n == len(SMD38_NAMES) else tuple(f"f{i + 1}" for i in range(n))
    return m.train, names


def split_scale_window(
    x: np.ndarray, window: int, val_fraction: float = 0.2, stride: int = 1, clip: float = SCALER_CLIP
) -> Split:
    """Split (T, F) rows in time order, fit min-max on the train part, scale and window.

    Parameters
    ----------
    x : (T, F) raw rows
    window : window length W
    val_fraction : share of rows (from the end) held back for validation
    stride : step between training windows (validation always uses step 1)
    clip : scaler clip, see :class:`agent.scoring.Scaler`
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"training data must be (T, F), got shape {x.shape}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_val = int(round(len(x) * val_fraction))
    n_train = len(x) - n_val
    if n_val < window or n_train < window:
        raise ValueError(
            f"{len(x)} rows are too few for window {window} with val_fraction {val_fraction} "
            f"(train {n_train} rows, validation {n_val} rows; each needs >= {window})"
        )
    train_raw, val_raw = x[:n_train], x[n_train:]
    scaler = Scaler.fit(train_raw, clip=clip)
    x_train = make_windows(scaler.transform(train_raw).astype(np.float32), window, stride)
    x_val = make_windows(scaler.transform(val_raw).astype(np.float32), window)
    return Split(train_raw, val_raw, scaler, np.ascontiguousarray(x_train), np.ascontiguousarray(x_val))
