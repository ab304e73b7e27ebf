"""Live-path calibration and thresholds for a z-scored dense autoencoder (issues #13 items 3-4, #17 items 1-3).

Research script, not product code.  Run from the worktree:

    PYTHONPATH=/work/r2 /work/main/.venv/bin/python research/r2_live.py [train|eval|cases|all]

* ``train``: prototype dense AEs (window 30, whole-window MSE), leave-one-machine-out over the
  three shared SMD machines (trained on the other two train splits, each z-scored by its own
  robust stats) + one fleet model on all three (used for synthetic hosts and the #17 cases),
  plus the same models on raw min-max SMD rows (the "before" agent path).  Weights -> npz.
* ``eval``: the live path per held-out host (train split + test split concatenated, first 1440
  rows = warm-up, everything after scored), for every calibration/threshold method; alert
  figures under the shipped rule -> results.json.
* ``cases``: the two #17 cases (curr_estab 4 -> 6, load_15 learned under load then idle) and a
  CPU burn, on a 5 s / 60-sample warm-up, through the chosen recipe -> cases.json.

Forward passes run in numpy (weights exported from keras), float32, so the loops stay lean.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from agent.calibrate.calibrator import fit_host_scaler
from agent.collect.features import SMD38
from agent.calibrate.pot import error_thresholds, pot_threshold, fit_gpd
from agent.history.smd import load_labels, load_rows
from agent.score.window import make_windows

OUT = Path("/work/research/r2")
SMD = Path("/work/shared/data/smd")
MACHINES = ("machine-1-6", "machine-2-1", "machine-3-3")
W = 30
F = 38
DAY = 1440
RUN = 5  # shipped rule: 5 consecutive scores > 1
GRACE = 5
Z_CLIP = 10.0
SMD_FLOOR = 0.01  # SMD rows are min-max scaled: noise floor = 1 % of the range

# ---------------------------------------------------------------------------------------- scaling


def unit_floors(names, centre: np.ndarray, ncores: int) -> np.ndarray:
    """Noise floor of every feature in its own (raw, live-host) units; see SUMMARY.md."""
    out = np.empty(len(names))
    kinds = {f.name: f for f in SMD38}
    for j, n in enumerate(names):
        f, c = kinds[n], abs(float(centre[j]))
        if f.unit == "ratio":
            v = 0.02
        elif n.startswith("load_"):
            v = 0.25 * max(ncores, 1)
        elif n in ("tcp_tw", "tcp_use", "curr_estab"):
            v = max(3.0, 0.05 * c)  # a count gauge moving by a few is noise
        elif n == "disk_q":
            v = max(0.1, 0.1 * c)
        elif f.unit == "seconds":
            v = max(0.005, 0.1 * c)
        elif f.unit == "bytes":  # mem_shmem, total_mem
            v = max(16 * 2**20, 0.01 * c)
        elif f.unit == "bytes_per_second":
            v = max(64 * 1024.0, 0.1 * c)
        else:  # per_second / pages_per_second rates
            v = max(1.0, 0.1 * c)
        out[j] = v
    return out


def robust_scaler(rows: np.ndarray, floor: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """centre = median; scale = max(std of rows winsorised at 0.5/99.5 %, IQR/1.349, floor)."""
    x = np.asarray(rows, np.float64)
    centre = np.nanmedian(x, axis=0)
    lo, hi = np.nanpercentile(x, [0.5, 99.5], axis=0)
    xw = np.clip(x, lo, hi)
    q1, q3 = np.nanpercentile(x, [25, 75], axis=0)
    scale = np.maximum.reduce([np.nanstd(xw, axis=0), (q3 - q1) / 1.349, np.broadcast_to(floor, centre.shape)])
    return centre, scale


def zscore(x: np.ndarray, centre, scale) -> np.ndarray:
    return np.clip((x - centre) / scale, -Z_CLIP, Z_CLIP)


# ---------------------------------------------------------------------------------------- models


class NumpyAE:
    def __init__(self, path: Path):
        d = np.load(path)
        self.layers = [(d[f"w{i}"].astype(np.float32), d[f"b{i}"].astype(np.float32)) for i in range(len(d.files) // 2)]
        self.meta = json.loads(path.with_suffix(".json").read_text())

    def predict(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        h = x.reshape(n, -1).astype(np.float32)
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0)
        return h.reshape(x.shape)

    def feature_errors(self, scaled_windows: np.ndarray, batch: int = 2048) -> np.ndarray:
        """(N, W, F) scaled -> (N, F) whole-window mean squared error per feature."""
        out = np.empty((len(scaled_windows), scaled_windows.shape[2]), np.float32)
        for i in range(0, len(scaled_windows), batch):
            c = np.asarray(scaled_windows[i : i + batch], np.float32)
            out[i : i + len(c)] = ((self.predict(c) - c) ** 2).mean(axis=1)
        return out


def load_smd(m: str):
    tr = load_rows(SMD / "train" / f"{m}.txt")
    te = load_rows(SMD / "test" / f"{m}.txt")
    lab = load_labels(SMD / "test_label" / f"{m}.txt", len(te))
    return tr, te, lab


def train_model(name: str, series: list[np.ndarray], mode: str) -> None:
    """mode 'z': each series z-scored by its own robust stats (SMD floor); 'mm': raw SMD [0, 1] rows."""
    path = OUT / "models" / f"{name}.npz"
    if path.exists():
        return
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(0)
    xs = []
    for s in series:
        if mode == "z":
            c, sc = robust_scaler(s, SMD_FLOOR)
            s = zscore(s, c, sc)
        xs.append(make_windows(s.astype(np.float32), W, step=3))
    x = np.concatenate(xs).reshape(-1, W * F)
    rng = np.random.default_rng(0)
    x = x[rng.permutation(len(x))]
    inp = tf.keras.Input((W * F,))
    h = tf.keras.layers.Dense(128, activation="relu")(inp)
    h = tf.keras.layers.Dense(32, activation="relu")(h)
    h = tf.keras.layers.Dense(128, activation="relu")(h)
    o = tf.keras.layers.Dense(W * F)(h)
    model = tf.keras.Model(inp, o)
    model.compile(tf.keras.optimizers.Adam(1e-3), "mse")
    hist = model.fit(x, x, epochs=25, batch_size=256, validation_split=0.1, verbose=0,
                     callbacks=[tf.keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)])
    ws = {}
    for i, layer in enumerate([l for l in model.layers if l.weights]):
        w, b = layer.get_weights()
        ws[f"w{i}"], ws[f"b{i}"] = w, b
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **ws)
    # expected error scale of the model on its own (training-machine) windows: the provisional
    # threshold's anchor, shipped in the bundle
    ae = NumpyAE.__new__(NumpyAE)
    ae.layers = [(ws[f"w{i}"], ws[f"b{i}"]) for i in range(4)]
    e = ae.feature_errors(x[:20000].reshape(-1, W, F)).mean(axis=1)
    meta = {"mode": mode, "val_loss": float(min(hist.history["val_loss"])), "epochs": len(hist.history["loss"]),
            "train_err_q50": float(np.quantile(e, 0.5)), "train_err_q99": float(np.quantile(e, 0.99)),
            "train_err_q999": float(np.quantile(e, 0.999))}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    print(name, meta, flush=True)


def cmd_train() -> None:
    data = {m: load_smd(m)[0] for m in MACHINES}
    for held in MACHINES:
        others = [data[m] for m in MACHINES if m != held]
        train_model(f"z_lomo_{held}", others, "z")
        train_model(f"mm_lomo_{held}", others, "mm")
    train_model("z_fleet", list(data.values()), "z")
    train_model("mm_fleet", list(data.values()), "mm")


# ---------------------------------------------------------------------------------------- hosts

SYNTH = (  # (seed, kinds)
    (11, "spike,level_shift,drift,variance,correlation"),
    (12, "level_shift,drift"),
    (13, "variance,correlation,spike"),
    (14, "drift,level_shift,variance"),
    (15, "spike,level_shift,drift,variance,correlation"),
)


def hosts():
    for m in MACHINES:
        tr, te, lab = load_smd(m)
        yield m, np.concatenate([tr, te]), np.concatenate([np.zeros(len(tr), np.int8), lab]), f"lomo_{m}"
    from training.synth import generate

    for seed, kinds in SYNTH:
        d = generate(train_rows=2 * DAY, test_rows=8 * DAY, kinds=kinds, n_anomalies=12, seed=seed)
        yield (f"synth-{seed}-{kinds.replace(',', '+')}", np.concatenate([d.train, d.test]),
               np.concatenate([np.zeros(len(d.train), np.int8), d.labels]), "fleet")


# ---------------------------------------------------------------------------------------- alerts


def alert_figures(score: np.ndarray, labels: np.ndarray, start: int) -> dict:
    s = np.nan_to_num(np.asarray(score[start:], np.float64), nan=0.0)
    lab = np.asarray(labels[start:])
    above = s > 1.0
    run = np.zeros(len(s), np.int32)
    c = 0
    for i, a in enumerate(above):
        c = c + 1 if a else 0
        run[i] = c
    fires = np.flatnonzero(run == RUN)
    d = np.diff(np.concatenate([[0], lab.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    inside = np.zeros(len(fires), bool)
    alerted, delays, alerted5, n5 = 0, [], 0, 0
    for a, b in zip(starts, ends):
        hit = (fires >= a) & (fires < b + GRACE)
        inside |= hit
        if b - a >= RUN:
            n5 += 1
        if hit.any():
            alerted += 1
            alerted5 += int(b - a >= RUN)
            delays.append(int(fires[hit][0] - a))
    normal_days = float((lab == 0).sum()) / DAY
    n = len(starts)
    return {
        "false_per_day": float((~inside).sum() / normal_days), "false_alerts": int((~inside).sum()),
        "normal_days": round(normal_days, 2), "incidents": int(n), "alerted": alerted,
        "alerted_share": alerted / n if n else None, "incidents_ge5": n5,
        "alerted_share_ge5": alerted5 / n5 if n5 else None,
        "median_delay": float(np.median(delays)) if delays else None,
        "normal_share_above1": float(above[lab == 0].mean()),
        "normal_p99_score": float(np.quantile(s[lab == 0], 0.99)),
    }


def ranking(score: np.ndarray, labels: np.ndarray, start: int) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    s, lab = np.nan_to_num(score[start:]), labels[start:]
    return {"auc_pr": float(average_precision_score(lab, s)), "auc_roc": float(roc_auc_score(lab, s))}


# ---------------------------------------------------------------------------------------- thresholds


def pot(values: np.ndarray, q: float = 1e-3) -> tuple[float, dict]:
    return pot_threshold(values[np.isfinite(values)], q=q)


def rolling_mean(x: np.ndarray, k: int) -> np.ndarray:
    if k <= 1:
        return x
    c = np.cumsum(np.nan_to_num(x))
    out = np.empty_like(x)
    out[k:] = (c[k:] - c[:-k]) / k
    out[:k] = c[:k] / np.arange(1, k + 1)
    return out


def dspot(err: np.ndarray, start: int, q: float, depth: int, floor: float, refit_every: int = 60) -> np.ndarray:
    """DSPOT (Siffer et al. 2017): SPOT on x - M_t, M_t = mean of the last ``depth`` normal values.

    Calibrated on err[:start] (warm-up); returns score = (x - M) / z_q with z_q >= floor."""
    x0 = err[:start][np.isfinite(err[:start])]
    # drift-removed warm-up values
    buf = list(x0[:depth])
    init = []
    for v in x0[depth:]:
        init.append(v - np.mean(buf))
        buf.append(v)
        buf.pop(0)
    init = np.asarray(init)
    t = float(np.quantile(init, 0.98))
    peaks = list(init[init > t] - t)
    n = len(init)
    zq = max(pot(init, q)[0], floor)
    out = np.full(len(err), np.nan)
    since = 0
    for i in range(start, len(err)):
        v = err[i]
        if not np.isfinite(v):
            continue
        m = float(np.mean(buf))
        xp = v - m
        out[i] = xp / zq
        if xp > zq:
            continue  # anomaly: not learned
        n += 1
        if xp > t:
            peaks.append(xp - t)
            since += 1
            if since >= 1 and (len(peaks) % 5 == 0):
                y = np.asarray(peaks)
                g, s, _ = fit_gpd(y)
                r = q * n / len(y)
                z = t - s * np.log(r) if abs(g) < 1e-6 else t + s / g * (r ** (-g) - 1)
                if np.isfinite(z):
                    zq = max(z, floor)
        buf.append(v)
        buf.pop(0)
    return out


# ---------------------------------------------------------------------------------------- eval


def per_feature_errors(ae: NumpyAE, rows: np.ndarray, scaler, kind: str) -> np.ndarray:
    """(T, F) errors aligned to the window's last row; NaN for the first W-1 rows."""
    if kind == "mm":
        scaled = scaler.transform(rows)
    else:
        scaled = zscore(rows, *scaler)
    e = np.full(rows.shape, np.nan, np.float32)
    e[W - 1 :] = ae.feature_errors(make_windows(scaled.astype(np.float32), W))
    return e


def window_err(E: np.ndarray, cap: float) -> np.ndarray:
    return np.minimum(E, cap).mean(axis=1)


def rolling_recal(ae: NumpyAE, rows, start, cap, q, tmin, days, every, smooth, floor_fn,
                  first_every: int | None = None, exclude: str = "scaler") -> tuple[np.ndarray, list]:
    """Recalibrate scaler + threshold every ``every`` rows from the last ``days`` days of history
    (rows inside an alert run excluded); the first calibration uses rows[:start] (the warm-up).

    Threshold = max(POT_q(history window errors), tmin); when POT has too few excesses the
    provisional rule max(2 tmin, 1.5 max(history errors)) applies.  Score = capped error / threshold,
    then a trailing mean over ``smooth`` samples."""
    T = len(rows)
    score = np.full(T, np.nan)
    keep = np.ones(T, bool)  # rows usable for recalibration
    cal_end = start
    log = []
    while cal_end < T:
        lo = max(0, cal_end - days * DAY)
        hist = np.arange(lo, cal_end)
        hrows = rows[hist[keep[hist]]]
        if len(hrows) < max(2 * W, len(hist) // 4):  # guard: most of the history alerted -> accept it as normal
            hrows = rows[hist]
            keep[hist] = True
        c, s = robust_scaler(hrows, floor_fn(hrows))
        z = zscore(rows[lo:cal_end], c, s).astype(np.float32)
        wins = make_windows(z, W)
        kc = np.concatenate([[0], np.cumsum(~keep[lo:cal_end])])
        ok = (kc[W:] - kc[:-W]) == 0  # window free of alerted rows
        idx = np.flatnonzero(ok) if exclude == "both" else np.arange(len(wins))
        if len(idx) > 4000:
            idx = idx[:: len(idx) // 4000 + 1]
        e = window_err(ae.feature_errors(wins[idx]), cap) if len(idx) else np.array([tmin])
        v, p = pot(e, q)
        if p.get("fallback"):
            thr, how = max(2.0 * tmin, 1.5 * float(e.max())), "provisional"
        else:
            thr, how = max(v, tmin), "pot"
        log.append((int(cal_end), float(thr), how))
        nxt = min(T, cal_end + (first_every if (first_every and cal_end == start) else every))
        a = max(0, cal_end - W + 1)
        zz = zscore(rows[a:nxt], c, s).astype(np.float32)
        ee = window_err(ae.feature_errors(make_windows(zz, W)), cap)
        score[nxt - len(ee) : nxt] = ee / thr
        sm = rolling_mean(np.nan_to_num(score[:nxt]), smooth)[cal_end:nxt]
        r = 0
        for i, v in enumerate(sm > 1):
            r = r + 1 if v else 0
            if r >= RUN:
                keep[max(cal_end + i - W - RUN, 0) : cal_end + i + 1] = False
        cal_end = nxt
    return rolling_mean(np.nan_to_num(score), smooth), log


ROLL = [  # (cap, tmin multiple, days, smooth)
    (9.0, 1.0, 7, 5), (9.0, 1.5, 7, 5), (16.0, 1.0, 7, 5), (16.0, 1.5, 7, 5), (16.0, 2.0, 7, 5),
    (16.0, 1.5, 3, 5), (16.0, 1.5, 7, 1), (16.0, 1.5, 7, 5, "both"),
]

ROLL2 = [(36.0, 1.0, 7, 5), (36.0, 1.5, 7, 5), (36.0, 2.0, 7, 5), (36.0, 1.5, 7, 1), (36.0, 2.0, 7, 1)]


def cmd_eval(quick: bool = False) -> None:
    results = {}
    resf = OUT / os.environ.get("R2_RESULTS", "results.json")
    limit = int(os.environ.get("R2_LIMIT", "0"))
    if resf.exists():
        results = json.loads(resf.read_text())
    for name, rows, labels, model in hosts():
        if limit:
            rows, labels = rows[-limit:], labels[-limit:]
            if not (OUT / "models" / f"z_{model}.npz").exists():
                break
        if name in results and not quick:
            print("cached", name)
            continue
        t0 = time.time()
        start = DAY
        smd_floor = SMD_FLOOR
        zae = NumpyAE(OUT / "models" / f"z_{model}.npz")
        mae = NumpyAE(OUT / "models" / f"mm_{model}.npz")
        tmin_base = zae.meta["train_err_q999"]
        res = {}
        warm = rows[:start]
        # --- before: the current agent (min-max host scaler, POT q=1e-3 on warm-up errors)
        msc = fit_host_scaler(warm)
        Em = per_feature_errors(mae, rows, msc, "mm")
        thr, fth, det = error_thresholds(Em[W - 1 : start].astype(np.float64), 1e-3, 1e-4)
        sc = Em.mean(axis=1) / thr
        res["before"] = {**alert_figures(sc, labels, start), **ranking(sc, labels, start), "threshold": thr}
        # --- z-scored model, warm-up scaler with floors
        set2 = os.environ.get("R2_SET") == "2"
        set3 = os.environ.get("R2_SET") == "3"
        if set3:
            for cap, m, days, k, ex in ((36.0, 1.0, 7, 1, "both"), (36.0, 1.0, 7, 5, "both"), (36.0, 1.5, 7, 1, "both")):
                sc_, log_ = rolling_recal(zae, rows, start, cap, 1e-3, m * tmin_base, days, DAY, k,
                                          lambda r: SMD_FLOOR, exclude=ex)
                res[f"z_f0.01_cap{cap:g}_roll{days}d_floor{m:g}_sm{k}_exclboth"] = {
                    **alert_figures(sc_, labels, start), "thresholds": [t for _, t, _ in log_]}
            sc_, log_ = rolling_recal(zae, rows, 60, 36.0, 1e-3, tmin_base, 7, DAY, 1, lambda r: SMD_FLOOR,
                                      first_every=DAY - 60, exclude="both")
            res["z_f0.01_cap36_warm60_roll7d_floor1_sm1_exclboth"] = {
                **alert_figures(sc_, labels, 60), "first_day": alert_figures(sc_[: DAY], labels[: DAY], 60),
                "first_threshold": log_[0], "thresholds": [t for _, t, _ in log_]}
            results[name] = res
            resf.write_text(json.dumps(results, indent=1))
            print(name, f"{time.time() - t0:.0f}s", flush=True)
            continue
        for fl_name, fl in (("f0.01", 0.01),) if set2 else (("f0.01", 0.01), ("f0.02", 0.02)):
            zsc = robust_scaler(warm, fl)
            Ez = per_feature_errors(zae, rows, zsc, "z")
            for cap in (36.0,) if set2 else (np.inf, 16.0, 9.0):
                ew = window_err(Ez, cap)
                p, _ = pot(ew[W - 1 : start])
                key = f"z_{fl_name}_cap{cap:g}"
                rk = ranking(ew, labels, start)
                res[f"{key}_pot"] = {**alert_figures(ew / p, labels, start), **rk, "threshold": p}
                for m in (1.0, 2.0, 3.0):
                    tmin = m * tmin_base
                    thr = max(p, tmin)
                    for k in (1, 5):
                        res[f"{key}_potfloor{m:g}_sm{k}"] = {**alert_figures(rolling_mean(ew / thr, k), labels, start),
                                                            "threshold": thr}
                if fl_name == "f0.01" and cap in (9.0, 16.0, 36.0):
                    for m in (1.0, 2.0):
                        ds = dspot(ew, start, 1e-3, depth=60, floor=m * tmin_base)
                        res[f"{key}_dspot_floor{m:g}"] = alert_figures(ds, labels, start)
                        res[f"{key}_dspot_floor{m:g}_sm5"] = alert_figures(rolling_mean(ds, 5), labels, start)
        # --- rolling recalibration (daily, last N days, alerted rows excluded)
        for cap, m, days, k, *ex in ROLL2 if set2 else ROLL:
            ex = ex[0] if ex else "scaler"
            sc_, log_ = rolling_recal(zae, rows, start, cap, 1e-3, m * tmin_base, days, DAY, k, lambda r: SMD_FLOOR,
                                      exclude=ex)
            res[f"z_f0.01_cap{cap:g}_roll{days}d_floor{m:g}_sm{k}" + ("_exclboth" if ex == "both" else "")] = {**alert_figures(sc_, labels, start),
                                                                     "thresholds": [t for _, t, _ in log_]}
        # --- short warm-up (60 rows): provisional/POT at 60 rows, refined at 1 day, then daily
        for cap, m in ((36.0, 1.5), (36.0, 2.0)) if set2 else ((16.0, 1.5), (9.0, 1.0)):
            sc_, log_ = rolling_recal(zae, rows, 60, cap, 1e-3, m * tmin_base, 7, DAY, 5, lambda r: SMD_FLOOR,
                                      first_every=DAY - 60)
            res[f"z_f0.01_cap{cap:g}_warm60_roll7d_floor{m:g}_sm5"] = {
                **alert_figures(sc_, labels, 60), "first_day": alert_figures(sc_[: DAY], labels[: DAY], 60),
                "first_threshold": log_[0], "thresholds": [t for _, t, _ in log_]}
        results[name] = res
        resf.write_text(json.dumps(results, indent=1))
        print(name, f"{time.time() - t0:.0f}s", flush=True)


def table(methods=None) -> str:
    results = json.loads((OUT / "results.json").read_text())
    hostsn = list(results)
    allm = list(results[hostsn[0]])
    rows = []
    for m in methods or allm:
        if not all(m in results[h] for h in hostsn):
            continue
        fa = [results[h][m]["false_per_day"] for h in hostsn]
        al = [results[h][m]["alerted_share"] for h in hostsn]
        a5 = [results[h][m]["alerted_share_ge5"] for h in hostsn]
        rows.append((m, max(fa), min(al), min(a5), float(np.mean(fa)), float(np.mean(al))))
    rows.sort(key=lambda r: (r[1] > 0.2, -(r[3]), r[1]))
    out = ["| method | worst FA/day | worst alerted | worst alerted>=5 | mean FA/day | mean alerted |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} |")
    return "\n".join(out)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "all"
    if cmd in ("train", "all"):
        cmd_train()
    if cmd in ("eval", "all"):
        cmd_eval()
    if cmd == "smoke":
        cmd_eval(quick=True)
    if cmd == "table":
        print(table())


# ---------------------------------------------------------------------------------------- #17 cases

NAMES = tuple(f.name for f in SMD38)
IX = {n: j for j, n in enumerate(NAMES)}


def idle_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    """A 2-core idle VM sampled every 5 s, in raw units."""
    P = lambda lam: rng.poisson(lam * 5, n) / 5.0  # noqa: E731  per-second rate of a Poisson count per 5 s
    cols = {
        "cpu_r": np.clip(0.03 + rng.normal(0, 0.01, n), 0, 1), "load_1": np.abs(0.1 + rng.normal(0, 0.05, n)),
        "load_5": 0.1 + rng.normal(0, 0.01, n), "load_15": 0.1 + rng.normal(0, 0.005, n),
        "mem_shmem": 50e6 + rng.normal(0, 1e5, n), "mem_u": 0.35 + rng.normal(0, 0.002, n),
        "mem_u_e": 0.2 + rng.normal(0, 0.002, n), "total_mem": np.full(n, 8 * 2.0**30),
        "disk_q": np.abs(rng.normal(0, 0.01, n)), "disk_r": P(0.05), "disk_rb": P(0.05) * 4096,
        "disk_svc": np.abs(0.001 + rng.normal(0, 0.0005, n)), "disk_u": np.abs(rng.normal(0.002, 0.001, n)),
        "disk_w": P(2), "disk_wa": np.abs(0.002 + rng.normal(0, 0.001, n)), "disk_wb": P(2) * 8192,
        "si": np.zeros(n), "so": np.zeros(n), "eth1_fi": P(10) * 200, "eth1_fo": P(8) * 300,
        "eth1_pi": P(10), "eth1_po": P(8), "tcp_tw": rng.integers(3, 8, n).astype(float),
        "tcp_use": np.full(n, 12.0), "active_opens": P(0.2), "curr_estab": np.full(n, 4.0),
        "in_errs": np.zeros(n), "in_segs": P(20), "listen_overflows": np.zeros(n), "out_rsts": P(0.1),
        "out_segs": P(20), "passive_opens": P(0.2), "retransegs": np.zeros(n), "tcp_timeouts": np.zeros(n),
        "udp_in_dg": P(0.5), "udp_out_dg": P(0.5), "udp_rcv_buf_errs": np.zeros(n), "udp_snd_buf_errs": np.zeros(n),
    }
    return np.stack([cols[n_] for n_ in NAMES], axis=1)


def ema_to(x0: float, target: np.ndarray, tau_samples: float) -> np.ndarray:
    out, v = np.empty(len(target)), x0
    a = 1 - np.exp(-1 / tau_samples)
    for i, t in enumerate(target):
        v = v + a * (t - v)
        out[i] = v
    return out


def provisional_threshold(warm_err: np.ndarray, anchor: float, q: float = 1e-3, m: float = 1.0) -> tuple[float, str]:
    """Calibration threshold: POT when it has >= 10 excesses and the target lies above t, else the
    documented provisional one: max(2 x anchor, 1.5 x the largest warm-up error); never below anchor."""
    v, p = pot(warm_err, q)
    if p.get("fallback"):
        return max(2.0 * anchor, 1.5 * float(np.nanmax(warm_err))), "provisional: " + p["fallback"]
    return max(v, m * anchor), "pot"


def run_case(ae: NumpyAE, warm: np.ndarray, after: np.ndarray, cap: float, ncores: int = 2, m: float = 1.0) -> dict:
    c, s = robust_scaler(warm, unit_floors(NAMES, np.nanmedian(warm, axis=0), ncores))
    anchor = ae.meta["train_err_q999"]
    e_w = window_err(ae.feature_errors(make_windows(zscore(warm, c, s).astype(np.float32), W)), cap)
    thr, how = provisional_threshold(e_w, anchor, m=m)
    allr = np.concatenate([warm, after])
    E = ae.feature_errors(make_windows(zscore(allr, c, s).astype(np.float32), W))[len(warm) - W + 1 :]
    Ec = np.minimum(E, cap)
    score = Ec.mean(axis=1) / thr
    fscore = Ec / (F * thr)  # feature scores sum to the window score
    above = score > 1
    longest, r = 0, 0
    for a in above:
        r = r + 1 if a else 0
        longest = max(longest, r)
    top = np.argsort(-fscore.max(axis=0))[:3]
    return {"threshold": thr, "threshold_how": how, "max_score": float(score.max()),
            "median_score": float(np.median(score)), "share_above1": float(above.mean()), "longest_run": longest,
            "alert": bool(longest >= RUN), "top_features_max": {NAMES[j]: float(fscore[:, j].max()) for j in top}}


def run_case_before(ae: NumpyAE, warm: np.ndarray, after: np.ndarray) -> dict:
    """The current agent: min-max host scaler (0.1/99.9 %, 1 % span floor), POT window + feature thresholds."""
    sc = fit_host_scaler(warm)
    Ew = ae.feature_errors(make_windows(sc.transform(warm).astype(np.float32), W)).astype(np.float64)
    thr, fth, det = error_thresholds(Ew, 1e-3, 1e-4)
    allr = np.concatenate([warm, after])
    E = ae.feature_errors(make_windows(sc.transform(allr).astype(np.float32), W))[len(warm) - W + 1 :]
    score = E.mean(axis=1) / thr
    fs = E / fth
    above = score > 1
    longest, r = 0, 0
    for a in above:
        r = r + 1 if a else 0
        longest = max(longest, r)
    top = np.argsort(-fs.max(axis=0))[:3]
    return {"threshold": thr, "threshold_how": det["window_pot"].get("fallback") or "pot",
            "max_score": float(score.max()), "median_score": float(np.median(score)),
            "share_above1": float(above.mean()), "longest_run": longest, "alert": bool(longest >= RUN),
            "top_features_max": {NAMES[j]: float(fs[:, j].max()) for j in top}}


def cmd_cases() -> None:
    ae = NumpyAE(OUT / "models" / "z_fleet.npz")
    rng = np.random.default_rng(7)
    out = {}
    for cap, nw in ((16.0, 60), (36.0, 60), (np.inf, 60), (16.0, 720), (36.0, 720), (np.inf, 720)):
        res = {}
        warm, after = idle_rows(nw, rng), idle_rows(120, rng)  # 5 min (or 1 h) warm-up, 10 min idle
        res["idle_10min"] = run_case(ae, warm, after, cap)
        if np.isinf(cap):
            mae = NumpyAE(OUT / "models" / "mm_fleet.npz")
            res["BEFORE_idle_10min"] = run_case_before(mae, warm, after)
            a = after.copy()
            a[:, IX["curr_estab"]] = 6.0
            res["BEFORE_curr_estab_4_to_6"] = run_case_before(mae, warm, a)
            w = warm.copy()
            w[:, IX["load_15"]] = np.linspace(1.25, 0.9, nw) + rng.normal(0, 0.01, nw)
            a = after.copy()
            a[:, IX["load_15"]] = 0.5
            res["BEFORE_load15_learned_0.9-1.25_then_0.5"] = run_case_before(mae, w, a)
        a = after.copy()
        a[:, IX["curr_estab"]] = 6.0  # Prometheus opened a keep-alive to Alertmanager
        res["curr_estab_4_to_6"] = run_case(ae, warm, a, cap)
        a = after.copy()
        a[:, IX["curr_estab"]] += 3
        a[:, IX["tcp_use"]] += 3
        res["three_extra_tcp_connections"] = run_case(ae, warm, a, cap)
        w = warm.copy()
        w[:, IX["load_15"]] = np.linspace(1.25, 0.9, nw) + rng.normal(0, 0.01, nw)
        a = after.copy()
        a[:, IX["load_15"]] = 0.5
        res["load15_learned_0.9-1.25_then_0.5"] = run_case(ae, w, a, cap)
        # the full #17 scenario: warm-up while another job loads the machine, then idle
        w = warm.copy()
        w[:, IX["cpu_r"]] = np.clip(0.5 + rng.normal(0, 0.05, nw), 0, 1)
        w[:, IX["load_1"]] = 1.0 + rng.normal(0, 0.1, nw)
        w[:, IX["load_5"]] = 1.1 + rng.normal(0, 0.03, nw)
        w[:, IX["load_15"]] = np.linspace(1.25, 0.9, nw)
        a = after.copy()
        a[:, IX["load_1"]] = ema_to(1.0, np.full(120, 0.1), 12)
        a[:, IX["load_5"]] = ema_to(1.1, np.full(120, 0.1), 60)
        a[:, IX["load_15"]] = ema_to(0.9, np.full(120, 0.1), 180)
        res["warmup_under_load_then_idle"] = run_case(ae, w, a, cap)
        # a two-core CPU burn after an idle warm-up must still alert
        a = after.copy()
        a[:, IX["cpu_r"]] = np.clip(1.0 - np.abs(rng.normal(0, 0.01, 120)), 0, 1)
        a[:, IX["load_1"]] = ema_to(0.1, np.full(120, 2.0), 12)
        a[:, IX["load_5"]] = ema_to(0.1, np.full(120, 2.0), 60)
        a[:, IX["load_15"]] = ema_to(0.1, np.full(120, 2.0), 180)
        res["two_core_cpu_burn"] = run_case(ae, warm, a, cap)
        out[f"cap{cap:g}_warm{nw}"] = res
    (OUT / "cases.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__" and sys.argv[1:] == ["cases"]:
    cmd_cases()


def cmd_frontier() -> None:
    """Alert frontier of a score: for threshold multiples k, false alerts/day vs incidents alerted.

    Shows what any single threshold can reach on the live path with the warm-up scaler (an oracle
    choice of k per host, so an upper bound for a static threshold)."""
    out = {}
    ks = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0]
    for name, rows, labels, model in hosts():
        start = DAY
        zae = NumpyAE(OUT / "models" / f"z_{model}.npz")
        Ez = per_feature_errors(zae, rows, robust_scaler(rows[:start], SMD_FLOOR), "z")
        res = {}
        for cap in (9.0, 16.0, 36.0, np.inf):
            ew = window_err(Ez, cap)
            p, _ = pot(ew[W - 1 : start])
            for sm in (1, 5):
                pts = []
                for k in ks:
                    a = alert_figures(rolling_mean(ew / (k * p), sm), labels, start)
                    pts.append({"k": k, "fa": a["false_per_day"], "alerted": a["alerted_share"],
                                "alerted5": a["alerted_share_ge5"], "share_above1": a["normal_share_above1"]})
                ok = [q for q in pts if q["fa"] <= 0.2]
                res[f"cap{cap:g}_sm{sm}"] = {"points": pts, "best_at_fa0.2": max(ok, key=lambda q: q["alerted"]) if ok else None}
        out[name] = res
        print(name, {k: v["best_at_fa0.2"] for k, v in res.items()}, flush=True)
        (OUT / "frontier.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__" and sys.argv[1:] == ["frontier"]:
    cmd_frontier()


def cmd_frontier2() -> None:
    """As cmd_frontier, but the scaler and POT from the whole normal train split (what a host has
    after weeks of rolling recalibration); only the labelled test split is scored."""
    out = {}
    ks = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0]
    for name, rows, labels, model in hosts():
        start = int(np.flatnonzero(labels)[0])  # first incident: train split + part of test before it
        start = min(start, len(rows) - 8 * DAY) if not name.startswith("machine") else start
        ntrain = {"machine": None}.get(name[:7])
        zae = NumpyAE(OUT / "models" / f"z_{model}.npz")
        tr_end = len(rows) // 2 if name.startswith("machine") else 2 * DAY
        Ez = per_feature_errors(zae, rows, robust_scaler(rows[:tr_end], SMD_FLOOR), "z")
        res = {}
        for cap in (9.0, 16.0, 36.0):
            ew = window_err(Ez, cap)
            p, _ = pot(ew[W - 1 : tr_end])
            pts = []
            for k in ks:
                a = alert_figures(ew / (k * p), labels, tr_end)
                pts.append({"k": k, "fa": a["false_per_day"], "alerted": a["alerted_share"],
                            "alerted5": a["alerted_share_ge5"]})
            ok = [q for q in pts if q["fa"] <= 0.2]
            res[f"cap{cap:g}"] = {"points": pts, "best_at_fa0.2": max(ok, key=lambda q: q["alerted"]) if ok else None,
                                  "auc_pr": ranking(ew, labels, tr_end)["auc_pr"]}
        out[name] = res
        print(name, {k: (v["best_at_fa0.2"], round(v["auc_pr"], 3)) for k, v in res.items()}, flush=True)
        (OUT / "frontier_trainscaler.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__" and sys.argv[1:] == ["frontier2"]:
    cmd_frontier2()
