"""The calibration state file's document: what :class:`~agent.calibrate.calibrator.Calibrator` saves and resumes from.

One JSON object (strict JSON: NaN cells are null), written atomically by
:mod:`agent.state`: kind and version, the features, window and settings of
the warm-up, the bundle's sha256, the warm-up rows collected so far and the
:class:`~agent.calibrate.fit.CalibrationResult` (or null).  Pure: this
module builds and checks the document; reading and writing the file, and
what to do with a bad one, are the Calibrator's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.calibrate.fit import CalibrationResult

STATE_VERSION = 1
STATE_KIND = "host-anomaly-exporter/calibration"


def row_lists(rows: np.ndarray) -> Iterator[list[float | None]]:
    """The (n, F) rows as JSON lists; NaN cells are null (strict JSON)."""
    for r in rows:
        yield [None if v != v else v for v in r.tolist()]


def state_doc(
    *,
    created: float,
    updated: float,
    features: tuple[str, ...],
    window: int,
    warmup_samples: int,
    pot_q: float,
    bundle_sha: str,
    rows: Iterable[list[float | None]],
    result: CalibrationResult | None,
) -> dict[str, Any]:
    """The state document; ``rows`` as :func:`row_lists` gives them (an empty list when they are streamed)."""
    return {
        "kind": STATE_KIND,
        "version": STATE_VERSION,
        "created": created,
        "updated": updated,
        "features": list(features),
        "window": window,
        "warmup_samples": warmup_samples,
        "pot_q": pot_q,
        "bundle_sha256": bundle_sha,
        "rows": list(rows),
        "calibration": None if result is None else result.to_doc(),
    }


@dataclass(frozen=True)
class SavedState:
    """A checked state document, for the features asked for."""

    created: float
    rows: np.ndarray  # (n, F): the newest warm-up rows, at most the target; NaN = unreadable
    result: CalibrationResult | None
    reusable: bool  # result was made with this bundle, window and settings: no need to recalibrate


def parse_state(
    doc: dict[str, Any],
    features: tuple[str, ...],
    target_rows: int,
    bundle_sha: str,
    window: int,
    pot_q: float,
) -> SavedState | None:
    """Check ``doc`` against the running settings; None when it was saved for other features.

    ValueError, KeyError, TypeError or AttributeError when it is malformed.
    """
    if doc.get("kind") != STATE_KIND or doc.get("version") != STATE_VERSION:
        raise ValueError(f"not a version {STATE_VERSION} calibration state")
    saved = doc["features"]
    if not isinstance(saved, list) or not all(isinstance(f, str) for f in saved):
        raise ValueError("'features' must be a list of names")
    if tuple(saved) != features:
        return None
    rows = np.array(doc["rows"], dtype=np.float64)
    if rows.size == 0:
        rows = rows.reshape(0, len(features))
    if rows.ndim != 2 or rows.shape[1] != len(features):
        raise ValueError(f"'rows' must be a list of {len(features)}-value rows")
    rows = np.where(np.isfinite(rows), rows, np.nan)[-target_rows:]
    result = None if doc["calibration"] is None else CalibrationResult.from_doc(doc["calibration"], len(features))
    created = float(doc["created"])
    reusable = (
        result is not None
        and result.bundle_sha == bundle_sha
        and doc["window"] == window
        and doc["pot_q"] == pot_q
        and (result.rows == target_rows or result.details.get("source") == "recent")
    )
    return SavedState(created, rows, result, reusable)
