"""Train one network on a time split, convert it to TFLite and check parity: what ``fit`` and every
neural ensemble member share."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.convert import Converted, convert, parity
from training.data import Split, split_many, split_scale_window
from training.models import arch_spec, build_model, pairs, span, train
from training.options import FitOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trained:
    """One Keras network trained on a split, converted and parity-checked (``tflite`` written to ``path``)."""

    arch: str
    kind: str
    window: int  # input length
    span: int  # rows per score: window (+1 for a forecaster)
    latent: int
    model: Any  # keras.Model (rolled)
    converted: Converted
    history: dict[str, list[float]]
    best: int  # 0-based epoch whose weights EarlyStopping restored
    parity: float
    parity_windows: int
    seconds: float

    @property
    def losses(self) -> dict[str, float]:
        return {
            "train_loss": float(self.history["loss"][self.best]),
            "val_loss": float(self.history["val_loss"][self.best]),
        }

    def history_doc(self) -> dict[str, list[float]]:
        return {k: [round(float(v), 8) for v in vs] for k, vs in self.history.items()}


def train_network(
    arch: str, rows: np.ndarray | list[np.ndarray], opt: FitOptions, path: Path, units: bool = False
) -> tuple[Trained, Split]:
    """Split raw (T, F) ``rows``, train ``arch`` on it, convert to ``path`` and check parity.

    Returns the :class:`Trained` record and the :class:`training.data.Split` (scaler, raw validation rows).
    """
    t0 = time.monotonic()
    spec = arch_spec(arch)
    latent = spec.latent if opt.latent is None else opt.latent
    n_rows = span(arch, opt.window)
    if isinstance(rows, list):  # a fleet model: one split per machine
        n = rows[0].shape[1]
        split = split_many(rows, n_rows, opt.val_fraction, opt.stride, scaling=opt.scaling, units=units)
    else:
        n = rows.shape[1]
        split = split_scale_window(rows, n_rows, opt.val_fraction, opt.stride, scaling=opt.scaling, units=units)
    xy, val = pairs(split.x_train, spec.kind), pairs(split.x_val, spec.kind)
    log.info(
        "%s: %d training pairs, %d validation pairs, input %d x %d features%s",
        arch,
        len(xy[0]),
        len(val[0]),
        opt.window,
        n,
        " -> next row" if spec.kind == "forecaster" else "",
    )
    model = build_model(arch, opt.window, n, latent=latent, learning_rate=opt.learning_rate)
    hist = train(model, xy, val, opt)
    best = int(np.argmin(hist["val_loss"]))  # EarlyStopping restored this epoch's weights
    seconds = time.monotonic() - t0
    log.info("%s: converting to TFLite (builtin ops only)", arch)
    conv = convert(model, arch, latent)
    Path(path).write_bytes(conv.tflite)
    pick = np.linspace(0, len(val[0]) - 1, min(opt.parity_windows, len(val[0]))).astype(int)
    diff = parity(model, Path(path), val[0][pick], opt.parity_tolerance)
    return Trained(
        arch, spec.kind, opt.window, n_rows, latent, model, conv, hist, best, diff, len(pick), seconds
    ), split
