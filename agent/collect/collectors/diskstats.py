"""``diskstats``: per-disk I/O counters from /proc/diskstats (psutil lacks in-flight and weighted time)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from agent.collect.collectors.base import Collector, Host, Reading
from agent.collect.collectors.devices import DeviceSelector, is_physical_disk
from agent.collect.procfs import read_source

NAME = "diskstats"
FEATURES = ("disk_q", "disk_r", "disk_rb", "disk_svc", "disk_u", "disk_w", "disk_wa", "disk_wb")
SECTOR = 512  # /proc/diskstats counts 512-byte sectors whatever the device's sector size


class ProcDiskstats:
    name, features = NAME, FEATURES

    def __init__(self, procfs: Path, sysfs: Path, disks: tuple[str, ...] = ()) -> None:
        self._procfs = procfs
        self._devices = DeviceSelector(disks, partial(is_physical_disk, sysfs), "disk")

    def read(self) -> Reading:
        stats = read_source(self._procfs, "diskstats")
        return {}, {
            n: {
                "disk_r": s["reads"],
                "disk_rb": s["sectors_read"] * SECTOR,
                "disk_w": s["writes"],
                "disk_wb": s["sectors_written"] * SECTOR,
                "write_ms": s["write_ms"],
                "io_ticks": s["io_ticks"],
                "weighted_ms": s["weighted_ms"],
            }
            for n, s in ((n, stats[n]) for n in self._devices.select(stats))
        }


def make(host: Host) -> Collector:
    return ProcDiskstats(host.procfs, host.sysfs, host.disks)
