"""Time-ordered split, scaler fitted on the train part only, windows that never cross the split."""

from __future__ import annotations

import numpy as np
import pytest

from agent.collect.features import SMD38_NAMES
from agent.history.smd import format_rows
from training.data import load_train, split_scale_window


def _ramp(t: int = 100, f: int = 3) -> np.ndarray:
    return np.arange(t * f, dtype=np.float64).reshape(t, f)


def test_validation_is_the_end_of_the_series() -> None:
    x = _ramp()
    s = split_scale_window(x, window=5, val_fraction=0.2)
    np.testing.assert_array_equal(s.train_raw, x[:80])
    np.testing.assert_array_equal(s.val_raw, x[80:])
    assert s.x_train.shape == (76, 5, 3) and s.x_val.shape == (16, 5, 3)
    assert s.x_train.dtype == np.float32


def test_scaler_sees_only_training_rows() -> None:
    x = _ramp()
    s = split_scale_window(x, window=5, val_fraction=0.2)
    np.testing.assert_array_equal(s.scaler.low, x[0])
    np.testing.assert_array_equal(s.scaler.high, x[79])
    assert s.scaler.clip == 2.0
    assert s.x_train.min() == 0.0 and s.x_train.max() == 1.0
    # validation continues the ramp, so it scales above 1 (not re-fitted on itself)
    assert s.x_val[0, 0, 0] == pytest.approx(240 / 237)


def test_stride_thins_training_windows_only() -> None:
    s = split_scale_window(_ramp(), window=5, val_fraction=0.2, stride=4)
    assert len(s.x_train) == 19 and len(s.x_val) == 16
    assert s.x_train.flags.c_contiguous


@pytest.mark.parametrize("kw, msg", [({"val_fraction": 0.0}, "val_fraction"), ({"window": 30}, "too few")])
def test_bad_split_is_refused(kw: dict, msg: str) -> None:
    args = {"window": 5, "val_fraction": 0.2, **kw}
    with pytest.raises(ValueError, match=msg):
        split_scale_window(_ramp(), **args)


def test_load_train_names_smd38_columns(tmp_path) -> None:
    (tmp_path / "train").mkdir()
    rows = np.random.default_rng(0).random((20, 38))
    (tmp_path / "train" / "m.txt").write_text(format_rows(rows))
    x, names = load_train(tmp_path, "m")
    assert x.shape == (20, 38) and names == SMD38_NAMES
    (tmp_path / "train" / "n.txt").write_text(format_rows(rows[:, :4]))
    assert load_train(tmp_path, "n")[1] == ("f1", "f2", "f3", "f4")
    with pytest.raises(FileNotFoundError, match="nope"):
        load_train(tmp_path, "nope")
