"""Where best F1 stops on the shared SMD machines: the points no score catches (issue 13, target "PCA + 0.05").

For each machine: the per-host dense bundle's scores (``anomaly-agent score`` CSV) and PCA (95 % variance,
fitted on the train split, squared error) on the test split; best F1 (point-wise, not point-adjusted) of each,
of their rank union (max of the two ranks) and, per labelled incident of >= 100 samples, the share of its
points each detector flags at its own best-F1 threshold.  The anomalous points both miss bound what any
mix of the two can reach.

    python docs/research/scripts/r5_ceiling.py --data ../shared/data/smd \
        --scores machine-1-6=/tmp/m16.csv [--scores machine-2-1=/tmp/m21.csv ...]

(each CSV from ``anomaly-agent score --bundle <per-host bundle> --input <test file> --output <csv>``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.decomposition import PCA

from agent.score.alerts import incidents


def best_f1(score: np.ndarray, labels: np.ndarray) -> tuple[float, float, float, float]:
    """(F1, precision, recall, threshold) at the best threshold over every distinct score."""
    order = np.argsort(-score)
    tp = np.cumsum(labels[order])
    k = np.arange(1, len(score) + 1)
    p, r = tp / k, tp / labels.sum()
    f = 2 * p * r / np.maximum(p + r, 1e-12)
    i = int(f.argmax())
    return float(f[i]), float(p[i]), float(r[i]), float(score[order][i])


def machine(data: Path, name: str, scores_csv: Path) -> dict[str, object]:
    train = np.loadtxt(data / "train" / f"{name}.txt", delimiter=",")
    test = np.loadtxt(data / "test" / f"{name}.txt", delimiter=",")
    labels = np.loadtxt(data / "test_label" / f"{name}.txt").astype(float)
    ae = np.nan_to_num(np.genfromtxt(scores_csv, delimiter=",", skip_header=1, usecols=0), nan=0.0)
    pca = PCA(0.95).fit(train)
    pc = ((test - pca.inverse_transform(pca.transform(test))) ** 2).sum(axis=1)
    union = np.maximum(rankdata(ae), rankdata(pc)) / len(ae)
    out: dict[str, object] = {}
    flags = {}
    for key, s in (("dense", ae), ("pca", pc), ("rank_union", union)):
        f, p, r, t = best_f1(s, labels)
        out[key] = {"best_f1": round(f, 3), "precision": round(p, 3), "recall": round(r, 3)}
        flags[key] = s >= t
    anomalous = labels > 0
    missed = anomalous & ~flags["dense"] & ~flags["pca"]
    out["anomalous_points"] = int(anomalous.sum())
    out["missed_by_both"] = int(missed.sum())
    out["long_incidents"] = [
        {
            "rows": [int(a), int(b)],
            "dense_flagged": round(float(flags["dense"][a:b].mean()), 3),
            "pca_flagged": round(float(flags["pca"][a:b].mean()), 3),
        }
        for a, b in incidents(labels)
        if b - a >= 100
    ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--scores", action="append", required=True, help="MACHINE=CSV")
    a = ap.parse_args()
    doc = {m: machine(a.data, m, Path(c)) for m, c in (s.split("=", 1) for s in a.scores)}
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
