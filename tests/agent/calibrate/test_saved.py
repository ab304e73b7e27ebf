"""agent.calibrate.saved: the calibration state document, built and checked (pure; the file is the Calibrator's)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.calibrate.fit import CalibrationResult
from agent.calibrate.saved import STATE_KIND, STATE_VERSION, parse_state, row_lists, state_doc
from agent.score.scoring import Scaler

FEATURES = ("cpu", "bytes")


def result(rows: int = 3, **details: object) -> CalibrationResult:
    return CalibrationResult(Scaler(np.zeros(2), np.ones(2)), 0.5, np.array([0.1, 0.2]), "sha", 1.0, rows, 2, details)


def doc(rows: np.ndarray, res: CalibrationResult | None = None) -> dict:
    """The document as it is on disk: through strict JSON."""
    d = state_doc(
        created=5.0,
        updated=6.0,
        features=FEATURES,
        window=2,
        warmup_samples=3,
        pot_q=1e-3,
        bundle_sha="sha",
        rows=row_lists(rows),
        result=res,
    )
    return json.loads(json.dumps(d, allow_nan=False))


def test_round_trip_with_nan_cells_as_null() -> None:
    rows = np.array([[1.0, np.nan], [3.0, 4.0]])
    d = doc(rows, result())
    assert (d["kind"], d["version"], d["rows"]) == (STATE_KIND, STATE_VERSION, [[1.0, None], [3.0, 4.0]])
    saved = parse_state(d, FEATURES, 3, "sha", 2, 1e-3)
    assert saved is not None and saved.created == 5.0 and saved.reusable
    np.testing.assert_array_equal(saved.rows, rows)
    assert saved.result is not None and saved.result.threshold == 0.5


def test_only_the_newest_target_rows_are_kept() -> None:
    saved = parse_state(doc(np.arange(10.0).reshape(5, 2)), FEATURES, 2, "sha", 2, 1e-3)
    assert saved is not None and saved.rows.tolist() == [[6.0, 7.0], [8.0, 9.0]] and saved.result is None
    assert not saved.reusable


@pytest.mark.parametrize(
    ("args", "reusable"),
    [
        ((3, "sha", 2, 1e-3), True),
        ((3, "other", 2, 1e-3), False),  # another bundle
        ((3, "sha", 3, 1e-3), False),  # another window
        ((3, "sha", 2, 1e-4), False),  # another POT level
        ((4, "sha", 2, 1e-3), False),  # another warm-up length ...
    ],
)
def test_reusable_only_with_the_same_bundle_and_settings(args: tuple, reusable: bool) -> None:
    saved = parse_state(doc(np.zeros((3, 2)), result()), FEATURES, *args)
    assert saved is not None and saved.reusable is reusable


def test_a_recalibrated_result_is_reusable_whatever_its_row_count() -> None:
    saved = parse_state(doc(np.zeros((3, 2)), result(rows=900, source="recent")), FEATURES, 3, "sha", 2, 1e-3)
    assert saved is not None and saved.reusable  # ... unless it came from the recent rows


def test_other_features_are_none_not_an_error() -> None:
    assert parse_state(doc(np.zeros((1, 2))), ("a", "b"), 3, "sha", 2, 1e-3) is None


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"kind": "other"}, ValueError),
        ({"version": 99}, ValueError),
        ({"features": "cpu"}, ValueError),
        ({"rows": [[1.0]]}, ValueError),
        ({"calibration": {"threshold": -1}}, KeyError),
        ({"created": "yesterday"}, ValueError),
    ],
)
def test_malformed_documents_raise(change: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_state({**doc(np.zeros((1, 2)), result()), **change}, FEATURES, 3, "sha", 2, 1e-3)
