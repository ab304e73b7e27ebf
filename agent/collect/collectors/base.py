"""The collector interface: one host source (a /proc file or a psutil call) per collector.

In the manner of node_exporter's collectors: each source lives in its own
module behind the same small interface, and whether it reads psutil or
/proc is decided once, when the collector is built (:class:`Host`), not on
every read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

Counters = dict[str, dict[str, float]]  # device ("" for host-wide) -> counter -> value
Reading = tuple[dict[str, float], Counters]  # (gauges by feature, counters the sampler turns into rates)


class Collector(Protocol):
    """One source.  ``read()`` does one file read (or psutil call) and raises on any failure."""

    # read-only (properties) so that a class attribute of a narrower tuple type satisfies it
    @property
    def name(self) -> str:  # the source, as in host_anomaly_collector_errors_total{source}
        ...

    @property
    def features(self) -> tuple[str, ...]:  # the SMD features it feeds
        ...

    def read(self) -> Reading: ...


@dataclass(frozen=True)
class Host:
    """What a collector factory may use: the /proc and /sys roots, psutil (None: /proc only), devices."""

    procfs: Path = Path("/proc")
    sysfs: Path = Path("/sys")
    psutil: Any = None
    nics: tuple[str, ...] = ()
    disks: tuple[str, ...] = ()
