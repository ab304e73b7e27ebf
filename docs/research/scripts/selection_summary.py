"""Tables and decisions from the cells cached by bench.selection.

    PYTHONPATH=/work/r1 python -m bench.selection_summary [--out /work/research/r1]

Writes OUT/selection.json and OUT/tables.md.  A candidate is ``config/variant``
(e.g. ``z_c10_w30/mean``).  Margins are candidate minus PCA on the same host
and rows; choices are made by the WORST host's margin (min over hosts of
min(dF1, dAUC-PR)), over all hosts (shared SMD + synthetic), SMD-only shown beside.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.selection import SMD_MACHINES, SYNTH_SEEDS

HOSTS = list(SMD_MACHINES) + [f"synth-{s}" for s in SYNTH_SEEDS]
KEYS = ("best_f1", "auc_pr", "hitrate@150")
BASE = "z_c10_w30/mean"
FACTORS = {
    "scaling": ["mm_c2_w30/mean", "z_c10_w30/mean", "robust_c10_w30/mean"],
    "reduction": ["z_c10_w30/last", "z_c10_w30/mean", "z_c10_w30/top"],
    "clip": ["z_none_w30/mean", "z_c5_w30/mean", "z_c10_w30/mean"],
    "window": ["z_c10_w10/mean", "z_c10_w30/mean", "z_c10_w60/mean"],
    "training_length": ["z_c10_w30/mean", "z_c10_w30_e40/mean", "mm_c2_w30/mean", "mm_c2_w30_e40/mean"],
    "combined": ["mm_c2_w30/mean", "mm_c2_w10_e40/last", "mm_c2_w10_e40/mean", "mm_c2_w10_e40/mean+cap10",
                 "mm_c2_w10_e40/top", "mm_c2_w10_e40/top+cap10"],
    "per_feature_cap": ["z_c10_w30/mean", "z_c10_w30/mean+norm", "z_c10_w30/mean+cap3", "z_c10_w30/mean+cap10"],
}


def load(cache: Path) -> tuple[dict, dict, dict]:
    pca, cells, fleet = {}, {}, {}
    for f in sorted(cache.glob("*.json")):
        cfg, host = f.stem.split("__")
        d = json.loads(f.read_text())
        if cfg == "pca":
            pca[host] = d
        elif cfg.startswith("fleet_"):
            fleet.setdefault(cfg[6:], {})[host] = d
        else:
            cells.setdefault(cfg, {})[host] = d
    return pca, cells, fleet


def candidate(cells: dict, pca: dict, name: str, hosts=HOSTS) -> dict | None:
    cfg, var = name.split("/")
    if cfg not in cells:
        return None
    per = {}
    for h in hosts:
        c = cells[cfg].get(h, {}).get(var)
        if c is None or h not in pca:
            continue
        hit = c.get("hitrate@150")
        if hit is None:  # capped/normalised scores: interpretation ranks the same per-feature errors
            hit = cells[cfg][h][var.split("+")[0]].get("hitrate@150")
        row = {"best_f1": c["best_f1"], "auc_pr": c["auc_pr"], "hitrate@150": hit, "event_f1": c["event_f1"]}
        row.update({f"d_{k}": row[k] - pca[h][k] for k in KEYS})
        row["worst_d"] = min(row["d_best_f1"], row["d_auc_pr"])
        per[h] = row
    if not per:
        return None

    def agg(subset):
        rows = [per[h] for h in subset if h in per]
        if not rows:
            return None
        out = {"n": len(rows)}
        for k in ("best_f1", "auc_pr", "hitrate@150", "d_best_f1", "d_auc_pr", "d_hitrate@150", "worst_d"):
            v = np.array([r[k] for r in rows], float)
            out[k] = {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min())}
        return out

    return {"per_host": per, "all": agg(hosts), "smd": agg(SMD_MACHINES),
            "synth": agg([h for h in hosts if h.startswith("synth")]), "complete": len(per) == len(hosts)}


def fmt(x, d=3):
    return "—" if x is None else f"{x:+.{d}f}" if isinstance(x, float) and x < 0 else f"{x:.{d}f}"


def table(cands: dict, pca: dict, names: list[str]) -> str:
    hs = HOSTS
    lines = ["| candidate | " + " | ".join(hs) + " | mean ± std | min ΔF1 | min ΔAUC-PR | min ΔHit150 | worst Δ (all) | worst Δ (SMD) |",
             "|---" * (len(hs) + 7) + "|"]
    lines.append("| **PCA** F1 / AUC-PR / Hit150 | " + " | ".join(
        f"{pca[h]['best_f1']:.3f} / {pca[h]['auc_pr']:.3f} / {pca[h]['hitrate@150']:.3f}" if h in pca else "—" for h in hs)
                 + f" | {np.mean([pca[h]['best_f1'] for h in hs if h in pca]):.3f} | | | | | |")
    for n in names:
        c = cands.get(n)
        if c is None:
            lines.append(f"| {n} | " + " | ".join("—" for _ in hs) + " | | | | | | |")
            continue
        cellv = []
        for h in hs:
            r = c["per_host"].get(h)
            cellv.append("—" if r is None else f"{r['best_f1']:.3f} / {r['auc_pr']:.3f} / {r['hitrate@150']:.3f}")
        a, s = c["all"], c["smd"]
        lines.append(f"| {n}{'' if c['complete'] else ' (partial)'} | " + " | ".join(cellv)
                     + f" | {a['best_f1']['mean']:.3f} ± {a['best_f1']['std']:.3f}"
                     + f" | {a['d_best_f1']['min']:+.3f} | {a['d_auc_pr']['min']:+.3f} | {a['d_hitrate@150']['min']:+.3f}"
                     + f" | **{a['worst_d']['min']:+.3f}** | {s['worst_d']['min']:+.3f} |" if s else " | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/work/research/r1"))
    a = ap.parse_args(argv)
    pca, cells, fleet = load(a.out / "cache")
    names = sorted({f"{cfg}/{var}" for cfg, hs in cells.items() for d in hs.values() for var in d if var != "info"})
    cands = {n: c for n in names if (c := candidate(cells, pca, n)) is not None}
    decisions = {}
    md = ["# Selection tables (generated by bench/selection_summary.py)\n",
          "Cells: best F1 / AUC-PR / HitRate@150 (point-wise, no point adjustment). Δ = candidate − PCA on the same host "
          "and rows. worst Δ = min over hosts of min(ΔF1, ΔAUC-PR).\n"]
    for factor, opts in FACTORS.items():
        ok = [o for o in opts if o in cands and cands[o]["complete"]]
        key = lambda o: (cands[o]["all"]["worst_d"]["min"], cands[o]["all"]["d_best_f1"]["mean"])  # noqa: E731
        free = max(ok, key=key) if ok else None
        # the constraint: HitRate@150 >= PCA's on every host, when any option meets it
        held = [o for o in ok if cands[o]["all"]["d_hitrate@150"]["min"] >= 0]
        best = max(held, key=key) if held else free
        decisions[factor] = {"options": opts, "chosen": best, "chosen_without_hitrate_constraint": free,
                             "worst_margin": {o: cands[o]["all"]["worst_d"]["min"] for o in ok},
                             "worst_margin_smd": {o: cands[o]["smd"]["worst_d"]["min"] for o in ok},
                             "mean_d_f1": {o: cands[o]["all"]["d_best_f1"]["mean"] for o in ok}}
        md += [f"\n## {factor} (chosen: `{best}`; by worst margin alone: `{free}`)\n", table(cands, pca, opts)]
    ranked = sorted((n for n in cands if cands[n]["complete"]), key=lambda n: -cands[n]["all"]["worst_d"]["min"])
    md += ["\n## All complete candidates, ranked by worst-host margin\n", table(cands, pca, ranked[:25])]
    # seed noise: the same candidate trained with seed 1
    noise = {}
    nrows = ["| candidate | seed | " + " | ".join(HOSTS) + " | worst Δ (all) | worst Δ (SMD) |", "|---" * (len(HOSTS) + 4) + "|"]
    for cfg in sorted(c for c in cells if c.endswith("_s1")):
        base_cfg = cfg[:-3]
        for var in ("mean", "last", "mean+cap10"):
            ca, cb = cands.get(f"{base_cfg}/{var}"), cands.get(f"{cfg}/{var}")
            if not ca or not cb:
                continue
            d = [abs(ca["per_host"][h]["best_f1"] - cb["per_host"][h]["best_f1"]) for h in HOSTS if h in ca["per_host"] and h in cb["per_host"]]
            noise[f"{base_cfg}/{var}"] = {"mean_abs_dF1": float(np.mean(d)), "max_abs_dF1": float(np.max(d)),
                                         "worst_d_seed0": ca["all"]["worst_d"]["min"], "worst_d_seed1": cb["all"]["worst_d"]["min"]}
            for seed, c in (("0", ca), ("1", cb)):
                nrows.append(f"| {base_cfg}/{var} | {seed} | " + " | ".join(
                    f"{c['per_host'][h]['best_f1']:.3f} / {c['per_host'][h]['auc_pr']:.3f}" if h in c["per_host"] else "—" for h in HOSTS)
                    + f" | {c['all']['worst_d']['min']:+.3f} | {c['smd']['worst_d']['min']:+.3f} |")
    md += ["\n## Seed noise (best F1 / AUC-PR; same candidate, training seed 0 vs 1)\n", "\n".join(nrows)]
    # the target on the shared machines: dF1 and dAUC-PR >= +0.05, dHit150 >= 0 on EVERY one
    tgt = ["| candidate | " + " | ".join(f"{m} ΔF1 / ΔAUC / ΔHit150" for m in SMD_MACHINES) + " | target met on all | min(ΔF1,ΔAUC) SMD | worst Δ all hosts |",
           "|---" * (len(SMD_MACHINES) + 4) + "|"]
    target = {}
    smd_ranked = sorted((n for n in cands if cands[n]["smd"] and cands[n]["smd"]["n"] == len(SMD_MACHINES)),
                        key=lambda n: -cands[n]["smd"]["worst_d"]["min"])
    for n in smd_ranked[:15]:
        per = cands[n]["per_host"]
        met = all(per[m]["d_best_f1"] >= 0.05 and per[m]["d_auc_pr"] >= 0.05 and per[m]["d_hitrate@150"] >= 0 for m in SMD_MACHINES)
        target[n] = met
        tgt.append(f"| {n} | " + " | ".join(f"{per[m]['d_best_f1']:+.3f} / {per[m]['d_auc_pr']:+.3f} / {per[m]['d_hitrate@150']:+.3f}" for m in SMD_MACHINES)
                   + f" | {'yes' if met else 'no'} | {cands[n]['smd']['worst_d']['min']:+.3f} | {cands[n]['all']['worst_d']['min']:+.3f} |")
    md += ["\n## Target check on the shared machines (top 15 by SMD worst margin)\n", "\n".join(tgt)]
    # fleet vs per-host
    fl = {}
    rows = ["| config / variant | held-out | fleet F1 / AUC-PR / Hit150 | per-host F1 / AUC-PR / Hit150 | PCA | fleet ΔF1 vs PCA |",
            "|---|---|---|---|---|---|"]
    for cfg, hs in sorted(fleet.items()):
        for var in ("mean", "last", "mean+cap10"):
            for h, d in sorted(hs.items()):
                f = d[var]
                hit = f.get("hitrate@150", d[var.split("+")[0]].get("hitrate@150"))
                p = cells.get(cfg, {}).get(h, {}).get(var)
                phit = None if p is None else p.get("hitrate@150", cells[cfg][h][var.split("+")[0]].get("hitrate@150"))
                fl.setdefault(f"{cfg}/{var}", {})[h] = {"fleet": {"best_f1": f["best_f1"], "auc_pr": f["auc_pr"], "hitrate@150": hit},
                                                       "per_host": None if p is None else {"best_f1": p["best_f1"], "auc_pr": p["auc_pr"], "hitrate@150": phit}}
                rows.append(f"| {cfg}/{var} | {h} | {f['best_f1']:.3f} / {f['auc_pr']:.3f} / {hit:.3f} | "
                            + ("—" if p is None else f"{p['best_f1']:.3f} / {p['auc_pr']:.3f} / {phit:.3f}")
                            + f" | {pca[h]['best_f1']:.3f} / {pca[h]['auc_pr']:.3f} / {pca[h]['hitrate@150']:.3f}"
                            + f" | {f['best_f1'] - pca[h]['best_f1']:+.3f} |")
    md += ["\n## Fleet (leave-one-machine-out, scaler calibrated on the held-out machine's first day) vs per-host\n", "\n".join(rows)]
    info = {f"{cfg}__{h}": d.get("info") for cfg, hs in cells.items() for h, d in hs.items()}
    out = {"hosts": HOSTS, "pca": pca, "candidates": cands, "decisions": decisions, "fleet": fl,
           "ranked_by_worst_margin": ranked, "smd_target": target, "seed_noise": noise, "training_info": info}
    (a.out / "selection.json").write_text(json.dumps(out, indent=1))
    (a.out / "tables.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
