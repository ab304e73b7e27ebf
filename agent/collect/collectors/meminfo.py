"""``meminfo``: memory use ratios, shared memory and total (psutil.virtual_memory or /proc/meminfo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.collect.collectors.base import Collector, Host, Reading
from agent.collect.procfs import read_source

NAME = "meminfo"
FEATURES = ("mem_shmem", "mem_u", "mem_u_e", "total_mem")


def _reading(total: float, free: float, avail: float, shmem: float) -> Reading:
    if total <= 0:
        raise ValueError(f"MemTotal is {total}")
    return {
        "mem_shmem": shmem,
        "mem_u": (total - free) / total,
        "mem_u_e": (total - avail) / total,
        "total_mem": total,
    }, {}


class PsutilMeminfo:
    name, features = NAME, FEATURES

    def __init__(self, ps: Any) -> None:
        self._ps = ps

    def read(self) -> Reading:
        vm = self._ps.virtual_memory()
        return _reading(vm.total, vm.free, vm.available, vm.shared)


class ProcMeminfo:
    name, features = NAME, FEATURES

    def __init__(self, procfs: Path) -> None:
        self._procfs = procfs

    def read(self) -> Reading:
        m = read_source(self._procfs, "meminfo")
        total, free = m["MemTotal"], m["MemFree"]
        # MemAvailable appeared in 3.14; before it, the procps estimate
        avail = (
            m["MemAvailable"] if "MemAvailable" in m else (free + m["Buffers"] + m["Cached"] + m.get("SReclaimable", 0))
        )
        return _reading(total, free, avail, m["Shmem"])


def make(host: Host) -> Collector:
    return PsutilMeminfo(host.psutil) if host.psutil is not None else ProcMeminfo(host.procfs)
