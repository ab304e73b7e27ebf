"""agent.model.fields: bundle.json field checks and the scaler section, named in every error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agent.model.fields import BundleError, float_array, get_field, parse_scaler
from agent.score.scoring import Scaler, ZScaler


def test_get_field_checks_presence_and_type() -> None:
    assert get_field({"window": 30}, "window", int) == 30
    with pytest.raises(BundleError, match="missing field 'model.file'"):
        get_field({}, "file", str, "model.")
    with pytest.raises(BundleError, match="field 'window' must be int, got bool"):
        get_field({"window": True}, "window", int)
    with pytest.raises(BundleError, match="must be int/float, got str"):
        get_field({"clip": "2"}, "clip", (int, float))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1.0], "must be a list of 2 numbers"),
        ("x", "got str"),
        ([1.0, True], "numbers only"),
        ([1.0, float("nan")], "NaN or Inf"),
    ],
)
def test_float_array_refusals(values: Any, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        float_array(values, 2, "scaler.min")


def test_float_array_positive() -> None:
    assert float_array([1, 2.5], 2, "s", positive=True).tolist() == [1.0, 2.5]
    with pytest.raises(BundleError, match=r"must be > 0 \(index 1\)"):
        float_array([1.0, 0.0], 2, "s", positive=True)


def test_scalers_of_both_methods() -> None:
    mm = parse_scaler({"method": "minmax", "min": [0, 1], "max": [1, 3], "clip": 2.0}, 2)
    assert isinstance(mm, Scaler) and mm.clip == 2.0 and mm.high.tolist() == [1.0, 3.0]
    z = parse_scaler({"method": "zscore", "center": [0, 1], "scale": [1, 2], "clip": 10}, 2)
    assert isinstance(z, ZScaler) and np.array_equal(z.scale, [1.0, 2.0])


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"method": "minmax", "min": [0, 1], "max": [1, 0], "clip": 2}, "scaler.max is below scaler.min"),
        ({"method": "minmax", "min": [0, 1], "max": [1, 2], "clip": 2000}, "scaler.clip must be in 0..1000"),
        ({"method": "zscore", "center": [0, 0], "scale": [1, 1], "clip": 0}, "must be > 0 for zscore"),
        ({"method": "zscore", "center": [0, 0], "scale": [1, 0], "clip": 10}, "'scaler.scale' must be > 0"),
        ({"method": "robust", "clip": 2}, "scaler.method 'robust' is not supported"),
    ],
)
def test_scaler_refusals_name_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        parse_scaler(doc, 2)
