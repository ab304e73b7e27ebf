"""The host sampler: one SMD-38 row (or a bundle's subset of it) per call.

The sources are collectors (:mod:`agent.collect.collectors`, one module each);
psutil reads cpu times, load, memory and NIC counters (each one file read
with all the fields we need) and :mod:`agent.collect.procfs` what psutil lacks:
TCP/UDP MIBs, sockstat, swap pages and full /proc/diskstats (in-flight and
weighted time).  ``psutil_module=None`` reads all nine sources through the
procfs parsers.  Rates are counter deltas over the clock's elapsed seconds
(:mod:`agent.collect.rates`); a counter that went backwards gives NaN (counted in
``resets``); an unreadable source gives NaN for its features (counted in
``errors``, exported as ``host_anomaly_collector_errors_total{source}``).
Definitions: ``docs/collector.md``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from agent.collect.collectors import SOURCE_FEATURES, Collector, Host, Reading, build
from agent.collect.features import CATALOG, SMD38_NAMES
from agent.collect.rates import INTERVAL_FEATURES, NAN, feature_values

__all__ = ["INTERVAL_FEATURES", "SOURCE_FEATURES", "Sampler"]

log = logging.getLogger(__name__)


class Sampler:
    """Samples the host; ``sample()`` returns one row in ``feature_names`` order and never raises.

    Parameters are seams: ``procfs``/``sysfs`` roots (fixtures, ``/host/proc``), ``psutil_module``
    (a fake, or None for procfs only), ``clock`` (seconds), ``nics``/``disks`` (None or empty: all
    physical NICs / whole physical disks, see docs/collector.md) and ``features`` (any subset of
    SMD38_NAMES, in the order wanted; unknown names raise ValueError).  ``errors`` counts, per
    source, the samples in which it could not be read; ``resets`` counts, per feature, the
    intervals dropped because a counter went backwards.
    """

    def __init__(
        self,
        procfs: Path = Path("/proc"),
        psutil_module: Any = psutil,
        clock: Callable[[], float] = time.monotonic,
        nics: tuple[str, ...] | None = None,
        disks: tuple[str, ...] | None = None,
        sysfs: Path = Path("/sys"),
        features: tuple[str, ...] = SMD38_NAMES,
    ) -> None:
        if not features:
            raise ValueError("features is empty: name at least one of " + ", ".join(SMD38_NAMES))
        unknown = [f for f in features if f not in CATALOG]
        if unknown:
            raise ValueError(f"unknown feature names {unknown}; known: {', '.join(SMD38_NAMES)}")
        self._clock = clock
        self._features = tuple(features)
        # psutil reads its own PROCFS_PATH; with another procfs (/host/proc) it would mix two hosts
        psutil_root = getattr(psutil_module, "PROCFS_PATH", None)
        if psutil_module is not None and psutil_root is not None and Path(psutil_root) != Path(procfs):
            log.info("psutil reads %s, not %s: every source comes from %s", psutil_root, procfs, procfs)
            psutil_module = None
        self._read_errors: tuple[type[BaseException], ...] = (
            OSError,
            ValueError,
            LookupError,
            RuntimeError,
            AssertionError,  # psutil asserts on a garbled /proc/net/dev
            *((psutil_module.Error,) if isinstance(getattr(psutil_module, "Error", None), type) else ()),
        )
        host = Host(Path(procfs), Path(sysfs), psutil_module, tuple(nics or ()), tuple(disks or ()))
        self._collectors: list[Collector] = build(self._features, host)
        self._prev: dict[str, tuple[float, Reading]] = {}
        self._failing: set[str] = set()
        self.errors: Counter[str] = Counter()  # source -> samples in which it could not be read
        self.resets: Counter[str] = Counter()  # feature -> intervals dropped because a counter went backwards

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._features

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources read for the requested features."""
        return tuple(c.name for c in self._collectors)

    def error_counts(self) -> dict[str, int]:
        return dict(self.errors)

    def reset_counts(self) -> dict[str, int]:
        return dict(self.resets)

    def sample(self) -> np.ndarray:
        """Read every needed source once; returns shape (len(feature_names),) float64, NaN = no value."""
        now = self._clock()
        values: dict[str, float] = {}
        for collector in self._collectors:
            source = collector.name
            try:
                reading = collector.read()
            except KeyError as exc:
                self._fail(source, f"missing field {exc}")
                continue
            except self._read_errors as exc:
                self._fail(source, exc)
                continue
            if source in self._failing:
                self._failing.discard(source)
                log.info("collector source %s readable again", source)
            prev = self._prev.get(source)
            dt = now - prev[0] if prev else 0.0
            got, reset = feature_values(collector.features, reading, prev[1] if prev else None, dt)
            for f in reset:
                self.resets[f] += 1
                log.debug("%s: a %s counter went backwards, no value this interval", f, source)
            values.update(got)
            if prev is None or dt > 0:  # a clock that did not advance keeps the older baseline
                self._prev[source] = (now, reading)
        return np.array([values.get(f, NAN) for f in self._features], dtype=np.float64)

    def _fail(self, source: str, exc: object) -> None:
        self.errors[source] += 1
        self._prev.pop(source, None)  # the next good read starts a fresh interval
        if source not in self._failing:
            self._failing.add(source)
            log.warning("collector source %s unreadable, its features are NaN until it recovers: %s", source, exc)
