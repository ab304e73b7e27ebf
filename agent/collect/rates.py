"""Interval features from two counter readings: pure functions, no I/O.

A rate is the sum over devices of the counter's increase divided by the
elapsed seconds; the features in :data:`DERIVED` have their own formula.  A
counter that went backwards (reboot, wrap, NIC restart) gives no value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from agent.collect.features import CATALOG

if TYPE_CHECKING:  # types only: the collectors read files, this module only computes
    from agent.collect.collectors import Counters, Reading

NAN = float("nan")
Deltas = Mapping[str, list[float]]


def _ratio(num: float, den: float, empty: float) -> float:
    return num / den if den > 0 else empty


# Interval features that are not a plain "sum of deltas / seconds": counters needed, formula.
DERIVED: dict[str, tuple[tuple[str, ...], Callable[[Deltas, float], float]]] = {
    "cpu_r": (("busy", "idle"), lambda d, dt: _ratio(sum(d["busy"]), sum(d["busy"]) + sum(d["idle"]), NAN)),
    "disk_q": (("weighted_ms",), lambda d, dt: sum(d["weighted_ms"]) / (dt * 1000.0)),
    # busiest disk, capped: io_ticks may overshoot the wall clock by a tick
    "disk_u": (("io_ticks",), lambda d, dt: min(1.0, max(d["io_ticks"]) / (dt * 1000.0))),
    # no completed I/O -> 0 s, as iostat prints, so an idle disk is not a gap in the window
    "disk_svc": (
        ("io_ticks", "disk_r", "disk_w"),
        lambda d, dt: _ratio(sum(d["io_ticks"]) / 1000.0, sum(d["disk_r"]) + sum(d["disk_w"]), 0.0),
    ),
    "disk_wa": (("write_ms", "disk_w"), lambda d, dt: _ratio(sum(d["write_ms"]) / 1000.0, sum(d["disk_w"]), 0.0)),
}
INTERVAL_FEATURES = frozenset({f.name for f in CATALOG.values() if f.kind == "rate"} | DERIVED.keys())


def deltas(prev: Counters, cur: Counters, key: str) -> list[float] | None:
    """Per-device increase of ``key`` over devices present in both readings; None if one went backwards."""
    out = []
    for dev, c in cur.items():
        p = prev.get(dev)
        if p is not None:
            d = c[key] - p[key]
            if d < 0:
                return None
            out.append(d)
    return out


def feature_values(
    features: tuple[str, ...], reading: Reading, prev: Reading | None, dt: float
) -> tuple[dict[str, float], list[str]]:
    """The values of one source's ``features`` and the features dropped because a counter went backwards.

    Gauges are taken as read; an interval feature is NaN without a previous
    reading, when ``dt <= 0``, when no device is in both readings, or on a reset.
    """
    gauges, counters = reading
    out = dict(gauges)
    reset: list[str] = []
    cache: dict[str, list[float] | None] = {}
    for f in features:
        if f not in INTERVAL_FEATURES:
            continue
        if prev is None or dt <= 0:
            out[f] = NAN
            continue
        keys, formula = DERIVED.get(f, ((f,), None))
        d: dict[str, list[float]] = {}
        for k in keys:
            if k not in cache:
                cache[k] = deltas(prev[1], counters, k)
            v = cache[k]
            if v is None:
                break
            d[k] = v
        if len(d) < len(keys):
            out[f] = NAN
            reset.append(f)
        elif not d[keys[0]]:  # no device present in both readings
            out[f] = NAN
        else:
            out[f] = formula(d, dt) if formula else sum(d[f]) / dt
    return out, reset
