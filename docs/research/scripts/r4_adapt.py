"""r4: a causal per-feature adaptation of the capped window errors that neither freezes nor learns incidents?

Run (after research/r3_errors.py has cached the per-host errors in /tmp/r3)::

    cd /work/r3 && PYTHONPATH=/work/r3 nice -n 5 /work/main/.venv/bin/python research/r4_adapt.py

Same hosts, models, warm-up (first 1440 rows) and cached errors as r3. Every candidate is
score_n = mean_f(min(e_nf, 36) / s_f(n)) with a per-feature scale s_f that is refreshed causally (hourly
unless the name says "daily") from the trailing 7 days of windows only (warm-up windows included). Per host:
AUC-PR, best F1 (point-wise), the oracle frontier (share of incidents alerted at <= 0.2 false alerts/day, r3
sweep) and a realistic rule: T recalibrated daily = max(q99.9 of the trailing 7 days of scores, q99.9 of the
warm-up scores), alerts by agent.alerts.alert_figures on score / T (> 1 for 5 samples).
Writes research/r4_results.json and prints the tables of research/r4-adapt.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agent.score.alerts import alert_figures
from agent.score.scoring import ERROR_CAP
from research.r3_rank import FA_MAX, HOSTS, ORACLE_Q, PER_DAY, SRC, WARMUP, Alerts, q999, rolling_q, topk
from training import metrics as M

OUT = Path(__file__).resolve().parent / "r4_results.json"
SPAN = 7 * 1440  # trailing period of every refresh (the agent's recent ring: 10080 rows)
FLOOR = 0.5
HOUR, DAY = 60, 1440

# a rule maps (trailing errors (n, F), their published scores (n,), their raw mean scores (n,),
# their anomalous flags (n,), the warm-up scale (F,)) -> new scale (F,)
Rule = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def daily_threshold(s: np.ndarray, nw: int) -> np.ndarray:
    """(N,) threshold in force at each window: warm-up q99.9 for the first day after the warm-up, then
    refreshed every 1440 windows as max(q99.9 of the trailing 7 days of scores, warm-up q99.9)."""
    T = np.empty_like(s)
    tw = q999(s[:nw])
    T[:nw] = tw
    for i in range(nw, len(s), DAY):
        T[i : i + DAY] = tw if i == nw else max(q999(s[max(0, i - SPAN) : i]), tw)
    return T


def adapt(W: np.ndarray, nw: int, base: np.ndarray, rule: Rule, every: int = HOUR) -> tuple[np.ndarray, np.ndarray]:
    """Causal simulation: scores (N,) and scales (N, F). ``base`` is the scale until the first refresh.
    Anomalous flags (score above the daily threshold in force) are tracked for rules that exclude."""
    N = len(W)
    raw = W.mean(axis=1)
    s = np.empty(N)
    R = np.empty_like(W)
    R[:nw] = base
    s[:nw] = (W[:nw] / base).mean(axis=1)
    tw = q999(s[:nw])
    T = tw
    flags = np.zeros(N, bool)
    flags[:nw] = s[:nw] > tw
    cur = base
    for i in range(nw, N, every):
        lo = max(0, i - SPAN)
        if (i - nw) % DAY < every and i > nw:  # daily threshold refresh (same rule as daily_threshold)
            T = max(q999(s[lo:i]), tw)
        cur = rule(W[lo:i], s[lo:i], raw[lo:i], flags[lo:i], base)
        R[i : i + every] = cur
        s[i : i + every] = (W[i : i + every] / cur).mean(axis=1)
        flags[i : i + every] = s[i : i + every] > T
    return s, R


# -- rules ---------------------------------------------------------------------------------------
def q_floor(X: np.ndarray, q: float) -> np.ndarray:
    return np.maximum(np.quantile(X, q, axis=0), FLOOR)


def trimmed(p: float, by: str, q: float = 0.99) -> Rule:
    """Drop the windows whose score (raw current mean, or the published adaptive score) is in the top p
    of the trailing period, then per-feature q. A fixed fraction is dropped: it cannot freeze."""

    def rule(Wp, sp, rawp, fp, base):
        sc = rawp if by == "cur" else sp
        keep = sc <= np.quantile(sc, 1 - p)
        return q_floor(Wp[keep], q)

    return rule


def grow(level: str, c: float) -> Rule:
    """s_f = max(warm-up scale, c x a robust trailing level): drift raises a scale, never below the warm-up;
    an incident shorter than half the trailing period cannot become the median."""
    qq = {"med": 0.5, "q75": 0.75, "q90": 0.9}[level]

    def rule(Wp, sp, rawp, fp, base):
        return np.maximum(base, c * np.quantile(Wp, qq, axis=0))

    return rule


def agent_rule(q: float = 0.99, share: float = 0.25) -> Rule:
    """The live agent's recalibration guard: leave out windows scored anomalous while they are at most
    ``share`` of the trailing period; above that, accept all (a lasting change)."""

    def rule(Wp, sp, rawp, fp, base):
        pool = Wp[~fp] if fp.mean() <= share else Wp
        return q_floor(pool, q)

    return rule


def daily_median(q: float = 0.99, grow_from_base: bool = False) -> Rule:
    """Median over the trailing days of each day's per-feature q: an incident shorter than half the days
    changes at most the minority of the daily quantiles; a change that lasts > 3.5 days is learned."""

    def rule(Wp, sp, rawp, fp, base):
        n = len(Wp) // DAY
        if n < 1:
            return base
        days = Wp[len(Wp) - n * DAY :].reshape(n, DAY, -1)
        lvl = np.maximum(np.median(np.quantile(days, q, axis=1), axis=0), FLOOR)
        return np.maximum(base, lvl) if grow_from_base else lvl

    return rule


def centred(grow_centre: bool) -> Rule:
    """Data-suggested (m1-6 diagnosis): subtract each feature's trailing 7-day median (a level learned only when
    it holds > half the week) and keep the warm-up spread as the scale: term = max(0, e - m) / s. Returns the
    (2, F) stack (centre, scale); used by ``adapt_centred``."""

    def rule(Wp, sp, rawp, fp, base):
        m = np.median(Wp, axis=0)
        return np.maximum(base[0], m) if grow_centre else m

    return rule


def adapt_centred(W: np.ndarray, nw: int, grow_centre: bool, every: int = HOUR) -> np.ndarray:
    m0 = np.median(W[:nw], axis=0)
    s0 = np.maximum(np.quantile(W[:nw], 0.999, axis=0) - m0, FLOOR)
    out = np.empty(len(W))
    out[:nw] = (np.maximum(W[:nw] - m0, 0) / s0).mean(axis=1)
    rule = centred(grow_centre)
    base = np.stack([m0, s0])
    for i in range(nw, len(W), every):
        m = rule(W[max(0, i - SPAN) : i], None, None, None, base)
        out[i : i + every] = (np.maximum(W[i : i + every] - m, 0) / s0).mean(axis=1)
    return out


def trimmed_grow(p: float, q: float = 0.99) -> Rule:
    t = trimmed(p, "cur", q)
    return lambda Wp, sp, rawp, fp, base: np.maximum(base, t(Wp, sp, rawp, fp, base))


# -- candidates ----------------------------------------------------------------------------------
def candidates(W: np.ndarray, nw: int) -> dict[str, np.ndarray]:
    b99 = q_floor(W[:nw], 0.99)  # the r3 rolling start
    b999 = q_floor(W[:nw], 0.999)  # warm-up q99.9, floor 0.5 (the grows-only base)
    out: dict[str, np.ndarray] = {"current (mean)": W.mean(axis=1)}
    R = np.maximum(rolling_q(W, nw, 0.99, SPAN), FLOOR)
    out["r3 rolling-7d norm q99 fl0.5 mean"] = (W / R).mean(axis=1)
    out["r3 rolling-7d norm q99 fl0.5 top3"] = topk(W / R, 3)
    out["static norm q99.9 fl0.5 mean"] = (W / b999).mean(axis=1)
    for by in ("cur", "own"):
        for p in (0.05, 0.10, 0.25):
            out[f"1 trim-{by} p{p * 100:g} q99"] = adapt(W, nw, b99, trimmed(p, by))[0]
    for level, cs in (("med", (2, 4, 8)), ("q75", (2, 4)), ("q90", (1, 2))):
        for c in cs:
            out[f"2 grow max(warm q99.9, {c}x{level})"] = adapt(W, nw, b999, grow(level, c))[0]
    out["3 agent-excl<=25% q99"] = adapt(W, nw, b99, agent_rule())[0]
    out["3 agent-excl<=25% q99 daily"] = adapt(W, nw, b99, agent_rule(), every=DAY)[0]
    out["4 median of daily q99"] = adapt(W, nw, b99, daily_median(), every=DAY)[0]
    out["4 grow max(warm q99.9, median of daily q99)"] = adapt(
        W, nw, b999, daily_median(grow_from_base=True), every=DAY
    )[0]
    out["4 trim-cur p10 q99 grow"] = adapt(W, nw, b999, trimmed_grow(0.10))[0]
    out["4 centred: max(0, e - median 7d) / warm spread"] = adapt_centred(W, nw, False)
    out["4 centred grow: max(0, e - max(warm med, median 7d)) / warm spread"] = adapt_centred(W, nw, True)
    out["4 trim-cur p10 q99 daily"] = adapt(W, nw, b99, trimmed(0.10, "cur"), every=DAY)[0]
    # 5 (after the m1-6 diagnosis): either branch may page. Each branch divided by its own warm-up q99.9, the
    # max taken; the current branch keeps m1-6's drift-borne ranking, the adaptive one adds m3-3's.
    cur = out["current (mean)"]
    for n in (
        "2 grow max(warm q99.9, 2xq90)",
        "4 grow max(warm q99.9, median of daily q99)",
        "r3 rolling-7d norm q99 fl0.5 top3",
    ):
        out[f"5 max(current, {n})"] = np.maximum(cur / q999(cur[:nw]), out[n] / q999(out[n][:nw]))
    return out


def evaluate(s_all: np.ndarray, nw: int, y: np.ndarray, al: Alerts) -> dict[str, object]:
    s = s_all[nw:]
    out: dict[str, object] = {"auc_pr": float(M.auc_pr(s, y)), "best_f1": float(M.best_f1(s, y).f1)}
    best = {"alerted": 0.0, "fa_day": float("nan"), "quantile": None}
    for q in ORACLE_Q:
        f = al.figures(s, float(np.quantile(s, q)))
        if f["fa_day"] <= FA_MAX and f["alerted"] > best["alerted"]:
            best = {**f, "quantile": float(q)}
    out["oracle"] = best
    long = [(a, b) for a, b in al.spans if b - a > DAY]  # incidents longer than a day (m1-6: one, 3161 rows)
    if long:
        keep = np.ones(len(y), bool)
        for a, b in long:
            keep[a:b] = False
        out["auc_pr_wo_long"] = float(M.auc_pr(s[keep], y[keep]))
        a0 = long[0][0]
        out["auc_pr_local_long"] = float(M.auc_pr(s[a0 - SPAN :], y[a0 - SPAN :]))  # the 7 days before it, on
    T = daily_threshold(s_all, nw)[nw:]
    f = alert_figures(s / T, y, PER_DAY)
    out["realistic"] = {
        "fa_day": f.false_alerts_per_day,
        "alerted": f.incident_recall,
        "incidents_alerted": f.incidents_alerted,
        "incidents": f.incidents,
        "false_alerts": f.false_alerts,
        "delay": f.median_delay_samples,
    }
    return out


def main() -> int:
    res: dict[str, dict[str, dict[str, object]]] = {}
    meta: dict[str, object] = {}
    for h in HOSTS:
        d = dict(np.load(SRC / f"{h}.npz"))
        w = int(d["window"])
        nw = WARMUP - w + 1
        W = np.minimum(d["agg"][:, 0].astype(np.float64), ERROR_CAP)
        y = d["labels"][w - 1 :][nw:]
        al = Alerts(y)
        cands = candidates(W, nw)
        res[h] = {n: evaluate(s, nw, y, al) for n, s in cands.items()}
        meta[h] = {"scored": int(len(y)), "incidents": int(len(al.spans)), "normal_days": al.normal_days}
        print(f"{h}: done", file=sys.stderr, flush=True)
    names = list(res[HOSTS[0]])
    summ = {}
    for n in names:
        ap = np.array([res[h][n]["auc_pr"] for h in HOSTS])
        orc = np.array([res[h][n]["oracle"]["alerted"] for h in HOSTS])
        fa = np.array([res[h][n]["realistic"]["fa_day"] for h in HOSTS])
        ra = np.array([res[h][n]["realistic"]["alerted"] for h in HOSTS])
        summ[n] = {
            "aucpr_worst": float(ap.min()),
            "aucpr_worst_host": HOSTS[int(ap.argmin())],
            "aucpr_mean": float(ap.mean()),
            "aucpr_spread": float(ap.max() - ap.min()),
            "oracle_sorted": sorted(float(v) for v in orc),
            "oracle_worst_host": HOSTS[int(orc.argmin())],
            "oracle_mean": float(orc.mean()),
            "real_fa_worst": float(fa.max()),
            "real_fa_worst_host": HOSTS[int(fa.argmax())],
            "real_alerted_worst": float(ra.min()),
            "real_alerted_mean": float(ra.mean()),
        }
    # select by the worst host: leximin on the oracle frontier, then worst AUC-PR
    order = sorted(names, key=lambda n: ([-v for v in summ[n]["oracle_sorted"]], -summ[n]["aucpr_worst"]))
    doc = {
        "hosts": meta,
        "settings": {"warmup": WARMUP, "span": SPAN, "floor": FLOOR, "fa_max": FA_MAX, "error_cap": ERROR_CAP},
        "order": order,
        "summary": summ,
        "per_host": res,
    }
    OUT.write_text(json.dumps(doc, indent=1, default=float))
    print_tables(doc)
    return 0


def fmt(v, f: str = "{:.2f}") -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f.format(v)


SHORT = {"machine-1-6": "m1-6", "machine-2-1": "m2-1", "machine-3-3": "m3-3"}


def print_tables(doc: dict) -> None:
    S, P, H = doc["summary"], doc["per_host"], list(doc["hosts"])
    hs = [SHORT.get(h, h) for h in H]
    print("\n## Summary over 9 hosts (sorted: worst-host oracle frontier, leximin, then worst AUC-PR)\n")
    print(
        "| candidate | oracle worst (host) | oracle 2nd / 3rd | oracle mean | AUC-PR worst (host) | AUC-PR mean | "
        "AUC-PR spread | realistic worst FA/day (host) | realistic worst / mean alerted |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in doc["order"]:
        s = S[n]
        o = s["oracle_sorted"]
        print(
            f"| {n} | {fmt(o[0])} ({SHORT.get(s['oracle_worst_host'], s['oracle_worst_host'])}) | {fmt(o[1])} / "
            f"{fmt(o[2])} | {fmt(s['oracle_mean'])} | {fmt(s['aucpr_worst'], '{:.3f}')} "
            f"({SHORT.get(s['aucpr_worst_host'], s['aucpr_worst_host'])}) | {fmt(s['aucpr_mean'], '{:.3f}')} | "
            f"{fmt(s['aucpr_spread'], '{:.3f}')} | {fmt(s['real_fa_worst'])} "
            f"({SHORT.get(s['real_fa_worst_host'], s['real_fa_worst_host'])}) | "
            f"{fmt(s['real_alerted_worst'])} / {fmt(s['real_alerted_mean'])} |"
        )
    print(
        "\n## machine-1-6: AUC-PR without its 2.2-day incident (85 % of its positive rows) and from 7 days "
        "before it on\n"
    )
    print("| candidate | AUC-PR all | AUC-PR without the long incident | AUC-PR from 7 d before it on |")
    print("|---|---|---|---|")
    for n in doc["order"]:
        r = P["machine-1-6"][n]
        print(f"| {n} | {r['auc_pr']:.3f} | {r['auc_pr_wo_long']:.3f} | {r['auc_pr_local_long']:.3f} |")
    for title, get, f in (
        ("AUC-PR", lambda r: r["auc_pr"], "{:.3f}"),
        ("best F1 (point-wise)", lambda r: r["best_f1"], "{:.3f}"),
        ("oracle frontier: share of incidents alerted at <= 0.2 FA/day", lambda r: r["oracle"]["alerted"], "{:.2f}"),
    ):
        print(f"\n## Per host: {title}\n")
        print("| candidate | " + " | ".join(hs) + " |")
        print("|---|" + "---|" * len(H))
        for n in doc["order"]:
            print(f"| {n} | " + " | ".join(fmt(get(P[h][n]), f) for h in H) + " |")
    print(
        "\n## Per host: realistic daily threshold (max(q99.9 trailing 7 d, warm-up q99.9)): FA/day / incidents "
        "alerted\n"
    )
    print("| candidate | " + " | ".join(hs) + " |")
    print("|---|" + "---|" * len(H))
    for n in doc["order"]:
        print(
            f"| {n} | "
            + " | ".join(
                f"{fmt(P[h][n]['realistic']['fa_day'])} / {P[h][n]['realistic']['incidents_alerted']}"
                f" of {P[h][n]['realistic']['incidents']}"
                for h in H
            )
            + " |"
        )


if __name__ == "__main__":
    sys.exit(main())
