"""The SMD-38 feature catalog: names, order, kind and unit of every feature.

The order is the one public SMD tooling uses (1-indexed in interpretation
labels).  A bundle names the features it needs; this catalog only says how the
agent produces each one on Linux.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Kind = Literal["gauge", "rate"]


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Kind  # "rate": derived from a monotonically increasing counter
    unit: str
    help: str


SMD38: tuple[Feature, ...] = (
    Feature("cpu_r", "gauge", "ratio", "CPU busy ratio over the interval"),
    Feature("load_1", "gauge", "", "1-minute load average"),
    Feature("load_5", "gauge", "", "5-minute load average"),
    Feature("load_15", "gauge", "", "15-minute load average"),
    Feature("mem_shmem", "gauge", "bytes", "shared memory"),
    Feature("mem_u", "gauge", "ratio", "used memory ratio"),
    Feature("mem_u_e", "gauge", "ratio", "used memory ratio excluding buffers/cache"),
    Feature("total_mem", "gauge", "bytes", "total memory"),
    Feature("disk_q", "gauge", "", "average disk queue length over the interval"),
    Feature("disk_r", "rate", "per_second", "disk reads/s"),
    Feature("disk_rb", "rate", "bytes_per_second", "disk read bytes/s"),
    Feature("disk_svc", "gauge", "seconds", "disk service time per I/O"),
    Feature("disk_u", "gauge", "ratio", "disk busy ratio"),
    Feature("disk_w", "rate", "per_second", "disk writes/s"),
    Feature("disk_wa", "gauge", "seconds", "disk write await"),
    Feature("disk_wb", "rate", "bytes_per_second", "disk write bytes/s"),
    Feature("si", "rate", "pages_per_second", "swap-in pages/s"),
    Feature("so", "rate", "pages_per_second", "swap-out pages/s"),
    Feature("eth1_fi", "rate", "bytes_per_second", "NIC bytes in/s"),
    Feature("eth1_fo", "rate", "bytes_per_second", "NIC bytes out/s"),
    Feature("eth1_pi", "rate", "per_second", "NIC packets in/s"),
    Feature("eth1_po", "rate", "per_second", "NIC packets out/s"),
    Feature("tcp_tw", "gauge", "", "TCP sockets in TIME_WAIT"),
    Feature("tcp_use", "gauge", "", "TCP sockets in use"),
    Feature("active_opens", "rate", "per_second", "Tcp ActiveOpens/s"),
    Feature("curr_estab", "gauge", "", "Tcp CurrEstab"),
    Feature("in_errs", "rate", "per_second", "Tcp InErrs/s"),
    Feature("in_segs", "rate", "per_second", "Tcp InSegs/s"),
    Feature("listen_overflows", "rate", "per_second", "TcpExt ListenOverflows/s"),
    Feature("out_rsts", "rate", "per_second", "Tcp OutRsts/s"),
    Feature("out_segs", "rate", "per_second", "Tcp OutSegs/s"),
    Feature("passive_opens", "rate", "per_second", "Tcp PassiveOpens/s"),
    Feature("retransegs", "rate", "per_second", "Tcp RetransSegs/s"),
    Feature("tcp_timeouts", "rate", "per_second", "TcpExt TCPTimeouts/s"),
    Feature("udp_in_dg", "rate", "per_second", "Udp InDatagrams/s"),
    Feature("udp_out_dg", "rate", "per_second", "Udp OutDatagrams/s"),
    Feature("udp_rcv_buf_errs", "rate", "per_second", "Udp RcvbufErrors/s"),
    Feature("udp_snd_buf_errs", "rate", "per_second", "Udp SndbufErrors/s"),
)

SMD38_NAMES: tuple[str, ...] = tuple(f.name for f in SMD38)
CATALOG: dict[str, Feature] = {f.name: f for f in SMD38}

assert len(SMD38_NAMES) == 38 and len(set(SMD38_NAMES)) == 38


# Noise floors for z-scoring on a live host, in each feature's own units
# (docs/detection.md).  A scale learned on a quiet warm-up is never below the
# change an ordinary day brings: a connection count moving by a few, a load
# average by a quarter of a core, a ratio by two points.  c = |centre|.
KiB, MiB = 1024.0, 1024.0 * 1024.0
COUNT_GAUGES = frozenset({"tcp_tw", "tcp_use", "curr_estab"})
LOADS = frozenset({"load_1", "load_5", "load_15"})
RANGE_FLOOR = 0.01  # SMD-format rows (already min-max scaled to [0, 1]): 1 % of the range


def noise_floor(name: str, centre: float, cpus: int) -> float:
    """The smallest scale (one sigma) a feature may have on a live host, in its own units."""
    c = abs(centre)
    if name in LOADS:
        # A quarter of a core, or of the level on a host loaded past its cores (a shared CI host learned at
        # load 7 on 2 cores swings by whole cores when other jobs come and go: issue 17, docs/first-hour.md).
        return max(0.25 * max(cpus, 1), 0.25 * c)
    if name in COUNT_GAUGES:
        return max(3.0, 0.05 * c)
    if name == "disk_q":
        return max(0.1, 0.1 * c)
    feature = CATALOG.get(name)
    unit = feature.unit if feature is not None else ""
    if unit == "ratio":
        return 0.02
    if unit == "seconds":
        return max(0.005, 0.1 * c)
    if unit == "bytes":
        return max(16 * MiB, 0.01 * c)
    if unit == "bytes_per_second":
        return max(64 * KiB, 0.1 * c)
    if feature is not None and feature.kind == "rate":
        return max(1.0, 0.1 * c)
    return max(1e-3, 0.05 * c)  # a feature outside the catalog: 5 % of its level


def noise_floors(names: tuple[str, ...], centres: np.ndarray, cpus: int, units: bool = True) -> np.ndarray:
    """(F,) floors: in units on a live host, ``RANGE_FLOOR`` for SMD-format rows (``units=False``)."""
    if not units:
        return np.full(len(names), RANGE_FLOOR)
    return np.array([noise_floor(n, float(c), cpus) for n, c in zip(names, centres)])
