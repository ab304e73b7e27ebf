"""r3 diagnostics: is there anything in the per-feature errors that a reduction could pick up?

Per host: the best single-feature AUC-PR (chosen in-sample: an optimistic upper bound for any
feature-selecting reduction) of the AE per-feature window error, of |z| (no model) and of the PCA
per-feature error; and, for the current score, each incident's peak as a quantile of the normal scored
scores, and the number of normal 5-sample runs above that peak.  Writes research/r3_diag.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from agent.score.scoring import ERROR_CAP
from research.r3_rank import HOSTS, SRC, WARMUP
from agent.score.alerts import incidents
from training import metrics as M
from training.pca import PCA

OUT = Path(__file__).resolve().parent / "r3_diag.json"


def runs_above(s: np.ndarray, thr: float, run: int = 5) -> int:
    above = np.concatenate([[False], s > thr, [False]])
    d = np.diff(above.astype(np.int8))
    st, en = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return int(((en - st) >= run).sum())


def main() -> int:
    out = {}
    for h in HOSTS:
        d = dict(np.load(SRC / f"{h}.npz"))
        w = int(d["window"])
        nw = WARMUP - w + 1
        y = d["labels"][w - 1 :][nw:]
        W = np.minimum(d["agg"][:, 0].astype(np.float64), ERROR_CAP)[nw:]
        z = d["z"].astype(np.float64)
        pe = PCA.fit(z[:WARMUP], 0.95).errors(z)[w - 1 :][nw:]
        absz = np.abs(z[w - 1 :][nw:])
        feats = [str(f) for f in d["features"]]

        def best(x):
            ap = np.array([M.auc_pr(x[:, f], y) if np.ptp(x[:, f]) > 0 else np.nan for f in range(x.shape[1])])
            f = int(np.nanargmax(ap))
            return {"auc_pr": float(ap[f]), "feature": feats[f], "top5": [
                (feats[i], round(float(ap[i]), 3)) for i in np.argsort(-np.nan_to_num(ap, nan=-1))[:5]]}

        cur = W.mean(axis=1)
        normal = np.sort(cur[y == 0])
        inc = []
        for a, b in incidents(y):
            peak = float(cur[a : b + 5].max())
            inc.append({"start": int(a), "len": int(b - a),
                        "peak_q_normal": float(np.searchsorted(normal, peak) / len(normal)),
                        "normal_runs_above_peak": runs_above(np.where(y == 0, cur, -np.inf), peak)})
        dims = d.get("dims")
        out[h] = {"base_rate": float(y.mean()), "ae_feature": best(W), "absz_feature": best(absz),
                  "pca_feature": best(pe), "incidents": inc}
        qs = [i["peak_q_normal"] for i in inc]
        print(f"{h}: base rate {y.mean():.3f}; best single feature AUC-PR: AE {out[h]['ae_feature']['auc_pr']:.3f} "
              f"({out[h]['ae_feature']['feature']}), |z| {out[h]['absz_feature']['auc_pr']:.3f} "
              f"({out[h]['absz_feature']['feature']}), PCA {out[h]['pca_feature']['auc_pr']:.3f}; "
              f"incident peaks (current) as normal quantile: median {np.median(qs):.4f}, "
              f">= q99.9: {np.mean(np.array(qs) >= 0.999):.2f}, "
              f"median normal runs above peak {np.median([i['normal_runs_above_peak'] for i in inc]):.0f}",
              flush=True)
    OUT.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
