"""``loadavg``: the 1, 5 and 15 minute load averages (os.getloadavg through psutil, or /proc/loadavg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.collect.collectors.base import Collector, Host, Reading
from agent.collect.procfs import read_source

NAME = "loadavg"
FEATURES = ("load_1", "load_5", "load_15")


def _reading(l1: float, l5: float, l15: float) -> Reading:
    return {"load_1": l1, "load_5": l5, "load_15": l15}, {}


class PsutilLoadavg:
    name, features = NAME, FEATURES

    def __init__(self, ps: Any) -> None:
        self._ps = ps

    def read(self) -> Reading:
        return _reading(*self._ps.getloadavg())


class ProcLoadavg:
    name, features = NAME, FEATURES

    def __init__(self, procfs: Path) -> None:
        self._procfs = procfs

    def read(self) -> Reading:
        la = read_source(self._procfs, "loadavg")
        return _reading(la["load1"], la["load5"], la["load15"])


def make(host: Host) -> Collector:
    return PsutilLoadavg(host.psutil) if host.psutil is not None else ProcLoadavg(host.procfs)
