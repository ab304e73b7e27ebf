"""``snmp``: the TCP and UDP MIB counters of /proc/net/snmp."""

from __future__ import annotations

from pathlib import Path

from agent.collect.collectors.base import Collector, Host, Reading
from agent.collect.procfs import read_source

NAME = "snmp"
FEATURES = (
    "active_opens",
    "curr_estab",
    "in_errs",
    "in_segs",
    "out_rsts",
    "out_segs",
    "passive_opens",
    "retransegs",
    "udp_in_dg",
    "udp_out_dg",
    "udp_rcv_buf_errs",
    "udp_snd_buf_errs",
)
# /proc/net/snmp (section, counter) behind each rate feature
COUNTERS: dict[str, tuple[str, str]] = {
    "active_opens": ("Tcp", "ActiveOpens"),
    "in_errs": ("Tcp", "InErrs"),
    "in_segs": ("Tcp", "InSegs"),
    "out_rsts": ("Tcp", "OutRsts"),
    "out_segs": ("Tcp", "OutSegs"),
    "passive_opens": ("Tcp", "PassiveOpens"),
    "retransegs": ("Tcp", "RetransSegs"),
    "udp_in_dg": ("Udp", "InDatagrams"),
    "udp_out_dg": ("Udp", "OutDatagrams"),
    "udp_rcv_buf_errs": ("Udp", "RcvbufErrors"),
    "udp_snd_buf_errs": ("Udp", "SndbufErrors"),
}


class ProcSnmp:
    name, features = NAME, FEATURES

    def __init__(self, procfs: Path) -> None:
        self._procfs = procfs

    def read(self) -> Reading:
        mib = read_source(self._procfs, "snmp")
        return (
            {"curr_estab": mib["Tcp"]["CurrEstab"]},
            {"": {f: mib[sec][name] for f, (sec, name) in COUNTERS.items()}},
        )


def make(host: Host) -> Collector:
    return ProcSnmp(host.procfs)
