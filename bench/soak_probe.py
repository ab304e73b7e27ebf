"""The soak's probe: a scraper thread on the agent's endpoints and the process figures read from /proc.

:class:`Scraper` hits ``/metrics``, ``/healthz`` and ``/model`` in turn for
the whole soak and can be held between two requests; :func:`quiet_figures`
holds it and reads the agent's resident memory, open descriptors and threads
(:func:`proc_figures`, several readings: the median RSS, the fewest
descriptors and threads) with no connection of the scraper in flight, plus
the cycle count from ``/metrics``.  Standard library only.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import urllib.request
from dataclasses import dataclass

CYCLES = "host_anomaly_scoring_duration_seconds_count"


@dataclass
class Figures:
    """One reading of the agent: resident memory (kB), descriptors, threads, cycles, ``at_seconds`` into the soak."""

    rss_kb: int
    fds: int
    threads: int
    cycles: int
    at_seconds: float


def fetch(url: str, timeout: float = 10.0) -> bytes:
    """The body of one GET (raises on an HTTP error status)."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def metric_value(body: str, name: str) -> float | None:
    """Value of the first unlabelled sample ``name`` in exposition text."""
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


class Scraper(threading.Thread):
    """Scrapes the three endpoints in turn; ``paused()`` holds it between requests."""

    def __init__(self, url: str, period: float) -> None:
        super().__init__(daemon=True)
        self.url, self.period = url, period
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.count = 0
        self.errors: list[str] = []

    def run(self) -> None:
        paths = ("/metrics", "/metrics", "/healthz", "/model")
        i = 0
        while not self.done.is_set():
            with self.lock:
                path = paths[i % len(paths)]
                try:
                    fetch(self.url + path)
                except Exception as exc:  # /healthz answers 503 while warming up
                    if not (path == "/healthz" and "503" in str(exc)):
                        self.errors.append(f"{path}: {exc!r}")
                self.count += 1
            i += 1
            time.sleep(self.period)


def proc_figures(pid: int) -> tuple[int, int, int]:
    rss = threads = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


def quiet_figures(pid: int, scraper: Scraper, url: str, t0: float) -> Figures:
    """Figures with no scrape in flight: the median RSS of five readings, the connection threads gone."""
    with scraper.lock:
        time.sleep(0.3)  # connection threads of the last scrape finish
        readings = []
        for _ in range(5):
            readings.append(proc_figures(pid))
            time.sleep(0.05)
        cycles = int(metric_value(fetch(url + "/metrics").decode(), CYCLES) or 0)
    rss = int(statistics.median(r[0] for r in readings))
    # the fewest seen: a connection thread of the agent's own accept loop may still be winding down
    fds, threads = min(r[1] for r in readings), min(r[2] for r in readings)
    return Figures(rss, fds, threads, cycles, round(time.monotonic() - t0, 2))
