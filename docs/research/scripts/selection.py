"""Selection protocol for the default detection choices (issue 13, item 1).

Per-host dense autoencoders (training/models.py ``dense``) on every shared SMD
machine plus synthetic hosts from several seeds, PCA (training/baselines.py,
its usual min-max clip-2 scaling) on the same rows in the same run, one factor
at a time from the prototype (z-score + whole-window mean).  A fleet model is
scored leave-one-machine-out.  Every cell is cached as JSON so a rerun skips
what is done.

    PYTHONPATH=/work/r1 python -m bench.selection [--out /work/research/r1] [--only per_host|fleet|summary]

Conventions
-----------
* Test rows are all scored: the last W-1 train rows are prepended (the series
  is contiguous, as it is for the live agent), so every candidate and PCA are
  measured on exactly the same rows.
* Training: scaler and model on the first 80 % of train, early stopping on the
  last 20 % (validation windows also give the per-feature thresholds).
* Scalers (fit on the training part, per feature):
  - ``mm``: (x - min) / span, span floored to 1 when 0, clip to [-c, 1 + c];
  - ``z``: (x - mean) / sd, sd = max(std, 0.01 * (max - min), 1e-3), clip +-c;
  - ``robust``: (x - median) / s, s = max(IQR / 1.349, 0.01 * (max - min), 1e-3), clip +-c.
* Reductions of the per-step squared error e[t, f] of a window of W steps:
  ``last`` e[W-1, f]; ``mean`` mean_t e[t, f]; ``top5`` per-step totals
  sum_f e[t, f], mean of e[t, f] over the k = max(1, W // 6) worst steps.
  Window score = mean_f of the reduced per-feature error.
* Per-feature thresholds thr_f = max(q99 of the validation per-feature error,
  0.01 * median_f q99); ``norm`` scores = mean_f err_f / thr_f;
  ``capC`` = mean_f min(err_f / thr_f, C) (bounded contributions).
  HitRate is reported ranking by raw err_f (the agent's contribution share)
  and by err_f / thr_f (``_norm``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from agent.history.smd import load_machine  # noqa: E402
from training import metrics as M  # noqa: E402

SMD_ROOT = Path("/work/shared/data/smd")
SMD_MACHINES = ("machine-1-6", "machine-2-1", "machine-3-3")
SYNTH_SEEDS = (11, 12, 13, 14)
VAL_FRACTION = 0.2
FIRST_DAY = 1440
EPOCHS = 15
PATIENCE = 3
BATCH = 128
STRIDE = 2
LATENT = 16
CAPS = (3.0, 10.0)

# one factor at a time from the base (prototype: z-score, whole-window mean)
CONFIGS: dict[str, dict] = {
    "z_c10_w30": dict(scaling="z", clip=10.0, window=30),  # base
    "mm_c2_w30": dict(scaling="mm", clip=2.0, window=30),  # current default scaling
    "z_none_w30": dict(scaling="z", clip=None, window=30),
    "z_c5_w30": dict(scaling="z", clip=5.0, window=30),
    "robust_c10_w30": dict(scaling="robust", clip=10.0, window=30),
    "z_c10_w10": dict(scaling="z", clip=10.0, window=10),
    "z_c10_w60": dict(scaling="z", clip=10.0, window=60),
}
REDUCTIONS = ("last", "mean", "top")


def parse_config(name: str) -> dict:
    """``{mm|z|robust}_{cN|none}_w{W}`` -> config dict (so combinations can be added from the CLI)."""
    if name in CONFIGS:
        return CONFIGS[name]
    scaling, clip, w, *rest = name.split("_")
    cfg = dict(scaling=scaling, clip=None if clip == "none" else float(clip[1:]), window=int(w[1:]))
    for tok in rest:  # e40: up to 40 epochs, patience 4 (the fit default); l32: latent 32
        if tok.startswith("e"):
            cfg.update(epochs=int(tok[1:]), patience=4)
        elif tok.startswith("l"):
            cfg.update(latent=int(tok[1:]))
        elif tok.startswith("s"):  # s1: training seed 1 (seed noise)
            cfg.update(seed=int(tok[1:]))
    return cfg


# ---------------------------------------------------------------- data
def load_hosts(synth_seeds=SYNTH_SEEDS) -> dict[str, dict]:
    hosts = {}
    for name in SMD_MACHINES:
        m = load_machine(SMD_ROOT, name, ("train", "test"))
        hosts[name] = dict(train=m.train, test=m.test, labels=m.labels,
                           dims=M.interpretation_dims(m.interpretation or [], len(m.test)), kind="smd")
    from training.synth import generate

    for s in synth_seeds:
        d = generate(seed=s, train_rows=5 * 1440, test_rows=5 * 1440, n_anomalies=15)
        hosts[f"synth-{s}"] = dict(train=d.train, test=d.test, labels=d.labels.astype(int),
                                   dims=M.interpretation_dims(d.interpretation, len(d.test)), kind="synth")
    return hosts


# ---------------------------------------------------------------- scaling
class Scale:
    def __init__(self, scaling: str, clip: float | None):
        self.scaling, self.clip = scaling, clip

    def fit(self, x: np.ndarray) -> "Scale":
        x = np.nan_to_num(np.asarray(x, np.float64))
        lo, hi = x.min(0), x.max(0)
        rng = hi - lo
        if self.scaling == "mm":
            self.center, self.sd = lo, np.where(rng > 0, rng, 1.0)
        elif self.scaling == "z":
            self.center, self.sd = x.mean(0), np.maximum.reduce([x.std(0), 0.01 * rng, np.full_like(rng, 1e-3)])
        elif self.scaling == "robust":
            q25, q50, q75 = np.percentile(x, [25, 50, 75], axis=0)
            self.center = q50
            self.sd = np.maximum.reduce([(q75 - q25) / 1.349, 0.01 * rng, np.full_like(rng, 1e-3)])
        else:
            raise ValueError(self.scaling)
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (np.nan_to_num(np.asarray(x, np.float64)) - self.center) / self.sd
        if self.clip is not None:
            z = np.clip(z, -self.clip, (1.0 if self.scaling == "mm" else 0.0) + self.clip)
        return z.astype(np.float32)


def windows(z: np.ndarray, w: int, stride: int = 1) -> np.ndarray:
    v = np.lib.stride_tricks.sliding_window_view(z, w, axis=0)  # (N, F, W)
    return np.ascontiguousarray(v[::stride].transpose(0, 2, 1))


# ---------------------------------------------------------------- model
def train_dense(xtr: np.ndarray, xval: np.ndarray, seed: int = 0, epochs: int = EPOCHS, patience: int = PATIENCE,
                latent: int = LATENT) -> tuple[object, dict]:
    import keras
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(2)
    from training.models import build_model

    keras.utils.set_random_seed(seed)
    w, f = xtr.shape[1:]
    model = build_model("dense", w, f, latent=latent)
    cb = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)]
    t0 = time.monotonic()
    h = model.fit(xtr, xtr, validation_data=(xval, xval), epochs=epochs, batch_size=BATCH, shuffle=True,
                  callbacks=cb, verbose=0)
    vl = h.history["val_loss"]
    return model, {"epochs": len(vl), "best_epoch": int(np.argmin(vl)) + 1, "val_loss": float(min(vl)),
                   "train_seconds": round(time.monotonic() - t0, 1)}


def reduced_errors(model, x: np.ndarray, chunk: int = 2048) -> dict[str, np.ndarray]:
    """(N, F) per-feature errors for every reduction."""
    w = x.shape[1]
    k = max(1, w // 6)
    out = {r: [] for r in REDUCTIONS}
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk]
        e = (model(xb, training=False).numpy() - xb) ** 2  # (B, W, F)
        out["last"].append(e[:, -1])
        out["mean"].append(e.mean(1))
        tot = e.sum(2)
        idx = np.argsort(-tot, axis=1)[:, :k]
        out["top"].append(np.take_along_axis(e, idx[:, :, None], axis=1).mean(1))
    return {r: np.concatenate(v).astype(np.float64) for r, v in out.items()}


# ---------------------------------------------------------------- metrics
def figures(score: np.ndarray, fs: np.ndarray | None, labels, dims, fs_norm=None) -> dict:
    out = {"best_f1": M.best_f1(score, labels).f1, "auc_pr": M.auc_pr(score, labels),
           "event_f1": M.event_f1(score, labels).f1}
    if fs is not None:
        out["hitrate@100"] = M.hit_rate(fs, dims, 1.0, labels)
        out["hitrate@150"] = M.hit_rate(fs, dims, 1.5, labels)
    if fs_norm is not None:
        out["hitrate@100_norm"] = M.hit_rate(fs_norm, dims, 1.0, labels)
        out["hitrate@150_norm"] = M.hit_rate(fs_norm, dims, 1.5, labels)
    return out


def score_variants(err_test: dict, err_val: dict, labels, dims) -> dict:
    """Every reduction x {plain, norm, caps} from one trained model."""
    res = {}
    for r in REDUCTIONS:
        et, ev = err_test[r], err_val[r]
        q = np.quantile(ev, 0.99, axis=0)
        thr = np.maximum(q, 0.01 * max(float(np.median(q)), 1e-12))
        nt = et / thr
        res[r] = figures(et.mean(1), et, labels, dims, nt)
        res[f"{r}+norm"] = figures(nt.mean(1), None, labels, dims)
        for c in CAPS:
            res[f"{r}+cap{c:g}"] = figures(np.minimum(nt, c).mean(1), None, labels, dims)
    return res


def pca_cell(h: dict) -> dict:
    from training.baselines import PCABaseline

    n_val = int(round(len(h["train"]) * VAL_FRACTION))
    p = PCABaseline().fit(h["train"][: len(h["train"]) - n_val])  # same rows the AE trains on
    s, fs = p.score_series(h["test"])
    return figures(s, fs, h["labels"], h["dims"])


def _tk(cfg: dict) -> dict:
    return {k: cfg[k] for k in ("epochs", "patience", "latent") if k in cfg}


def per_host_cell(h: dict, cfg: dict, seed: int = 0) -> dict:
    w = cfg["window"]
    tr = h["train"]
    n_val = int(round(len(tr) * VAL_FRACTION))
    sc = Scale(cfg["scaling"], cfg["clip"]).fit(tr[: len(tr) - n_val])
    ztr = sc(tr)
    xtr = windows(ztr[: len(tr) - n_val], w, STRIDE)
    xval = windows(ztr[len(tr) - n_val:], w)
    model, info = train_dense(xtr, xval, cfg.get("seed", seed), **_tk(cfg))
    zt = sc(np.vstack([tr[-(w - 1):], h["test"]]))
    res = score_variants(reduced_errors(model, windows(zt, w)), reduced_errors(model, xval), h["labels"], h["dims"])
    res["info"] = info
    return res


def fleet_cell(hosts: dict, held: str, cfg: dict, seed: int = 0) -> dict:
    """Train on the other SMD machines (each scaled by its own train stats), calibrate the scaler on
    the held-out machine's first day, score its test split."""
    w = cfg["window"]
    xtr, xval = [], []
    for name in SMD_MACHINES:
        if name == held:
            continue
        tr = hosts[name]["train"]
        n_val = int(round(len(tr) * VAL_FRACTION))
        sc = Scale(cfg["scaling"], cfg["clip"]).fit(tr[: len(tr) - n_val])
        z = sc(tr)
        xtr.append(windows(z[: len(tr) - n_val], w, STRIDE))
        xval.append(windows(z[len(tr) - n_val:], w))
    model, info = train_dense(np.concatenate(xtr), np.concatenate(xval), seed, **_tk(cfg))
    h = hosts[held]
    tr = h["train"]
    sc = Scale(cfg["scaling"], cfg["clip"]).fit(tr[:FIRST_DAY])
    xcal = windows(sc(tr[:FIRST_DAY]), w)  # per-feature thresholds from the first day too
    zt = sc(np.vstack([tr[-(w - 1):], h["test"]]))
    res = score_variants(reduced_errors(model, windows(zt, w)), reduced_errors(model, xcal), h["labels"], h["dims"])
    res["info"] = info
    return res


# ---------------------------------------------------------------- driver
def cached(path: Path, fn):
    if path.is_file():
        return json.loads(path.read_text())
    t0 = time.monotonic()
    r = fn()
    r.setdefault("info", {})["cell_seconds"] = round(time.monotonic() - t0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(r, indent=1))
    tmp.replace(path)
    print(f"{time.strftime('%H:%M:%S')} done {path.name} ({r['info']['cell_seconds']} s)", flush=True)
    return r


def run(out: Path, only: str | None, configs: list[str], fleet_configs: list[str]) -> None:
    hosts = load_hosts()
    cache = out / "cache"
    for name, h in hosts.items():
        cached(cache / f"pca__{name}.json", lambda h=h: pca_cell(h))
    if only in (None, "per_host"):
        for cfg_name in configs:  # config-major: the base finishes on every host first
            for name, h in hosts.items():
                cached(cache / f"{cfg_name}__{name}.json", lambda h=h, c=parse_config(cfg_name): per_host_cell(h, c))
    if only in (None, "fleet"):
        for cfg_name in fleet_configs:
            for held in SMD_MACHINES:
                cached(cache / f"fleet_{cfg_name}__{held}.json",
                       lambda held=held, c=parse_config(cfg_name): fleet_cell(hosts, held, c))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/work/research/r1"))
    ap.add_argument("--only", choices=("per_host", "fleet"))
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--fleet-configs", default="z_c10_w30,mm_c2_w30")
    a = ap.parse_args(argv)
    run(a.out, a.only, a.configs.split(","), [c for c in a.fleet_configs.split(",") if c])
    return 0


if __name__ == "__main__":
    sys.exit(main())
