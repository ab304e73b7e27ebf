"""One trial of ``anomaly-train tune``: train a configuration and measure it on the held-out end of train.

:func:`run_trial` trains the Keras model (no conversion) on the first part of
the training rows, early-stopping on the held-out end, and returns the
objective: the mean window error of the clean validation windows
(``val_error``) or the AUC-ROC of the window error between windows with
synthetic faults (:func:`inject`: a spike or a short level shift on the
newest rows of a few features, fixed seed) and the clean ones
(``injection``).  Window errors are the agent's own (:func:`window_errors`),
so a trial judges what a host would compute; the test labels are never read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.score.scoring import feature_errors
from agent.score.window import make_windows
from training.data import split_scale_window
from training.models import arch_spec, build_model, pairs, set_seed, span, train
from training.options import FitOptions

N_INJECTED = 300


def inject(val: np.ndarray, span: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clean and injected scaled windows from validation rows.

    Parameters
    ----------
    val : (T, F) scaled validation rows
    span : rows per window
    n : number of injected windows

    Returns
    -------
    clean (N, span, F) every window; injected (n, span, F) copies of random windows with a fault in their newest rows
    """
    clean = np.ascontiguousarray(make_windows(val.astype(np.float32), span))
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(clean), n)
    bad = clean[pick].copy()
    f = val.shape[1]
    for k in range(n):
        feats = rng.choice(f, size=min(f, int(rng.integers(1, 4))), replace=False)
        rows = 1 if rng.random() < 0.5 else int(rng.integers(2, 11))  # spike or level shift
        bad[k, -min(rows, span) :, feats] += np.float32(rng.choice([-1, 1]) * rng.uniform(0.3, 1.0))
    return clean, bad


def window_errors(model: Any, windows: np.ndarray, kind: str, tail: int) -> np.ndarray:
    """(N,) the agent's raw window error for scaled windows, computed with the Keras model."""
    if kind == "forecaster":
        out = model.predict(windows[:, :-1], batch_size=512, verbose=0)
        return feature_errors(windows[:, -1], out, 1).mean(axis=1)
    return feature_errors(windows, model.predict(windows, batch_size=512, verbose=0), tail).mean(axis=1)


def run_trial(
    rows: np.ndarray, arch: str, opt: FitOptions, objective: str, n_injected: int = N_INJECTED
) -> tuple[float, dict[str, Any]]:
    """Train one configuration (no conversion) and return (objective value, facts)."""
    from sklearn.metrics import roc_auc_score

    kind = arch_spec(arch).kind
    n_rows = span(arch, opt.window)
    set_seed(opt.seed)
    split = split_scale_window(rows, n_rows, opt.val_fraction, opt.stride)
    model = build_model(arch, opt.window, rows.shape[1], latent=opt.latent, learning_rate=opt.learning_rate)
    hist = train(model, pairs(split.x_train, kind), pairs(split.x_val, kind), opt)
    tail = (opt.tail or opt.window) if kind == "autoencoder" else 1
    clean = window_errors(model, split.x_val, kind, tail)
    facts: dict[str, Any] = {
        "epochs": len(hist["loss"]),
        "val_loss": float(min(hist["val_loss"])),
        "val_error": float(clean.mean()),
    }
    if objective == "val_error":
        return facts["val_error"], facts
    _, bad = inject(split.scaler.transform(split.val_raw), n_rows, n_injected, seed=opt.seed)
    injected = window_errors(model, bad, kind, tail)
    y = np.r_[np.zeros(len(clean)), np.ones(len(injected))]
    facts["injection_auc"] = float(roc_auc_score(y, np.r_[clean, injected]))
    return facts["injection_auc"], facts
