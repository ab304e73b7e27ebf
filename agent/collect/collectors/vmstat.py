"""``vmstat``: swap-in and swap-out page counters from /proc/vmstat."""

from __future__ import annotations

from pathlib import Path

from agent.collect.collectors.base import Collector, Host, Reading
from agent.collect.procfs import read_source

NAME = "vmstat"
FEATURES = ("si", "so")


class ProcVmstat:
    name, features = NAME, FEATURES

    def __init__(self, procfs: Path) -> None:
        self._procfs = procfs

    def read(self) -> Reading:
        v = read_source(self._procfs, "vmstat")
        return {}, {"": {"si": v["pswpin"], "so": v["pswpout"]}}


def make(host: Host) -> Collector:
    return ProcVmstat(host.procfs)
