"""``sockstat``: TCP sockets in use and in TIME_WAIT from /proc/net/sockstat."""

from __future__ import annotations

from pathlib import Path

from agent.collect.collectors.base import Collector, Host, Reading
from agent.collect.procfs import read_source

NAME = "sockstat"
FEATURES = ("tcp_tw", "tcp_use")


class ProcSockstat:
    name, features = NAME, FEATURES

    def __init__(self, procfs: Path) -> None:
        self._procfs = procfs

    def read(self) -> Reading:
        tcp = read_source(self._procfs, "sockstat")["TCP"]
        return {"tcp_tw": tcp["tw"], "tcp_use": tcp["inuse"]}, {}


def make(host: Host) -> Collector:
    return ProcSockstat(host.procfs)
