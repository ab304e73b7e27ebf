"""Sampler on the fixture /proc trees (see tests/fixtures/proc/README.md) with a fake clock and psutil.

Every expected value is computed by hand from the fixture numbers; the clock
advances 10 s between snapshots.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
from collections import namedtuple
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.collect.features import SMD38_NAMES
from agent.collect.procfs import read_source
from agent.collect.sampler import INTERVAL_FEATURES, SOURCE_FEATURES, Sampler

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "proc"
NAN = math.nan

# t0 -> t1, dt = 10 s
T1 = {
    "cpu_r": 450 / 1000,  # busy +300 user +100 system +10 irq +40 softirq; idle +500 iowait +50
    "load_1": 1.5,
    "load_5": 0.8,
    "load_15": 0.45,
    "mem_shmem": 300000 * 1024,
    "mem_u": (16e6 - 2e6) / 16e6,
    "mem_u_e": (16e6 - 8e6) / 16e6,
    "total_mem": 16000000 * 1024,
    "disk_q": (9000 + 1000) / 10000,  # weighted ms over elapsed ms, summed over sda + nvme0n1
    "disk_r": (300 + 100) / 10,
    "disk_rb": (24000 + 1000) * 512 / 10,
    "disk_svc": (6000 + 1000) / 1000 / (300 + 200 + 100 + 300),  # busy s per completed I/O
    "disk_u": 6000 / 10000,  # busiest disk (sda); nvme0n1 was 0.1
    "disk_w": (200 + 300) / 10,
    "disk_wa": (400 + 200) / 1000 / (200 + 300),
    "disk_wb": (8000 + 20000) * 512 / 10,
    "si": 50 / 10,
    "so": 0.0,
    "eth1_fi": (100000 + 20000) / 10,
    "eth1_fo": (50000 + 10000) / 10,
    "eth1_pi": (100 + 20) / 10,
    "eth1_po": (80 + 20) / 10,
    "tcp_tw": 12,
    "tcp_use": 30,
    "active_opens": 60 / 10,
    "curr_estab": 25,
    "in_errs": 1 / 10,
    "in_segs": 5000 / 10,
    "listen_overflows": 5 / 10,
    "out_rsts": 10 / 10,
    "out_segs": 4000 / 10,
    "passive_opens": 30 / 10,
    "retransegs": 20 / 10,
    "tcp_timeouts": 15 / 10,
    "udp_in_dg": 700 / 10,
    "udp_out_dg": 800 / 10,
    "udp_rcv_buf_errs": 5 / 10,
    "udp_snd_buf_errs": 2 / 10,
}
# t1 -> t2: sda io_ticks wrapped, eth1 restarted, Tcp InSegs wrapped
T2_RESET = ("disk_svc", "disk_u", "eth1_fi", "eth1_fo", "eth1_pi", "eth1_po", "in_segs")
T2 = {
    "cpu_r": 150 / 1000,
    "load_1": 0.75,
    "load_5": 0.70,
    "load_15": 0.44,
    "mem_shmem": 100000 * 1024,
    "mem_u": (16e6 - 6e6) / 16e6,
    "mem_u_e": (16e6 - 12e6) / 16e6,
    "total_mem": 16000000 * 1024,
    "disk_q": (2000 + 1000) / 10000,
    "disk_r": 100 / 10,
    "disk_rb": 800 * 512 / 10,
    "disk_w": (100 + 100) / 10,
    "disk_wa": (100 + 300) / 1000 / 200,
    "disk_wb": (1600 + 400) * 512 / 10,
    "si": 0.0,
    "so": 30 / 10,
    "tcp_tw": 3,
    "tcp_use": 28,
    "active_opens": 1.0,
    "curr_estab": 22,
    "in_errs": 0.0,
    "listen_overflows": 0.0,
    "out_rsts": 0.5,
    "out_segs": 100.0,
    "passive_opens": 2.0,
    "retransegs": 0.0,
    "tcp_timeouts": 0.2,
    "udp_in_dg": 10.0,
    "udp_out_dg": 5.0,
    "udp_rcv_buf_errs": 0.0,
    "udp_snd_buf_errs": 0.0,
    **dict.fromkeys(T2_RESET, NAN),
}
assert set(T1) == set(SMD38_NAMES) == set(T2)
GAUGES = [f for f in SMD38_NAMES if f not in INTERVAL_FEATURES]


class Host:
    """A procfs symlink re-pointed at the next fixture tree, a fake sysfs and a settable clock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc = root / "proc"
        self.sys = root / "sys"
        self.now = 0.0
        for nic in ("eth0", "eth1", "veth1a2b"):  # veth has a device link but is virtual by name
            (self.sys / "class" / "net" / nic / "device").mkdir(parents=True)
        for nic in ("lo", "docker0", "bond0"):
            (self.sys / "class" / "net" / nic).mkdir(parents=True)
        for disk in ("sda", "nvme0n1"):
            (self.sys / "block" / disk / "device").mkdir(parents=True)
        for disk in ("loop0", "dm-0"):
            (self.sys / "block" / disk).mkdir(parents=True)

    def at(self, tree: Path | str, now: float) -> None:
        new = self.root / "proc.new"
        new.symlink_to(tree if isinstance(tree, Path) else FIX / tree)
        os.replace(new, self.proc)
        self.now = now

    def sampler(self, **kw: Any) -> Sampler:
        kw.setdefault("psutil_module", None)
        kw.setdefault("sysfs", self.sys)
        return Sampler(procfs=self.proc, clock=lambda: self.now, **kw)

    def run(self, s: Sampler, tree: Path | str, now: float) -> np.ndarray:
        self.at(tree, now)
        return s.sample()


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def vec(d: dict[str, float], names: tuple[str, ...] = SMD38_NAMES) -> np.ndarray:
    return np.array([d[n] for n in names], dtype=np.float64)


def test_first_sample_has_nan_rates_and_gauges_as_read(host: Host) -> None:
    s = host.sampler()
    x = host.run(s, "t0", 100.0)
    assert x.shape == (38,) and x.dtype == np.float64
    for name, v in zip(SMD38_NAMES, x):
        assert math.isnan(v) == (name in INTERVAL_FEATURES), name
    got = dict(zip(SMD38_NAMES, x))
    assert (got["load_1"], got["tcp_tw"], got["tcp_use"], got["curr_estab"]) == (0.5, 7, 25, 20)
    assert got["mem_u"] == 0.75 and got["mem_u_e"] == 0.375 and got["mem_shmem"] == 200000 * 1024
    assert s.error_counts() == {} and s.reset_counts() == {}


def test_rates_by_hand(host: Host) -> None:
    s = host.sampler()
    host.run(s, "t0", 100.0)
    np.testing.assert_allclose(host.run(s, "t1", 110.0), vec(T1), rtol=1e-12)
    assert s.error_counts() == {} and s.reset_counts() == {}


def test_counter_going_backwards_gives_nan_and_is_counted(host: Host) -> None:
    s = host.sampler()
    host.run(s, "t0", 100.0)
    host.run(s, "t1", 110.0)
    x = host.run(s, "t2", 120.0)
    np.testing.assert_allclose(x, vec(T2), rtol=1e-12)  # NaN exactly where a counter reset
    assert s.reset_counts() == dict.fromkeys(T2_RESET, 1) and s.error_counts() == {}
    # the reset reading is the new baseline: the next interval has values again (nothing moved)
    again = dict(zip(SMD38_NAMES, host.run(s, "t2", 130.0)))
    assert all(again[f] == 0.0 for f in T2_RESET)
    # no completed I/O: service time and write await are 0 s (iostat), not a gap
    assert again["disk_svc"] == 0.0 and again["disk_wa"] == 0.0 and again["disk_r"] == 0.0


def test_garbage_source_gives_nan_and_error_count_then_recovers(host: Host) -> None:
    s = host.sampler()
    host.run(s, "t0", 100.0)
    got = dict(zip(SMD38_NAMES, host.run(s, "garbage", 110.0)))  # must not raise
    assert s.error_counts() == {"snmp": 1, "diskstats": 1, "meminfo": 1}
    dead = {f for src in ("snmp", "diskstats", "meminfo") for f in SOURCE_FEATURES[src]}
    for f in SMD38_NAMES:
        if f in dead:
            assert math.isnan(got[f]), f
        else:
            assert got[f] == pytest.approx(T1[f], rel=1e-12), f
    # after a failed read the next good one starts a fresh interval: gauges back, its rates NaN
    nxt = dict(zip(SMD38_NAMES, host.run(s, "t2", 120.0)))
    assert nxt["mem_u"] == T2["mem_u"] and nxt["curr_estab"] == 22
    assert math.isnan(nxt["active_opens"]) and math.isnan(nxt["disk_r"])
    assert nxt["cpu_r"] == pytest.approx(T2["cpu_r"]) and nxt["so"] == T2["so"]
    assert s.error_counts() == {"snmp": 1, "diskstats": 1, "meminfo": 1}


def test_missing_and_unreadable_files(host: Host, tmp_path: Path) -> None:
    tree = tmp_path / "unreadable"
    shutil.copytree(FIX / "missing", tree)
    (tree / "loadavg").unlink()
    (tree / "loadavg").mkdir()  # reading a directory fails like a permission problem: OSError
    s = host.sampler()
    host.run(s, "t0", 100.0)
    got = dict(zip(SMD38_NAMES, host.run(s, tree, 110.0)))
    assert s.error_counts() == {"snmp": 1, "netstat": 1, "vmstat": 1, "loadavg": 1}
    for f in ("load_1", "si", "so", "curr_estab", "in_segs", "tcp_timeouts", "udp_in_dg"):
        assert math.isnan(got[f]), f
    assert got["cpu_r"] == pytest.approx(0.45) and got["eth1_fi"] == 12000.0 and got["tcp_use"] == 30


def test_old_kernel_meminfo_and_missing_fields(host: Host, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tree = tmp_path / "old"
    shutil.copytree(FIX / "t1", tree)
    mem = tree / "meminfo"
    mem.write_text("".join(ln for ln in mem.read_text().splitlines(True) if not ln.startswith("MemAvailable")))
    sock = tree / "net" / "sockstat"
    sock.write_text("".join(ln for ln in sock.read_text().splitlines(True) if not ln.startswith("TCP:")))
    s = host.sampler(features=("mem_u_e", "tcp_use"))
    with caplog.at_level(logging.WARNING, logger="agent.collect.sampler"):
        x = host.run(s, tree, 100.0)
    # before 3.14: available = free + buffers + cached + sreclaimable = 2e6 + 0.5e6 + 5.5e6 + 0.4e6 kB
    assert x[0] == pytest.approx((16e6 - 8.4e6) / 16e6) and math.isnan(x[1])
    assert s.error_counts() == {"sockstat": 1} and "missing field 'TCP'" in caplog.text


def test_warns_once_per_source_until_it_recovers(host: Host, caplog: pytest.LogCaptureFixture) -> None:
    s = host.sampler()
    with caplog.at_level(logging.INFO, logger="agent.collect.sampler"):
        for i, tree in enumerate(("missing", "missing", "missing", "t1", "missing")):
            host.run(s, tree, 100.0 + 10 * i)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert sorted(r.getMessage().split()[2] for r in warnings) == sorted(["snmp", "netstat", "vmstat"] * 2)
    assert "No such file" in warnings[0].getMessage()
    assert sum("readable again" in r.getMessage() for r in caplog.records) == 3
    assert s.errors == {"snmp": 4, "netstat": 4, "vmstat": 4}


# --- device selection --------------------------------------------------------------------------
def rates_t1(host: Host, **kw: Any) -> dict[str, float]:
    s = host.sampler(**kw)
    host.run(s, "t0", 100.0)
    return dict(zip(s.feature_names, host.run(s, "t1", 110.0)))


def test_default_nics_and_disks_are_physical_only(host: Host) -> None:
    got = rates_t1(host)  # veth1a2b has a device link in sysfs but is excluded by name
    assert (got["eth1_fi"], got["disk_r"], got["disk_u"]) == (T1["eth1_fi"], T1["disk_r"], T1["disk_u"])


def test_explicit_nics_and_disks(host: Host) -> None:
    got = rates_t1(host, nics=("eth0",), disks=("sda",))
    assert (got["eth1_fi"], got["eth1_fo"], got["eth1_pi"], got["eth1_po"]) == (10000, 5000, 10, 8)
    assert (got["disk_r"], got["disk_w"], got["disk_q"], got["disk_u"]) == (30, 20, 0.9, 0.6)
    assert got["disk_svc"] == pytest.approx(6 / 500) and got["disk_wa"] == pytest.approx(0.4 / 200)
    part = rates_t1(host, disks=("sda1",))  # explicitly named partitions are allowed
    assert part["disk_r"] == 900000 / 10


def test_configured_device_absent_is_a_source_error(host: Host) -> None:
    s = host.sampler(nics=("eth9",), disks=("sdz", "sda"))
    got = dict(zip(SMD38_NAMES, host.run(s, "t0", 100.0)))
    assert math.isnan(got["eth1_fi"]) and math.isnan(got["eth1_po"])
    assert s.error_counts() == {"netdev": 1, "diskstats": 1}
    assert got["load_1"] == 0.5


def test_without_sysfs_names_decide(host: Host) -> None:
    got = rates_t1(host, sysfs=host.root / "nosys")
    # bond0 (+3000000 bytes in) cannot be told from a physical NIC by name alone
    assert got["eth1_fi"] == (100000 + 20000 + 3000000) / 10
    assert got["disk_r"] == T1["disk_r"]  # sda1, nvme0n1p1 by pattern; loop0, dm-0 by name


def test_no_physical_nic_is_an_error(host: Host) -> None:
    for nic in ("eth0", "eth1"):
        (host.sys / "class" / "net" / nic / "device").rmdir()
    s = host.sampler()
    host.run(s, "t0", 100.0)
    assert s.error_counts() == {"netdev": 1}


# --- features, clock, psutil -------------------------------------------------------------------
def test_feature_subset_in_requested_order_reads_only_its_sources(host: Host) -> None:
    names = ("tcp_use", "cpu_r", "load_1", "eth1_po")
    s = host.sampler(features=names)
    assert s.feature_names == names
    first = host.run(s, "t0", 100.0)
    np.testing.assert_array_equal(first, [25, NAN, 0.5, NAN])
    np.testing.assert_allclose(host.run(s, "missing", 110.0), vec(T1, names))
    assert s.error_counts() == {}  # snmp/netstat/vmstat are absent but not needed


def test_unknown_feature_names_raise() -> None:
    with pytest.raises(ValueError, match=r"unknown feature names \['bogus'\]"):
        Sampler(features=("cpu_r", "bogus"))
    with pytest.raises(ValueError, match="features is empty"):
        Sampler(features=())


def test_clock_that_did_not_advance_keeps_the_baseline(host: Host) -> None:
    s = host.sampler()
    host.run(s, "t0", 100.0)
    x = host.run(s, "t1", 100.0)
    assert np.isnan(x[[SMD38_NAMES.index(f) for f in INTERVAL_FEATURES]]).all()
    np.testing.assert_allclose(host.run(s, "t1", 110.0), vec(T1), rtol=1e-12)


CpuTimes = namedtuple("CpuTimes", "user nice system idle iowait irq softirq steal guest guest_nice")
VMem = namedtuple("VMem", "total available percent used free active inactive buffers cached shared slab")
NetIO = namedtuple("NetIO", "bytes_sent bytes_recv packets_sent packets_recv errin errout dropin dropout")


class FakePsutil:
    """psutil's system-wide API served from the current fixture tree, in psutil's units."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.calls: list[str] = []
        self.fail_cpu = False

    def cpu_times(self) -> CpuTimes:
        self.calls.append("cpu_times")
        if self.fail_cpu:
            raise OSError("cpu_times: permission denied")
        c = read_source(self.host.proc, "cpu")
        return CpuTimes(*(c[f] / 100 for f in CpuTimes._fields))  # psutil: ticks / CLK_TCK seconds

    def getloadavg(self) -> tuple[float, float, float]:
        self.calls.append("getloadavg")
        la = read_source(self.host.proc, "loadavg")
        return la["load1"], la["load5"], la["load15"]

    def virtual_memory(self) -> VMem:
        self.calls.append("virtual_memory")
        m = read_source(self.host.proc, "meminfo")
        return VMem(
            m["MemTotal"],
            m["MemAvailable"],
            0.0,
            0,
            m["MemFree"],
            0,
            0,
            m["Buffers"],
            m["Cached"] + m["SReclaimable"],
            m["Shmem"],
            0,
        )

    def net_io_counters(self, pernic: bool = False, nowrap: bool = True) -> dict[str, NetIO]:
        assert pernic and not nowrap  # nowrap would hide resets by adding the old value back
        self.calls.append("net_io_counters")
        return {
            n: NetIO(c["tx_bytes"], c["rx_bytes"], c["tx_packets"], c["rx_packets"], 0, 0, 0, 0)
            for n, c in read_source(self.host.proc, "netdev").items()
        }


def test_psutil_path_agrees_with_procfs_path(host: Host) -> None:
    fake = FakePsutil(host)
    s = host.sampler(psutil_module=fake)
    host.run(s, "t0", 100.0)
    np.testing.assert_allclose(host.run(s, "t1", 110.0), vec(T1), rtol=1e-12)
    np.testing.assert_allclose(host.run(s, "t2", 120.0), vec(T2), rtol=1e-12)
    assert set(fake.calls) == {"cpu_times", "getloadavg", "virtual_memory", "net_io_counters"}
    assert len(fake.calls) == 12  # one call per source per sample
    assert s.reset_counts() == dict.fromkeys(T2_RESET, 1)


def test_psutil_failure_is_a_source_error(host: Host) -> None:
    fake = FakePsutil(host)
    fake.fail_cpu = True
    s = host.sampler(psutil_module=fake)
    host.run(s, "t0", 100.0)
    x = dict(zip(SMD38_NAMES, host.run(s, "t1", 110.0)))
    assert math.isnan(x["cpu_r"]) and x["load_1"] == 1.5 and s.error_counts() == {"cpu": 2}


def test_psutil_not_used_when_it_reads_another_procfs(host: Host) -> None:
    fake = FakePsutil(host)
    fake.PROCFS_PATH = "/proc"  # type: ignore[attr-defined]  # what real psutil has; procfs is host.proc
    s = host.sampler(psutil_module=fake)
    host.run(s, "t0", 100.0)
    assert fake.calls == []


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not Path("/proc/net/snmp").exists(), reason="needs a Linux /proc"
)
def test_smoke_real_host() -> None:
    s = Sampler()
    s.sample()
    time.sleep(0.2)
    x = s.sample()
    assert x.shape == (38,) and x.dtype == np.float64
    finite = np.isfinite(x)
    assert finite.sum() >= 30, dict(zip(SMD38_NAMES, x))
    assert (x[finite] >= 0).all()
    assert 0 <= x[SMD38_NAMES.index("mem_u")] <= 1 and x[SMD38_NAMES.index("total_mem")] > 0
