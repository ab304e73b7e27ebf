"""Synthetic SMD-format data: host-like series with injected, labelled anomalies.

Pure numpy (never TensorFlow), so agent tests can use it as ``training.synth``.
Normal behaviour comes from a few latent drivers (daily and hourly seasonality,
AR(1) noise, disk bursts) that the SMD-38 features follow the way the real data
does: NIC bytes/packets and in_segs/out_segs move together, load_1/5/15 are
progressively smoothed load, total_mem and error counters are constant, swap
and retransmits are mostly zero.  Train and test are one contiguous series;
anomalies are injected into test only, each on a few dimensions for a segment
of rows, and labelled like SMD (``test_label`` + ``interpretation_label``).
:mod:`training.smd_files` writes a machine in the SMD layout, and
:mod:`training.synth_seasonal` registers the ``anomaly-train synth`` command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.collect.features import SMD38_NAMES
from agent.history.smd import Interpretation

KINDS = ("spike", "level_shift", "drift", "variance", "correlation")
# (min, max) segment length in rows per kind.
LENGTHS = {
    "spike": (2, 8),
    "level_shift": (30, 120),
    "drift": (60, 200),
    "variance": (30, 120),
    "correlation": (40, 150),
}
GAP = 60  # clean rows kept before each segment, so local detectors have context
SUBSYSTEMS = (
    ("cpu_r", "load_1", "load_5", "load_15"),
    ("mem_shmem", "mem_u", "mem_u_e", "total_mem"),
    ("disk_q", "disk_r", "disk_rb", "disk_svc", "disk_u", "disk_w", "disk_wa", "disk_wb", "si", "so"),
    ("eth1_fi", "eth1_fo", "eth1_pi", "eth1_po"),
    (
        "tcp_tw",
        "tcp_use",
        "active_opens",
        "curr_estab",
        "in_errs",
        "in_segs",
        "listen_overflows",
        "out_rsts",
        "out_segs",
        "passive_opens",
        "retransegs",
        "tcp_timeouts",
    ),
    ("udp_in_dg", "udp_out_dg", "udp_rcv_buf_errs", "udp_snd_buf_errs"),
)
# Groups whose members correlate at > 0.9 even over a short segment.
CORRELATED = (("eth1_fi", "eth1_fo", "eth1_pi", "eth1_po"), ("in_segs", "out_segs"), ("udp_in_dg", "udp_out_dg"))


@dataclass(frozen=True)
class SynthData:
    """One synthetic machine; ``kinds[i]`` is the anomaly kind of ``interpretation[i]``."""

    train: np.ndarray  # (T_train, F) float64 in [0, 1]
    test: np.ndarray  # (T_test, F) float64 in [0, 1]
    labels: np.ndarray  # (T_test,) int8, 1 inside anomaly segments
    interpretation: list[Interpretation]
    feature_names: tuple[str, ...]
    kinds: tuple[str, ...]


def _ar(innov: np.ndarray, phi: float) -> np.ndarray:
    """x[t] = phi * x[t-1] + innov[t]: AR(1) noise, or an EMA / decaying bursts."""
    out = np.empty_like(innov)
    acc = 0.0
    for i, e in enumerate(innov):
        acc = phi * acc + e
        out[i] = acc
    return out


def _ema(x: np.ndarray, tau: float) -> np.ndarray:
    a = 1.0 - np.exp(-1.0 / tau)
    return _ar(a * x, 1.0 - a) + (1.0 - a) ** np.arange(1, len(x) + 1) * x[0]


def _columns(names: Sequence[str], n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Normal behaviour, shape (n_rows, len(names)), before clipping to [0, 1]."""
    t = np.arange(n_rows) + rng.uniform(0, 1440)
    daily = 0.5 - 0.5 * np.cos(2 * np.pi * t / 1440)  # 0 at night, 1 at midday
    hourly = np.sin(2 * np.pi * (t + rng.uniform(0, 60)) / 60)

    def g() -> float:  # per-machine gain
        return float(rng.uniform(0.8, 1.2))

    def white(s: float) -> np.ndarray:
        return rng.normal(0.0, s, n_rows)

    def ar(phi: float, s: float) -> np.ndarray:
        return _ar(white(s * np.sqrt(1 - phi**2)), phi)  # stationary std s

    def bursts(p: float, decay: float, scale: float) -> np.ndarray:
        return _ar((rng.random(n_rows) < p) * rng.exponential(scale, n_rows), decay)

    def blips(p: float) -> np.ndarray:
        return np.round((rng.random(n_rows) < p) * rng.uniform(0.05, 0.5, n_rows), 2)

    traffic = 0.1 + 0.4 * g() * daily + 0.03 * hourly + ar(0.97, 0.03)
    activity = 0.05 + 0.5 * traffic + ar(0.9, 0.03)
    load = 0.02 + 0.4 * activity + np.abs(white(0.05))
    mem = 0.6 * g() + ar(0.999, 0.05) + 0.03 * daily
    rb, wb = bursts(0.01, 0.6, 0.15), bursts(0.03, 0.8, 0.05)
    udp = 0.15 + 0.1 * daily + ar(0.9, 0.03)
    cols = {
        "cpu_r": np.round((0.03 + 0.6 * activity + white(0.01)) * 81) / 81,  # coarse like SMD's
        "load_1": _ema(load, 1),
        "load_5": _ema(load, 5),
        "load_15": _ema(load, 15),
        "mem_shmem": 0.6 * g() + np.cumsum((rng.random(n_rows) < 5e-4) * rng.choice([-0.02, 0.02], n_rows)),
        "mem_u": 0.1 + mem + 0.05 * activity,
        "mem_u_e": 0.8 * mem - 0.2 + 0.04 * activity + white(0.003),
        "total_mem": np.zeros(n_rows),
        "disk_q": 0.005 + 0.6 * rb + 0.2 * wb + np.abs(white(0.003)),
        "disk_r": np.maximum(0, 0.9 * rb + white(0.002) - 0.002),
        "disk_rb": np.maximum(0, 0.7 * rb - 0.004),
        "disk_svc": 0.07 + 0.1 * rb + np.abs(white(0.02)),
        "disk_u": np.round(0.6 * rb + 0.2 * wb, 2),
        "disk_w": 0.012 + 0.05 * activity + 0.3 * wb + np.abs(white(0.003)),
        "disk_wa": 0.035 + np.abs(ar(0.6, 0.015)) + 0.2 * wb,
        "disk_wb": 0.008 + 0.2 * wb + np.abs(white(0.002)),
        "si": blips(2e-4),
        "so": blips(5e-4),
        "eth1_fi": g() * traffic + white(0.004),
        "eth1_fo": g() * traffic + white(0.004),
        "eth1_pi": 0.85 * g() * traffic + white(0.004),
        "eth1_po": 0.75 * g() * traffic + white(0.004),
        "tcp_tw": 0.1 + 0.25 * traffic + ar(0.8, 0.01),
        "tcp_use": 0.15 + 0.6 * _ema(traffic, 60),
        "active_opens": np.round((0.1 + 0.25 * traffic + white(0.02)) * 500) / 500,
        "curr_estab": 0.5 + 0.1 * traffic + ar(0.9, 0.01),
        "in_errs": np.zeros(n_rows),
        "in_segs": 0.01 + 0.8 * traffic + white(0.002),
        "listen_overflows": np.zeros(n_rows),
        "out_rsts": 0.05 + 0.5 * traffic + white(0.02),
        "out_segs": 0.02 + 0.75 * traffic + white(0.002),
        "passive_opens": 0.08 + 0.5 * traffic + white(0.02),
        "retransegs": blips(3e-4),
        "tcp_timeouts": np.round((0.06 + white(0.008)) * 250) / 250,
        "udp_in_dg": udp + white(0.001),
        "udp_out_dg": udp + white(0.001),
        "udp_rcv_buf_errs": np.zeros(n_rows),
        "udp_snd_buf_errs": np.zeros(n_rows),
    }
    out = np.empty((n_rows, len(names)))
    unknown = 0
    for j, name in enumerate(names):
        if name in cols:
            out[:, j] = cols[name]
            continue
        if unknown % 3 == 0:  # unknown features: each three share a seasonal driver
            driver = 0.3 + 0.3 * (0.5 - 0.5 * np.cos(2 * np.pi * (t + rng.uniform(0, 1440)) / 1440)) + ar(0.95, 0.03)
        out[:, j] = g() * driver + white(0.003)
        unknown += 1
    return out


def _groups(names: Sequence[str]) -> tuple[list[list[int]], list[list[int]]]:
    """(subsystems, correlated groups) as column indices; unknown names go in threes."""
    index = {n: j for j, n in enumerate(names)}
    subs = [[index[n] for n in s if n in index] for s in SUBSYSTEMS]
    corr = [[index[n] for n in c if n in index] for c in CORRELATED]
    unknown = [j for j, n in enumerate(names) if n not in SMD38_NAMES]
    for k in range(0, len(unknown), 3):
        subs.append(unknown[k : k + 3])
        corr.append(unknown[k : k + 3])
    return [s for s in subs if s], [c for c in corr if len(c) >= 2]


def _inject(kind: str, x: np.ndarray, std: np.ndarray, ref: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """New values for one anomalous segment.

    ``x`` (L, k) is the clean segment, ``std`` (k,) the features' spread in
    train (shifts clear normal variation), ``ref`` (L,) the correlation partner.
    """
    up = np.where(x.mean(axis=0) < 0.5, 1.0, -1.0)  # move towards the side with room
    n, k = x.shape
    if kind == "spike":
        return x + (np.where(up > 0, 1.0, 0.0) - x) * rng.uniform(0.6, 0.95, k)
    if kind == "level_shift":
        return x + up * (rng.uniform(0.2, 0.4, k) + 2 * std)
    if kind == "drift":
        return x + np.outer(np.linspace(0, 1, n), up * (rng.uniform(0.3, 0.5, k) + 2 * std))
    if kind == "variance":
        return x + rng.normal(0, 1, x.shape) * rng.uniform(0.08, 0.15, x.shape[1])
    # correlation: same level and spread, but noise orthogonal to the group
    assert ref is not None, "correlation anomalies need the partner column"
    z = _ar(rng.normal(0, 1, size=(n,)), 0.7)
    r = ref - ref.mean()
    z = z - z.mean() - r * (z @ r) / max(r @ r, 1e-12)
    z /= max(z.std(), 1e-12)
    return x.mean(axis=0) + max(float(x.std()), 0.03) * z[:, None]


def generate(
    n_features: int = 38,
    train_rows: int = 7 * 1440,
    test_rows: int = 7 * 1440,
    kinds: Sequence[str] = KINDS,
    n_anomalies: int = 10,
    seed: int = 0,
    feature_names: Sequence[str] = SMD38_NAMES,
) -> SynthData:
    """Build one synthetic machine.

    The first ``n_features`` of ``feature_names`` are used (missing ones become
    ``feature_<i>``).  Normal data depends only on ``seed``, ``n_features``,
    ``train_rows`` and ``test_rows``, so the same seed with ``n_anomalies=0``
    gives the clean test series.  Anomaly kinds take turns (every kind appears
    when ``n_anomalies >= len(kinds)``); one segment per ``test_rows //
    n_anomalies`` slot, each after at least ``GAP`` clean rows when the slot is
    long enough.

    Returns
    -------
    SynthData with train (train_rows, n_features), test (test_rows, n_features)
    in [0, 1], labels (test_rows,) and one interpretation line per anomaly.
    """
    if isinstance(kinds, str):
        kinds = tuple(k.strip() for k in kinds.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"unknown anomaly kinds {bad or '(none given)'}; choose from {', '.join(KINDS)}")
    if n_features < 1 or train_rows < 1 or test_rows < 1 or n_anomalies < 0:
        raise ValueError("n_features, train_rows and test_rows must be >= 1 and n_anomalies >= 0")
    names = tuple(feature_names[:n_features]) + tuple(f"feature_{i + 1}" for i in range(len(feature_names), n_features))
    if len(set(names)) != len(names):
        raise ValueError(f"feature names are not unique: {names}")
    x = np.clip(_columns(names, train_rows + test_rows, np.random.default_rng([seed, 0])), 0.0, 1.0)
    train, test = x[:train_rows], x[train_rows:].copy()

    rng = np.random.default_rng([seed, 1])
    std, zeros = train.std(axis=0), (train == 0).mean(axis=0)
    subs, corr = _groups(names)
    labels = np.zeros(test_rows, dtype=np.int8)
    interp: list[Interpretation] = []
    order = [kinds[i % len(kinds)] for i in range(n_anomalies)]
    order = [order[i] for i in rng.permutation(n_anomalies)]
    slot = test_rows // max(n_anomalies, 1)
    gap = min(GAP, slot // 4)
    for i, kind in enumerate(order):
        lo, hi = LENGTHS[kind]
        room = slot - gap
        if room < lo:
            raise ValueError(
                f"test_rows={test_rows} is too short for {n_anomalies} anomalies: "
                f"a {kind} needs {lo + gap} rows of its own"
            )
        length = int(rng.integers(lo, min(hi, room) + 1))
        start = i * slot + gap + int(rng.integers(0, room - length + 1))
        seg = slice(start, start + length)
        ref = None
        if kind == "correlation":
            groups = [[j for j in c if std[j] > 0] for c in corr]
            groups = [c for c in groups if len(c) >= 2]
            if not groups:
                raise ValueError(f"kind 'correlation' needs a correlated group of features; none among {names}")
            group = groups[rng.integers(len(groups))]
            dims = [int(rng.choice(group))]
            ref = test[seg][:, [j for j in group if j != dims[0]]].mean(axis=1)
        else:
            # spikes may hit mostly-zero counters (swap, retransmits); other kinds need a live signal
            ok = [j for j in range(n_features) if std[j] > 0 and (kind == "spike" or zeros[j] < 0.5)]
            if not ok:
                raise ValueError(f"kind {kind!r} needs a non-constant feature; all of {names} are flat")
            pools = [p for p in ([j for j in s if j in ok] for s in subs) if p]
            pool = pools[rng.integers(len(pools))]
            dims = sorted(int(j) for j in rng.choice(pool, size=rng.integers(1, min(4, len(pool)) + 1), replace=False))
        test[seg, dims] = np.clip(_inject(kind, test[seg][:, dims], std[dims], ref, rng), 0.0, 1.0)
        labels[seg] = 1
        interp.append(Interpretation(start, start + length, tuple(dims)))
    return SynthData(train, test, labels, interp, names, tuple(order))
