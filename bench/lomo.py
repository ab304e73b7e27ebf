"""Leave-one-machine-out benchmark: does the default hold on hosts nobody tuned for (issue 13)?

Run from the repository root::

    python -m bench.lomo [--data DIR] [--seeds 1,2,3] [--epochs 15] [--stride 2] [--quick]

Hosts: each shared SMD machine (skipped when ``--data`` is absent) and
synthetic hosts from :func:`training.synth.generate` (one per seed; the
anomaly kinds take turns in a seed-dependent order).

(a) **Per host**: the default ``fit`` (z-score bundle) trained on the host's
train split against PCA fitted on the same rows, both scored on the same test
rows (:func:`training.evaluate.model_scores`, the ``evaluate`` path):
point-wise best F1, AUC-PR, HitRate@150 per host, mean, spread and the
smallest margin over PCA.

(b) **Live path**: a fleet model (``fit --machine A,B``) trained on the *other*
SMD machines (synthetic hosts: on all of them) runs through
:func:`agent.backtest.backtest` on the held-out host's train + test rows as a
new host would see them: the first ``warm-up`` rows calibrate, everything
after is scored; labels are 0 on the train part and ``test_label`` after.
Alert figures under the shipped rule (:func:`agent.alerts.alert_figures`).
The shipped default bundle (``models/default``; when it was trained on the
held-out machine it is not a held-out figure) and any ``--compare`` bundle
run the same way.  Without SMD data the fleet of a synthetic host is the other
synthetic hosts.

Bundles are cached under ``--cache`` keyed by the data and the options, so a
rerun only scores.  Writes ``bench/results/lomo.json``; protocol in
``docs/evaluation.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.alerts import alert_figures
from agent.backtest import backtest, input_timestamps
from agent.bundle import BUNDLE_FILE
from agent.config import load_config
from agent.model import load_model
from agent.smd import Machine, load_machine
from training import metrics as M
from training import synth
from training.baselines import make_baseline
from training.bundle_detector import BundleDetector
from training.data import default_names
from training.evaluate import machine_metrics, model_scores
from training.models import DEFAULT_ARCH
from training.options import FitOptions
from training.tables import write_json

log = logging.getLogger(__name__)

MACHINES = ("machine-1-6", "machine-2-1", "machine-3-3")
DATA = Path("/work/shared/data/smd")
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "lomo.json"
SHIPPED = ROOT / "models" / "default"
CACHE = Path(tempfile.gettempdir()) / "anomaly-lomo-cache"
INTERVAL = 60.0  # SMD and synth: one row a minute
END = 1_800_000_000.0  # simulated time of the last row (fixed: reruns are identical)
FIGURES = (("bestF1", "best_f1.f1"), ("AUC-PR", "auc_pr"), ("HR@150", "hitrate@150"))


@dataclass(frozen=True)
class Host:
    name: str
    kind: str  # "smd" or "synth"
    machine: Machine  # train, test, labels, interpretation
    key: str  # identifies the data (cache key part)


def smd_hosts(data: Path, names: Sequence[str]) -> list[Host]:
    hosts = []
    for name in names:
        m = load_machine(data, name)
        if m.train is None or m.test is None or m.labels is None:
            raise FileNotFoundError(f"{name}: needs train/, test/ and test_label/ under {data}")
        hosts.append(Host(name, "smd", m, f"smd:{data.resolve()}:{name}:{len(m.train)}:{len(m.test)}"))
    return hosts


def synth_hosts(seeds: Sequence[int], train_rows: int, test_rows: int, n_anomalies: int) -> list[Host]:
    hosts = []
    for seed in seeds:
        d = synth.generate(train_rows=train_rows, test_rows=test_rows, n_anomalies=n_anomalies, seed=seed)
        m = Machine(f"synth-{seed}", d.train, d.test, d.labels.astype(np.int64), list(d.interpretation))
        hosts.append(Host(m.name, "synth", m, f"synth:{seed}:{train_rows}:{test_rows}:{n_anomalies}"))
    return hosts


def cache_dir(cache: Path, label: str, keys: Sequence[str], opt: FitOptions) -> Path:
    """``cache/<label>-<hash of the data keys and every option>``: a changed option trains a new bundle."""
    doc = json.dumps({"arch": DEFAULT_ARCH, "data": list(keys), "options": dataclasses.asdict(opt)}, sort_keys=True)
    return cache / f"{label}-{hashlib.sha256(doc.encode()).hexdigest()[:12]}"


# -- (a) per host: default fit vs PCA -------------------------------------------------------------
def per_host(h: Host, opt: FitOptions, cache: Path) -> dict[str, Any]:
    m = h.machine
    assert m.train is not None and m.test is not None and m.labels is not None
    names = default_names(m.train.shape[1])
    path = cache_dir(cache, f"host-{h.name}", [h.key], opt)
    det = BundleDetector(DEFAULT_ARCH, path, opt, names, {"machine": h.name, "command": "python -m bench.lomo"})
    t0 = time.monotonic()
    scores = {"default": model_scores(det, m), "pca": model_scores(make_baseline("pca"), m)}
    mask = np.logical_and.reduce([np.isfinite(s.score) for s in scores.values()])
    dims = M.interpretation_dims(m.interpretation or [], len(m.test))
    out: dict[str, Any] = {name: machine_metrics(s, m.labels, dims, mask, 2, INTERVAL) for name, s in scores.items()}
    for r in out.values():
        r.pop("vus_pr", None)  # VUS-PR with a 2-row buffer means little; the scoreboard has the real one
    out["rows"] = int(mask.sum())
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


def _get(d: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None  # type: ignore[assignment]
    return d


def per_host_summary(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean, std, min and max of each figure and of its margin over PCA, over the hosts of ``rows``."""
    out: dict[str, Any] = {}
    for label, key in FIGURES:
        d = np.array([_get(r["default"], key) for r in rows.values()], np.float64)
        p = np.array([_get(r["pca"], key) for r in rows.values()], np.float64)
        out[label] = {
            "default": _stats(d),
            "pca": _stats(p),
            "margin": _stats(d - p),
            "worst_host": list(rows)[int(np.nanargmin(d - p))] if len(d) else None,
        }
    return out


def _stats(a: np.ndarray) -> dict[str, float | None]:
    a = a[np.isfinite(a)]
    if not len(a):
        return {"mean": None, "std": None, "min": None, "max": None}
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max())}


# -- (b) the live path: a fleet model on a held-out host through the backtest -------------------------
def fleet_bundle(fleet: Sequence[Host], opt: FitOptions, cache: Path) -> tuple[Path, float | None]:
    """The fleet model of ``fleet`` (trained once, then cached); returns (path, training seconds or None)."""
    from training.fit import fit_bundle  # TensorFlow: only when a bundle is missing

    path = cache_dir(cache, "fleet-" + "+".join(h.name for h in fleet), [h.key for h in fleet], opt)
    if (path / BUNDLE_FILE).is_file():
        return path, None
    trains = [h.machine.train for h in fleet if h.machine.train is not None]
    assert len(trains) == len(fleet), "every fleet machine needs its train split"
    t0 = time.monotonic()
    log.info("training the fleet model of %s into %s", ", ".join(h.name for h in fleet), path)
    fit_bundle(
        trains,
        arch=DEFAULT_ARCH,
        out=path,
        options=opt,
        feature_names=default_names(trains[0].shape[1]),
        provenance={
            "machine": f"fleet{len(fleet)}",
            "fleet_machines": [h.name for h in fleet],
            "command": "python -m bench.lomo",
        },
    )
    return path, round(time.monotonic() - t0, 1)


def live(h: Host, bundle: Path, warmup: int) -> dict[str, Any]:
    """Backtest ``bundle`` on the host's train + test rows as a new host: warm-up, then everything scored."""
    m = h.machine
    assert m.train is not None and m.test is not None and m.labels is not None
    cfg = load_config(None, check_files=False)
    cfg = replace(
        cfg,
        model=replace(cfg.model, bundle=str(bundle)),
        calibration=replace(cfg.calibration, noise_floors="range", warmup_samples=warmup),
    )
    model = load_model(bundle, cfg.model.num_threads)
    rows = np.concatenate([m.train, m.test])
    labels = np.concatenate([np.zeros(len(m.train), np.int64), m.labels])
    with tempfile.TemporaryDirectory(prefix="lomo-backtest-") as state:
        r = backtest(
            cfg,
            model,
            rows,
            input_timestamps(len(rows), INTERVAL, END),
            Path(state),
            record_history=cfg.seasonal.enabled,
        )
    per_day = 86400.0 / INTERVAL
    n = len(m.train)
    return {
        "bundle": model.bundle.model_id,
        "rows": len(rows),
        "scored": r.scored,
        "warmup": warmup,
        "seconds": round(r.seconds, 1),
        "all": alert_figures(r.score, labels, per_day).to_dict(),  # every row after the warm-up
        "train_part": alert_figures(r.score[:n], labels[:n], per_day).to_dict(),  # normal weeks
        "test_part": alert_figures(r.score[n:], labels[n:], per_day).to_dict(),
    }  # the labelled period


# -- tables ------------------------------------------------------------------------------------------
def _c(v: Any, fmt: str = "{:.3f}") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else fmt.format(v)


def format_per_host(rows: dict[str, dict[str, Any]], summary: dict[str, Any]) -> str:
    head = ["host"] + [f"{lab} {w}" for lab, _ in FIGURES for w in ("def", "PCA", "marg")]
    lines = [
        "== (a) per host: default fit vs PCA, same test rows",
        "".join([head[0].ljust(14)] + [h.rjust(12) for h in head[1:]]),
    ]
    for name, r in rows.items():
        cells = []
        for _, key in FIGURES:
            d, p = _get(r["default"], key), _get(r["pca"], key)
            cells += [_c(d), _c(p), _c(None if d is None or p is None else d - p, "{:+.3f}")]
        lines.append(name.ljust(14) + "".join(c.rjust(12) for c in cells))
    for stat in ("mean", "std", "min", "max"):
        cells = []
        for lab, _ in FIGURES:
            s = summary[lab]
            cells += [_c(s["default"][stat]), _c(s["pca"][stat]), _c(s["margin"][stat], "{:+.3f}")]
        lines.append(stat.ljust(14) + "".join(c.rjust(12) for c in cells))
    return "\n".join(lines)


def format_live(rows: dict[str, dict[str, Any]]) -> str:
    head = ("host", "bundle", "FA/day", "FA/d train", "FA/d test", "inc", "alerted", ">=5 al.", "delay", "s")
    widths = (14, 22, 8, 11, 10, 5, 9, 9, 7, 7)
    lines = [
        "== (b) live path: backtest after a warm-up, alerts = 5 scores > 1 in a row",
        "".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))),
    ]
    for name, runs in rows.items():
        for label, r in runs.items():
            a = r["all"]
            cells = (
                name,
                label,
                _c(a["false_alerts_per_day"], "{:.2f}"),
                _c(r["train_part"]["false_alerts_per_day"], "{:.2f}"),
                _c(r["test_part"]["false_alerts_per_day"], "{:.2f}"),
                str(a["incidents"]),
                _c(a["incident_recall"], "{:.0%}"),
                _c(a["long_incident_recall"], "{:.0%}"),
                _c(a["median_delay_samples"], "{:g}"),
                _c(r["seconds"], "{:.0f}"),
            )
            lines.append("".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    return "\n".join(lines)


def targets(per: dict[str, dict[str, Any]], lv: dict[str, dict[str, Any]], smd: Sequence[str]) -> list[str]:
    """Issue 13's targets, each as one PASS/FAIL line."""
    out = []
    for name in smd:
        r = per[name]
        f, ap, hr = ([_get(r[m], k) for m in ("default", "pca")] for _, k in FIGURES)
        ok = f[0] >= f[1] + 0.05 and ap[0] >= ap[1] + 0.05 and (hr[0] or 0) >= (hr[1] or 0)
        out.append(
            f"{'PASS' if ok else 'FAIL'} {name}: best F1 {f[0]:.3f} vs PCA {f[1]:.3f}, AUC-PR {ap[0]:.3f} "
            f"vs {ap[1]:.3f} (need +0.05), HR@150 {_c(hr[0])} vs {_c(hr[1])}"
        )
    for name, runs in lv.items():
        a = runs["fleet"]["all"]
        ok = a["false_alerts_per_day"] <= 0.2 and (a["incident_recall"] or 0) >= 0.7
        out.append(
            f"{'PASS' if ok else 'FAIL'} {name} live: {a['false_alerts_per_day']:.2f} false alerts/day "
            f"(<= 0.2), {_c(a['incident_recall'], '{:.0%}')} incidents alerted (>= 70 %)"
        )
    return out


def git_state() -> dict[str, Any]:
    """HEAD and the modified tracked files under agent/ and training/ (empty when not a git checkout)."""

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "agent", "training").splitlines()
    return {"git_head": git("rev-parse", "HEAD").strip() or None, "modified": [line[3:] for line in dirty]}


# -- the run -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="SMD root (skipped when absent)")
    ap.add_argument("--machines", default=",".join(MACHINES))
    ap.add_argument("--seeds", default="1,2,3", help="synthetic hosts, one per seed")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1440, help="calibration warm-up rows of the live path")
    ap.add_argument("--cache", type=Path, default=CACHE, help="trained bundles, keyed by data and options")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--no-shipped", action="store_true", help="skip the shipped default bundle's backtest")
    ap.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="also backtest this bundle on every host (repeatable), e.g. before=/tmp/old-bundle",
    )
    ap.add_argument(
        "--quick", action="store_true", help="smoke run: two tiny synthetic hosts, no SMD, 1 epoch, short warm-up"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.monotonic()
    code_state = git_state()  # the agent's adaptation decides the live figures: record which code ran
    if args.quick:
        opt = FitOptions(epochs=1, stride=4, verbose=0, patience=1)
        smd: list[Host] = []
        syn = synth_hosts([int(s) for s in args.seeds.split(",") if s][:2], 900, 900, 3)  # 4 one-epoch fits
        warmup, compare = 120, {}
    else:
        opt = FitOptions(epochs=args.epochs, stride=args.stride, verbose=0)
        present = (args.data / "test").is_dir()
        if not present:
            print(f"no SMD data under {args.data}: synthetic hosts only", file=sys.stderr)
        smd = smd_hosts(args.data, [s for s in args.machines.split(",") if s]) if present else []
        syn = synth_hosts([int(s) for s in args.seeds.split(",") if s], 7 * 1440, 7 * 1440, 10)
        warmup = args.warmup
        compare = {} if args.no_shipped or not (SHIPPED / BUNDLE_FILE).is_file() else {"shipped": SHIPPED}
        compare.update({k: Path(v) for k, _, v in (c.partition("=") for c in args.compare)})
    hosts = [*smd, *syn]
    per = {h.name: per_host(h, opt, args.cache) for h in hosts}
    lv: dict[str, dict[str, Any]] = {}
    fleets: dict[str, Any] = {}
    for h in hosts:
        pool = smd if smd else syn
        fleet = [o for o in pool if o.name != h.name]
        path, secs = fleet_bundle(fleet, opt, args.cache)
        fleets[h.name] = {"machines": [o.name for o in fleet], "bundle": str(path), "train_seconds": secs}
        lv[h.name] = {"fleet": live(h, path, warmup)}
        for label, other in compare.items():
            lv[h.name][label] = live(h, other, warmup)
    summary: dict[str, Any] = {
        "all": per_host_summary(per),
        "smd": per_host_summary({h.name: per[h.name] for h in smd}) if smd else None,
        "synth": per_host_summary({h.name: per[h.name] for h in syn}),
    }
    checks = targets(per, lv, [h.name for h in smd])
    seconds = round(time.monotonic() - t0, 1)
    doc = {
        "kind": "bench.lomo",
        "settings": {
            "options": dataclasses.asdict(opt),
            "warmup": warmup,
            "quick": args.quick,
            "interval_seconds": INTERVAL,
            "noise_floors": "range",
            "data": str(args.data),
            "compare": {k: str(v) for k, v in compare.items()},
            "smd": [h.name for h in smd],
            "synth": [h.name for h in syn],
        },
        "per_host": per,
        "per_host_summary": summary,
        "fleets": fleets,
        "live": lv,
        "targets": checks,
        "bench": {
            "seconds": seconds,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg": os.getloadavg(),
            **code_state,
        },
    }
    write_json(doc, args.out)
    print(format_per_host(per, summary["all"]))
    for part in ("smd", "synth"):
        if summary[part]:
            s = summary[part]
            print(
                f"{part}: min margin over PCA "
                + ", ".join(f"{lab} {s[lab]['margin']['min']:+.3f} ({s[lab]['worst_host']})" for lab, _ in FIGURES)
            )
    print()
    print(format_live(lv))
    print()
    print("\n".join(checks))
    print(f"wall time {seconds:.0f} s; written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
