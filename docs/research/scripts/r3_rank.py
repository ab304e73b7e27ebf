"""r3: which reduction of the per-timestep per-feature errors ranks incidents best on the worst host?

Run (after research/r3_errors.py has cached the per-host errors in /tmp/r3)::

    cd /work/r3 && PYTHONPATH=/work/r3 nice -n 5 /work/main/.venv/bin/python research/r3_rank.py

Live path as bench/lomo.py: held-out SMD machine (fleet model of the two others) or synthetic host
(seeds 1-6, fleet model of the three SMD machines); z-scaler from the first 1440 rows; every window
ending at row >= 1440 is scored; windows inside the warm-up give the warm-up scores.
Writes research/r3_results.json and prints the tables of research/r3-ranking.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agent.score.alerts import RULE_RUN, alert_figures, incidents
from agent.score.scoring import ERROR_CAP
from training import metrics as M
from training.pca import PCA

SRC = Path("/tmp/r3")
OUT = Path(__file__).resolve().parent / "r3_results.json"
HOSTS = ("machine-1-6", "machine-2-1", "machine-3-3", *(f"synth-{s}" for s in range(1, 7)))
WARMUP = 1440
HEADS = (1, 5, 10)  # agg[:, 1 + j] is the mean over the last HEADS[j] steps
FA_MAX = 0.2
PER_DAY = 1440.0
# oracle sweep: ~60 quantiles of the scored scores, dense in the upper tail where alerts live
ORACLE_Q = np.unique(np.concatenate([1 - np.logspace(np.log10(0.5), -5, 58), [1.0]]))
K_GRID = np.round(np.geomspace(0.5, 20, 49), 4)  # realistic rule: T = k x q99.9(warm-up scores)


# -- reductions: (N, F) capped per-feature errors -> (N,) ----------------------------------------
def topk(x: np.ndarray, k: int) -> np.ndarray:
    return np.partition(x, x.shape[1] - k, axis=1)[:, -k:].mean(axis=1)


def red(name: str) -> Callable[[np.ndarray], np.ndarray]:
    if name == "mean":
        return lambda x: x.mean(axis=1)
    if name == "max":
        return lambda x: x.max(axis=1)
    return lambda x, k=int(name[3:]): topk(x, k)


def q999(x: np.ndarray) -> float:
    return float(np.quantile(x, 0.999))


def rolling_q(W: np.ndarray, nw: int, q: float, span: int = 1440, every: int = 60) -> np.ndarray:
    """(N, F) per-feature q-quantile of the previous ``span`` windows, refreshed every ``every`` windows."""
    out = np.empty_like(W)
    out[:nw] = np.quantile(W[:nw], q, axis=0)
    for i in range(nw, len(W), every):
        out[i : i + every] = np.quantile(W[max(0, i - span) : i], q, axis=0)
    return out


def rolling_q_excl(W: np.ndarray, nw: int, q: float, span: int, r: str, every: int = 60) -> np.ndarray:
    """As rolling_q, but windows whose own normalised score (reduction r) exceeded the warm-up q99.9 of
    that score are left out of later quantiles (a guard against learning incidents as normal)."""
    R = np.empty_like(W)
    R[:nw] = np.maximum(np.quantile(W[:nw], q, axis=0), 0.5)
    tau = q999(red(r)(W[:nw] / R[:nw]))
    keep = np.ones(len(W), bool)
    cur = R[0]
    for i in range(nw, len(W), every):
        lo = max(0, i - span)
        pool = W[lo:i][keep[lo:i]]
        if len(pool) >= 240:  # at least 4 h of accepted windows, else keep the last quantiles
            cur = np.maximum(np.quantile(pool, q, axis=0), 0.5)
        R[i : i + every] = cur
        keep[i : i + every] = red(r)(W[i : i + every] / cur) <= tau
    return R


def smooth(s: np.ndarray, n: int = 5) -> np.ndarray:
    """Trailing mean of n scores (the first n-1 use what exists)."""
    c = np.cumsum(np.concatenate([[0.0], s]))
    i = np.arange(1, len(s) + 1)
    lo = np.maximum(i - n, 0)
    return (c[i] - c[lo]) / (i - lo)


def candidates(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every candidate's score per window (N,), on the whole series (warm-up windows first)."""
    agg = np.minimum(d["agg"].astype(np.float64), ERROR_CAP)  # cap after the time mean, as the agent
    W = agg[:, 0]
    nw = WARMUP - int(d["window"]) + 1  # windows entirely inside the warm-up
    out: dict[str, np.ndarray] = {"current (mean)": W.mean(axis=1)}
    for k in (1, 3, 5, 8):
        out[f"top{k}"] = topk(W, k)
    for qn, q in (("q99", 0.99), ("q99.9", 0.999)):
        qf = np.quantile(W[:nw], q, axis=0)
        for fl in (0.5, 2.0):
            Wn = W / np.maximum(qf, fl)
            for r in ("mean", "top3", "max"):
                out[f"norm {qn} fl{fl:g} {r}"] = red(r)(Wn)
    for j, s in enumerate(HEADS):
        Hs = agg[:, 1 + j]
        for r in ("mean", "top3"):
            whole, head = red(r)(W), red(r)(Hs)
            out[f"head{s} {r}"] = head
            c = q999(head[:nw]) / q999(whole[:nw])
            out[f"max(whole, head{s}/c) {r}"] = np.maximum(whole, head / c)
    # outside the brief's list (adaptive): each feature's error divided by its own q99 over the trailing
    # day of scored windows (refreshed hourly; the warm-up's until a day has passed), floor 0.5
    # variants: 7-day span; median (q50) instead of q99 so long incidents are learned less
    for span, sn in ((1440, "day"), (7 * 1440, "7d")):
        for q, qn in ((0.99, "q99"), (0.5, "q50")):
            R = np.maximum(rolling_q(W, nw, q, span), 0.5)
            for r in ("mean", "top3"):
                out[f"rolling-{sn} norm {qn} fl0.5 {r}"] = red(r)(W / R)
    for r in ("mean", "top3"):  # the q99 7-day variant with alerted windows left out
        out[f"rolling-7d-excl norm q99 fl0.5 {r}"] = red(r)(W / rolling_q_excl(W, nw, 0.99, 7 * 1440, r))
    # PCA baseline on the same z rows, fitted on the warm-up day (95 % variance), per row, uncapped
    z = d["z"].astype(np.float64)
    pca = PCA.fit(z[:WARMUP], 0.95)
    e = pca.errors(z)[int(d["window"]) - 1 :]  # row n + 29 <-> window n
    out["PCA mean"] = e.mean(axis=1)
    out["PCA top3"] = topk(e, 3)
    c = np.cumsum(np.concatenate([np.zeros((1, e.shape[1])), pca.errors(z)]), axis=0)
    w = int(d["window"])
    out["PCA window-mean mean"] = ((c[w:] - c[:-w]) / w).mean(axis=1)
    return out


# -- alert figures, vectorised (checked against agent.alerts.alert_figures) ------------------------
class Alerts:
    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels
        self.spans = incidents(labels)
        self.covered = np.zeros(len(labels), bool)
        for a, b in self.spans:
            self.covered[a : min(b + RULE_RUN, len(labels))] = True
        self.long = (self.spans[:, 1] - self.spans[:, 0]) >= RULE_RUN
        self.normal_days = float((labels == 0).sum()) / PER_DAY

    def figures(self, s: np.ndarray, thr: float) -> dict[str, float]:
        above = np.concatenate([[False], s > thr, [False]])
        d = np.diff(above.astype(np.int8))
        st, en = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        fires = st[(en - st) >= RULE_RUN] + RULE_RUN - 1
        false = int((~self.covered[fires]).sum())
        a, b = self.spans[:, 0], self.spans[:, 1]
        i = np.searchsorted(fires, a)
        ok = i < len(fires)
        hit = np.zeros(len(a), bool)
        hit[ok] = fires[i[ok]] < b[ok] + RULE_RUN
        delays = fires[i[hit]] - a[hit]
        return {
            "fa_day": false / self.normal_days,
            "alerted": float(hit.mean()) if len(a) else float("nan"),
            "alerted_long": float(hit[self.long].mean()) if self.long.any() else float("nan"),
            "delay": float(np.median(delays)) if len(delays) else float("nan"),
            "false_alerts": false,
        }


def evaluate(s_all: np.ndarray, nw: int, al: Alerts) -> dict[str, object]:
    s, warm = s_all[nw:], s_all[:nw]
    y = al.labels
    f1 = M.best_f1(s, y)
    out: dict[str, object] = {"auc_pr": M.auc_pr(s, y), "best_f1": f1.f1}
    best = {"alerted": 0.0, "fa_day": float("nan"), "quantile": None}
    for q in ORACLE_Q:
        thr = float(np.quantile(s, q))
        f = al.figures(s, thr)
        if f["fa_day"] <= FA_MAX and f["alerted"] > best["alerted"]:
            best = {**f, "quantile": float(q)}
    out["oracle"] = best
    w = q999(warm)
    out["warm_q999"] = w
    out["realistic"] = [al.figures(s, k * w) for k in K_GRID]
    return out


def choose_k(per_host: dict[str, dict[str, object]]) -> dict[str, object]:
    """One k for all hosts: among k with worst-host FA/day <= 0.2 the one with the best worst-host
    alerted share (then mean share, then the smaller k); if no k qualifies, the k with the lowest worst FA."""
    rows = []
    for i, k in enumerate(K_GRID):
        figs = {h: r["realistic"][i] for h, r in per_host.items()}  # type: ignore[index]
        fa = max(f["fa_day"] for f in figs.values())
        al = [f["alerted"] for f in figs.values()]
        rows.append((k, fa, min(al), float(np.mean(al)), figs))
    ok = [r for r in rows if r[1] <= FA_MAX]
    k, fa, worst, mean, figs = (
        max(ok, key=lambda r: (r[2], r[3], -r[0])) if ok else min(rows, key=lambda r: (r[1], -r[2], r[0]))
    )
    return {"k": float(k), "feasible": bool(ok), "worst_fa": fa, "worst_alerted": worst, "mean_alerted": mean,
            "per_host": figs}


def summary(name: str, res: dict[str, dict[str, dict[str, object]]], hosts=HOSTS) -> dict[str, object]:
    def col(f):
        return np.array([f(res[h][name]) for h in hosts])

    orc = col(lambda r: r["oracle"]["alerted"])
    ap = col(lambda r: r["auc_pr"])
    f1 = col(lambda r: r["best_f1"])
    return {
        "oracle_worst": float(orc.min()), "oracle_worst_host": hosts[int(orc.argmin())],
        "oracle_mean": float(orc.mean()), "oracle_spread": float(orc.max() - orc.min()),
        "oracle_sorted": sorted(float(v) for v in orc), "aucpr_2nd_worst": float(np.sort(ap)[1]),
        "aucpr_worst": float(ap.min()), "aucpr_worst_host": hosts[int(ap.argmin())], "aucpr_mean": float(ap.mean()),
        "f1_worst": float(f1.min()), "f1_mean": float(f1.mean()),
        "smd_oracle_worst": float(orc[:3].min()), "smd_aucpr_worst": float(ap[:3].min()),
    }


def check_alerts(s: np.ndarray, labels: np.ndarray, al: Alerts) -> None:
    for q in (0.9, 0.99, 0.999):
        thr = float(np.quantile(s, q))
        ref = alert_figures(s / thr, labels, PER_DAY)
        mine = al.figures(s, thr)
        assert abs(ref.false_alerts_per_day - mine["fa_day"]) < 1e-9, (ref, mine)
        assert abs(ref.incident_recall - mine["alerted"]) < 1e-9, (ref, mine)


def main() -> int:
    res: dict[str, dict[str, dict[str, object]]] = {}
    scores: dict[str, dict[str, np.ndarray]] = {}
    meta: dict[str, dict[str, object]] = {}
    for h in HOSTS:
        d = dict(np.load(SRC / f"{h}.npz"))
        nw = WARMUP - int(d["window"]) + 1
        labels = d["labels"][int(d["window"]) - 1 :][nw:]  # labels of the scored windows' last rows
        al = Alerts(labels)
        cands = candidates(d)
        check_alerts(cands["current (mean)"][nw:], labels, al)
        scores[h] = cands
        res[h] = {n: evaluate(s, nw, al) for n, s in cands.items()}
        meta[h] = {"bundle": str(d["bundle"]), "scored": int(len(labels)), "incidents": int(len(al.spans)),
                   "long_incidents": int(al.long.sum()), "normal_days": al.normal_days,
                   "label_rows": int(labels.sum())}
        print(f"{h}: {len(cands)} candidates", file=sys.stderr, flush=True)
    # smoothing: the two best by the worst-host oracle (then worst AUC-PR), and the current reduction
    base = {n: summary(n, res) for n in res[HOSTS[0]]}
    ranked = sorted((n for n in base if not n.startswith(("PCA", "rolling"))),  # the brief's static list
                    key=lambda n: (-base[n]["oracle_worst"], -base[n]["aucpr_worst"]))
    for n in dict.fromkeys([*ranked[:2], "current (mean)"]):
        for h in HOSTS:
            nw = WARMUP - 29
            labels = np.load(SRC / f"{h}.npz")["labels"][29:][nw:]
            res[h][f"{n} +sm5"] = evaluate(smooth(scores[h][n]), nw, Alerts(labels))
    names = list(res[HOSTS[0]])
    summ = {n: summary(n, res) for n in names}
    for n in names:
        summ[n]["realistic"] = choose_k({h: res[h][n] for h in HOSTS})
    # rank by the worst host, then the next worst (leximin on the oracle frontier), then worst AUC-PR
    order = sorted(names, key=lambda n: ([-v for v in summ[n]["oracle_sorted"]], -summ[n]["aucpr_worst"]))
    doc = {"hosts": meta, "settings": {"warmup": WARMUP, "fa_max": FA_MAX, "oracle_quantiles": ORACLE_Q.tolist(),
                                       "k_grid": K_GRID.tolist(), "error_cap": ERROR_CAP},
           "order": order, "summary": summ,
           "per_host": {h: {n: {**{k: v for k, v in r.items() if k != "realistic"}} for n, r in res[h].items()}
                        for h in HOSTS}}
    OUT.write_text(json.dumps(doc, indent=1, default=float))
    print_tables(doc)
    return 0


def fmt(v: float, f: str = "{:.2f}") -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f.format(v)


def print_tables(doc: dict) -> None:
    S, P, H = doc["summary"], doc["per_host"], list(doc["hosts"])
    print("\n## Worst-host summary (9 hosts), sorted by worst-host oracle frontier, then the next worst hosts "
          "(leximin), then worst AUC-PR\n")
    print("| candidate | oracle worst (host) | oracle 2nd/3rd worst | oracle mean | spread | AUC-PR worst (host) | "
          "AUC-PR 2nd worst | AUC-PR mean | best F1 worst | "
          "SMD oracle worst | realistic k | worst FA/day | worst alerted | mean alerted |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in doc["order"]:
        s, r = S[n], S[n]["realistic"]
        print(f"| {n} | {fmt(s['oracle_worst'])} ({s['oracle_worst_host']}) | {fmt(s['oracle_sorted'][1])} / "
              f"{fmt(s['oracle_sorted'][2])} | {fmt(s['oracle_mean'])} | "
              f"{fmt(s['oracle_spread'])} | {fmt(s['aucpr_worst'], '{:.3f}')} ({s['aucpr_worst_host']}) | "
              f"{fmt(s['aucpr_2nd_worst'], '{:.3f}')} | "
              f"{fmt(s['aucpr_mean'], '{:.3f}')} | {fmt(s['f1_worst'], '{:.3f}')} | {fmt(s['smd_oracle_worst'])} | "
              f"{r['k']:g}{'' if r['feasible'] else ' (FA>0.2)'} | {fmt(r['worst_fa'])} | {fmt(r['worst_alerted'])} | "
              f"{fmt(r['mean_alerted'])} |")
    for metric, get, f in (
        ("AUC-PR", lambda r: r["auc_pr"], "{:.3f}"),
        ("best F1 (point-wise)", lambda r: r["best_f1"], "{:.3f}"),
        ("oracle frontier: share of incidents alerted at <= 0.2 FA/day", lambda r: r["oracle"]["alerted"], "{:.2f}"),
    ):
        print(f"\n## Per host: {metric}\n")
        print("| candidate | " + " | ".join(H) + " |")
        print("|---|" + "---|" * len(H))
        for n in doc["order"]:
            print(f"| {n} | " + " | ".join(fmt(get(P[h][n]), f) for h in H) + " |")
    print("\n## Per host: realistic rule T = k x q99.9(warm-up), one k per candidate: FA/day / alerted share\n")
    print("| candidate | k | " + " | ".join(H) + " |")
    print("|---|---|" + "---|" * len(H))
    for n in doc["order"]:
        r = S[n]["realistic"]
        print(f"| {n} | {r['k']:g} | " + " | ".join(
            f"{fmt(r['per_host'][h]['fa_day'])} / {fmt(r['per_host'][h]['alerted'])}" for h in H) + " |")


if __name__ == "__main__":
    sys.exit(main())
