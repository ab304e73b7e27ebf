"""Detection benchmark: every model and baseline on the shared SMD machines.

Run from the repository root::

    python -m bench.detection [--data DIR] [--bundles-dir DIR] [--fit-option KEY=VALUE ...]

Writes ``bench/results/detection.json`` (the :func:`training.evaluate.evaluate`
document plus run facts), prints the tables, and checks the spec target: the
shipped default architecture beats PCA on mean point-wise best F1 and mean
AUC-PR, and prints its alert-level figures (false alerts per day, share of
incidents alerted, median delay: docs/evaluation.md).  Bundles are kept in ``--bundles-dir`` so a rerun only re-scores
(``bench.seconds`` is then scoring time; ``train_seconds_total`` sums the
training time recorded in the bundles).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

from training.evaluate import DEFAULT_MODELS, evaluate, parse_fit_option
from training.models import DEFAULT_ARCH
from training.tables import format_tables, write_json

MACHINES = ("machine-1-6", "machine-2-1", "machine-3-3")
DATA = Path("/work/shared/data/smd")
OUT = Path(__file__).resolve().parent / "results" / "detection.json"


def verdict(doc: dict, default_arch: str) -> tuple[bool, str]:
    """Does ``default_arch`` beat PCA on mean best F1 and mean AUC-PR?"""
    res = doc["results"]
    if default_arch not in res or "pca" not in res:
        return False, f"cannot compare: need both {default_arch!r} and 'pca' in the run"
    a, p = res[default_arch]["mean"], res["pca"]["mean"]
    f_a, f_p, ap_a, ap_p = a["best_f1"]["f1"], p["best_f1"]["f1"], a["auc_pr"], p["auc_pr"]
    ok = f_a > f_p and ap_a > ap_p
    return ok, (
        f"{'PASS' if ok else 'FAIL'}: {default_arch} mean best F1 {f_a:.3f} vs PCA {f_p:.3f}, "
        f"mean AUC-PR {ap_a:.3f} vs PCA {ap_p:.3f}"
    )


def alert_line(a: dict, name: str) -> str:
    """The default model's mean alert-level figures (the shipped rule on the test split)."""

    def f(key: str, fmt: str) -> str:
        v = a.get(key)
        return "n/a" if v is None else fmt.format(v)

    return (
        f"{name} alerts (mean over machines): {f('false_alerts_per_day', '{:.2f}')} false/day, "
        f"{f('incident_recall', '{:.0%}')} of incidents alerted ({f('long_incident_recall', '{:.0%}')} of "
        f">= 5 samples), median delay {f('median_delay_samples', '{:g}')} samples"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--machines", default=",".join(MACHINES))
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--bundles-dir", type=Path, default=Path("/tmp/anomaly-bench-bundles"))
    ap.add_argument("--epochs", type=int, default=None, help="default: fit's")
    ap.add_argument("--fit-option", action="append", type=parse_fit_option, metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    if not (args.data / "test").is_dir():
        print(f"no SMD data under {args.data} (expected test/, train/, test_label/)", file=sys.stderr)
        return 2
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.monotonic()
    doc = evaluate(
        args.data,
        args.machines.split(","),
        args.models.split(","),
        bundles_dir=args.bundles_dir,
        epochs=args.epochs,
        fit_overrides=dict(args.fit_option or []),
    )
    ok, line = verdict(doc, DEFAULT_ARCH)
    infos = [r["info"] for res in doc["results"].values() for r in res["machines"].values()]
    doc["bench"] = {
        "seconds": round(time.monotonic() - t0, 1),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "default_arch": DEFAULT_ARCH,
        "target": line,
        "target_met": ok,
        "bundles_reused": sum(bool(i.get("reused")) for i in infos),
        "train_seconds_total": round(sum(i.get("train_seconds") or 0 for i in infos), 1),
    }
    write_json(doc, args.out)
    print(format_tables(doc))
    print(line)
    if DEFAULT_ARCH in doc["results"]:
        print(alert_line(doc["results"][DEFAULT_ARCH]["mean"].get("alerts") or {}, DEFAULT_ARCH))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
