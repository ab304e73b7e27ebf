"""Which NICs and disks count: the configured ones, else the physical ones (see docs/collector.md)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

_VIRTUAL_NIC = (
    "veth",
    "docker",
    "br-",
    "virbr",
    "cni",
    "flannel",
    "tun",
    "tap",
    "vxlan",
    "cali",
    "weave",
    "kube",
    "lxc",
    "vnet",
    "ifb",
    "dummy",
    "wg",
)
_VIRTUAL_DISK = re.compile(r"(?:loop|ram|zram|dm-|md|sr|fd|nbd|drbd|rbd)\d")
_PARTITION = re.compile(r"(?:[shv]d[a-z]+|xvd[a-z]+)\d+|(?:nvme\d+n\d+|mmcblk\d+)p\d+")


class DeviceSelector:
    """Picks devices from a reading; each name is classified once (sysfs lookups are not free)."""

    def __init__(self, configured: tuple[str, ...], is_physical: Callable[[str], bool], what: str) -> None:
        self._configured = configured
        self._is_physical = is_physical
        self._what = what
        self._cache: dict[str, bool] = {}

    def select(self, found: Mapping[str, Any]) -> list[str]:
        """The configured devices (all must be present), else the physical ones; LookupError if none."""
        if self._configured:
            missing = [n for n in self._configured if n not in found]
            if missing:
                raise LookupError(f"configured {self._what}(s) {', '.join(missing)} not present")
            return list(self._configured)
        for n in found:
            if n not in self._cache:
                self._cache[n] = self._is_physical(n)
        names = [n for n in found if self._cache[n]]
        if not names:
            raise LookupError(f"no physical {self._what} found among {sorted(found)}; configure one explicitly")
        return names


def is_physical_nic(sysfs: Path, name: str) -> bool:
    if name == "lo" or name.startswith(_VIRTUAL_NIC):
        return False
    net = sysfs / "class" / "net"
    return (net / name / "device").exists() if net.is_dir() else True


def is_physical_disk(sysfs: Path, name: str) -> bool:
    if _VIRTUAL_DISK.match(name):
        return False
    block = sysfs / "block"
    if block.is_dir():  # /sys/block lists whole disks only; virtual ones have no device link
        return (block / name.replace("/", "!") / "device").exists()
    return not _PARTITION.fullmatch(name)
