"""``netstat``: listen-queue overflows and TCP timeouts from the TcpExt MIB of /proc/net/netstat."""

from __future__ import annotations

from pathlib import Path

from agent.collect.collectors.base import Collector, Host, Reading
from agent.collect.procfs import read_source

NAME = "netstat"
FEATURES = ("listen_overflows", "tcp_timeouts")


class ProcNetstat:
    name, features = NAME, FEATURES

    def __init__(self, procfs: Path) -> None:
        self._procfs = procfs

    def read(self) -> Reading:
        ext = read_source(self._procfs, "netstat")["TcpExt"]
        return {}, {"": {"listen_overflows": ext["ListenOverflows"], "tcp_timeouts": ext["TCPTimeouts"]}}


def make(host: Host) -> Collector:
    return ProcNetstat(host.procfs)
