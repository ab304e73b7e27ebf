"""Parsers of agent.collect.procfs on strings and on the fixture /proc trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.collect import procfs
from agent.collect.procfs import ProcParseError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "proc"

SNMP = """\
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens CurrEstab
Tcp: 1 200 120000 -1 18 3
Udp: InDatagrams OutDatagrams
Udp: 35 36
"""


def test_snmp_pairs_with_negative_maxconn() -> None:
    got = procfs.parse_snmp(SNMP)
    assert got == {
        "Tcp": {"RtoAlgorithm": 1, "RtoMin": 200, "RtoMax": 120000, "MaxConn": -1, "ActiveOpens": 18, "CurrEstab": 3},
        "Udp": {"InDatagrams": 35, "OutDatagrams": 36},
    }


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("Tcp: A B C\nTcp: 1 2\n", 2, "3 names but 2 values"),
        ("Tcp: A B\nTcp: 1 2\nUdp: X Y\n", 3, "no value line"),
        ("Tcp: A B\nUdp: 1 2\n", 2, "expected values for 'Tcp:'"),
        ("Tcp: A B\nTcp: 1 zz\n", 2, "non-integer"),
        ("garbage\nTcp: 1\n", 1, "expected 'Section: Name"),
    ],
)
def test_snmp_garbage_names_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(ProcParseError, match=words) as err:
        procfs.parse_snmp(text, "/x/net/snmp")
    assert err.value.path == "/x/net/snmp" and err.value.lineno == line
    assert str(err.value).startswith(f"/x/net/snmp line {line}:")


def test_empty_file_is_an_error() -> None:
    with pytest.raises(ProcParseError, match="/proc/net/netstat: file is empty"):
        procfs.parse_netstat("\n")


def test_netstat_fixture() -> None:
    got = procfs.read_source(FIXTURES / "t1", "netstat")
    assert got["TcpExt"]["ListenOverflows"] == 9 and got["TcpExt"]["TCPTimeouts"] == 45
    assert got["IpExt"]["InOctets"] == 125033698


def test_sockstat() -> None:
    text = "sockets: used 14\nTCP: inuse 1 orphan 0 tw 4 alloc 1 mem 144\nFRAG: inuse 0 memory 0\n"
    got = procfs.parse_sockstat(text)
    assert got["TCP"] == {"inuse": 1, "orphan": 0, "tw": 4, "alloc": 1, "mem": 144}
    assert got["sockets"] == {"used": 14} and got["FRAG"]["memory"] == 0
    with pytest.raises(ProcParseError, match="line 2"):
        procfs.parse_sockstat("sockets: used 14\nTCP: inuse 1 orphan\n")


def test_diskstats_old_and_new_layouts() -> None:
    old = "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n"  # 4.17 and earlier: 14 fields
    new = " 259       0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"  # 5.5+: 20 fields
    got = procfs.parse_diskstats(old + new)
    want = dict(zip(procfs.DISK_FIELDS, range(1, 12)))
    assert got == {"sda": want, "nvme0n1": want}


def test_diskstats_truncated_and_garbage() -> None:
    with pytest.raises(ProcParseError, match=r"/proc/diskstats line 2: expected >= 14 fields, got 7"):
        procfs.parse_diskstats("   8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n   8 1 sda1 1 2 3 4\n")
    with pytest.raises(ProcParseError, match=r"diskstats line 2: non-integer"):
        procfs.read_source(FIXTURES / "garbage", "diskstats")


def test_vmstat() -> None:
    assert procfs.parse_vmstat("pswpin 3\npswpout 4\n") == {"pswpin": 3, "pswpout": 4}
    with pytest.raises(ProcParseError, match="line 1"):
        procfs.parse_vmstat("pswpin\n")


def test_netdev_fixture_and_glued_colon() -> None:
    got = procfs.read_source(FIXTURES / "t0", "netdev")
    assert list(got) == ["lo", "eth0", "eth1", "docker0", "veth1a2b", "bond0"]
    assert (got["eth0"]["rx_bytes"], got["eth0"]["rx_packets"], got["eth0"]["tx_bytes"], got["eth0"]["tx_packets"]) == (
        1000000,
        1000,
        500000,
        800,
    )
    head = "Inter-| Receive | Transmit\n face |bytes ...\n"
    glued = procfs.parse_netdev(head + "  eth0:123 1 0 0 0 0 0 0 456 2 0 0 0 0 0 0\n")
    assert glued["eth0"]["rx_bytes"] == 123 and glued["eth0"]["tx_bytes"] == 456
    with pytest.raises(ProcParseError, match="line 3"):
        procfs.parse_netdev(head + "  eth0: 1 2 3\n")
    with pytest.raises(ProcParseError, match="header"):
        procfs.parse_netdev("eth0: 1 2\n")


def test_meminfo_units() -> None:
    got = procfs.parse_meminfo("MemTotal: 1000 kB\nShmem:   2 kB\nHugePages_Total:   3\n")
    assert got == {"MemTotal": 1024000, "Shmem": 2048, "HugePages_Total": 3}
    with pytest.raises(ProcParseError, match=r"garbage/meminfo line 3: expected 'Name: value \[kB\]'"):
        procfs.read_source(FIXTURES / "garbage", "meminfo")
    with pytest.raises(ProcParseError, match="line 1"):
        procfs.parse_meminfo("MemTotal: 1000 MB\n")


def test_stat_cpu_line_only_and_short_kernel_line() -> None:
    got = procfs.read_source(FIXTURES / "t1", "cpu")
    assert got == {
        "user": 1300,
        "nice": 50,
        "system": 500,
        "idle": 8500,
        "iowait": 150,
        "irq": 30,
        "softirq": 70,
        "steal": 0,
        "guest": 40,
        "guest_nice": 0,
    }
    short = procfs.parse_stat_cpu("cpu 1 2 3 4\n")  # pre-2.6 kernels stop after idle
    assert short["idle"] == 4 and short["iowait"] == 0 and short["steal"] == 0
    with pytest.raises(ProcParseError, match="/proc/stat line 1"):
        procfs.parse_stat_cpu("intr 1 2 3\n")


def test_loadavg() -> None:
    assert procfs.parse_loadavg("0.62 0.58 0.27 1/88 7454\n") == {"load1": 0.62, "load5": 0.58, "load15": 0.27}
    with pytest.raises(ProcParseError, match="/proc/loadavg line 1: expected three load averages"):
        procfs.parse_loadavg("0.62 x\n")


def test_read_source_missing_file_is_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        procfs.read_source(tmp_path, "snmp")


def test_every_source_parses_every_good_fixture() -> None:
    for snap in ("t0", "t1", "t2"):
        for source in procfs.SOURCES:
            assert procfs.read_source(FIXTURES / snap, source), (snap, source)
