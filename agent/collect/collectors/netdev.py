"""``netdev``: per-NIC byte and packet counters (psutil.net_io_counters or /proc/net/dev)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from agent.collect.collectors.base import Collector, Counters, Host, Reading
from agent.collect.collectors.devices import DeviceSelector, is_physical_nic
from agent.collect.procfs import read_source

NAME = "netdev"
FEATURES = ("eth1_fi", "eth1_fo", "eth1_pi", "eth1_po")


class _Netdev:
    name, features = NAME, FEATURES

    def __init__(self, sysfs: Path, nics: tuple[str, ...]) -> None:
        self._devices = DeviceSelector(nics, partial(is_physical_nic, sysfs), "network interface")

    def read(self) -> Reading:
        raw = self._raw()
        return {}, {n: raw[n] for n in self._devices.select(raw)}

    def _raw(self) -> Counters:
        raise NotImplementedError


class PsutilNetdev(_Netdev):
    def __init__(self, ps: Any, sysfs: Path, nics: tuple[str, ...] = ()) -> None:
        super().__init__(sysfs, nics)
        self._ps = ps

    def _raw(self) -> Counters:
        # nowrap=False: psutil would otherwise add the old value back and hide a counter reset
        return {
            n: {"eth1_fi": c.bytes_recv, "eth1_fo": c.bytes_sent, "eth1_pi": c.packets_recv, "eth1_po": c.packets_sent}
            for n, c in self._ps.net_io_counters(pernic=True, nowrap=False).items()
        }


class ProcNetdev(_Netdev):
    def __init__(self, procfs: Path, sysfs: Path, nics: tuple[str, ...] = ()) -> None:
        super().__init__(sysfs, nics)
        self._procfs = procfs

    def _raw(self) -> Counters:
        return {
            n: {
                "eth1_fi": c["rx_bytes"],
                "eth1_fo": c["tx_bytes"],
                "eth1_pi": c["rx_packets"],
                "eth1_po": c["tx_packets"],
            }
            for n, c in read_source(self._procfs, "netdev").items()
        }


def make(host: Host) -> Collector:
    if host.psutil is not None:
        return PsutilNetdev(host.psutil, host.sysfs, host.nics)
    return ProcNetdev(host.procfs, host.sysfs, host.nics)
