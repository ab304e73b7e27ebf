"""The held-out hosts and the candidates of :mod:`bench.frontier`, and which bundle each pair runs.

A candidate is a set of agent settings (``scoring.fast_samples``,
``calibration.refit_scaler``) on a bundle family: ``z`` (the shipped recipe: a
z-score dense model; the SMD machines use the fleet model of the other two)
or ``minmax`` (the first round's recipe: min-max scaling with a host-calibrated
per-feature POT threshold; on every host the first-round bundle from git history,
trained on machine-1-6 alone, since ``fit`` makes no min-max model of several
machines).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.config import Config
from agent.model.bundle import BUNDLE_FILE
from bench.lomo import fleet_bundle, smd_hosts
from training.options import FitOptions
from training.synth_units import generate

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "default"
FIRST_ROUND = "d8b3f0a^"  # the last commit whose models/default was the first round's min-max bundle
MACHINES = ("machine-1-6", "machine-2-1", "machine-3-3")


@dataclass(frozen=True)
class SimHost:
    name: str
    kind: str  # "smd", "units" or "seasonal"
    rows: np.ndarray  # (T, 38) raw rows as the agent samples them
    labels: np.ndarray  # (T,) 0/1
    timestamps: np.ndarray | None  # None: one row a minute ending at a fixed time
    cpus: int
    floors: str  # calibration.noise_floors: "range" (SMD rows in [0, 1]) or "units"
    judged: int  # first row of the labelled part (SMD: the test split)
    fleet: tuple[str, ...] = ()  # SMD: the machines its model was trained on

    def describe(self) -> dict[str, Any]:
        lab = self.labels.astype(bool)
        edges = np.diff(np.concatenate([[0], lab.astype(np.int8), [0]]))
        lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
        return {
            "kind": self.kind,
            "rows": len(self.rows),
            "cpus": self.cpus,
            "noise_floors": self.floors,
            "incidents": len(lengths),
            "incidents_ge_5": int((lengths >= 5).sum()),
            "model_trained_on": list(self.fleet) or "the shipped default's machines",
        }


@dataclass(frozen=True)
class Candidate:
    description: str
    family: str  # "z" or "minmax"
    settings: Callable[[Config], Config]

    def configure(self, cfg: Config) -> Config:
        """``cfg`` (the defaults) as this candidate runs it: its settings on the round-1 base, or the defaults
        themselves for "shipped"."""
        return cfg if self.settings is SHIPPED_SETTINGS else self.settings(base(cfg))


def base(cfg: Config) -> Config:
    """The default before issue 23 chose (whole-window mean alone, thresholds as calibrated): every other
    candidate is its settings on top of this, so a change of the shipped defaults does not move them."""
    sc = replace(cfg.scoring, fast_samples=0, metric_tier=False, threshold_multiplier=1.0, metric_level_floor=1.0)
    return replace(cfg, scoring=sc)


def SHIPPED_SETTINGS(c: Config) -> Config:  # a marker: the shipped defaults, untouched
    return c


def _scoring(**kw: Any) -> Callable[[Config], Config]:
    return lambda c: replace(c, scoring=replace(c.scoring, **kw))


def _both(fast: int) -> Callable[[Config], Config]:
    return lambda c: replace(
        c, scoring=replace(c.scoring, fast_samples=fast), calibration=replace(c.calibration, refit_scaler="warmup")
    )


CANDIDATES: dict[str, Candidate] = {
    "shipped": Candidate(
        "the shipped default (docs/detection.md): metric1-f4 at threshold_multiplier 1.06", "z", SHIPPED_SETTINGS
    ),
    "previous": Candidate(
        "the default before issue 23: whole-window mean, daily refit of scaler and threshold", "z", lambda c: c
    ),
    "fast3": Candidate(
        "+ fast tier: the last 3 samples' error against its own threshold, max of the two",
        "z",
        _scoring(fast_samples=3),
    ),
    "fast2": Candidate("+ fast tier over the last 2 samples", "z", _scoring(fast_samples=2)),
    "fast5": Candidate("+ fast tier over the last 5 samples", "z", _scoring(fast_samples=5)),
    "fast10": Candidate("+ fast tier over the last 10 samples", "z", _scoring(fast_samples=10)),
    "keep-scaler": Candidate(
        "daily refit of the threshold alone, the warm-up scaler kept",
        "z",
        lambda c: replace(c, calibration=replace(c.calibration, refit_scaler="warmup")),
    ),
    "fast3+keep-scaler": Candidate("fast tier over 3 samples and the warm-up scaler kept", "z", _both(3)),
    "metric5": Candidate(
        "+ fast tier over 5 samples and the per-metric tier: each metric against its own host level",
        "z",
        _scoring(fast_samples=5, metric_tier=True),
    ),
    "metric3": Candidate(
        "+ fast tier over 3 samples and the per-metric tier", "z", _scoring(fast_samples=3, metric_tier=True)
    ),
    "metric1": Candidate(
        "+ fast tier over the last sample and the per-metric tier (a per-sample bit per metric, as Netdata)",
        "z",
        _scoring(fast_samples=1, metric_tier=True),
    ),
    "metric1-f4": Candidate(
        "metric1 with the per-metric level floored at 4 (2 sigma)",
        "z",
        _scoring(fast_samples=1, metric_tier=True, metric_level_floor=4.0),
    ),
    "metric1-f9": Candidate(
        "metric1 with the per-metric level floored at 9 (3 sigma)",
        "z",
        _scoring(fast_samples=1, metric_tier=True, metric_level_floor=9.0),
    ),
    "residual": Candidate(
        "thresholds on seasonal residuals: each new profile re-expresses the recent rows and refits at once",
        "z",
        lambda c: replace(c, seasonal=replace(c.seasonal, residual_thresholds=True)),
    ),
    "metric5+residual": Candidate(
        "per-metric tier over 5 samples and thresholds on seasonal residuals",
        "z",
        lambda c: replace(
            c,
            scoring=replace(c.scoring, fast_samples=5, metric_tier=True),
            seasonal=replace(c.seasonal, residual_thresholds=True),
        ),
    ),
    "first-round-minmax": Candidate(
        "baseline: min-max recipe of the first round, per-feature POT threshold calibrated on the host",
        "minmax",
        lambda c: c,
    ),
}


def smd_sim_hosts(data: Path, names: Sequence[str] = MACHINES) -> list[SimHost]:
    out = []
    for h in smd_hosts(data, names):
        m = h.machine
        assert m.train is not None and m.test is not None and m.labels is not None
        rows = np.concatenate([m.train, m.test])
        labels = np.concatenate([np.zeros(len(m.train), np.int64), m.labels])
        fleet = tuple(n for n in names if n != h.name)
        out.append(SimHost(h.name, "smd", rows, labels, None, 2, "range", len(m.train), fleet))
    return out


def units_sim_hosts(seeds: Sequence[int], seasonal_seeds: Sequence[int], days: int = 21) -> list[SimHost]:
    out = []
    for seeds_, seasonal in ((seeds, False), (seasonal_seeds, True)):
        for s in seeds_:
            u = generate(s, days=days, seasonal=seasonal)
            kind = "seasonal" if seasonal else "units"
            out.append(SimHost(u.name, kind, u.rows, u.labels, u.timestamps, u.cpus, "units", 0))
    return out


_FLEETS: dict[str, Path] = {}


def bundles_for(candidate: str, host: SimHost, cache: Path, data: Path, quick: bool = False) -> Path:
    """The bundle ``candidate`` runs on ``host`` (SMD fleet models trained once and cached)."""
    if CANDIDATES[candidate].family == "minmax":  # fit makes no min-max model of several machines
        return first_round(cache)
    if host.kind != "smd":
        return SHIPPED
    if host.name not in _FLEETS:
        opt = FitOptions(epochs=1 if quick else 15, stride=2, verbose=0)
        _FLEETS[host.name] = fleet_bundle(smd_hosts(data, host.fleet), opt, cache)[0]
    return _FLEETS[host.name]


def first_round(cache: Path) -> Path:
    """The first round's min-max default bundle, read out of git history once."""
    out = cache / "first-round"
    if (out / BUNDLE_FILE).is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    for name in (BUNDLE_FILE, "model.tflite"):
        blob = subprocess.run(
            ["git", "show", f"{FIRST_ROUND}:models/default/{name}"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        (out / name).write_bytes(blob)
    return out
