"""Leave-one-machine-out benchmark: does the default hold on hosts nobody tuned for (issue 13)?

Run from the repository root::

    python -m bench.lomo [--data DIR] [--seeds 1,2,3] [--epochs 15] [--stride 2] [--quick]

Hosts: each shared SMD machine (skipped when ``--data`` is absent) and
synthetic hosts from :func:`training.synth.generate` (one per seed; the
anomaly kinds take turns in a seed-dependent order).

(a) **Per host**: the default ``fit`` (z-score bundle) trained on the host's
train split against PCA fitted on the same rows, both scored on the same test
rows (:func:`training.machine_scores.model_scores`, the ``evaluate`` path):
point-wise best F1, AUC-PR, HitRate@150 per host, mean, spread and the
smallest margin over PCA.

(b) **Live path** (:mod:`bench.lomo_live`): a fleet model (``fit --machine
A,B``) trained on the *other* SMD machines (synthetic hosts: on all of them;
without SMD data, on the other synthetic hosts), the host's own per-host
bundle of (a), the shipped default (``models/default``: not held out on the
machines it was trained on) and any ``--compare`` bundle each run through
:func:`agent.runtime.backtest.backtest` on the host's train + test rows as a new host
sees them (``warm-up`` rows calibrate, the rest is scored); alert figures
under the shipped rule.

(c) **Per-host vs fleet, like for like** (:mod:`bench.lomo_tables`): those
live scores on the TEST split only (the per-host bundle saw the train split):
false alerts/day, incidents alerted, median delay, point-wise AUC-PR and best
F1, per host with mean and worst host; beside them the cost (training
seconds, bundles per round, bundle bytes, agent calibration seconds).

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
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.history.smd import Machine, load_machine
from agent.model.bundle import BUNDLE_FILE
from bench.lomo_live import INTERVAL, cost, git_state, live
from bench.lomo_tables import (
    FIGURES,
    format_comparison,
    format_cost,
    format_live,
    format_per_host,
    per_host_summary,
    targets,
)
from bench.lomo_tables import comparison as compare_models
from training import metrics as M
from training import synth
from training.baselines import make_baseline
from training.bundle_detector import BundleDetector
from training.data import default_names
from training.machine_scores import machine_metrics, model_scores
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


def host_bundle(h: Host, opt: FitOptions, cache: Path) -> Path:
    """Where the per-host bundle of ``h`` is cached (trained by :func:`per_host` when missing)."""
    return cache_dir(cache, f"host-{h.name}", [h.key], opt)


# -- (a) per host: default fit vs PCA -------------------------------------------------------------
def per_host(h: Host, opt: FitOptions, cache: Path) -> dict[str, Any]:
    m = h.machine
    assert m.train is not None and m.test is not None and m.labels is not None
    names = default_names(m.train.shape[1])
    path = host_bundle(h, opt, cache)
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
    bundles: dict[str, dict[str, Path]] = {"per-host": {}, "fleet": {}}  # model -> host -> bundle
    for h in hosts:
        pool = smd if smd else syn
        fleet = [o for o in pool if o.name != h.name]
        path, secs = fleet_bundle(fleet, opt, args.cache)
        fleets[h.name] = {"machines": [o.name for o in fleet], "bundle": str(path), "train_seconds": secs}
        bundles["per-host"][h.name], bundles["fleet"][h.name] = host_bundle(h, opt, args.cache), path
        for label, other in compare.items():
            bundles.setdefault(label, {})[h.name] = other
        # every model through the same backtest, same rows, same warm-up: the like-for-like comparison
        lv[h.name] = {label: live(h.machine, b[h.name], warmup) for label, b in bundles.items()}
    groups = {"all": [h.name for h in hosts], "smd": [h.name for h in smd], "synth": [h.name for h in syn]}
    comp = {g: compare_models(lv, names) for g, names in groups.items() if names and (g == "all" or smd and syn)}
    costs = cost(bundles, lv)
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
        "comparison": comp,  # test split only, per host x model, mean and worst host
        "cost": costs,
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
    for g in comp:
        print(format_comparison(f"== per-host vs fleet vs shipped, {g} hosts, TEST split only", comp[g]))
        print()
    print(format_cost(costs))
    print()
    print("\n".join(checks))
    print(f"wall time {seconds:.0f} s; written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
