"""Synthetic hosts in real units: SMD-38 rows as the live agent would collect them.

Unlike :mod:`training.synth` (rows min-max scaled to [0, 1]) every feature here
is in its catalog unit (:data:`agent.collect.features.CATALOG`): ratios 0-1,
load averages in runnable tasks, bytes, bytes/s, per-second rates, seconds and
counts, so a benchmark can run the rows through the agent, whose z-scores use
noise floors in those units (:func:`agent.collect.features.noise_floor`).

One row a minute.  A seeded host profile (cpus, memory, traffic level) sets
the normal behaviour of :mod:`training.synth_host` (a daily rhythm, AR(1) and
log-normal noise above the agent's floors at each feature's level).  Labelled
incidents of seven kinds start after ``quiet_days``.  With ``seasonal=True``
scheduled jobs run as normal behaviour (a nightly backup, a Monday batch),
plus one labelled off-schedule backup.  Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.collect.features import CATALOG, SMD38_NAMES
from training.synth_host import STEP, ar, noise_scale, normal

DAY = 1440  # rows a day
GAP = 120  # rows (2 h) at least between two labelled incidents
KINDS = ("cpu_burn", "memory_leak", "disk_flood", "network_spike", "connection_storm", "swap_storm", "retrans_burst")
FEATURES: dict[str, tuple[str, ...]] = {
    "cpu_burn": ("cpu_r", "load_1", "load_5", "load_15"),
    "memory_leak": ("mem_u", "mem_u_e"),
    "disk_flood": ("disk_w", "disk_wb", "disk_u", "disk_wa", "disk_q"),
    "network_spike": ("eth1_fi", "eth1_fo", "eth1_pi", "eth1_po", "in_segs", "out_segs"),
    "connection_storm": ("tcp_tw", "active_opens", "curr_estab", "tcp_use"),
    "swap_storm": ("si", "so", "mem_u", "mem_u_e"),
    "retrans_burst": ("retransegs", "tcp_timeouts", "out_rsts"),
}
# Scheduled jobs: feature -> (low, high) of the per-host rise in sigmas of the feature's noise.
BACKUP = {
    "disk_wb": (10.0, 17.0),
    "disk_w": (8.0, 15.0),
    "disk_u": (6.0, 12.0),
    "disk_q": (6.0, 12.0),
    "disk_wa": (6.0, 10.0),
    "cpu_r": (6.0, 12.0),
    "load_1": (6.0, 9.0),
}
BATCH = {
    "cpu_r": (8.0, 14.0),
    "load_1": (6.0, 9.0),
    "mem_u": (6.0, 10.0),
    "mem_u_e": (6.0, 10.0),
    "eth1_fi": (6.0, 12.0),
    "eth1_pi": (6.0, 12.0),
    "in_segs": (6.0, 12.0),
}


@dataclass(frozen=True)
class Event:
    """Rows [start, end) of an incident (labelled) or a scheduled job (normal, unlabelled)."""

    kind: str
    start: int
    end: int
    features: tuple[str, ...]
    labelled: bool


@dataclass(frozen=True)
class UnitsHost:
    name: str
    rows: np.ndarray  # (T, 38) float64, SMD38_NAMES order, catalog units
    labels: np.ndarray  # (T,) int8, 1 on labelled events' rows
    timestamps: np.ndarray  # (T,) float64 unix seconds, every 60 s
    cpus: int
    events: tuple[Event, ...]


def _envelope(n: int, rise: int = 2) -> np.ndarray:
    """1 over n rows with ``rise``-row ramps in and out (a trapezoid)."""
    i = np.arange(n)
    return np.minimum(1.0, np.minimum(i + 1, n - i) / max(1, min(rise, n // 2)))


def _job(c: dict[str, np.ndarray], a: int, b: int, rise: dict[str, float], sigma: dict[str, float]) -> None:
    env = _envelope(b - a)
    for name, k in rise.items():
        c[name][a:b] += k * sigma[name] * env


def _incident(kind: str, c: dict[str, np.ndarray], a: int, b: int, s: float, cpus: int, ref: dict[str, float]) -> None:
    """Inject one incident of ``kind`` on rows [a, b); ``s`` in [0, 1] is its strength (subtle to strong)."""
    n = b - a
    env = _envelope(n)

    def k(lo: float, hi: float) -> float:
        return lo + (hi - lo) * s

    def towards(name: str, target: float) -> None:
        x = c[name][a:b]
        c[name][a:b] = x + np.maximum(target - x, 0.0) * env

    def boost(name: str, factor: float) -> None:  # x factor, measured from at least the feature's usual level
        x = c[name][a:b]
        c[name][a:b] = x + (factor - 1.0) * np.maximum(x, ref[name]) * env

    if kind == "cpu_burn":
        towards("cpu_r", k(0.85, 1.0))
        c["load_1"][a:b] += k(0.8, 1.3) * cpus * env
    elif kind == "memory_leak":
        ramp = np.arange(1, n + 1) / n
        d = k(0.1, 0.3) * ramp
        c["mem_u"][a:b] += d
        c["mem_u_e"][a:b] += d
    elif kind == "disk_flood":
        for name in ("disk_w", "disk_wb"):
            boost(name, k(5, 20))
        towards("disk_u", k(0.8, 0.98))
        boost("disk_wa", k(3, 10))
        boost("disk_q", k(3, 10))
    elif kind == "swap_storm":
        for name in ("si", "so"):
            c[name][a:b] += k(100, 800) * env * np.exp(0.2 * np.sin(np.arange(n) + len(name)))
        c["mem_u"][a:b] += k(0.05, 0.15) * env
        c["mem_u_e"][a:b] += k(0.05, 0.15) * env
    elif kind == "retrans_burst":
        boost("retransegs", k(10, 50))
        boost("tcp_timeouts", k(10, 50))
        boost("out_rsts", k(5, 20))
    else:  # network_spike, connection_storm: the group together
        factor = k(3, 10)
        for name in FEATURES[kind]:
            boost(name, factor)


def _row(ts0: float, t: float) -> int:
    return int(np.ceil((t - ts0) / STEP - 1e-9))


def _runs(ts0: float, n: int, hour: int, minutes: int, weekday: int | None = None) -> list[tuple[int, int]]:
    """Rows [a, b) of a job starting at ``hour``:00 UTC each day (or each ``weekday``, 0 = Monday)."""
    out = []
    for day in range(int(ts0 // 86400), int((ts0 + n * STEP) // 86400) + 1):
        if weekday is None or (day + 3) % 7 == weekday:
            a = _row(ts0, day * 86400.0 + hour * 3600.0)
            if a >= 0 and a + minutes <= n:
                out.append((a, a + minutes))
    return out


def _place(rng: np.random.Generator, lo: int, n: int, busy: np.ndarray) -> list[tuple[int, int]]:
    """Incident rows [a, b) from row ``lo`` on: half short (3-8), half long (10-120), >= GAP apart, not on busy."""
    out: list[tuple[int, int]] = []
    t = lo + int(rng.integers(30, 240))
    while True:
        length = int(rng.integers(3, 9)) if rng.random() < 0.5 else int(rng.integers(10, 121))
        if t + length > n:
            return out
        hit = busy[t : t + length]
        if hit.any():  # skip past the busy stretch and draw again
            j = t + int(np.argmax(hit))
            free = np.flatnonzero(~busy[j:])
            if len(free) == 0:
                return out
            t = j + int(free[0])
            continue
        out.append((t, t + length))
        t += length + GAP + int(rng.integers(0, 600))


def generate(
    seed: int, days: int = 21, seasonal: bool = False, quiet_days: int = 8, start: float = 1_790_000_000.0
) -> UnitsHost:
    """``days`` of one-minute rows for the host drawn from ``seed``; incidents only after ``quiet_days``."""
    rng = np.random.default_rng(seed)
    n = int(days * DAY)
    ts = start + STEP * np.arange(n, dtype=np.float64)
    cpus = int(rng.choice((2, 4, 8, 16)))
    c = normal(ts, cpus, rng)
    sigma = {name: noise_scale(x, name, cpus) for name, x in c.items()}
    ref = {name: max(float(np.median(x)), sigma[name]) for name, x in c.items()}
    events: list[Event] = []
    busy = np.zeros(n, bool)
    if seasonal:
        backup = {f: float(rng.uniform(*r)) for f, r in BACKUP.items()}
        batch = {f: float(rng.uniform(*r)) for f, r in BATCH.items()}
        for kind, rise, runs in (
            ("nightly_backup", backup, _runs(start, n, 2, 20)),
            ("monday_batch", batch, _runs(start, n, 9, 40, weekday=0)),
        ):
            for a, b in runs:
                _job(c, a, b, {f: v * rng.uniform(0.9, 1.1) for f, v in rise.items()}, sigma)
                events.append(Event(kind, a, b, (*rise, "load_5", "load_15"), False))
                busy[max(0, a - 30) : b + 30] = True
        wed = [(a, b) for a, b in _runs(start, n, 14, 20, weekday=2) if a >= quiet_days * DAY]
        if wed:
            a, b = wed[0]
            _job(c, a, b, backup, sigma)
            events.append(Event("offschedule_backup", a, b, (*backup, "load_5", "load_15"), True))
            busy[max(0, a - GAP) : b + GAP] = True
    kinds: list[str] = []
    for a, b in _place(rng, quiet_days * DAY, n, busy):
        if not kinds:
            kinds = [str(x) for x in rng.permutation(KINDS)]
        kind = kinds.pop()
        _incident(kind, c, a, b, float(rng.random()), cpus, ref)
        events.append(Event(kind, a, b, FEATURES[kind], True))
    load = np.clip(c["load_1"], 0.0, None)
    c["load_1"] = load
    alpha = 1.0 - np.exp(-1.0 / np.array([5.0, 15.0]))
    innov = alpha * load[:, None]
    innov[0] = load[0]
    c["load_5"], c["load_15"] = ar(innov, 1.0 - alpha).T
    rows = np.column_stack([c[name] for name in SMD38_NAMES]).astype(np.float64)
    rows = np.clip(rows, 0.0, None)
    ratios = [j for j, name in enumerate(SMD38_NAMES) if CATALOG[name].unit == "ratio"]
    rows[:, ratios] = np.clip(rows[:, ratios], 0.0, 1.0)
    labels = np.zeros(n, np.int8)
    for e in events:
        if e.labelled:
            labels[e.start : e.end] = 1
    name = f"{'seasonal' if seasonal else 'units'}-{seed}"
    return UnitsHost(name, rows, labels, ts, cpus, tuple(sorted(events, key=lambda e: (e.start, e.kind))))
