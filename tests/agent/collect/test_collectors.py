"""The collector registry and each collector module on the fixture /proc trees (tests/fixtures/proc)."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from agent.collect.collectors import REGISTRY, SOURCE_FEATURES, Host, build
from agent.collect.collectors.cpu import ProcCpu, PsutilCpu
from agent.collect.collectors.loadavg import ProcLoadavg, PsutilLoadavg
from agent.collect.collectors.meminfo import ProcMeminfo, PsutilMeminfo
from agent.collect.collectors.netdev import ProcNetdev, PsutilNetdev
from agent.collect.features import SMD38_NAMES
from agent.collect.procfs import read_source

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "proc"
T0 = FIX / "t0"
NOSYS = FIX / "no-such-sysfs"  # without /sys, device names decide what is physical
PSUTIL_SOURCES = {
    "cpu": (PsutilCpu, ProcCpu),
    "loadavg": (PsutilLoadavg, ProcLoadavg),
    "meminfo": (PsutilMeminfo, ProcMeminfo),
    "netdev": (PsutilNetdev, ProcNetdev),
}
CpuTimes = namedtuple("CpuTimes", "user nice system idle iowait irq softirq steal")
VMem = namedtuple("VMem", "total available free shared")
NetIO = namedtuple("NetIO", "bytes_sent bytes_recv packets_sent packets_recv")


class FakePsutil:
    """psutil's system-wide calls answered from a fixture tree (cpu in seconds at 100 ticks/s)."""

    def cpu_times(self) -> CpuTimes:
        c = read_source(T0, "cpu")
        return CpuTimes(*(c[f] / 100 for f in CpuTimes._fields))

    def getloadavg(self) -> tuple[float, float, float]:
        la = read_source(T0, "loadavg")
        return la["load1"], la["load5"], la["load15"]

    def virtual_memory(self) -> VMem:
        m = read_source(T0, "meminfo")
        return VMem(m["MemTotal"], m["MemAvailable"], m["MemFree"], m["Shmem"])

    def net_io_counters(self, pernic: bool, nowrap: bool) -> dict[str, NetIO]:
        return {
            n: NetIO(c["tx_bytes"], c["rx_bytes"], c["tx_packets"], c["rx_packets"])
            for n, c in read_source(T0, "netdev").items()
        }


def test_registry_covers_smd38_once_in_read_order() -> None:
    assert (
        list(REGISTRY)
        == list(SOURCE_FEATURES)
        == ["cpu", "loadavg", "meminfo", "diskstats", "vmstat", "netdev", "sockstat", "snmp", "netstat"]
    )
    features = [f for fs in SOURCE_FEATURES.values() for f in fs]
    assert sorted(features) == sorted(SMD38_NAMES) and len(features) == len(set(features))


def test_build_makes_only_the_needed_collectors_in_registry_order() -> None:
    got = build(("tcp_use", "cpu_r", "si"), Host(T0, NOSYS))
    assert [c.name for c in got] == ["cpu", "vmstat", "sockstat"]


@pytest.mark.parametrize("source", list(REGISTRY))
def test_each_collector_reads_its_features(source: str) -> None:
    c = REGISTRY[source](Host(T0, NOSYS))
    assert (c.name, c.features) == (source, SOURCE_FEATURES[source])
    gauges, counters = c.read()
    assert set(gauges) <= set(c.features)
    assert all(isinstance(v, (int, float)) for v in gauges.values())
    assert all(isinstance(v, (int, float)) for dev in counters.values() for v in dev.values())
    assert gauges or counters


@pytest.mark.parametrize("source", list(REGISTRY))
def test_each_collector_raises_when_its_file_is_missing(source: str, tmp_path: Path) -> None:
    c = REGISTRY[source](Host(tmp_path, NOSYS))
    with pytest.raises(OSError):
        c.read()


@pytest.mark.parametrize("source", list(REGISTRY))
def test_psutil_or_proc_is_chosen_once_at_construction(source: str) -> None:
    with_ps = REGISTRY[source](Host(T0, NOSYS, psutil=FakePsutil()))
    without = REGISTRY[source](Host(T0, NOSYS))
    if source in PSUTIL_SOURCES:
        ps_cls, proc_cls = PSUTIL_SOURCES[source]
        assert isinstance(with_ps, ps_cls) and isinstance(without, proc_cls)
    else:  # psutil lacks these counters: always /proc
        assert type(with_ps) is type(without)


@pytest.mark.parametrize("source", sorted(PSUTIL_SOURCES))
def test_psutil_and_proc_readings_agree(source: str) -> None:
    ps = REGISTRY[source](Host(T0, NOSYS, psutil=FakePsutil())).read()
    proc = REGISTRY[source](Host(T0, NOSYS)).read()
    scale = 100.0 if source == "cpu" else 1.0  # psutil gives cpu seconds, /proc/stat ticks
    assert ps[0] == pytest.approx(proc[0])
    assert ps[1].keys() == proc[1].keys()
    for dev, counters in proc[1].items():
        assert {k: v * scale for k, v in ps[1][dev].items()} == pytest.approx(counters)


def test_configured_device_missing_raises_lookup_error() -> None:
    with pytest.raises(LookupError, match="eth9"):
        REGISTRY["netdev"](Host(T0, NOSYS, nics=("eth9",))).read()
    with pytest.raises(LookupError, match="sdz"):
        REGISTRY["diskstats"](Host(T0, NOSYS, disks=("sdz",))).read()


def test_meminfo_with_zero_total_is_an_error() -> None:
    class Zero(FakePsutil):
        def virtual_memory(self) -> Any:
            return VMem(0, 0, 0, 0)

    with pytest.raises(ValueError, match="MemTotal"):
        REGISTRY["meminfo"](Host(T0, NOSYS, psutil=Zero())).read()
