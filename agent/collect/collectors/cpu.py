"""``cpu``: the busy and idle time counters of the host (psutil.cpu_times or /proc/stat)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.collect.collectors.base import Collector, Host, Reading
from agent.collect.procfs import read_source

NAME = "cpu"
FEATURES = ("cpu_r",)
_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _reading(c: dict[str, float]) -> Reading:
    # guest time is already inside user/nice; summing busy fields directly keeps an idle
    # interval at exactly 0 (total - idle can come out as -1e-14 with psutil's float seconds)
    busy = c["user"] + c["nice"] + c["system"] + c["irq"] + c["softirq"] + c["steal"]
    return {}, {"": {"busy": busy, "idle": c["idle"] + c["iowait"]}}


class PsutilCpu:
    name, features = NAME, FEATURES

    def __init__(self, ps: Any) -> None:
        self._ps = ps

    def read(self) -> Reading:
        t = self._ps.cpu_times()
        return _reading({k: getattr(t, k, 0.0) for k in _FIELDS})


class ProcCpu:
    name, features = NAME, FEATURES

    def __init__(self, procfs: Path) -> None:
        self._procfs = procfs

    def read(self) -> Reading:
        return _reading(read_source(self._procfs, "cpu"))


def make(host: Host) -> Collector:
    return PsutilCpu(host.psutil) if host.psutil is not None else ProcCpu(host.procfs)
