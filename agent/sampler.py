"""The host collector: one SMD-38 row (or a bundle's subset of it) per call.

psutil reads cpu times, load, memory and NIC counters (each one file read with
all the fields we need); :mod:`agent.procfs` reads what psutil lacks: TCP/UDP
MIBs, sockstat, swap pages and full /proc/diskstats (in-flight and weighted
time).  ``psutil_module=None`` reads all nine sources through the procfs parsers.
Rates are counter deltas over the clock's elapsed seconds; a counter that went
backwards gives NaN (counted in ``resets``); an unreadable source gives NaN for
its features (counted in ``errors``).  Definitions: ``docs/collector.md``.
"""
from __future__ import annotations

import logging
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import psutil

from agent.features import CATALOG, SMD38_NAMES
from agent.procfs import read_source

log = logging.getLogger(__name__)
NAN = float("nan")

# Which source yields which features; a feature subset reads only the sources it needs.
SOURCE_FEATURES: dict[str, tuple[str, ...]] = {
    "cpu": ("cpu_r",),
    "loadavg": ("load_1", "load_5", "load_15"),
    "meminfo": ("mem_shmem", "mem_u", "mem_u_e", "total_mem"),
    "diskstats": ("disk_q", "disk_r", "disk_rb", "disk_svc", "disk_u", "disk_w", "disk_wa", "disk_wb"),
    "vmstat": ("si", "so"),
    "netdev": ("eth1_fi", "eth1_fo", "eth1_pi", "eth1_po"),
    "sockstat": ("tcp_tw", "tcp_use"),
    "snmp": ("active_opens", "curr_estab", "in_errs", "in_segs", "out_rsts", "out_segs", "passive_opens",
             "retransegs", "udp_in_dg", "udp_out_dg", "udp_rcv_buf_errs", "udp_snd_buf_errs"),
    "netstat": ("listen_overflows", "tcp_timeouts"),
}
# /proc/net/snmp (section, counter) behind each rate feature
SNMP_COUNTERS: dict[str, tuple[str, str]] = {
    "active_opens": ("Tcp", "ActiveOpens"), "in_errs": ("Tcp", "InErrs"), "in_segs": ("Tcp", "InSegs"),
    "out_rsts": ("Tcp", "OutRsts"), "out_segs": ("Tcp", "OutSegs"), "passive_opens": ("Tcp", "PassiveOpens"),
    "retransegs": ("Tcp", "RetransSegs"), "udp_in_dg": ("Udp", "InDatagrams"),
    "udp_out_dg": ("Udp", "OutDatagrams"), "udp_rcv_buf_errs": ("Udp", "RcvbufErrors"),
    "udp_snd_buf_errs": ("Udp", "SndbufErrors"),
}
Deltas = Mapping[str, list[float]]


def _ratio(num: float, den: float, empty: float) -> float:
    return num / den if den > 0 else empty


# Interval features that are not a plain "sum of deltas / seconds": counters needed, formula.
DERIVED: dict[str, tuple[tuple[str, ...], Callable[[Deltas, float], float]]] = {
    "cpu_r": (("busy", "idle"), lambda d, dt: _ratio(sum(d["busy"]), sum(d["busy"]) + sum(d["idle"]), NAN)),
    "disk_q": (("weighted_ms",), lambda d, dt: sum(d["weighted_ms"]) / (dt * 1000.0)),
    # busiest disk, capped: io_ticks may overshoot the wall clock by a tick
    "disk_u": (("io_ticks",), lambda d, dt: min(1.0, max(d["io_ticks"]) / (dt * 1000.0))),
    # no completed I/O -> 0 s, as iostat prints, so an idle disk is not a gap in the window
    "disk_svc": (("io_ticks", "disk_r", "disk_w"),
                 lambda d, dt: _ratio(sum(d["io_ticks"]) / 1000.0, sum(d["disk_r"]) + sum(d["disk_w"]), 0.0)),
    "disk_wa": (("write_ms", "disk_w"), lambda d, dt: _ratio(sum(d["write_ms"]) / 1000.0, sum(d["disk_w"]), 0.0)),
}
INTERVAL_FEATURES = frozenset({f.name for f in CATALOG.values() if f.kind == "rate"} | DERIVED.keys())

_VIRTUAL_NIC = ("veth", "docker", "br-", "virbr", "cni", "flannel", "tun", "tap", "vxlan", "cali", "weave",
                "kube", "lxc", "vnet", "ifb", "dummy", "wg")
_VIRTUAL_DISK = re.compile(r"(?:loop|ram|zram|dm-|md|sr|fd|nbd|drbd|rbd)\d")
_PARTITION = re.compile(r"(?:[shv]d[a-z]+|xvd[a-z]+)\d+|(?:nvme\d+n\d+|mmcblk\d+)p\d+")

Counters = dict[str, dict[str, float]]  # device ("" for host-wide) -> counter -> value
Reading = tuple[dict[str, float], Counters]  # (gauges, counters)


def _deltas(prev: Counters, cur: Counters, key: str) -> list[float] | None:
    """Per-device increase of ``key`` over devices present in both readings; None if one went backwards."""
    out = []
    for dev, c in cur.items():
        p = prev.get(dev)
        if p is not None:
            d = c[key] - p[key]
            if d < 0:
                return None
            out.append(d)
    return out


class Sampler:
    """Samples the host; ``sample()`` returns one row in ``feature_names`` order and never raises.

    Parameters are seams: ``procfs``/``sysfs`` roots (fixtures, ``/host/proc``), ``psutil_module``
    (a fake, or None for procfs only), ``clock`` (seconds), ``nics``/``disks`` (None or empty: all
    physical NICs / whole physical disks, see docs/collector.md) and ``features`` (any subset of
    SMD38_NAMES, in the order wanted; unknown names raise ValueError).  ``errors`` counts, per
    source, the samples in which it could not be read; ``resets`` counts, per feature, the
    intervals dropped because a counter went backwards.
    """

    def __init__(self, procfs: Path = Path("/proc"), psutil_module: Any = psutil,
                 clock: Callable[[], float] = time.monotonic, nics: tuple[str, ...] | None = None,
                 disks: tuple[str, ...] | None = None, sysfs: Path = Path("/sys"),
                 features: tuple[str, ...] = SMD38_NAMES) -> None:
        if not features:
            raise ValueError("features is empty: name at least one of " + ", ".join(SMD38_NAMES))
        unknown = [f for f in features if f not in CATALOG]
        if unknown:
            raise ValueError(f"unknown feature names {unknown}; known: {', '.join(SMD38_NAMES)}")
        self._procfs, self._sysfs, self._clock = Path(procfs), Path(sysfs), clock
        self._nics, self._disks = tuple(nics or ()), tuple(disks or ())
        self._features = tuple(features)
        # psutil reads its own PROCFS_PATH; with another procfs (/host/proc) it would mix two hosts
        psutil_root = getattr(psutil_module, "PROCFS_PATH", None)
        if psutil_module is not None and psutil_root is not None and Path(psutil_root) != self._procfs:
            log.info("psutil reads %s, not %s: every source comes from %s", psutil_root, procfs, procfs)
            psutil_module = None
        self._ps = psutil_module
        self._read_errors: tuple[type[BaseException], ...] = (
            OSError, ValueError, LookupError, RuntimeError,
            AssertionError,  # psutil asserts on a garbled /proc/net/dev
            *((psutil_module.Error,) if isinstance(getattr(psutil_module, "Error", None), type) else ()))
        wanted = set(self._features)
        self._sources = [s for s, fs in SOURCE_FEATURES.items() if wanted.intersection(fs)]
        self._readers: dict[str, Callable[[], Reading]] = {s: getattr(self, f"_read_{s}") for s in self._sources}
        self._prev: dict[str, tuple[float, Reading]] = {}
        self._failing: set[str] = set()
        self._nic_ok: dict[str, bool] = {}
        self._disk_ok: dict[str, bool] = {}
        self.errors: Counter[str] = Counter()  # source -> samples in which it could not be read
        self.resets: Counter[str] = Counter()  # feature -> intervals dropped because a counter went backwards

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._features

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources read for the requested features."""
        return tuple(self._sources)

    def error_counts(self) -> dict[str, int]:
        return dict(self.errors)

    def reset_counts(self) -> dict[str, int]:
        return dict(self.resets)

    def sample(self) -> np.ndarray:
        """Read every needed source once; returns shape (len(feature_names),) float64, NaN = no value."""
        now = self._clock()
        values: dict[str, float] = {}
        for source in self._sources:
            try:
                reading = self._readers[source]()
            except KeyError as exc:
                self._fail(source, f"missing field {exc}")
                continue
            except self._read_errors as exc:
                self._fail(source, exc)
                continue
            if source in self._failing:
                self._failing.discard(source)
                log.info("collector source %s readable again", source)
            prev = self._prev.get(source)
            dt = now - prev[0] if prev else 0.0
            values.update(self._compute(source, reading, prev[1] if prev else None, dt))
            if prev is None or dt > 0:  # a clock that did not advance keeps the older baseline
                self._prev[source] = (now, reading)
        return np.array([values.get(f, NAN) for f in self._features], dtype=np.float64)

    def _fail(self, source: str, exc: object) -> None:
        self.errors[source] += 1
        self._prev.pop(source, None)  # the next good read starts a fresh interval
        if source not in self._failing:
            self._failing.add(source)
            log.warning("collector source %s unreadable, its features are NaN until it recovers: %s", source, exc)

    def _compute(self, source: str, reading: Reading, prev: Reading | None, dt: float) -> dict[str, float]:
        gauges, counters = reading
        out = dict(gauges)
        cache: dict[str, list[float] | None] = {}
        for f in SOURCE_FEATURES[source]:
            if f not in INTERVAL_FEATURES:
                continue
            if prev is None or dt <= 0:
                out[f] = NAN
                continue
            keys, formula = DERIVED.get(f, ((f,), None))
            d: dict[str, list[float]] = {}
            for k in keys:
                if k not in cache:
                    cache[k] = _deltas(prev[1], counters, k)
                v = cache[k]
                if v is None:
                    break
                d[k] = v
            if len(d) < len(keys):
                out[f] = NAN
                self.resets[f] += 1
                log.debug("%s: a %s counter went backwards, no value this interval", f, source)
            elif not d[keys[0]]:  # no device present in both readings
                out[f] = NAN
            else:
                out[f] = formula(d, dt) if formula else sum(d[f]) / dt
        return out

    # --- readers: one file read each, returning (gauges, counters) -------------------------------
    def _read_cpu(self) -> Reading:
        if self._ps is not None:
            t = self._ps.cpu_times()
            c = {k: getattr(t, k, 0.0) for k in ("user", "nice", "system", "idle", "iowait", "irq", "softirq",
                                                  "steal")}
        else:
            c = read_source(self._procfs, "cpu")
        # guest time is already inside user/nice; summing busy fields directly keeps an idle
        # interval at exactly 0 (total - idle can come out as -1e-14 with psutil's float seconds)
        busy = c["user"] + c["nice"] + c["system"] + c["irq"] + c["softirq"] + c["steal"]
        return {}, {"": {"busy": busy, "idle": c["idle"] + c["iowait"]}}

    def _read_loadavg(self) -> Reading:
        if self._ps is not None:
            l1, l5, l15 = self._ps.getloadavg()
        else:
            la = read_source(self._procfs, "loadavg")
            l1, l5, l15 = la["load1"], la["load5"], la["load15"]
        return {"load_1": l1, "load_5": l5, "load_15": l15}, {}

    def _read_meminfo(self) -> Reading:
        if self._ps is not None:
            vm = self._ps.virtual_memory()
            total, free, avail, shmem = vm.total, vm.free, vm.available, vm.shared
        else:
            m = read_source(self._procfs, "meminfo")
            total, free, shmem = m["MemTotal"], m["MemFree"], m["Shmem"]
            # MemAvailable appeared in 3.14; before it, the procps estimate
            avail = m["MemAvailable"] if "MemAvailable" in m else (
                free + m["Buffers"] + m["Cached"] + m.get("SReclaimable", 0))
        if total <= 0:
            raise ValueError(f"MemTotal is {total}")
        return {"mem_shmem": shmem, "mem_u": (total - free) / total, "mem_u_e": (total - avail) / total,
                "total_mem": total}, {}

    def _read_diskstats(self) -> Reading:
        stats = read_source(self._procfs, "diskstats")
        devs = self._select(stats, self._disks, self._disk_ok, self._is_physical_disk, "disk")
        return {}, {n: {"disk_r": s["reads"], "disk_rb": s["sectors_read"] * 512, "disk_w": s["writes"],
                        "disk_wb": s["sectors_written"] * 512, "write_ms": s["write_ms"],
                        "io_ticks": s["io_ticks"], "weighted_ms": s["weighted_ms"]}
                    for n, s in ((n, stats[n]) for n in devs)}

    def _read_vmstat(self) -> Reading:
        v = read_source(self._procfs, "vmstat")
        return {}, {"": {"si": v["pswpin"], "so": v["pswpout"]}}

    def _read_netdev(self) -> Reading:
        if self._ps is not None:
            raw = {n: {"eth1_fi": c.bytes_recv, "eth1_fo": c.bytes_sent, "eth1_pi": c.packets_recv,
                       "eth1_po": c.packets_sent}
                   for n, c in self._ps.net_io_counters(pernic=True, nowrap=False).items()}
        else:
            raw = {n: {"eth1_fi": c["rx_bytes"], "eth1_fo": c["tx_bytes"], "eth1_pi": c["rx_packets"],
                       "eth1_po": c["tx_packets"]}
                   for n, c in read_source(self._procfs, "netdev").items()}
        nics = self._select(raw, self._nics, self._nic_ok, self._is_physical_nic, "network interface")
        return {}, {n: raw[n] for n in nics}

    def _read_sockstat(self) -> Reading:
        tcp = read_source(self._procfs, "sockstat")["TCP"]
        return {"tcp_tw": tcp["tw"], "tcp_use": tcp["inuse"]}, {}

    def _read_snmp(self) -> Reading:
        mib = read_source(self._procfs, "snmp")
        return ({"curr_estab": mib["Tcp"]["CurrEstab"]},
                {"": {f: mib[sec][name] for f, (sec, name) in SNMP_COUNTERS.items()}})

    def _read_netstat(self) -> Reading:
        ext = read_source(self._procfs, "netstat")["TcpExt"]
        return {}, {"": {"listen_overflows": ext["ListenOverflows"], "tcp_timeouts": ext["TCPTimeouts"]}}

    # --- device selection ------------------------------------------------------------------------
    @staticmethod
    def _select(found: Mapping[str, Any], configured: tuple[str, ...], cache: dict[str, bool],
                default: Callable[[str], bool], what: str) -> list[str]:
        if configured:
            missing = [n for n in configured if n not in found]
            if missing:
                raise LookupError(f"configured {what}(s) {', '.join(missing)} not present")
            return list(configured)
        for n in found:
            if n not in cache:  # classify each name once: sysfs lookups are not free
                cache[n] = default(n)
        names = [n for n in found if cache[n]]
        if not names:
            raise LookupError(f"no physical {what} found among {sorted(found)}; configure one explicitly")
        return names

    def _is_physical_nic(self, name: str) -> bool:
        if name == "lo" or name.startswith(_VIRTUAL_NIC):
            return False
        net = self._sysfs / "class" / "net"
        return (net / name / "device").exists() if net.is_dir() else True

    def _is_physical_disk(self, name: str) -> bool:
        if _VIRTUAL_DISK.match(name):
            return False
        block = self._sysfs / "block"
        if block.is_dir():  # /sys/block lists whole disks only; virtual ones have no device link
            return (block / name.replace("/", "!") / "device").exists()
        return not _PARTITION.fullmatch(name)
