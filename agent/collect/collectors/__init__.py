"""Host collectors, one module per source, and the registry of them (source name -> factory).

Every module has ``NAME``, ``FEATURES`` and ``make(host) -> Collector``; the
order of :data:`REGISTRY` is the order sources are read in a sample.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.collect.collectors import cpu, diskstats, loadavg, meminfo, netdev, netstat, snmp, sockstat, vmstat
from agent.collect.collectors.base import Collector, Counters, Host, Reading

__all__ = ["REGISTRY", "SOURCE_FEATURES", "Collector", "Counters", "Host", "Reading", "build"]

_MODULES = (cpu, loadavg, meminfo, diskstats, vmstat, netdev, sockstat, snmp, netstat)
REGISTRY: dict[str, Callable[[Host], Collector]] = {m.NAME: m.make for m in _MODULES}
# Which source yields which features; a feature subset reads only the sources it needs.
SOURCE_FEATURES: dict[str, tuple[str, ...]] = {m.NAME: m.FEATURES for m in _MODULES}


def build(features: tuple[str, ...], host: Host) -> list[Collector]:
    """The collectors the ``features`` need, in registry order."""
    wanted = set(features)
    return [REGISTRY[name](host) for name, fs in SOURCE_FEATURES.items() if wanted.intersection(fs)]
