"""Training data: load an SMD machine or an agent's history, name its columns, split in time order, scale, window.

The validation split is the END of the training series: windows never cross
the split and nothing is shuffled across it, so validation errors (and the
thresholds computed from them) come from data the model has not seen, as the
agent will see it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.calibrate.fit import HostRecipe, fit_host_zscaler
from agent.collect.features import SMD38_NAMES
from agent.history.smd import load_machine
from agent.score.scoring import SCALER_CLIP, Z_CLIP, AnyScaler, Scaler
from agent.score.window import make_windows
from training.history import load_history_segments
from training.importers.core import sidecar_features


@dataclass(frozen=True)
class Split:
    """Raw rows split in time order, the scaler fitted on the train part, and scaled windows.

    ``train_raw`` (T1, F) and ``val_raw`` (T2, F) are unscaled; ``x_train``
    (N1, W, F) and ``x_val`` (N2, W, F) are scaled float32 windows.
    """

    train_raw: np.ndarray
    val_raw: np.ndarray
    scaler: AnyScaler
    x_train: np.ndarray
    x_val: np.ndarray
    others: tuple[Split, ...] = ()  # a fleet model: the other machines, each scaled by its own statistics


def split_many(
    xs: list[np.ndarray],
    window: int,
    val_fraction: float = 0.2,
    stride: int = 1,
    scaling: str = "zscore",
    units: bool = False,
) -> Split:
    """One :class:`Split` per machine, each scaled by its own statistics (as each host calibrates its own),
    joined: windows of every machine to train and validate on (none crosses two machines); the first
    machine's scaler is the bundle's (offline scoring), the rest are in ``others``."""
    parts = [split_scale_window(x, window, val_fraction, stride, scaling=scaling, units=units) for x in xs]
    first = parts[0]
    return Split(
        first.train_raw,
        first.val_raw,
        first.scaler,
        np.ascontiguousarray(np.concatenate([p.x_train for p in parts])),
        np.ascontiguousarray(np.concatenate([p.x_val for p in parts])),
        tuple(parts[1:]),
    )


def load_train(data_dir: Path, machine: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """The ``train`` split of one SMD machine (T, F) and its feature names.

    SMD files carry no header: 38 columns are the SMD-38 catalog, anything
    else gets generic names ``f1..fF``.
    """
    m = load_machine(Path(data_dir), machine, splits=("train",))
    if m.train is None:
        raise FileNotFoundError(f"no train/{machine}.txt under {data_dir}")
    return m.train, default_names(m.train.shape[1])


def default_names(n_columns: int) -> tuple[str, ...]:
    """SMD-38 for 38 columns, ``f1..fF`` otherwise."""
    return tuple(SMD38_NAMES) if n_columns == len(SMD38_NAMES) else tuple(f"f{i + 1}" for i in range(n_columns))


def feature_names_for(data_dir: Path | str, machine: str, n_columns: int) -> tuple[str, ...]:
    """Names of a machine's columns: an importer's sidecar (``train/MACHINE.json``) when there is one,
    else :func:`default_names`."""
    names = sidecar_features(Path(data_dir), machine)
    if names is None:
        return default_names(n_columns)
    if len(names) != n_columns:
        raise ValueError(
            f"{Path(data_dir) / 'train' / (machine + '.json')}: names {len(names)} features, "
            f"the data has {n_columns} columns"
        )
    return names


def history_train(directory: Path, window: int) -> tuple[np.ndarray, tuple[str, ...], dict[str, Any]]:
    """Training rows from an agent's recorded history (``<state_directory>/history``).

    Short gaps and NaN cells are forward-filled and long gaps split the series
    (:mod:`training.history`); segments shorter than two windows are dropped
    and the rest are joined, so only the few windows that straddle a join mix
    two segments.  The bundle is marked ``host_specific``: it was trained on
    this host's raw values (a min-max bundle is then used as it is; a z-score
    one is still calibrated and recalibrated daily by the agent, because the
    host drifts after training).
    """
    segments, names = load_history_segments(Path(directory), min_rows=2 * window)
    if not segments:
        raise ValueError(f"{directory}: no gap-free stretch of at least {2 * window} rows in the recorded history")
    train = np.concatenate(segments)
    source = {
        "history_dir": str(Path(directory).resolve()),
        "machine": socket.gethostname(),
        "split": "history",
        "host_specific": True,
        "segments": len(segments),
        "rows": int(len(train)),
    }
    return train, tuple(names), source


def split_scale_window(
    x: np.ndarray,
    window: int,
    val_fraction: float = 0.2,
    stride: int = 1,
    clip: float | None = None,
    scaling: str = "minmax",
    units: bool = False,
) -> Split:
    """Split (T, F) rows in time order, fit the scaler on the train part, scale and window.

    Parameters
    ----------
    x : (T, F) raw rows
    window : window length W
    val_fraction : share of rows (from the end) held back for validation
    stride : step between training windows (validation always uses step 1)
    clip : scaler clip (default: SCALER_CLIP for min-max, Z_CLIP for z-score)
    scaling : "minmax" or "zscore" (:func:`agent.calibrate.fit.fit_host_zscaler`, the recipe hosts
        calibrate with: median, robust scale, noise floor)
    units : z-score floors in feature units (raw host rows, ``fit --history``) instead of 1 % of the
        range (SMD rows, already scaled to [0, 1])
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
    scaler: AnyScaler
    if scaling == "zscore":
        names = default_names(x.shape[1])
        scaler = fit_host_zscaler(train_raw, names, HostRecipe(units=units, cpus=1), Z_CLIP if clip is None else clip)
    else:
        scaler = Scaler.fit(train_raw, clip=SCALER_CLIP if clip is None else clip)
    x_train = make_windows(scaler.transform(train_raw).astype(np.float32), window, stride)
    x_val = make_windows(scaler.transform(val_raw).astype(np.float32), window)
    return Split(train_raw, val_raw, scaler, np.ascontiguousarray(x_train), np.ascontiguousarray(x_val))
