"""bundle.json field checks and the scaler section: pure parsing, no file access.

:mod:`agent.model.bundle` reads and confines the files and builds the :class:`~agent.model.bundle.Bundle`;
the calibration state file (:mod:`agent.calibrate.fit`) reuses :func:`parse_scaler`
without importing the file side.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.score.scoring import AnyScaler, Scaler, ZScaler


class BundleError(ValueError):
    """The bundle cannot be used; the message says which field and why."""


def get_field(doc: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str = "") -> Any:
    name = f"{where}{key}"
    if not isinstance(doc, dict) or key not in doc:
        raise BundleError(f"bundle.json: missing field {name!r}")
    value = doc[key]
    if typ is int and isinstance(value, bool) or not isinstance(value, typ):
        want = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise BundleError(f"bundle.json: field {name!r} must be {want}, got {type(value).__name__}")
    return value


def float_array(values: Any, n: int, name: str, positive: bool = False) -> np.ndarray:
    if not isinstance(values, list) or len(values) != n:
        got = len(values) if isinstance(values, list) else type(values).__name__
        raise BundleError(f"bundle.json: {name!r} must be a list of {n} numbers (one per feature), got {got}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise BundleError(f"bundle.json: {name!r} must hold numbers only")
    arr = np.asarray(values, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise BundleError(f"bundle.json: {name!r} holds NaN or Inf")
    if positive and (arr <= 0).any():
        raise BundleError(f"bundle.json: {name!r} must be > 0 (index {int(np.argmax(arr <= 0))})")
    return arr


def parse_scaler(sc: dict[str, Any], n: int) -> AnyScaler:
    """``scaler``: min-max (``min``/``max``) or z-score (``center``/``scale``), with ``clip``."""
    method = get_field(sc, "method", str, "scaler.")
    clip = float(get_field(sc, "clip", (int, float), "scaler."))
    if not 0 <= clip <= 1000:
        raise BundleError("bundle.json: scaler.clip must be in 0..1000")
    if method == "minmax":
        low = float_array(sc.get("min"), n, "scaler.min")
        high = float_array(sc.get("max"), n, "scaler.max")
        if (high < low).any():
            raise BundleError("bundle.json: scaler.max is below scaler.min for some feature")
        return Scaler(low, high, clip)
    if method == "zscore":
        if clip <= 0:
            raise BundleError("bundle.json: scaler.clip must be > 0 for zscore")
        return ZScaler(
            float_array(sc.get("center"), n, "scaler.center"),
            float_array(sc.get("scale"), n, "scaler.scale", positive=True),
            clip,
        )
    raise BundleError(f"bundle.json: scaler.method {method!r} is not supported (minmax, zscore)")
