"""A normal host in real units: the SMD-38 features as the live agent would collect them, without events.

Every feature is in its catalog unit (:data:`agent.collect.features.CATALOG`):
ratios 0-1, load averages in runnable tasks (cores), bytes, bytes/s,
per-second rates, seconds and counts.  Unit-variance AR(1) noise sources and
decaying disk bursts drive the features; a daily rhythm on the UTC wall clock
(business-hours peak, weaker at weekends) drives CPU, load, disk, network and
TCP, so the busy features move above the agent's noise floors at their level.
:mod:`training.synth_units` puts incidents and scheduled jobs on top.  Pure numpy.
"""

from __future__ import annotations

import numpy as np

from agent.collect.features import noise_floor

KiB, MiB, GiB = 1024.0, 1024.0**2, 1024.0**3
STEP = 60.0  # seconds between rows
# AR(1) coefficient of each unit-variance noise source (rows are a minute apart).
PHI = {
    "act": 0.98, "cpu": 0.6, "load": 0.5, "wander": 0.9995, "mem": 0.9, "memgap": 0.99, "shm": 0.995,
    "disk_r": 0.5, "disk_rb": 0.3, "disk_w": 0.5, "disk_wb": 0.3, "disk_u": 0.5, "disk_svc": 0.3, "disk_wa": 0.4,
    "disk_q": 0.4, "net": 0.7, "eth1_fi": 0.3, "eth1_fo": 0.3, "eth1_pi": 0.2, "eth1_po": 0.2, "in_segs": 0.2,
    "out_segs": 0.2, "tcp_tw": 0.7, "curr_estab": 0.9, "tcp_use": 0.8, "active_opens": 0.4, "passive_opens": 0.4,
    "out_rsts": 0.3, "retransegs": 0.3, "tcp_timeouts": 0.3, "udp": 0.6, "udp_in_dg": 0.2, "udp_out_dg": 0.2,
}  # fmt: skip
BURSTS = {"read": (0.01, 0.6), "write": (0.03, 0.8)}  # (chance a row starts a burst, decay per row)


def ar(innov: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Column-wise x[t] = phi * x[t-1] + innov[t], x[0] = innov[0]."""
    out = np.empty_like(innov)
    out[0] = innov[0]
    for i in range(1, len(innov)):
        out[i] = phi * out[i - 1] + innov[i]
    return out


def _drivers(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Stationary unit-variance AR(1) noise per ``PHI`` source and decaying disk bursts per ``BURSTS``."""
    k = len(PHI)
    phi = np.array([*PHI.values(), *(d for _, d in BURSTS.values())])
    innov = rng.standard_normal((n, len(phi)))
    innov[1:, :k] *= np.sqrt(1.0 - phi[:k] ** 2)
    p = np.array([q for q, _ in BURSTS.values()])
    innov[:, k:] = (rng.random((n, len(BURSTS))) < p) * rng.exponential(1.0, (n, len(BURSTS)))
    out = ar(innov, phi)
    return {name: out[:, j] for j, name in enumerate([*PHI, *BURSTS])}


def rhythm(ts: np.ndarray) -> np.ndarray:
    """0 at night, 1 at 13:00 UTC on a weekday (0.35 at weekends)."""
    hour = (ts % 86400.0) / 3600.0
    weekday = (ts // 86400.0 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return np.exp(-0.5 * (((hour - 1.0) % 24.0 - 12.0) / 3.0) ** 2) * np.where(weekday < 5, 1.0, 0.35)


def normal(ts: np.ndarray, cpus: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The host's normal behaviour per feature, in catalog units (load_5/15 are derived later)."""
    n = len(ts)
    z = _drivers(n, rng)
    u = rng.uniform

    def ln(s: float, src: str) -> np.ndarray:  # mean-one log-normal noise of log-sd s
        return np.exp(s * z[src] - 0.5 * s * s)

    def errs(p: float) -> np.ndarray:  # an error counter: mostly 0, now and then a few in a minute
        return (rng.random(n) < p) * rng.integers(1, 6, n) / 60.0

    act = np.clip(rhythm(ts) + 0.06 * z["act"], 0.0, None)
    conn = 0.5 + act
    c: dict[str, np.ndarray] = {}
    c["cpu_r"] = u(0.05, 0.12) + u(0.15, 0.4) * act + 0.035 * z["cpu"]
    c["load_1"] = np.clip(c["cpu_r"], 0.0, 1.0) * cpus + (0.1 * cpus + 0.05) * z["load"]
    mem = u(0.35, 0.65) + 0.025 * z["wander"] + 0.02 * act
    c["mem_u"] = mem + 0.005 * z["mem"]
    c["mem_u_e"] = mem - u(0.1, 0.25) - 0.01 * z["memgap"]
    c["mem_shmem"] = u(100, 800) * MiB * (1.0 + 0.05 * z["shm"]) + 30 * MiB * act
    c["total_mem"] = np.full(n, float(rng.integers(8, 65)) * GiB)
    r_level, w_level = u(10, 60), u(20, 150)
    c["disk_r"] = r_level * (0.7 + 0.6 * act) * ln(0.25, "disk_r") + 4 * r_level * z["read"]
    c["disk_rb"] = c["disk_r"] * u(16, 64) * KiB * ln(0.2, "disk_rb") * (1 + z["read"])
    c["disk_w"] = w_level * (0.7 + 0.8 * act) * ln(0.25, "disk_w") + 3 * w_level * z["write"]
    c["disk_wb"] = c["disk_w"] * u(8, 64) * KiB * ln(0.2, "disk_wb") * (1 + z["write"])
    iops = c["disk_r"] + c["disk_w"]
    c["disk_u"] = 0.01 + iops / u(800, 3000) + 0.025 * z["disk_u"]
    c["disk_svc"] = u(0.0008, 0.004) * ln(0.2, "disk_svc")
    c["disk_wa"] = u(0.002, 0.008) * (1 + 0.5 * z["write"]) * ln(0.3, "disk_wa")
    c["disk_q"] = 0.6 * iops * c["disk_wa"] * ln(0.3, "disk_q")
    c["si"] = (rng.random(n) < 2e-4) * u(1, 8, n)
    c["so"] = (rng.random(n) < 5e-4) * u(1, 8, n)
    net = np.exp(u(np.log(8e5), np.log(6e6))) * (0.35 + 1.3 * act) * ln(0.2, "net")
    c["eth1_fi"] = net * ln(0.12, "eth1_fi")
    c["eth1_fo"] = net * u(0.5, 1.5) * ln(0.12, "eth1_fo")
    c["eth1_pi"] = c["eth1_fi"] / u(800, 1200) * ln(0.05, "eth1_pi")
    c["eth1_po"] = c["eth1_fo"] / u(800, 1200) * ln(0.05, "eth1_po")
    c["in_segs"] = c["eth1_pi"] * u(0.85, 0.95) * ln(0.05, "in_segs")
    c["out_segs"] = c["eth1_po"] * u(0.85, 0.95) * ln(0.05, "out_segs")
    c["tcp_tw"] = u(40, 300) * conn * ln(0.2, "tcp_tw")
    c["curr_estab"] = u(15, 60) * (0.6 + 0.5 * act) + 5 * z["curr_estab"]
    c["tcp_use"] = c["curr_estab"] + u(5, 20) + 3 * z["tcp_use"]
    c["active_opens"] = u(2, 8) * conn * ln(0.45, "active_opens")
    c["passive_opens"] = u(2, 8) * conn * ln(0.45, "passive_opens")
    c["out_rsts"] = u(0.2, 2) * conn * ln(0.4, "out_rsts")
    c["retransegs"] = c["out_segs"] * u(0.001, 0.005) * ln(0.4, "retransegs")
    c["tcp_timeouts"] = u(0.05, 0.5) * conn * ln(0.4, "tcp_timeouts")
    udp = u(10, 60) * (0.8 + 0.4 * act) * ln(0.15, "udp")
    c["udp_in_dg"] = udp * ln(0.1, "udp_in_dg")
    c["udp_out_dg"] = udp * u(0.8, 1.2) * ln(0.1, "udp_out_dg")
    for name, p in (
        ("in_errs", 3e-4),
        ("listen_overflows", 1e-4),
        ("udp_rcv_buf_errs", 2e-4),
        ("udp_snd_buf_errs", 1e-4),
    ):
        c[name] = errs(p)
    return c


def noise_scale(x: np.ndarray, name: str, cpus: int) -> float:
    """One sigma of a feature's noise: its minute-to-minute robust spread, never below the agent's floor."""
    d = np.diff(x)
    mad = 1.4826 * float(np.median(np.abs(d - np.median(d)))) / np.sqrt(2.0)
    return max(noise_floor(name, float(np.median(x)), cpus), mad)
